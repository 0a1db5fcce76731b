"""A store that looks like a store: prices and totals, sorting and the in-stock filter,
unlisting, the duplicate-name warning, sales totals, and the delivery estimate."""

from __future__ import annotations

import datetime
import html
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from amazon_ups.amazon.accounts import services as accounts_services
from amazon_ups.amazon.cart import services as cart_services
from amazon_ups.amazon.catalog import delivery, services
from amazon_ups.amazon.catalog.models import Category, Product, Stock, Warehouse
from amazon_ups.amazon.orders import selectors as orders_selectors
from amazon_ups.amazon.orders import services as orders_services
from amazon_ups.common.mail.models import OutgoingEmail

pytestmark = pytest.mark.django_db

HOME = reverse("sell:home")
CREATE = reverse("sell:product_create")
SALES = reverse("sell:sales")


@pytest.fixture
def seller(db, django_user_model):
    accounts_services.seller_ensure("maker", "maker-password-1")
    return django_user_model.objects.get(username="maker")


@pytest.fixture
def shelf(seller):
    """Four products listed in this id order (so "newest" is the reverse), with prices
    and stock that sort differently by each key."""
    Warehouse.objects.create(id=1, name="North", x=10, y=80)
    Warehouse.objects.create(id=2, name="West", x=-60, y=-20)
    kitchen = Category.objects.create(name="Kitchen", slug="kitchen")
    rows = [
        (1, "Kettle", "34.90", 3),
        (2, "Anvil", "120.00", 0),
        (3, "Mug", "8.00", 40),
        (4, "Zither", "8.00", 12),
    ]
    for product_id, name, price, on_hand in rows:
        product = Product.objects.create(
            id=product_id, name=name, price=Decimal(price), category=kitchen, seller=seller
        )
        if on_hand:
            Stock.objects.create(warehouse_id=1, product=product, on_hand=on_hand)
    return seller


def listed_names(response) -> list[str]:
    page = response.content.decode()
    return re.findall(r'<h2><a href="/products/\d+/">([^<]+)</a></h2>', page)


# -- prices and totals ---------------------------------------------------------------------


def test_prices_are_shown_on_the_list_and_the_product_page(client, shelf):
    page = client.get("/").content.decode()
    assert '<span class="price" data-price="34.90">$34.90</span>' in page
    assert '<span class="price" data-price="120.00">$120.00</span>' in page
    product = client.get("/products/1/").content.decode()
    assert "$34.90" in product
    assert "No payment is taken" in product


def test_an_order_keeps_the_prices_it_was_placed_at(shelf, shopper):
    order = orders_services.place_order(user=shopper, items={1: 3, 3: 2}, dest_x=0, dest_y=0)
    assert order.total == Decimal("120.70")  # 3 x 34.90 + 2 x 8.00, exactly

    kettle = Product.objects.get(id=1)
    services.product_update(
        kettle, name="Kettle", description="", category=None, price=Decimal("99.99")
    )
    order.refresh_from_db()
    assert [(line.product_id, line.price) for line in order.lines.order_by("product_id")] == [
        (1, Decimal("34.90")),
        (3, Decimal("8.00")),
    ]
    assert order.total == Decimal("120.70")
    later = orders_services.place_order(user=shopper, items={1: 1}, dest_x=0, dest_y=0)
    assert later.total == Decimal("99.99")


def test_the_order_pages_cart_and_checkout_show_amounts_and_totals(client, shelf, shopper):
    client.force_login(shopper)
    cart_services.cart_add(user=shopper, session=client.session, product_id=1, quantity=3)
    cart_services.cart_add(user=shopper, session=client.session, product_id=3, quantity=2)
    cart = client.get(reverse("cart:detail")).content.decode()
    assert re.search(r'id="cart-total"><span class="price">\$120.70</span>', cart)
    assert "No payment is taken" in cart
    checkout = client.get(reverse("cart:checkout")).content.decode()
    assert re.search(r'id="checkout-total">Total: <span class="price">\$120.70</span>', checkout)
    assert 'id="checkout-estimate"' in checkout

    order = orders_services.place_order(user=shopper, items={1: 3, 3: 2}, dest_x=0, dest_y=0)
    detail = client.get(order.get_absolute_url()).content.decode()
    assert re.search(r'id="order-total"><span class="price">\$120.70</span>', detail)
    assert '<td class="num">$34.90</td><td class="num">3</td><td class="num">$104.70</td>' in (
        detail
    )
    orders = client.get(reverse("orders:list")).content.decode()
    assert '<td class="num">$120.70</td>' in orders


def test_a_price_must_be_money(client, shelf):
    client.force_login(shelf)
    for price, message in [
        ("-1", "A price cannot be negative."),
        ("1.005", "At most two digits after the point"),
        ("100000", "At most 99999.99"),
        ("twelve", "Write the price as a number"),
        ("NaN", "Write the price as a number"),
    ]:
        response = client.post(CREATE, {"name": "Toaster", "price": price})
        assert response.status_code == 400, price
        assert message in response.content.decode(), price
    assert not Product.objects.filter(name="Toaster").exists()
    client.post(CREATE, {"name": "Toaster", "price": "12.5"})
    assert Product.objects.get(name="Toaster").price == Decimal("12.50")


# -- sorting and the in-stock filter -----------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "names"),
    [
        ("", ["Anvil", "Kettle", "Mug", "Zither"]),
        ("name", ["Anvil", "Kettle", "Mug", "Zither"]),
        ("price", ["Mug", "Zither", "Kettle", "Anvil"]),  # equal prices by name
        ("-price", ["Anvil", "Kettle", "Mug", "Zither"]),
        ("newest", ["Zither", "Mug", "Anvil", "Kettle"]),
        ("availability", ["Mug", "Zither", "Kettle", "Anvil"]),
        ("nonsense", ["Anvil", "Kettle", "Mug", "Zither"]),  # unknown: the default
    ],
)
def test_sorting(client, shelf, sort, names):
    response = client.get("/", {"sort": sort})
    assert response.status_code == 200
    assert listed_names(response) == names


def test_the_in_stock_filter_keeps_the_search_and_the_sort(client, shelf):
    response = client.get("/", {"available": "1", "sort": "price"})
    assert listed_names(response) == ["Mug", "Zither", "Kettle"]
    assert listed_names(client.get("/", {"available": "1", "q": "anvil"})) == []  # out
    response = client.get("/", {"available": "1", "q": "kettle", "sort": "name"})
    assert listed_names(response) == ["Kettle"]
    page = response.content.decode()
    assert 'name="available" value="1" checked' in page
    # The category links keep the query, the sort and the filter.
    assert re.search(r'href="\?category=kitchen&amp;[^"]*available=1', page)


def test_nothing_in_stock_says_so(client, shelf):
    Stock.objects.update(on_hand=0)
    page = client.get("/", {"available": "1"}).content.decode()
    assert "Nothing in stock here right now." in page


def test_the_sort_and_filter_survive_paging(client, seller):
    for product_id in range(1, 30):
        Product.objects.create(id=product_id, name=f"P{product_id:02}", price=product_id)
    page = client.get("/", {"sort": "-price"}).content.decode()
    assert re.search(r'href="\?sort=-price&amp;page=2"', page)
    assert listed_names(client.get("/", {"sort": "-price", "page": "2"}))[0] == "P17"


# -- unlisting ------------------------------------------------------------------------------------


def listing_url(product_id: int) -> str:
    return reverse("sell:product_listing", args=[product_id])


def test_an_unlisted_product_is_neither_shown_nor_sold_until_relisted(client, shelf, shopper):
    cart_services.cart_add(user=shopper, session=client.session, product_id=1, quantity=1)
    client.force_login(shelf)
    response = client.post(listing_url(1), {"listed": "0"})
    assert response.status_code == 302
    assert "off sale" in html.unescape(client.get(HOME).content.decode())

    assert "Kettle" not in listed_names(client.get("/"))
    assert "Kettle" not in listed_names(client.get("/", {"q": "kettle"}))
    assert client.get("/products/1/").status_code == 404
    with pytest.raises(ValidationError, match="no longer sold"):
        cart_services.cart_add(user=shopper, session=client.session, product_id=1, quantity=1)
    with pytest.raises(ValidationError, match="No longer sold: Kettle"):
        orders_services.place_order(user=shopper, items={1: 1}, dest_x=0, dest_y=0)
    # Already in a cart: shown as no longer sold, and checkout says why it cannot go on.
    client.force_login(shopper)
    assert "no longer sold" in client.get(reverse("cart:detail")).content.decode()
    # Its picture still shows (old orders show it).
    assert client.get("/products/1/image").status_code == 200

    client.force_login(shelf)
    client.post(listing_url(1), {"listed": "1"})
    assert "Kettle" in listed_names(client.get("/"))
    assert client.get("/products/1/").status_code == 200


def test_only_the_seller_unlists_and_only_by_post(client, shelf, shopper, django_user_model):
    accounts_services.seller_ensure("rival", "rival-password-1")
    client.force_login(django_user_model.objects.get(username="rival"))
    assert client.post(listing_url(1), {"listed": "0"}).status_code == 404
    client.force_login(shopper)
    assert client.post(listing_url(1), {"listed": "0"}).status_code == 403
    client.force_login(shelf)
    assert client.get(listing_url(1)).status_code == 405
    assert Product.objects.get(id=1).listed


# -- the duplicate-name warning -------------------------------------------------------------------


def test_listing_a_name_twice_warns_first_and_goes_ahead_when_told(client, shelf):
    client.force_login(shelf)
    response = client.post(CREATE, {"name": "  kettle ", "price": "5"})
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "You already sell a product named “kettle” (#1)." in page
    assert 'type="checkbox" name="list_anyway"' in page
    assert Product.objects.filter(name__iexact="kettle").count() == 1

    response = client.post(CREATE, {"name": "kettle", "price": "5", "list_anyway": "on"})
    assert response.status_code == 302
    assert Product.objects.filter(name__iexact="kettle").count() == 2


def test_renaming_onto_another_name_warns_but_keeping_ones_own_does_not(client, shelf):
    client.force_login(shelf)
    edit = reverse("sell:product_edit", args=[3])
    response = client.post(edit, {"name": "Kettle", "price": "8.00"})
    assert "You already sell a product named “Kettle” (#1)" in html.unescape(
        response.content.decode()
    )
    assert Product.objects.get(id=3).name == "Mug"
    assert client.post(edit, {"name": "MUG", "price": "9.00"}).status_code == 302
    assert (Product.objects.get(id=3).name, Product.objects.get(id=3).price) == (
        "MUG",
        Decimal("9.00"),
    )


def test_another_sellers_name_is_a_warning_too(client, shelf, django_user_model):
    accounts_services.seller_ensure("rival", "rival-password-1")
    client.force_login(django_user_model.objects.get(username="rival"))
    page = html.unescape(client.post(CREATE, {"name": "Zither"}).content.decode())
    assert "Another product in the catalog is named “Zither”." in page


# -- sales totals ---------------------------------------------------------------------------------


def test_sales_totals_per_product_at_the_prices_of_the_orders(client, shelf, shopper):
    orders_services.place_order(user=shopper, items={1: 2, 3: 1}, dest_x=0, dest_y=0)
    orders_services.place_order(user=shopper, items={1: 1}, dest_x=0, dest_y=0)
    services.product_update(
        Product.objects.get(id=1), name="Kettle", description="", category=None, price=Decimal(1)
    )
    orders_services.place_order(user=shopper, items={1: 1}, dest_x=0, dest_y=0)

    totals = orders_selectors.seller_sales_totals(shelf)
    assert [(t.name, t.orders, t.units, t.revenue) for t in totals] == [
        ("Kettle", 3, 4, Decimal("105.70")),  # 3 x 34.90 + 1 x 1.00
        ("Mug", 1, 1, Decimal("8.00")),
    ]
    client.force_login(shelf)
    page = client.get(SALES).content.decode()
    assert (
        '<tr data-product="1"><td>Kettle</td><td class="num">3</td><td class="num">4</td>'
        '<td class="num">$105.70</td></tr>'
    ) in page


# -- the delivery estimate ------------------------------------------------------------------------

NOW = datetime.datetime(2026, 11, 29, 8, 0, 0, tzinfo=datetime.UTC)


def test_the_estimate_in_stock_at_simspeed_100():
    north = delivery.Place(1, "North", 10, 80)
    estimate = delivery.estimate(now=NOW, warehouse=north, dest=(0, 0), in_stock=True, simspeed=100)
    # max(pack 1 s, truck's 50 units 5 s) + load 0.5 s + truck's wait 5 s + 90 units 9 s
    assert estimate.seconds == 20
    assert estimate.at == NOW + datetime.timedelta(seconds=20)
    assert (estimate.distance, estimate.warehouse_name, estimate.text) == (
        90,
        "North",
        "about 20 seconds",
    )


def test_the_estimate_scales_with_simspeed_but_the_trucks_wait_does_not():
    west = delivery.Place(2, "West", -60, -20)
    fast = delivery.estimate(now=NOW, warehouse=west, dest=(40, 0), in_stock=False, simspeed=200)
    # max(buy + pack 2 s, pickup 5 s) / 2 = 2.5; load 0.25; wait 5; 120 units 6 s
    assert fast.seconds == 14  # 13.75, rounded up
    slow = delivery.estimate(now=NOW, warehouse=west, dest=(40, 0), in_stock=False, simspeed=1)
    # 500 + 50 + 5 + 1200 = 1755 s
    assert (slow.seconds, slow.text) == (1755, "about 30 minutes")
    far = delivery.estimate(now=NOW, warehouse=west, dest=(9000, 0), in_stock=True, simspeed=1)
    assert far.text == "about 26 hours"


def test_an_order_ships_from_the_nearest_warehouse_that_holds_it():
    north = delivery.Place(1, "North", 10, 80)
    west = delivery.Place(2, "West", -60, -20)
    assert delivery.ships_from([north, west], (0, 70), {1, 2}) == (north, True)
    assert delivery.ships_from([north, west], (0, 70), {2}) == (west, True)
    assert delivery.ships_from([north, west], (0, 70), set()) == (north, False)
    assert delivery.ships_from([], (0, 0), set()) is None


def test_the_product_page_estimates_to_the_shoppers_own_address(client, shelf, shopper):
    page = client.get("/products/3/").content.decode()
    assert 'id="delivery-estimate">arrives in about 20 seconds' in page  # (0, 0) from North
    accounts_services.profile_update(shopper, default_x=-60, default_y=-10, ups_account=None)
    client.force_login(shopper)
    page = client.get("/products/3/").content.decode()
    # Only North holds mugs: 70 + 90 = 160 units, 16 s of driving, 10.5 s before it.
    assert 'id="delivery-estimate">arrives in about 27 seconds' in page
    assert "(to (-60, -10) from North)" in page


def test_the_estimate_uses_the_worlds_simspeed_setting(client, shelf, settings):
    settings.WORLD_SIMSPEED = 1000
    page = client.get("/products/3/").content.decode()
    # max(0.1, 0.5) + 0.05 + 5 + 0.9 = 6.45
    assert "arrives in about 7 seconds" in page


def test_the_order_email_says_what_it_costs_and_that_nothing_is_charged(shelf, shopper):
    shopper.email = "shopper@example.com"
    shopper.save()
    order = orders_services.place_order(user=shopper, items={1: 3, 3: 2}, dest_x=0, dest_y=0)
    body = OutgoingEmail.objects.get(ref=f"order-placed:{order.id}").body
    assert "3 x Kettle at $34.90 = $104.70" in body
    assert "Total: $120.70 (not charged)" in body
