"""The store's pages, through the Django test client."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from amazon_ups.amazon.orders.models import Order
from tests.support import HUMAN_TIME

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


def test_buying_places_an_order_and_shows_its_page(browser):
    response = buy(browser, ups_account=42)

    order = Order.objects.get()
    assert response.status_code == 302 and response.url == f"/orders/{order.id}/"
    assert (order.dest_x, order.dest_y, order.ups_account) == (5, -7, 42)
    page = browser.get(response.url).content.decode()
    assert '<span id="order-status" class="status" data-status="placed">placed</span>' in page
    assert '<span id="tracking-number"></span>' in page  # UPS has not given one yet
    assert "order placed" in page


def test_buying_reads_the_product_once_and_its_page_the_lines_in_one_query(browser):
    with CaptureQueriesContext(connection) as placing:
        response = buy(browser, quantity=1)
    product_reads = [q for q in placing.captured_queries if 'FROM "catalog_product"' in q["sql"]]
    assert response.status_code == 302 and len(product_reads) == 1
    buy(browser, token="tok-2", product=3)
    # The user with the profile and cart; the order's lines with their products, joined
    # with the order; its events.
    with CaptureQueriesContext(connection) as viewing:
        page = browser.get(response.url).content.decode()
    assert len(viewing) == 3, [q["sql"] for q in viewing.captured_queries]
    assert '<tr data-product="1">' in page and "Kettle" in page


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
    history = page[page.index('id="order-events"') :]
    assert history.count("<time") == 2


def test_csrf_is_enforced_on_the_buy_form(shopper, catalog):
    client = Client(enforce_csrf_checks=True)
    client.force_login(shopper)
    assert buy(client).status_code == 403
    assert not Order.objects.exists()

    page = client.get(PLACE, {"product": 1}).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    response = buy(client, csrfmiddlewaretoken=token)
    assert response.status_code == 302
    assert Order.objects.count() == 1


def test_the_stylesheet_is_served_by_the_app(client):
    response = client.get("/static/amazon/site.css")
    assert response.status_code == 200
    assert b"--accent" in b"".join(response.streaming_content)


# -- the order page and its live status --------------------------------------------------------


def status_url(order) -> str:
    return reverse("orders:status", args=[order.id])


def test_the_status_json_follows_the_same_access_rules(client, place, other_shopper):
    order = place()
    response = client.get(status_url(order))
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    client.force_login(other_shopper)
    assert client.get(status_url(order)).status_code == 404
    assert client.get("/orders/999999/status.json").status_code == 404
    # Beyond any id the database can hold: still just "no such order".
    assert client.get(f"/orders/{2**64}/").status_code == 404
    assert client.get(f"/orders/{2**64}/status.json").status_code == 404


def test_the_status_json_tells_the_whole_state(browser, place):
    from amazon_ups.amazon.orders import services

    order = place({1: 2, 2: 1}, x=3, y=4)
    data = browser.get(status_url(order)).json()
    assert (data["id"], data["tracking_number"], data["status"]) == (order.id, None, "placed")
    assert data["final"] is False and data["destination"] == {"x": 3, "y": 4}
    assert [step["status"] for step in data["steps"]] == [
        "placed",
        "packing",
        "packed",
        "loading",
        "loaded",
        "delivering",
        "delivered",
    ]
    assert [step["reached"] for step in data["steps"]] == [True] + [False] * 6
    # People read at_text (in the pages' one format); machines read the ISO value.
    assert re.fullmatch(HUMAN_TIME, data["steps"][0]["at_text"]) and data["steps"][1]["at"] is None
    assert datetime.fromisoformat(data["events"][0]["at"]).tzinfo is not None
    assert [event["note"] for event in data["events"]] == ["order placed"]
    assert [event["kind"] for event in data["events"]] == ["placed"]

    for advance in (services.start_packing, services.mark_packed):
        advance(order)
    services.mark_delivered(order, x=9, y=10)  # UPS may report the delivery first
    data = browser.get(status_url(order)).json()
    assert data["status"] == "delivered" and data["final"] is True
    assert data["destination"] == {"x": 9, "y": 10}
    reached = {step["status"]: (step["reached"], bool(step["at"])) for step in data["steps"]}
    assert reached == {
        "placed": (True, True),
        "packing": (True, True),
        "packed": (True, True),
        # Passed without a message of their own: reached, with no time to show.
        "loading": (True, False),
        "loaded": (True, False),
        "delivering": (True, False),
        "delivered": (True, True),
    }
    assert browser.get(status_url(order))["Cache-Control"] == "no-store"


def test_a_failed_order_shows_how_far_it_got_and_why(browser, place):
    from amazon_ups.amazon.orders import services

    order = place()
    services.start_packing(order)
    services.fail(order, "UPS will not carry the package: no trucks")
    data = browser.get(status_url(order)).json()
    assert data["status"] == "failed" and data["final"] is True
    assert data["failure"] == "UPS will not carry the package: no trucks"
    reached = [step["status"] for step in data["steps"] if step["reached"]]
    assert reached == ["placed", "packing", "failed"]
    page = browser.get(order.get_absolute_url()).content.decode()
    assert 'data-step="failed" class="step reached"' in page
    assert "UPS will not carry the package: no trucks" in page


def test_the_order_page_shows_each_line_the_steps_and_the_live_script(browser, place):
    order = place({1: 2, 3: 7}, x=-1, y=-2)
    page = browser.get(order.get_absolute_url()).content.decode()
    lines = re.findall(r'<tr data-product="(\d+)">.*?</tr>', page)
    assert lines == ["1", "3"]
    assert re.search(r'data-product="1">.*?Kettle</td>.*?<td class="num">2</td>', page)
    assert re.search(r'data-product="3">.*?Mug</td>.*?<td class="num">7</td>', page)
    assert f'data-status-url="/orders/{order.id}/status.json"' in page
    assert page.count('class="step reached"') == 1 and page.count('class="step"') == 6
    assert 'src="/static/orders/order_status.js"' in page
    assert '(<span id="dest-x">-1</span>, <span id="dest-y">-2</span>)' in page


def test_a_settled_order_page_does_not_poll(browser, place):
    from amazon_ups.amazon.orders import services

    order = place()
    assert "data-final" not in browser.get(order.get_absolute_url()).content.decode()
    services.mark_delivered(order, x=0, y=0)
    assert "data-final" in browser.get(order.get_absolute_url()).content.decode()


def test_the_live_script_is_served_by_the_app(client):
    response = client.get("/static/orders/order_status.js")
    assert response.status_code == 200
    script = b"".join(response.streaming_content)
    # It reads the page's status URL, and puts text in only as text.
    assert b"dataset.statusUrl" in script and b"innerHTML" not in script


# -- the list ------------------------------------------------------------------------------------


def test_my_orders_are_newest_first_and_paginated(browser, place):
    orders = [place({1: 1}) for _ in range(23)]
    first = browser.get(reverse("orders:list")).content.decode()
    ids = [int(n) for n in re.findall(r'href="/orders/(\d+)/"', first)]
    assert ids == [order.id for order in reversed(orders)][:20]
    assert "Page 1 of 2" in first and 'href="?page=2"' in first
    second = browser.get(reverse("orders:list"), {"page": 2}).content.decode()
    assert [int(n) for n in re.findall(r'href="/orders/(\d+)/"', second)] == [
        order.id for order in reversed(orders[:3])
    ]
    # Nonsense pages show a page rather than an error.
    for page in ("0", "999", "x", "1 OR 1=1"):
        assert browser.get(reverse("orders:list"), {"page": page}).status_code == 200


# -- the admin -----------------------------------------------------------------------------------


def test_operators_see_orders_in_the_admin_without_changing_them(client, place, django_user_model):
    order = place({1: 2})
    staff = django_user_model.objects.create_superuser("op", "op@example.com", "a-long-password-3")
    client.force_login(staff)
    listing = client.get("/admin/orders/order/?status__exact=placed")
    assert listing.status_code == 200 and f"/admin/orders/order/{order.id}/" in (
        listing.content.decode()
    )
    page = client.get(f"/admin/orders/order/{order.id}/change/")
    assert page.status_code == 200
    assert "order placed" in page.content.decode() and "Kettle" in page.content.decode()
    assert client.get("/admin/orders/order/add/").status_code == 403
    response = client.post(f"/admin/orders/order/{order.id}/change/", {"status": "delivered"})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == "placed"
    assert client.get("/admin/cart/cartitem/").status_code == 200
    assert client.get("/admin/carrier/upsaccount/").status_code == 200


def test_shoppers_do_not_get_into_the_admin(browser, place):
    order = place()
    response = browser.get(f"/admin/orders/order/{order.id}/change/")
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_order_pages_write_moments_one_way_with_the_iso_value(browser, place):
    order = place({1: 1})
    for url in (reverse("orders:list"), order.get_absolute_url()):
        page = browser.get(url).content.decode()
        assert re.search(
            rf'<time datetime="\d{{4}}-\d\d-\d\dT[^"]+" data-local>{HUMAN_TIME}</time>', page
        )
        assert "UTC</time>" in page and not re.search(r">\d{4}-\d\d-\d\d \d\d:", page)
