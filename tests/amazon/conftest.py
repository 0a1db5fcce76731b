from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings

from amazon_ups.amazon.accounts.backends import forget_kept_users
from amazon_ups.amazon.catalog.models import Product, Warehouse
from amazon_ups.amazon.orders import services as orders_services
from amazon_ups.protocol.world_messages import Side
from tests.amazon.fake_ups import FakeUps
from tests.support import FAST


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    # SQLite's test database is in memory by default, which the daemon's thread cannot
    # share safely; a file behaves like the real thing (WAL, one writer at a time).
    database = django_settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        path = tmp_path_factory.mktemp("amazon-db") / "test.sqlite3"
        database.setdefault("TEST", {})["NAME"] = str(path)


@pytest.fixture(autouse=True)
def no_kept_users():
    # Each test's users are its own (their ids come back after a rollback): a user kept
    # from another test is read again anyway (its stamp is new), at one query more, which
    # would move the statement counts the tests pin.
    forget_kept_users()


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The real hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def catalog(db):
    """Two warehouses far apart and three products, with no stock anywhere."""
    Warehouse.objects.create(id=1, name="North", x=10, y=10)
    Warehouse.objects.create(id=2, name="West", x=-20, y=5)
    for product_id, name in ((1, "Kettle"), (2, "Teapot"), (3, "Mug")):
        Product.objects.create(id=product_id, name=name, description=f"A {name.lower()}.")


@pytest.fixture
def shopper(db, django_user_model):
    return django_user_model.objects.create_user("shopper", password="a-long-password-1")


@pytest.fixture
def other_shopper(db, django_user_model):
    return django_user_model.objects.create_user("other", password="a-long-password-2")


@pytest.fixture
def place(shopper, catalog):
    """Place an order for ``shopper``: ``place({product: count}, x, y, **options)``."""

    def place_order(items=None, x=0, y=0, user=None, **options):
        return orders_services.place_order(
            user=user or shopper, items=items or {1: 1}, dest_x=x, dest_y=y, **options
        )

    return place_order


@pytest.fixture
def world(world_process):
    """A world simulator in a process of its own."""
    return world_process()


@pytest.fixture
def configure(settings, world):
    """``configure(ups)`` points the daemon at the world and at the test's carrier."""

    def apply(ups: FakeUps, creator: str = "ups") -> None:
        settings.WORLD_HOST = "127.0.0.1"
        settings.WORLD_AMAZON_PORT = world.ports[Side.AMAZON]
        settings.UPS_HOST = "127.0.0.1"
        settings.UPS_PORT = ups.port
        settings.WORLD_CREATOR = creator
        settings.WORLD_ID = None
        settings.WORLD_SIMSPEED = FAST

    return apply


@pytest.fixture
def fake_ups(world):
    """``fake_ups(**options)`` starts a carrier played by the test; stopped after."""
    started: list[FakeUps] = []

    def start(**options: Any) -> FakeUps:
        ups = FakeUps(world.ports[Side.UPS], **options).start()
        started.append(ups)
        return ups

    yield start
    for ups in started:
        ups.stop()
