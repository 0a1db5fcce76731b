"""Every whole number the store takes from a request, given text that is not one of
ours: a digit of another script, a superscript, a number no column holds, a sign,
nothing, spaces. Each page answers as it does for any wrong input, never with a 500
(the test client would raise it)."""

from __future__ import annotations

import uuid

import pytest

from amazon_ups.amazon.accounts import services as accounts_services
from amazon_ups.amazon.cart.models import CartItem
from amazon_ups.amazon.orders.models import Order

# "²" passes isdigit() and fails int(); "٣" passes both (as 3); the long one passes
# both and overflows every integer column.
NOT_NUMBERS = ["²", "٣", "9" * 5000, "9" * 30]
ODD = ["-1", "", " 12 "]
ALL = NOT_NUMBERS + ODD


@pytest.fixture
def logged_in(client, shopper, catalog):
    client.force_login(shopper)
    return client


def _delivery(**changes) -> dict:
    data = {"token": uuid.uuid4().hex, "dest_x": "3", "dest_y": "4", "ups_account": ""}
    return {**data, **changes}


@pytest.mark.parametrize("value", ALL)
def test_catalog_page_number_gives_a_page(client, catalog, value):
    response = client.get("/", {"page": value})
    assert response.status_code == 200


@pytest.mark.parametrize("value", ALL)
def test_order_list_page_number_gives_a_page(logged_in, value):
    assert logged_in.get("/orders/", {"page": value}).status_code == 200


@pytest.mark.parametrize("value", ALL)
def test_buy_now_page_for_a_product_that_is_no_number_is_not_found(logged_in, value):
    response = logged_in.get("/orders/new/", {"product": value})
    assert response.status_code == 404
    assert "Not found" in response.content.decode()


@pytest.mark.parametrize("value", ALL)
def test_buying_a_product_that_is_no_number_is_not_found(logged_in, value):
    response = logged_in.post("/orders/new/", _delivery(product=value, quantity="1"))
    assert response.status_code == 404
    assert not Order.objects.exists()


@pytest.mark.parametrize("field", ["quantity", "dest_x", "dest_y", "ups_account"])
@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_buying_with_a_field_that_is_no_number_is_a_form_error(logged_in, field, value):
    data = _delivery(product="1", quantity="1")
    data[field] = value
    response = logged_in.post("/orders/new/", data)
    assert response.status_code == 400
    assert "must be a whole number" in response.content.decode()
    assert not Order.objects.exists()


@pytest.mark.parametrize("value", ODD)
def test_buying_with_an_odd_quantity(logged_in, value):
    response = logged_in.post("/orders/new/", _delivery(product="1", quantity=value))
    if value == " 12 ":  # a person's stray spaces: read as 12, like any form field
        assert response.status_code == 302
        assert Order.objects.get().lines.get().count == 12
    else:
        assert response.status_code == 400
        assert not Order.objects.exists()


@pytest.mark.parametrize("path", ["/cart/add/", "/cart/update/", "/cart/remove/"])
@pytest.mark.parametrize("value", [*NOT_NUMBERS, "-1", ""])
def test_cart_with_a_product_that_is_no_number_is_a_form_error(logged_in, path, value):
    response = logged_in.post(path, {"product": value, "quantity": "1"})
    assert response.status_code == 400
    assert not CartItem.objects.exists()


@pytest.mark.parametrize("path", ["/cart/add/", "/cart/update/"])
@pytest.mark.parametrize("value", [*NOT_NUMBERS, "-1", ""])
def test_cart_with_a_quantity_that_is_no_number_is_a_form_error(logged_in, path, value):
    response = logged_in.post(path, {"product": "1", "quantity": value})
    assert response.status_code == 400
    assert "must be a whole number" in response.content.decode() or value in ("-1", "")
    assert not CartItem.objects.exists()


@pytest.mark.parametrize("field", ["dest_x", "dest_y", "ups_account"])
@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_checkout_with_a_field_that_is_no_number_is_a_form_error(logged_in, field, value):
    logged_in.post("/cart/add/", {"product": "1", "quantity": "1"})
    response = logged_in.post("/cart/checkout/", _delivery(**{field: value}))
    assert response.status_code == 400
    assert "must be a whole number" in response.content.decode()
    assert not Order.objects.exists()


@pytest.mark.parametrize("field", ["default_x", "default_y", "ups_account"])
@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_profile_with_a_field_that_is_no_number_is_a_form_error(logged_in, field, value):
    data = {"default_x": "1", "default_y": "2", "ups_account": ""}
    data[field] = value
    response = logged_in.post("/accounts/profile/", data)
    assert response.status_code == 400
    assert "must be a whole number" in response.content.decode()


@pytest.mark.parametrize(
    "path", ["/products/{}/", "/orders/{}/", "/orders/{}/status.json", "/sell/products/{}/edit/"]
)
@pytest.mark.parametrize("value", ["9" * 30, "9" * 5000, str(2**63)])
def test_ids_in_the_path_beyond_any_column_are_not_found(
    client, catalog, django_user_model, path, value
):
    # Only ASCII digits reach these views (Django's <int:>); too large is simply no row.
    accounts_services.seller_ensure("maker", "maker-password-1")
    client.force_login(django_user_model.objects.get(username="maker"))
    response = client.get(path.format(value))
    assert response.status_code == 404
