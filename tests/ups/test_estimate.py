"""The delivery estimate: the pure figures of ``shipments/estimate.py`` (the world's time
model: 0.1 s per grid unit at simspeed 100, x then y), and the one a package's page
gets from its truck's route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.ups.dispatch import services as dispatch
from amazon_ups.ups.shipments import estimate, live
from amazon_ups.ups.shipments.models import Package, TruckEvent
from amazon_ups.ups.shipments.truck_lifecycle import TruckEventKind
from tests.ups.helpers import WORLD, arrive, pickup

NOON = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


# -- the figures ------------------------------------------------------------------------


def test_on_the_road_the_trip_through_the_stops_before_it():
    # (0, 0) -> (10, 5): 15 units; -> (10, -5): 10 more; 25 units = 2.5 s at simspeed 100.
    window = estimate.on_the_road(
        now=NOON, simspeed=100, start=(0, 0), since=NOON, stops=[(10, 5), (10, -5)]
    )
    assert window == estimate.Window(NOON + seconds(2.5), NOON + seconds(4.5))


def test_on_the_road_scales_with_simspeed_and_counts_from_when_the_truck_was_seen():
    since = NOON - seconds(3)
    window = estimate.on_the_road(
        now=NOON, simspeed=50, start=(0, 0), since=since, stops=[(-20, 30)]
    )
    # 50 units at simspeed 50: 10 s from when it was seen, 7 s from now.
    assert window.earliest == NOON + seconds(7)
    assert window.latest == NOON + seconds(9)


def test_a_truck_late_on_the_model_is_due_now_not_in_the_past():
    window = estimate.on_the_road(
        now=NOON, simspeed=100, start=(0, 0), since=NOON - seconds(60), stops=[(10, 0)]
    )
    assert window == estimate.Window(NOON, NOON + seconds(estimate.SLACK_SECONDS))


def test_before_departure_a_truck_on_its_way_then_the_load_then_the_drive():
    window = estimate.before_departure(
        now=NOON,
        simspeed=100,
        loading_wait=5.0,
        warehouse=(10, 0),
        destination=(20, -20),
        truck=(0, 0),
        truck_since=NOON,
    )
    # Truck to the warehouse 10 units (1 s), load 0.5 s, drive 30 units (3 s).
    assert window.earliest == NOON + seconds(4.5)
    # Plus the packing (1 s), the loading wait (5 s), the drive again (3 s), the slack (2 s).
    assert window.latest == NOON + seconds(1 + 1 + 0.5 + 5 + 6 + 2)


def test_before_departure_once_loaded_only_the_drive_and_the_wait():
    window = estimate.before_departure(
        now=NOON,
        simspeed=200,
        loading_wait=5.0,
        warehouse=(10, 0),
        destination=(20, -20),
        at_warehouse=True,
        loaded=True,
    )
    assert window.earliest == NOON + seconds(1.5)  # 30 units at simspeed 200
    assert window.latest == NOON + seconds(5 + 3 + 2)


@pytest.mark.parametrize(
    ("after", "place"),
    [(-1, (0, 0)), (0, (0, 0)), (1.2, (10, 2)), (1.5, (10, 5)), (2.0, (10, 0)), (99, (10, -5))],
)
def test_where_the_truck_is_on_the_model(after, place):
    # (0, 0) -> (10, 5): x first, then y; 1.5 s. Then (10, 5) -> (10, -5): 1 s.
    assert (
        estimate.where_now(
            now=NOON + seconds(after),
            simspeed=100,
            start=(0, 0),
            since=NOON,
            stops=[(10, 5), (10, -5)],
        )
        == place
    )


@pytest.mark.parametrize(
    ("earliest", "latest", "words"),
    [
        (0, 0.5, "any moment now"),
        (0, 4, "within 4 seconds"),
        (12, 12.4, "in about 12 seconds"),
        (5, 40, "in 5 to 40 seconds"),
        (30, 120, "in 30 seconds to 2 minutes"),
        (600, 1200, "in 10 to 20 minutes"),
        (1, 1, "in about 1 second"),
        (7200, 10800, "in 2 to 3 hours"),
    ],
)
def test_described_as_a_person_says_it(earliest, latest, words):
    window = estimate.Window(NOON + seconds(earliest), NOON + seconds(latest))
    assert estimate.describe(window, NOON) == words


# -- from a truck's route ---------------------------------------------------------------


def _departed_at() -> TruckEvent:
    return TruckEvent.objects.filter(truck_id=1, kind=TruckEventKind.SENT_TO_DELIVER).latest("id")


@pytest.mark.django_db
def test_the_estimate_follows_the_trucks_route(fleet):
    """Truck 1 (at (0, 0)) fetches packages 5 and 7 at warehouse 1 (10, 0): 5 goes to
    (20, -20), 7 to (30, -20); the route from the warehouse serves 5 first."""
    pickup(5, dest=(20, -20))
    pickup(7, dest=(30, -20))
    arrive(1, 10, 0)
    dispatch.package_loaded(5, 1, now=timezone.now())
    dispatch.package_loaded(7, 1, now=timezone.now())
    messaging.acknowledge(WORLD, OutgoingMessage.objects.values_list("seqnum", flat=True))
    dispatch.confirm_deliveries(timezone.now())
    five, seven = Package.objects.get(id=5), Package.objects.get(id=7)
    assert (five.route_position, seven.route_position) == (0, 1)
    left = _departed_at()
    assert (left.x, left.y) == (10, 0)

    # 7: 30 units to 5's door, 10 more to its own: 4 s after the truck left.
    window = live.delivery_estimate(seven, now=left.at)
    assert window == estimate.Window(left.at + seconds(4), left.at + seconds(6))
    assert live.delivery_estimate(five, now=left.at).earliest == left.at + seconds(3)

    # Its owner's small map shows the truck where the model has it: 2 s out, 20 units
    # along (10, 0) -> (20, -20), x first.
    [truck] = live.package_map(seven, exact=True, now=left.at + seconds(2))["trucks"]
    assert (truck["x"], truck["y"]) == (20, -10)
    # A stranger's, where it was last seen.
    [truck] = live.package_map(seven, exact=False, now=left.at + seconds(2))["trucks"]
    assert (truck["x"], truck["y"]) == (10, 0)

    dispatch.package_delivered(1, 5, now=timezone.now())
    five.refresh_from_db()
    # Now from 5's door, where the truck was seen: 10 units, 1 s.
    window = live.delivery_estimate(Package.objects.get(id=7), now=five.status_changed_at)
    assert window.earliest == five.status_changed_at + seconds(1)

    dispatch.package_delivered(1, 7, now=timezone.now())
    assert live.delivery_estimate(Package.objects.get(id=7), now=NOON) is None


@pytest.mark.django_db
def test_before_the_truck_arrives_the_estimate_counts_its_drive(fleet, settings):
    settings.UPS_LOADING_WAIT = 5
    pickup(5, dest=(20, -20))
    package = Package.objects.select_related("truck", "warehouse").get(id=5)
    assert package.status == "truck dispatched" and package.truck_id == 1
    sent = TruckEvent.objects.filter(truck_id=1, kind=TruckEventKind.SENT_TO_WAREHOUSE).get()
    window = live.delivery_estimate(package, now=sent.at)
    # From (0, 0) to the warehouse (10, 0): 1 s; load 0.5 s; 30 units: 3 s.
    assert window.earliest == sent.at + seconds(4.5)
    assert window.latest == sent.at + seconds(1 + 1 + 0.5 + 5 + 6 + 2)
