"""Destinations a shopper can pick: saved named addresses (profile, checkout), the
warehouses the checkout map draws, errors next to their own field, and the UPS account
check a checkout page asks for before the order is placed."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from amazon_ups.amazon.accounts import services
from amazon_ups.amazon.accounts.models import Address
from amazon_ups.amazon.carrier import services as carrier
from amazon_ups.amazon.cart.models import CartItem
from amazon_ups.amazon.orders.models import Order
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.protocol import au_pb2 as au

pytestmark = pytest.mark.django_db

CHECKOUT = reverse("cart:checkout")
CHECK = reverse("ups_account_check")
STATUS = reverse("ups_account_status")


@pytest.fixture
def browser(client, shopper, catalog):
    client.force_login(shopper)
    CartItem.objects.create(user=shopper, product_id=1, quantity=1)
    return client


def token_of(client) -> str:
    page = client.get(CHECKOUT).content.decode()
    token = re.search(r'name="token" value="([0-9a-f]+)"', page)
    assert token is not None, page
    return token[1]


# -- saving them ---------------------------------------------------------------------------


def test_a_name_is_one_address_per_shopper_and_saving_it_again_moves_it(shopper, other_shopper):
    home = services.address_save(shopper, name=" home ", x=3, y=-4)
    assert (home.name, home.x, home.y) == ("home", 3, -4)
    moved = services.address_save(shopper, name="home", x=7, y=8)
    assert moved.id == home.id and (moved.x, moved.y) == (7, 8)
    services.address_save(other_shopper, name="home", x=1, y=1)
    assert Address.objects.filter(user=shopper).count() == 1
    assert Address.objects.count() == 2


def test_coordinates_outside_the_world_and_too_many_addresses_are_refused(shopper):
    with pytest.raises(ValidationError):
        services.address_save(shopper, name="moon", x=2**31, y=0)
    for number in range(services.MAX_ADDRESSES):
        services.address_save(shopper, name=f"place {number}", x=number, y=0)
    with pytest.raises(ValidationError, match="delete one first"):
        services.address_save(shopper, name="one more", x=0, y=0)
    assert Address.objects.count() == services.MAX_ADDRESSES


def test_the_profile_saves_lists_and_deletes_addresses(client, shopper):
    client.force_login(shopper)
    response = client.post(reverse("address_add"), {"name": "office", "x": "12", "y": "-30"})
    assert response.status_code == 302
    page = client.get(reverse("profile")).content.decode()
    assert 'data-address="office"' in page and "office: (12, -30)" in page
    [office] = Address.objects.all()
    client.post(reverse("address_delete", args=[office.id]))
    assert not Address.objects.exists()


def test_a_bad_address_is_explained_next_to_its_field(client, shopper):
    client.force_login(shopper)
    response = client.post(reverse("address_add"), {"name": "far", "x": "1", "y": "99999999999"})
    assert response.status_code == 400
    page = response.content.decode()
    y = re.search(
        r'<div class="field has-errors">\s*<label for="address_y">.*?</div>\s*</div>', page, re.S
    )[0]
    assert "y must be a whole number between -2147483648 and 2147483647." in y
    assert not Address.objects.exists()


def test_nobody_deletes_another_shoppers_address(client, shopper, other_shopper):
    theirs = services.address_save(other_shopper, name="home", x=1, y=2)
    client.force_login(shopper)
    assert client.post(reverse("address_delete", args=[theirs.id])).status_code == 404
    assert Address.objects.filter(id=theirs.id).exists()
    assert client.get(reverse("address_delete", args=[theirs.id])).status_code == 405


# -- choosing them at checkout -----------------------------------------------------------------


def test_checkout_offers_the_saved_addresses_and_draws_them(browser, shopper, other_shopper):
    services.address_save(shopper, name="home", x=5, y=6)
    services.address_save(other_shopper, name="secret", x=99, y=99)
    page = browser.get(CHECKOUT).content.decode()
    assert '<option value="' in page and 'data-x="5" data-y="6"' in page
    assert "home (5, 6)" in page and "secret" not in page
    assert '"name": "home", "x": 5, "y": 6' in page  # for the map
    assert 'class="grid-map"' in page and "e.g. x <kbd>25</kbd>, y <kbd>-40</kbd>" in page


def test_a_chosen_address_fills_x_and_y_left_empty(browser, shopper):
    home = services.address_save(shopper, name="home", x=5, y=6)
    response = browser.post(
        CHECKOUT, {"token": token_of(browser), "address": home.id, "dest_x": "", "dest_y": ""}
    )
    assert response.status_code == 302
    assert Order.objects.values_list("dest_x", "dest_y").get() == (5, 6)


def test_typed_x_and_y_win_over_the_chosen_address(browser, shopper):
    home = services.address_save(shopper, name="home", x=5, y=6)
    browser.post(
        CHECKOUT, {"token": token_of(browser), "address": home.id, "dest_x": 1, "dest_y": 2}
    )
    assert Order.objects.values_list("dest_x", "dest_y").get() == (1, 2)


def test_another_shoppers_address_cannot_be_chosen(browser, other_shopper):
    theirs = services.address_save(other_shopper, name="home", x=5, y=6)
    response = browser.post(CHECKOUT, {"token": token_of(browser), "address": theirs.id})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Order.objects.exists()


def test_an_out_of_range_x_is_said_under_x_and_y_keeps_its_place(browser):
    response = browser.post(CHECKOUT, {"token": token_of(browser), "dest_x": 2**31, "dest_y": 3})
    assert response.status_code == 400
    page = response.content.decode()
    xy = re.search(
        r'<div class="xy">(.*?)<p class="help muted" id="checkout-map-help">', page, re.S
    )[1]
    x, y = re.split(r'(?=<div class="field[ "])', xy.strip())[1:]
    assert 'for="id_dest_x"' in x and "x must be a whole number between" in x
    assert 'for="id_dest_y"' in y and "field-errors" not in y and 'value="3"' in y


def test_the_map_gets_the_warehouses(client, catalog):
    data = client.get(reverse("catalog:warehouses_json")).json()
    assert data == {
        "warehouses": [
            {"id": 1, "name": "North", "x": 10, "y": 10},
            {"id": 2, "name": "West", "x": -20, "y": 5},
        ]
    }


# -- the UPS account, asked about before the order is placed -----------------------------------


def account_checks() -> list[int]:
    rows = OutgoingMessage.objects.filter(peer="ups", field="account_checks").order_by("id")
    return [au.AccountCheck.FromString(bytes(row.body)).ups_account for row in rows]


def answer(ups_account: int, exists: bool, seqnum: int) -> None:
    with transaction.atomic():
        carrier.account_status_record(
            au.AccountStatus(seqnum=seqnum, ups_account=ups_account, exists=exists)
        )


def test_checkout_asks_ups_once_and_the_page_polls_for_the_answer(browser):
    first = browser.post(CHECK, {"number": "4242"}).json()
    assert first == {"number": 4242, "state": "checking", "text": "checking with UPS\u2026"}
    assert account_checks() == [4242]
    # Typed again, or the page asked twice: the question is already on its way.
    browser.post(CHECK, {"number": "4242"})
    assert account_checks() == [4242]
    assert browser.get(STATUS, {"number": "4242"}).json()["state"] == "checking"
    answer(4242, exists=False, seqnum=1)
    status = browser.get(STATUS, {"number": "4242"}).json()
    assert status["state"] == "unknown" and "does not know account 4242" in status["text"]
    # A fresh answer needs no new question; the order still goes ahead, unlinked.
    assert browser.post(CHECK, {"number": "4242"}).json()["state"] == "unknown"
    assert account_checks() == [4242]
    response = browser.post(
        CHECKOUT, {"token": token_of(browser), "dest_x": 1, "dest_y": 2, "ups_account": 4242}
    )
    assert response.status_code == 302 and Order.objects.count() == 1


def test_a_known_account_is_said_linked(browser):
    browser.post(CHECK, {"number": "7"})
    answer(7, exists=True, seqnum=1)
    assert browser.get(STATUS, {"number": "7"}).json()["state"] == "linked"


@pytest.mark.parametrize("number", ["0", "-3", "abc", str(2**63), ""])
def test_a_bad_account_id_gets_a_clear_error_and_asks_nothing(browser, number):
    response = browser.post(CHECK, {"number": number})
    assert response.status_code == 400 and "UPS account id" in response.json()["error"]
    assert browser.get(STATUS, {"number": number}).status_code == 400
    assert account_checks() == []


def test_only_a_logged_in_shopper_may_ask(client, catalog):
    assert client.post(CHECK, {"number": "5"}).status_code == 302
    assert client.get(STATUS, {"number": "5"}).status_code == 302
    assert account_checks() == []


def test_the_checkout_page_wires_the_check_next_to_the_field(browser):
    page = browser.get(CHECKOUT).content.decode()
    assert f'data-check="{CHECK}" data-status="{STATUS}"' in page
    assert re.search(r'id="ups-account-status" aria-live="polite"', page)
