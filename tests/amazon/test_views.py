"""The store's pages, through the Django test client."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from amazon_ups.amazon.orders.models import Order

pytestmark = pytest.mark.django_db

PLACE = reverse("orders:place")


@pytest.fixture
def browser(client, shopper, catalog):
    client.force_login(shopper)
    return client


def buy(client, token="tok-1", **fields):
    data = {"product": 1, "token": token, "quantity": 2, "dest_x": 5, "dest_y": -7}
    data.update(fields)
    return client.post(PLACE, {k: v for k, v in data.items() if v is not None})


def test_products_are_listed_with_a_buy_form_for_shoppers_only(client, shopper, catalog):
    page = client.get("/").content.decode()
    assert "Kettle" in page and "Log in to buy" in page and PLACE not in page

    client.force_login(shopper)
    page = client.get("/").content.decode()
    assert page.count(f'action="{PLACE}"') == 3
    # One token per form shown, so each form makes its own order.
    tokens = re.findall(r'name="token" value="([0-9a-f]+)"', page)
    assert len(set(tokens)) == 3


def test_buying_places_an_order_and_shows_its_page(browser):
    response = buy(browser, ups_account=42)

    order = Order.objects.get()
    assert response.status_code == 302 and response.url == f"/orders/{order.id}/"
    assert (order.dest_x, order.dest_y, order.ups_account) == (5, -7, 42)
    page = browser.get(response.url).content.decode()
    assert '<span id="order-status" class="status" data-status="placed">placed</span>' in page
    assert f'<span id="tracking-number">{order.id}</span>' in page
    assert "order placed" in page


def test_a_form_posted_twice_orders_once(browser):
    first = buy(browser)
    second = buy(browser)
    assert first.url == second.url
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dest_x": 2**31}, "x must be a whole number between -2147483648 and 2147483647"),
        ({"dest_y": -(2**31) - 1}, "y must be a whole number between"),
        ({"dest_x": "ten"}, "x must be a whole number."),
        ({"dest_y": "1.5"}, "y must be a whole number."),
        ({"dest_x": None}, "Enter x."),
        ({"quantity": 0}, "quantity must be a whole number between 1 and 1000"),
        ({"quantity": 10**12}, "quantity must be a whole number between"),
        ({"ups_account": -3}, "UPS account id must be a whole number between 1 and"),
    ],
)
def test_bad_input_is_explained_and_orders_nothing(browser, fields, message):
    response = buy(browser, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Order.objects.exists()


def test_an_unknown_product_is_a_404(browser):
    assert buy(browser, product=999).status_code == 404
    assert browser.get(PLACE, {"product": "x"}).status_code == 404


def test_the_buy_page_shows_a_form(browser):
    page = browser.get(PLACE, {"product": 2}).content.decode()
    assert "Buy Teapot" in page and 'name="dest_x"' in page


def test_ordering_and_orders_need_a_login(client, place):
    order = place()
    for url in (PLACE + "?product=1", reverse("orders:list"), order.get_absolute_url()):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    response = buy(client)
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert Order.objects.count() == 1


def test_another_users_order_is_a_404(client, place, other_shopper):
    order = place()
    client.force_login(other_shopper)
    assert client.get(order.get_absolute_url()).status_code == 404
    assert client.get("/orders/999999/").status_code == 404
    assert f'href="/orders/{order.id}/"' not in client.get(reverse("orders:list")).content.decode()


def test_my_orders_lists_mine(browser, place):
    order = place({1: 2})
    page = browser.get(reverse("orders:list")).content.decode()
    assert f'href="/orders/{order.id}/"' in page and "2 \u00d7 Kettle" in page


def test_the_order_page_shows_failures_and_the_history(browser, place):
    from amazon_ups.amazon.orders import services

    order = place()
    services.fail(order, "the world could not pack the package: error: no stock")
    page = browser.get(order.get_absolute_url()).content.decode()
    assert 'data-status="failed">failed</span>' in page
    assert "error: no stock" in page
    assert page.count("<time") == 2


def test_csrf_is_enforced_on_the_buy_form(shopper, catalog):
    client = Client(enforce_csrf_checks=True)
    client.force_login(shopper)
    assert buy(client).status_code == 403
    assert not Order.objects.exists()

    page = client.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    response = buy(client, csrfmiddlewaretoken=token)
    assert response.status_code == 302
    assert Order.objects.count() == 1


def test_login_and_logout(client, shopper, catalog):
    page = client.get(reverse("login")).content.decode()
    assert 'name="username"' in page
    response = client.post(
        reverse("login"), {"username": "shopper", "password": "a-long-password-1"}
    )
    assert response.status_code == 302
    assert "Log out (shopper)" in client.get("/").content.decode()
    client.post(reverse("logout"))
    assert "Log in to buy" in client.get("/").content.decode()


def test_the_stylesheet_is_served_by_the_app(client):
    response = client.get("/static/amazon/site.css")
    assert response.status_code == 200
    assert b"--accent" in b"".join(response.streaming_content)
