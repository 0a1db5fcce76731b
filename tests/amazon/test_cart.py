"""The cart: adding, changing, removing, for visitors (session) and shoppers (database),
and the visitor's cart following them into their account at login."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from amazon_ups.amazon.cart import services
from amazon_ups.amazon.cart.backends import ShopperBackend
from amazon_ups.amazon.cart.models import MAX_QUANTITY, Cart, CartItem
from amazon_ups.amazon.cart.selectors import cart_count
from amazon_ups.amazon.catalog.models import Product
from tests.support import wait_for_a_lock_wait

pytestmark = pytest.mark.django_db

ADD = reverse("cart:add")
UPDATE = reverse("cart:update")
REMOVE = reverse("cart:remove")
CART = reverse("cart:detail")


def add(client, product=1, quantity=1, **fields):
    data = {"product": product, "quantity": quantity, **fields}
    return client.post(ADD, {k: v for k, v in data.items() if v is not None})


def contents(client) -> dict[int, int]:
    """Product id -> quantity, as the cart page shows them."""
    page = client.get(CART).content.decode()
    rows = re.findall(r'<tr data-product="(\d+)">.*?name="quantity"[^>]*value="(\d+)"', page, re.S)
    return {int(product): int(quantity) for product, quantity in rows}


def count_in_nav(client) -> int:
    return client.get(CART).context["cart_count"]


@pytest.fixture
def shopper_client(client, shopper, catalog):
    client.force_login(shopper)
    return client


# -- visitors -------------------------------------------------------------------------------


def test_a_visitor_adds_to_a_cart_kept_in_the_session(client, catalog):
    response = add(client, 1, 2)
    assert response.status_code == 302 and response.url == CART
    add(client, 2, 1)
    add(client, 1, 3)
    assert contents(client) == {1: 5, 2: 1}
    assert count_in_nav(client) == 6
    assert not CartItem.objects.exists()
    page = client.get(CART).content.decode()
    assert "Added 3 \u00d7 Kettle to your cart." in page or "Kettle" in page
    assert "Proceed to checkout" in page


def test_the_empty_cart_says_so(client, catalog):
    page = client.get(CART).content.decode()
    assert 'id="cart-empty"' in page and count_in_nav(client) == 0


def test_a_visitor_changes_and_removes(client, catalog):
    add(client, 1, 2)
    add(client, 2, 1)
    assert client.post(UPDATE, {"product": 1, "quantity": 7}).status_code == 302
    assert contents(client) == {1: 7, 2: 1}
    client.post(UPDATE, {"product": 2, "quantity": 0})  # 0 takes it out
    assert contents(client) == {1: 7}
    client.post(REMOVE, {"product": 1})
    assert contents(client) == {}


# -- shoppers -------------------------------------------------------------------------------


def test_a_shoppers_cart_is_in_the_database(shopper_client, shopper):
    add(shopper_client, 1, 2)
    add(shopper_client, 1, 1)
    add(shopper_client, 3, 4)
    assert dict(CartItem.objects.values_list("product_id", "quantity")) == {1: 3, 3: 4}
    assert all(item.user_id == shopper.id for item in CartItem.objects.all())
    assert contents(shopper_client) == {1: 3, 3: 4}
    assert count_in_nav(shopper_client) == 7
    assert "cart" not in shopper_client.session

    shopper_client.post(UPDATE, {"product": 3, "quantity": 9})
    shopper_client.post(REMOVE, {"product": 1})
    assert dict(CartItem.objects.values_list("product_id", "quantity")) == {3: 9}


def test_each_shopper_sees_only_their_own_cart(shopper_client, shopper, other_shopper):
    add(shopper_client, 1, 2)
    other = Client()
    other.force_login(other_shopper)
    assert contents(other) == {}
    other.post(REMOVE, {"product": 1})
    other.post(UPDATE, {"product": 1, "quantity": 5})
    assert CartItem.objects.get(user=shopper, product_id=1).quantity == 2
    assert dict(
        CartItem.objects.filter(user=other_shopper).values_list("product_id", "quantity")
    ) == {1: 5}


# -- bad input: explained, and nothing changes -------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (0, "The quantity must be a whole number between 1 and 1000."),
        (-3, "The quantity must be a whole number between 1 and 1000."),
        (MAX_QUANTITY + 1, "The quantity must be a whole number between 1 and 1000."),
        (10**30, "The quantity must be a whole number between 1 and 1000."),
        ("two", "The quantity must be a whole number."),
        ("1.5", "The quantity must be a whole number."),
        ("", "Enter The quantity."),
    ],
)
@pytest.mark.parametrize("logged_in", [False, True])
def test_bad_quantities_to_add_are_explained(
    client, shopper, catalog, quantity, message, logged_in
):
    if logged_in:
        client.force_login(shopper)
    add(client, 2, 1)
    response = add(client, 1, quantity)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page and "Your cart was not changed." in page
    assert contents(client) == {2: 1}


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (-1, "The quantity must be a whole number between 0 and 1000."),
        (1001, "The quantity must be a whole number between 0 and 1000."),
        ("lots", "The quantity must be a whole number."),
        ("1e3", "The quantity must be a whole number."),
    ],
)
@pytest.mark.parametrize("logged_in", [False, True])
def test_bad_quantities_to_set_are_explained(
    client, shopper, catalog, quantity, message, logged_in
):
    if logged_in:
        client.force_login(shopper)
    add(client, 1, 4)
    response = client.post(UPDATE, {"product": 1, "quantity": quantity})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert contents(client) == {1: 4}


def test_a_cart_holds_at_most_the_maximum_of_a_product(shopper_client):
    add(shopper_client, 1, MAX_QUANTITY - 1)
    response = add(shopper_client, 1, 2)
    assert response.status_code == 400
    assert "A cart holds at most 1000 of a product; this would make 1001." in (
        response.content.decode()
    )
    assert contents(shopper_client) == {1: MAX_QUANTITY - 1}
    assert add(shopper_client, 1, 1).status_code == 302
    assert contents(shopper_client) == {1: MAX_QUANTITY}


@pytest.mark.parametrize("logged_in", [False, True])
def test_an_unknown_product_is_a_404_and_changes_nothing(client, shopper, catalog, logged_in):
    if logged_in:
        client.force_login(shopper)
    assert add(client, 999, 1).status_code == 404
    assert client.post(UPDATE, {"product": 999, "quantity": 2}).status_code == 404
    assert contents(client) == {}
    assert count_in_nav(client) == 0


@pytest.mark.parametrize("product", ["kettle", "", "-1", "1 OR 1=1", str(2**63)])
def test_a_malformed_product_is_explained(client, catalog, product):
    response = add(client, product, 1)
    assert response.status_code == 400
    assert "The product must be a whole number" in response.content.decode() or (
        "Enter The product." in response.content.decode()
    )
    assert contents(client) == {}


def test_the_cart_forms_take_posts_only_and_need_csrf(catalog):
    client = Client(enforce_csrf_checks=True)
    assert client.get(ADD).status_code == 405
    assert add(client, 1, 1).status_code == 403
    assert contents(client) == {}
    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get("/").content.decode()
    )
    assert token, "the catalog page carries a CSRF token"
    assert add(client, 1, 1, csrfmiddlewaretoken=token[1]).status_code == 302
    assert contents(client) == {1: 1}


def test_adding_goes_back_to_a_page_of_this_site_only(client, catalog):
    assert add(client, 1, 1, next="/?q=kettle").url == "/?q=kettle"
    assert add(client, 1, 1, next="https://evil.example/").url == CART
    assert add(client, 1, 1, next="//evil.example/").url == CART


def test_a_product_gone_from_the_catalog_drops_out_of_a_visitors_cart(client, catalog):
    add(client, 1, 1)
    add(client, 3, 2)
    Product.objects.filter(id=3).delete()
    assert contents(client) == {1: 1}


# -- the visitor's cart follows them into their account ----------------------------------------


def test_logging_in_merges_the_session_cart_into_the_account(client, shopper, catalog):
    CartItem.objects.create(user=shopper, product_id=1, quantity=2)
    add(client, 1, 3)
    add(client, 2, 1)
    response = client.post(
        reverse("login"), {"username": "shopper", "password": "a-long-password-1"}
    )
    assert response.status_code == 302
    assert dict(CartItem.objects.values_list("product_id", "quantity")) == {1: 5, 2: 1}
    assert "cart" not in client.session
    assert contents(client) == {1: 5, 2: 1}

    # Logging in again (another device, a new session) adds nothing more.
    client.post(reverse("logout"))
    assert contents(client) == {}
    client.post(reverse("login"), {"username": "shopper", "password": "a-long-password-1"})
    assert contents(client) == {1: 5, 2: 1}


def test_signing_up_keeps_the_visitors_cart(client, catalog, django_user_model):
    add(client, 2, 3)
    response = client.post(
        reverse("signup"),
        {
            "username": "newcomer",
            "email": "newcomer@example.com",
            "password1": "a-long-password-9",
            "password2": "a-long-password-9",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = django_user_model.objects.get(username="newcomer")
    assert list(CartItem.objects.filter(user=user).values_list("product_id", "quantity")) == [
        (2, 3)
    ]
    assert contents(client) == {2: 3}


def test_merging_caps_quantities_and_skips_vanished_products(shopper, catalog):
    session = Client().session
    CartItem.objects.create(user=shopper, product_id=1, quantity=MAX_QUANTITY - 5)
    session["cart"] = {"1": 10, "2": 1, "999": 4, "x": 3, "3": -2}
    services.merge_session_cart(session, shopper)
    assert dict(CartItem.objects.values_list("product_id", "quantity")) == {
        1: MAX_QUANTITY,
        2: 1,
    }
    assert "cart" not in session


# -- the count in the nav bar ---------------------------------------------------------------


def units_kept(user) -> int:
    return Cart.objects.filter(user=user).values_list("units", flat=True).first() or 0


def units_in_lines(user) -> int:
    return CartItem.objects.filter(user=user).aggregate(n=Sum("quantity"))["n"] or 0


def test_the_count_is_kept_with_every_change_of_a_shoppers_cart(client, shopper, catalog):
    def both() -> tuple[int, int]:
        return units_kept(shopper), units_in_lines(shopper)

    session = client.session
    session["cart"] = {"3": 4}
    session.save()
    client.post(reverse("login"), {"username": "shopper", "password": "a-long-password-1"})
    assert both() == (4, 4) and count_in_nav(client) == 4
    add(client, 1, 2)
    add(client, 1, 1)
    assert both() == (7, 7) and count_in_nav(client) == 7
    client.post(UPDATE, {"product": 3, "quantity": 1})
    assert both() == (4, 4) and count_in_nav(client) == 4
    client.post(REMOVE, {"product": 1})
    assert both() == (1, 1) and count_in_nav(client) == 1
    services.checkout(user=shopper, token="count-test", dest_x=1, dest_y=2)
    assert both() == (0, 0) and count_in_nav(client) == 0


def test_the_user_of_a_request_comes_with_the_count_in_one_query(shopper, catalog):
    session = Client().session
    services.cart_add(user=shopper, session=session, product_id=2, quantity=3)
    with CaptureQueriesContext(connection) as queries:
        user = ShopperBackend().get_user(shopper.pk)
        assert user is not None
        assert cart_count(user, session) == 3
    assert len(queries) == 1


def test_a_shopper_who_never_had_a_cart_counts_none_without_a_row(shopper, catalog):
    session = Client().session
    with CaptureQueriesContext(connection) as queries:
        user = ShopperBackend().get_user(shopper.pk)
        assert cart_count(user, session) == 0
    assert len(queries) == 1 and not Cart.objects.exists()


def test_a_deleted_product_leaves_the_carts_that_held_it(shopper, other_shopper, catalog):
    session = Client().session
    services.cart_add(user=shopper, session=session, product_id=1, quantity=2)
    services.cart_add(user=shopper, session=session, product_id=2, quantity=1)
    services.cart_add(user=other_shopper, session=session, product_id=1, quantity=5)
    Product.objects.get(id=1).delete()
    assert units_kept(shopper) == 1 and units_kept(other_shopper) == 0


@pytest.mark.django_db(transaction=True)
def test_two_changes_of_one_cart_at_once_are_both_counted(shopper, catalog):
    """The second change waits for the first to commit, and counts its lines: without
    the cart's lock, each would count its own line only and the last to write wins."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks: SQLite has one writer at a time anyway")
    session = Client().session
    services.cart_add(user=shopper, session=session, product_id=3, quantity=1)
    first_added = threading.Event()

    def other_tab() -> None:
        try:
            first_added.wait(10)
            services.cart_add(user=shopper, session=session, product_id=2, quantity=2)
        finally:
            connection.close()

    thread = threading.Thread(target=other_tab)
    thread.start()
    with transaction.atomic():
        services.cart_add(user=shopper, session=session, product_id=1, quantity=3)
        first_added.set()
        wait_for_a_lock_wait("the other change to wait for the cart's lock")
    thread.join(10)
    assert units_kept(shopper) == units_in_lines(shopper) == 6
