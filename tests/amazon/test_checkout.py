"""Checkout: the cart becomes one order; its UPS account is checked with UPS; emails."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse

from amazon_ups.amazon.accounts.models import Profile
from amazon_ups.amazon.carrier import services as carrier
from amazon_ups.amazon.cart import services as cart_services
from amazon_ups.amazon.cart.models import CartItem
from amazon_ups.amazon.catalog.models import Product
from amazon_ups.amazon.orders import services as orders_services
from amazon_ups.amazon.orders.lifecycle import OrderEventKind as Kind
from amazon_ups.amazon.orders.models import Order, OrderEvent
from amazon_ups.common.mail.models import OutgoingEmail
from amazon_ups.common.mail.services import queue_email, send_pending
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.protocol import au_pb2 as au

pytestmark = pytest.mark.django_db

CHECKOUT = reverse("cart:checkout")


@pytest.fixture
def browser(client, shopper, catalog):
    shopper.email = "shopper@example.com"
    shopper.save()
    client.force_login(shopper)
    for product_id, quantity in ((1, 2), (3, 5)):
        cart_services.cart_add(
            user=shopper, session=client.session, product_id=product_id, quantity=quantity
        )
    return client


def token_of(client) -> str:
    page = client.get(CHECKOUT).content.decode()
    token = re.search(r'name="token" value="([0-9a-f]+)"', page)
    assert token is not None, page
    return token[1]


def check_out(client, token=None, **fields):
    data = {"token": token or token_of(client), "dest_x": 4, "dest_y": -9}
    data.update(fields)
    return client.post(CHECKOUT, {k: v for k, v in data.items() if v is not None})


def account_checks() -> list[tuple[str, str, au.AccountCheck]]:
    rows = OutgoingMessage.objects.filter(field="account_checks").order_by("id")
    return [(row.peer, row.ref, au.AccountCheck.FromString(bytes(row.body))) for row in rows]


def answer(ups_account: int, exists: bool, seqnum: int) -> None:
    # As the daemon does: the handler runs in the transaction that records the receipt.
    with transaction.atomic():
        carrier.account_status_record(
            au.AccountStatus(seqnum=seqnum, ups_account=ups_account, exists=exists)
        )


# -- access ---------------------------------------------------------------------------------


def test_checkout_needs_a_login(client, shopper, catalog):
    client.post(reverse("cart:add"), {"product": 1, "quantity": 1})
    for response in (client.get(CHECKOUT), check_out(client, token="t" * 32)):
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/?next=/cart/checkout/")
    assert not Order.objects.exists()


# -- the page -------------------------------------------------------------------------------


def test_the_page_lists_the_cart_says_there_is_no_payment_and_uses_the_profile(browser, shopper):
    Profile.objects.update_or_create(
        user=shopper, defaults={"default_x": 17, "default_y": -3, "ups_account": 4242}
    )
    page = browser.get(CHECKOUT).content.decode()
    assert "No payment" in page
    assert "2 \u00d7 Kettle" in page and "5 \u00d7 Mug" in page
    assert re.search(r'name="dest_x" value="17"', page)
    assert re.search(r'name="dest_y" value="-3"', page)
    assert re.search(r'name="ups_account" value="4242"', page)
    assert '<label for="id_dest_x">' in page and '<label for="id_ups_account">' in page


def test_without_a_profile_the_form_starts_empty(browser):
    page = browser.get(CHECKOUT).content.decode()
    assert re.search(r'<input type="number" name="dest_x"(?![^>]*value=)', page)


def test_each_form_shown_has_its_own_token(browser):
    assert token_of(browser) != token_of(browser)


# -- placing --------------------------------------------------------------------------------


def test_checkout_orders_the_whole_cart_as_one_order_and_empties_it(browser, shopper):
    response = check_out(browser, dest_x=-12, dest_y=30)

    order = Order.objects.get()
    assert response.status_code == 302 and response.url == f"/orders/{order.id}/"
    assert (order.user, order.dest_x, order.dest_y, order.ups_account) == (shopper, -12, 30, None)
    assert dict(order.lines.values_list("product_id", "count")) == {1: 2, 3: 5}
    assert not CartItem.objects.exists()
    assert browser.get(reverse("cart:detail")).context["cart_count"] == 0
    assert account_checks() == []  # no account given, nothing to ask UPS


def test_a_form_posted_twice_orders_once(browser):
    token = token_of(browser)
    first = check_out(browser, token=token)
    # The cart is empty now; the same form again still leads to the order it made.
    second = check_out(browser, token=token)
    assert first.status_code == second.status_code == 302
    assert first.url == second.url
    assert Order.objects.count() == 1


def test_an_empty_cart_cannot_be_checked_out(browser):
    CartItem.objects.all().delete()
    page = browser.get(CHECKOUT).content.decode()
    assert 'id="cart-empty"' in page and 'id="place-order"' not in page
    response = check_out(browser, token="a" * 32)
    assert response.status_code == 400
    assert "Your cart is empty" in response.content.decode()
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dest_x": 2**31}, "x must be a whole number between -2147483648 and 2147483647."),
        ({"dest_x": -(2**31) - 1}, "x must be a whole number between -2147483648 and"),
        ({"dest_y": 10**40}, "y must be a whole number between -2147483648 and 2147483647."),
        ({"dest_x": "north"}, "x must be a whole number."),
        ({"dest_y": "2.5"}, "y must be a whole number."),
        ({"dest_y": "0x10"}, "y must be a whole number."),
        ({"dest_x": ""}, "Enter x."),
        ({"dest_y": None}, "Enter y."),
        ({"ups_account": 0}, "The UPS account id must be a whole number between 1 and"),
        ({"ups_account": -5}, "The UPS account id must be a whole number between 1 and"),
        ({"ups_account": 2**63}, "The UPS account id must be a whole number between 1 and"),
        ({"ups_account": "abc"}, "The UPS account id must be a whole number."),
    ],
)
def test_bad_input_is_explained_and_changes_nothing(browser, fields, message):
    response = check_out(browser, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Order.objects.exists()
    assert CartItem.objects.count() == 2
    assert not OutgoingMessage.objects.exists()


def test_the_extreme_coordinates_are_fine(browser):
    check_out(browser, dest_x=-(2**31), dest_y=2**31 - 1)
    order = Order.objects.get()
    assert (order.dest_x, order.dest_y) == (-(2**31), 2**31 - 1)


def test_a_token_of_another_users_order_is_refused_and_keeps_the_cart(browser, other_shopper):
    stolen = orders_services.place_order(
        user=other_shopper, items={2: 1}, dest_x=0, dest_y=0, token="b" * 32
    )
    response = check_out(browser, token=stolen.token)
    assert response.status_code == 400
    assert "This form was already used. Reload the page." in response.content.decode()
    assert Order.objects.count() == 1
    assert CartItem.objects.count() == 2


def test_a_failing_order_leaves_the_cart_as_it_was(shopper, catalog):
    CartItem.objects.create(user=shopper, product_id=1, quantity=2)
    with pytest.raises(ValidationError, match="x must be between"):
        cart_services.checkout(user=shopper, token="c" * 32, dest_x=2**40, dest_y=0)
    assert CartItem.objects.count() == 1 and not Order.objects.exists()


# -- the UPS account -----------------------------------------------------------------------------


def test_an_order_with_a_ups_account_asks_ups_about_it_in_the_same_transaction(browser):
    check_out(browser, ups_account=31337)
    order = Order.objects.get()
    assert order.ups_account == 31337
    [(peer, ref, check)] = account_checks()
    assert (peer, ref, check.ups_account) == ("ups", "ups-account:31337", 31337)
    assert check.seqnum > 0


def test_the_order_page_shows_what_ups_said_of_the_account(browser):
    check_out(browser, ups_account=808)
    order = Order.objects.get()
    status_url = reverse("orders:status", args=[order.id])

    def shown() -> tuple[str, str, str]:
        page = browser.get(order.get_absolute_url()).content.decode()
        state = re.search(r'id="ups-account-status" data-state="(\w+)">([^<]*)<', page)
        assert state is not None, page
        data = browser.get(status_url).json()["ups_account"]
        assert (data["state"], data["text"]) == (state[1], state[2])
        return state[1], state[2], data["number"]

    assert shown() == ("checking", "checking with UPS\u2026", 808)
    answer(808, True, seqnum=1)
    assert shown() == ("linked", "linked to UPS account 808", 808)
    answer(808, False, seqnum=2)
    assert shown() == (
        "unknown",
        "UPS does not know account 808 \u2014 your package travels unlinked",
        808,
    )


def test_asking_again_shows_checking_until_the_new_answer(browser, shopper):
    answer(99, False, seqnum=1)
    CartItem.objects.create(user=shopper, product_id=2, quantity=1)
    check_out(browser, ups_account=99)  # asked after the old answer came
    order = Order.objects.get()
    assert (
        browser.get(reverse("orders:status", args=[order.id])).json()["ups_account"]["state"]
        == "checking"
    )
    answer(99, True, seqnum=2)
    assert (
        browser.get(reverse("orders:status", args=[order.id])).json()["ups_account"]["state"]
        == "linked"
    )


def test_an_order_without_an_account_shows_no_account_status(browser):
    check_out(browser)
    order = Order.objects.get()
    assert 'id="ups-account-status"' not in browser.get(order.get_absolute_url()).content.decode()
    assert browser.get(reverse("orders:status", args=[order.id])).json()["ups_account"] is None


# -- emails ---------------------------------------------------------------------------------------


def test_placing_queues_one_email_in_the_same_transaction(browser):
    token = token_of(browser)
    check_out(browser, token=token, ups_account=5)
    check_out(browser, token=token, ups_account=5)
    order = Order.objects.get()
    [email] = OutgoingEmail.objects.all()
    assert (email.ref, email.to) == (f"order-placed:{order.id}", "shopper@example.com")

    assert send_pending() == 1 and send_pending() == 0
    [sent] = mail.outbox
    assert sent.to == ["shopper@example.com"]
    assert sent.subject == f"Your order {order.id} is placed"
    assert "2 x Kettle" in sent.body and "5 x Mug" in sent.body
    assert "(4, -9)" in sent.body and "UPS account: 5" in sent.body
    assert "nothing was charged" in sent.body


def test_delivery_queues_one_email(browser):
    check_out(browser)
    order = Order.objects.get()
    send_pending()
    mail.outbox.clear()
    with transaction.atomic():
        assert orders_services.mark_delivered(order, x=7, y=8)
    with transaction.atomic():
        assert not orders_services.mark_delivered(order, x=7, y=8)
    assert send_pending() == 1
    [sent] = mail.outbox
    assert sent.subject == f"Your order {order.id} is delivered"
    assert "delivered at (7, 8)" in sent.body and "2 x Kettle" in sent.body
    assert OutgoingEmail.objects.filter(ref=f"order-delivered:{order.id}").count() == 1


def test_no_email_for_a_shopper_without_an_address(client, shopper, catalog):
    assert shopper.email == ""
    client.force_login(shopper)
    client.post(reverse("cart:add"), {"product": 1, "quantity": 1})
    check_out(client)
    order = Order.objects.get()
    with transaction.atomic():
        orders_services.mark_delivered(order, x=1, y=1)
    assert not OutgoingEmail.objects.exists()


def test_a_double_post_from_two_tabs_makes_one_order(shopper, catalog):
    """Two clients, one form: the second finds the first's order."""
    shopper.email = ""
    shopper.save()
    CartItem.objects.create(user=shopper, product_id=1, quantity=1)
    tabs = [Client(), Client()]
    for tab in tabs:
        tab.force_login(shopper)
    urls = {check_out(tab, token="d" * 32).url for tab in tabs}
    assert len(urls) == 1 and Order.objects.count() == 1


# -- what the three requests of a checkout cost --------------------------------------------


def test_adding_to_the_cart_reads_the_product_once(browser, django_assert_num_queries):
    # The user with the profile and cart (the session is read from its cache); the
    # product; the cart locked, its row of the product and its update, the cart's
    # units; and the transaction's two statements (a savepoint's, in a test).
    with django_assert_num_queries(8) as captured:
        response = browser.post(reverse("cart:add"), {"product": 1, "quantity": 1})
    assert response.status_code == 302
    # The reads come before the transaction (on SQLite it holds the one write lock).
    statements = [query["sql"].split()[0] for query in captured.captured_queries]
    assert statements[:3] == ["SELECT", "SELECT", "SAVEPOINT"]
    assert CartItem.objects.get(product_id=1).quantity == 3


def test_the_checkout_form_reads_the_cart_once(browser, django_assert_num_queries):
    # The user with the profile (the form's default address and the nav bar's; the
    # session is read from its cache); the saved addresses; the cart's lines (also the
    # nav bar's count); the warehouses and their stock, for the estimate.
    with django_assert_num_queries(5):
        response = browser.get(CHECKOUT)
    assert response.status_code == 200
    assert '<span class="badge" aria-label="7 items">7</span>' in response.content.decode()


# -- what the Buy button and the order's page cost -------------------------------------------


def test_the_order_page_reads_the_order_its_lines_and_its_history_once_each(
    browser, place, django_assert_num_queries
):
    Product.objects.filter(id=3).update(image_file="mug.png")
    order = place({1: 2, 3: 1}, 4, 5)
    OrderEvent.objects.create(order=order, kind=Kind.WAITING_FOR_STOCK, status=Order.Status.PLACED)
    Order.objects.filter(id=order.id).update(warehouse_id=2)
    # The user with the profile and cart (the session is read from its cache); the
    # order's lines with their products', joined with the order and its warehouse's
    # name; its events.
    with django_assert_num_queries(3):
        page = browser.get(order.get_absolute_url()).content.decode()
    assert "Ships from</dt><dd>West (warehouse 2)" in page
    assert re.search(r'id="order-waiting" class="muted">', page)  # placed, with a warehouse
    lines = re.findall(
        r'data-product="(\d+)"><td><img class="thumb" src="([^"]+)"[^>]*> (\w+)<', page
    )
    assert lines == [
        ("1", "/products/1/image", "Kettle"),
        ("3", "/products/3/image?v=mug.png", "Mug"),
    ]
    assert re.search(r'id="order-total"><span class="price">\$0.00<', page)
    # What happened: the note, else the kind's label.
    assert re.findall(r"<td>([\w ]+)</td>\s*</tr>", page) == ["order placed", "Waiting For Stock"]
    # status.json: the user, the order (and its warehouse's name), its events.
    with django_assert_num_queries(3):
        data = browser.get(reverse("orders:status", args=[order.id])).json()
    assert data["waiting_for_stock"] and data["destination"] == {"x": 4, "y": 5}
    assert [event["note"] for event in data["events"]] == ["order placed", "Waiting For Stock"]


def test_an_order_without_lines_still_has_its_page(browser, shopper, django_assert_num_queries):
    # None is placed so (place_order refuses an empty order), but the page does not
    # take the lines it reads the order with for granted: one query more.
    order = Order.objects.create(user=shopper, dest_x=1, dest_y=2, token="t" * 32)
    with django_assert_num_queries(4):
        page = browser.get(order.get_absolute_url()).content.decode()
    assert f"<h1>Order {order.id}</h1>" in page and 'data-product="' not in page
    assert re.search(r'id="order-total"><span class="price">\$0.00<', page)


def test_another_shoppers_order_page_is_not_found(browser, place, other_shopper):
    order = place(user=other_shopper)
    assert browser.get(order.get_absolute_url()).status_code == 404
    assert browser.get(reverse("orders:status", args=[order.id])).status_code == 404


def test_the_buy_button_places_the_order_in_few_statements(browser, django_assert_num_queries):
    form = {"product": 2, "quantity": 3, "token": "b" * 32, "dest_x": 1, "dest_y": 2}
    # The user with the profile and cart; the product. Then the order, its line, its
    # first event, its email, in one transaction (in a test, the test's: so the form's
    # token is looked up first, as in checkout's, which a post of its own does not do).
    with django_assert_num_queries(2 + 1 + 4):
        response = browser.post(reverse("orders:place"), {**form, "ups_account": ""})
    order = Order.objects.get()
    assert response.status_code == 302 and response.url == order.get_absolute_url()
    assert list(order.lines.values_list("product_id", "count")) == [(2, 3)]
    assert OutgoingEmail.objects.count() == 1


def test_the_placed_email_totals_the_lines_in_hand(browser):
    check_out(browser)
    (email,) = OutgoingEmail.objects.all()
    order = Order.objects.get()
    assert f"Total: ${order.total}" in email.body


def test_placing_the_order_is_one_transaction_of_few_statements(browser, django_assert_num_queries):
    token = token_of(browser)
    # The user with the profile and cart; the saved addresses. Then one transaction
    # (begun and ended: a savepoint, in a test): the cart locked, its lines with their
    # products; the form's token looked up (once: place_order is told); the order, its
    # lines, its first event, its email (one insert that a repeat leaves alone); the
    # cart emptied, its units 0.
    with django_assert_num_queries(2 + 2 + 9):
        response = check_out(browser, token)
    assert response.status_code == 302
    assert OutgoingEmail.objects.count() == 1 and not CartItem.objects.exists()


def test_an_email_queued_twice_is_queued_once(place, shopper):
    shopper.email = "shopper@example.com"
    shopper.save()
    order = place()
    context = {"order": order, "lines": [], "user": shopper, "total": 0}
    queue_email(
        to="x@example.com",
        template="orders/email/placed",
        context=context,
        ref=f"order-placed:{order.id}",
    )
    (email,) = OutgoingEmail.objects.all()
    assert email.to == "shopper@example.com"
