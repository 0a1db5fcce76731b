"""Stock from the world without an order: a new world's first stock, and a seller's
restock. Each purchase commits with the stock it puts on order; a refusal takes it off."""

from __future__ import annotations

import html

import pytest
from django.db import transaction
from django.urls import reverse

from amazon_ups.amazon.accounts import services as accounts_services
from amazon_ups.amazon.catalog.models import Product, Stock
from amazon_ups.amazon.fulfilment import services
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.protocol import world_amazon_pb2 as wa

pytestmark = pytest.mark.django_db

WORLD = 7


def purchases() -> list[tuple[int, dict[int, int], str]]:
    rows = OutgoingMessage.objects.filter(peer=f"world:{WORLD}", field="buy").order_by("id")
    result = []
    for row in rows:
        buy = wa.APurchaseMore.FromString(bytes(row.body))
        result.append((buy.whnum, {t.id: t.count for t in buy.things}, row.ref))
    return result


def levels() -> dict[tuple[int, int], tuple[int, int]]:
    return {
        (s.warehouse_id, s.product_id): (s.on_hand, s.on_order)
        for s in Stock.objects.order_by("warehouse_id", "product_id")
    }


@pytest.fixture
def ups_world(catalog, settings):
    settings.WORLD_CREATOR = "ups"
    settings.WORLD_ID = None
    settings.INITIAL_STOCK = 20


def test_a_new_world_is_stocked_once_with_every_listed_product(ups_world, settings):
    Product.objects.filter(id=3).update(listed=False)
    services.world_joined(WORLD)
    assert purchases() == [
        (1, {1: 20, 2: 20}, f"stock:world:{WORLD}"),
        (2, {1: 20, 2: 20}, f"stock:world:{WORLD}"),
    ]
    assert levels() == {(w, p): (0, 20) for w in (1, 2) for p in (1, 2)}
    services.world_joined(WORLD)  # a reconnect buys nothing more
    assert len(purchases()) == 2


def test_no_first_stock_when_it_is_set_to_none(ups_world, settings):
    settings.INITIAL_STOCK = 0
    services.world_joined(WORLD)
    assert purchases() == [] and levels() == {}


def test_a_refused_purchase_without_an_order_takes_its_units_off_order(ups_world):
    services.world_joined(WORLD)
    first = OutgoingMessage.objects.filter(field="buy").order_by("id").first()
    with transaction.atomic():
        services.world_error(
            f"world:{WORLD}", wa.AErr(originseqnum=first.seqnum, err="no", seqnum=1)
        )
    assert levels()[1, 1] == (0, 0) and levels()[2, 1] == (0, 20)


def test_restock_puts_units_on_order_and_the_purchase_in_one_transaction(ups_world):
    services.world_joined(WORLD)
    OutgoingMessage.objects.all().delete()
    services.restock(product_id=2, warehouse_id=2, count=15)
    assert purchases() == [(2, {2: 15}, "restock:2")]
    assert levels()[2, 2] == (0, 35)
    # The world's answer puts them on the shelf.
    with transaction.atomic():
        services.purchase_arrived(wa.APurchaseMore(whnum=2, things=[wa.AProduct(id=2, count=15)]))
    assert levels()[2, 2] == (15, 20)


@pytest.mark.parametrize(
    ("warehouse", "count", "message"),
    [(1, 0, "between 1 and 1000"), (1, 1001, "between 1 and 1000"), (99, 5, "No such warehouse")],
)
def test_restock_refuses_what_cannot_be(ups_world, warehouse, count, message):
    services.world_joined(WORLD)
    with pytest.raises(services.CannotRestock, match=message):
        services.restock(product_id=1, warehouse_id=warehouse, count=count)


def test_restock_before_the_world_is_joined_says_to_wait(ups_world):
    with pytest.raises(services.CannotRestock, match="not joined the world yet"):
        services.restock(product_id=1, warehouse_id=1, count=5)
    assert purchases() == []


# -- the seller's button -------------------------------------------------------------------------


@pytest.fixture
def seller(ups_world, django_user_model):
    accounts_services.seller_ensure("maker", "maker-password-1")
    user = django_user_model.objects.get(username="maker")
    Product.objects.filter(id__in=[1, 2]).update(seller=user)
    return user


def restock_url(product_id: int) -> str:
    return reverse("restock", args=[product_id])


def test_a_seller_restocks_from_the_products_page(client, seller):
    services.world_joined(WORLD)
    client.force_login(seller)
    page = client.get(reverse("sell:home")).content.decode()
    assert f'action="{restock_url(1)}" class="restock"' in page
    response = client.post(restock_url(1), {"warehouse": "2", "count": "12"})
    assert response.status_code == 302 and response.url == reverse("sell:home")
    assert levels()[2, 1] == (0, 32)
    page = html.unescape(client.get(reverse("sell:home")).content.decode())
    assert "Bought 12 \u00d7 Kettle for West: on its way." in page
    assert '<td class="num">0 <span class="muted">(+32)</span></td>' in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"warehouse": "2", "count": "0"}, "between 1 and 1000"),
        ({"warehouse": "2", "count": "many"}, "must be a whole number"),
        ({"warehouse": "42", "count": "3"}, "no such warehouse"),
        ({"count": "3"}, "Enter The warehouse"),
    ],
)
def test_a_bad_restock_is_explained_and_buys_nothing(client, seller, fields, message):
    services.world_joined(WORLD)
    OutgoingMessage.objects.all().delete()
    client.force_login(seller)
    response = client.post(restock_url(1), fields, follow=True)
    assert message in html.unescape(response.content.decode())
    assert purchases() == []


def test_only_the_seller_restocks(client, seller, shopper, django_user_model):
    services.world_joined(WORLD)
    OutgoingMessage.objects.all().delete()
    accounts_services.seller_ensure("rival", "rival-password-1")
    client.force_login(django_user_model.objects.get(username="rival"))
    assert client.post(restock_url(1), {"warehouse": "1", "count": "3"}).status_code == 404
    client.force_login(shopper)
    assert client.post(restock_url(1), {"warehouse": "1", "count": "3"}).status_code == 403
    client.logout()
    assert client.post(restock_url(1), {"warehouse": "1", "count": "3"}).status_code == 302
    client.force_login(seller)
    assert client.get(restock_url(1)).status_code == 405
    assert purchases() == []


def test_stock_is_reserved_all_or_nothing(catalog):
    """Too few of one product: the others are not taken either, once the caller's unit of
    work is rolled back (reserve has no savepoint of its own: nothing goes on after it
    refuses), and inside a caller's savepoint the transaction goes on."""
    from amazon_ups.amazon.catalog import services as catalog_services
    from amazon_ups.amazon.catalog.exceptions import InsufficientStock

    Stock.objects.update_or_create(warehouse_id=1, product_id=1, defaults={"on_hand": 5})
    Stock.objects.update_or_create(warehouse_id=1, product_id=2, defaults={"on_hand": 1})
    before = levels()
    with transaction.atomic():
        with pytest.raises(InsufficientStock), transaction.atomic():
            catalog_services.reserve(1, {1: 2, 2: 3})
        assert levels() == before
        catalog_services.reserve(1, {1: 2, 2: 1})
    after = levels()
    assert (after[(1, 1)][0], after[(1, 2)][0]) == (3, 0)
