"""Which world UPS uses, what it brings there, and what it tells Amazon about it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.utils import timezone

from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.protocol import au_pb2
from amazon_ups.ups.dispatch import services
from amazon_ups.ups.dispatch import services as dispatch
from amazon_ups.ups.dispatch.daemon import Dispatcher, world_hello
from amazon_ups.ups.dispatch.planning import truck_starts
from amazon_ups.ups.shipments import world as shipments_world
from amazon_ups.ups.shipments.models import Package, PackageStatus, Truck
from tests.ups.helpers import sent

pytestmark = pytest.mark.django_db

AMAZON_LINK = SimpleNamespace(name="amazon", peer="amazon")


def trucks_in(hello) -> list[tuple[int, int, int]]:
    return [(t.id, t.x, t.y) for t in hello.trucks]


def test_ups_creates_a_world_with_its_trucks(world_settings):
    hello = world_hello()
    assert not hello.HasField("worldid")
    assert not hello.isAmazon
    assert trucks_in(hello) == truck_starts(3)


def test_joining_stores_the_world_makes_the_trucks_and_tells_amazon_once(world_settings):
    services.world_joined(7, timezone.now())
    assert messaging_selectors.setting("world_id") == "7"
    assert list(Truck.objects.values_list("id", "x", "y").order_by("id")) == truck_starts(3)
    services.world_joined(7, timezone.now())  # a reconnect
    assert [w.world_id for w in sent("amazon", "worlds")] == [7]


def test_back_in_its_world_ups_brings_no_truck_twice(world_settings):
    services.world_joined(7, timezone.now())
    Truck.objects.filter(id=1).update(x=55, y=55)  # it has moved since
    hello = world_hello()
    assert hello.worldid == 7
    assert trucks_in(hello) == []
    world_settings.UPS_TRUCKS = 4  # ...but a truck added to the fleet is brought
    assert trucks_in(world_hello()) == [truck_starts(4)[3]]
    services.world_joined(7, timezone.now())
    assert Truck.objects.count() == 4
    assert Truck.objects.get(id=1).x == 55


def test_a_configured_world_is_joined_with_the_trucks(world_settings):
    world_settings.WORLD_ID = 12
    hello = world_hello()
    assert hello.worldid == 12
    assert trucks_in(hello) == truck_starts(3)


def test_the_joiner_waits_for_amazons_world(world_settings):
    world_settings.WORLD_CREATOR = "amazon"
    assert world_hello() is None
    Dispatcher(world=None).handle(
        AMAZON_LINK, "worlds", au_pb2.WorldCreated(seqnum=4, world_id=9), timezone.now()
    )
    hello = world_hello()
    assert (hello.worldid, trucks_in(hello)) == (9, truck_starts(3))
    services.world_joined(9, timezone.now())
    assert sent("amazon", "worlds") == []  # the joiner announces nothing


def test_the_joiner_follows_the_latest_world_only(world_settings):
    world_settings.WORLD_CREATOR = "amazon"
    assert services.world_announced(9, seqnum=4)
    assert not services.world_announced(5, seqnum=3)  # older, overtaken
    assert messaging_selectors.setting("world_id") == "9"
    assert services.world_announced(10, seqnum=6)
    assert messaging_selectors.setting("world_id") == "10"


def test_moving_to_another_world_abandons_the_old_packages(world_settings):
    world_settings.WORLD_CREATOR = "amazon"
    services.world_announced(9, seqnum=4)
    services.world_joined(9, timezone.now())
    dispatch.pickup_request(
        seqnum=1,
        package_id=5,
        warehouse_id=1,
        warehouse_x=0,
        warehouse_y=0,
        dest_x=3,
        dest_y=3,
        now=timezone.now(),
    )
    services.world_announced(10, seqnum=6)
    services.world_joined(10, timezone.now())
    assert Package.objects.get(id=5).status == PackageStatus.FAILED


def test_the_creator_refuses_a_world_from_amazon(world_settings):
    Dispatcher(world=None).handle(
        AMAZON_LINK, "worlds", au_pb2.WorldCreated(seqnum=4, world_id=9), timezone.now()
    )
    [error] = sent("amazon", "errors")
    assert error.origin_seqnum == 4
    assert messaging_selectors.setting("world_id") is None


def test_the_world_id_is_read_once_per_container_and_read_again_after_a_write(
    django_assert_num_queries,
):
    """The daemon handles a container inside ``remembered()``, and each sub-message's
    handler inside its own: the inner one shares the outer's memory, so the setting is
    read once per container; a write makes every later read go to the database."""
    shipments_world.world_id_put(4)
    with shipments_world.remembered():
        with django_assert_num_queries(1):
            for _ in range(3):
                with shipments_world.remembered():
                    assert shipments_world.world_id() == 4
        shipments_world.world_id_put(5)
        with django_assert_num_queries(2):
            with shipments_world.remembered():
                assert shipments_world.world_id() == 5
            assert shipments_world.world_id() == 5
