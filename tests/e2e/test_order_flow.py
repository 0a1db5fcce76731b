"""One order end to end, through the real processes that ``amazon-ups up`` starts:
bought over HTTP on the store, delivered through our UPS and our world, seen as
delivered on both web sites. On SQLite and on PostgreSQL, with a reliable world and
with one that drops 30% of the commands it receives."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlparse

import pytest

from tests.e2e.harness import Browser, System, attribute, postgres_databases, wait_until

DEMO = {"username": "demo", "password": "demo-password-123"}
SIMSPEED = "2000"  # fast, but trucks still take a visible moment to move


@pytest.fixture(params=["sqlite", "postgres"])
def database_urls(request):
    if request.param == "sqlite":
        yield {}
        return
    with postgres_databases("amazon", "ups") as urls:
        yield urls


@pytest.fixture
def start_system(tmp_path, database_urls):
    systems: list[System] = []

    def start(*args: str) -> System:
        extra = list(args)
        if database_urls:
            extra += ["--amazon-db", database_urls["amazon"], "--ups-db", database_urls["ups"]]
        system = System(tmp_path / "var", extra).start()
        systems.append(system)
        return system

    yield start
    for system in systems:
        system.stop()


def shopper_for(system: System) -> Browser:
    shopper = Browser(system.url("amazon", ""), "amazon_csrftoken")
    shopper.get("/accounts/login/")
    status, url, _ = shopper.post("/accounts/login/", DEMO)
    assert status == 200 and "/accounts/login/" not in url, "the demo shopper could not log in"
    return shopper


def buy(shopper: Browser, quantity: int, x: int, y: int) -> str:
    """Buy the first product in the catalog; returns the order page's path."""
    catalog = shopper.get("/")
    product = re.search(r'name="product" value="(\d+)"', catalog)
    assert product, "no Buy form on the catalog page"
    status, url, page = shopper.post(
        "/orders/new/",
        {
            "product": product.group(1),
            "token": uuid.uuid4().hex,
            "quantity": quantity,
            "dest_x": x,
            "dest_y": y,
        },
    )
    assert status == 200 and re.fullmatch(r"/orders/\d+/", urlparse(url).path), page[:2000]
    return urlparse(url).path


def status_of(shopper: Browser, order_path: str) -> str | None:
    return attribute(shopper.get(order_path), "order-status", "data-status")


@pytest.mark.parametrize("flakiness", [0, 30])
def test_an_order_goes_from_the_buy_button_to_delivered(start_system, flakiness):
    system = start_system("--simspeed", SIMSPEED, "--flakiness", str(flakiness), "--trucks", "3")
    shopper = shopper_for(system)
    order = buy(shopper, quantity=2, x=7, y=-3)
    page = shopper.get(order)
    tracking = re.search(r'<span id="tracking-number">(\d+)</span>', page)
    assert tracking, page[:2000]
    try:
        wait_until(
            lambda: status_of(shopper, order) == "delivered", 120, "the order to be delivered"
        )
    except AssertionError:
        print(system.log())
        raise
    carrier = Browser(system.url("ups", ""), "ups_csrftoken")
    shipments = carrier.get("/")
    assert re.search(
        rf'data-package="{tracking.group(1)}"[^>]*data-status="delivered"', shipments
    ), shipments[:3000]
