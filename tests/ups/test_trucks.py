"""Trucks as UPS believes them, against a world that drops, repeats and reorders.

What the world says of a truck is read against what we sent it: reports older than
what we know change nothing, reports that do not fit put the truck in doubt until the
world answers a query, and a truck with a command the world has not acked gets no
new work. Packages that counted on a truck that is not there get a truck again."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.ups.dispatch import services as dispatch
from amazon_ups.ups.dispatch.services import trucks as truck_services
from amazon_ups.ups.shipments.models import Package, PackageStatus, Truck, TruckStatus
from tests.ups.helpers import (
    WORLD,
    ack_all,
    arrive,
    finish,
    pickup,
    report,
    sent,
    world_seqnum,
)

pytestmark = pytest.mark.django_db


def truck(truck_id: int) -> Truck:
    return Truck.objects.get(id=truck_id)


def package(package_id: int) -> Package:
    return Package.objects.get(id=package_id)


def kinds(package_id: int) -> list[str]:
    return list(package(package_id).events.values_list("kind", flat=True))


def truck_kinds(truck_id: int) -> list[str]:
    return list(truck(truck_id).events.values_list("kind", flat=True))


def free() -> set[int]:
    return set(truck_services.free_trucks().values_list("id", flat=True))


def delivering(fleet_truck: int = 1, *package_ids: int) -> None:
    """Truck 1 picked the packages up at warehouse 1 and left with them (not acked)."""
    for package_id in package_ids:
        pickup(package_id)
    arrive(fleet_truck, 10, 0)
    for package_id in package_ids:
        dispatch.package_loaded(package_id, fleet_truck, now=timezone.now())
    assert truck(fleet_truck).status == TruckStatus.DELIVERING


def test_an_older_report_never_moves_a_truck_back(fleet):
    pickup(5)
    ack_all()
    older, newer = world_seqnum(), world_seqnum()
    dispatch.truck_finished(1, "ARRIVE WAREHOUSE", 10, 0, newer, now=timezone.now())
    assert truck(1).status == TruckStatus.ARRIVE_WAREHOUSE
    # The world re-sends an old report it made before (its idle from an earlier trip).
    dispatch.truck_finished(1, "IDLE", 0, 0, older, now=timezone.now())
    assert (truck(1).status, truck(1).report_seqnum, truck(1).x) == (
        TruckStatus.ARRIVE_WAREHOUSE,
        newer,
        10,
    )
    assert truck_kinds(1)[-1] == "arrived"


def test_idle_while_a_delivery_waits_for_its_ack_puts_the_truck_in_doubt(fleet):
    delivering(1, 5)
    # Our UGoDeliver is not acked: this idle may be older than it, and the world may
    # still run it. The truck is neither idle nor free until the world says so.
    dispatch.truck_finished(1, "IDLE", 0, 0, world_seqnum(), now=timezone.now())
    assert (truck(1).status, truck(1).needs_query) == (TruckStatus.DELIVERING, True)
    assert 1 not in free()
    assert dispatch.queries_send() == 0  # not while a command to it waits for its ack
    ack_all()
    assert dispatch.queries_send() == 1
    assert dispatch.queries_send() == 0  # one query at a time
    [query] = sent(WORLD, "queries")
    assert query.truckid == 1 and 1 not in free()
    report(1, "DELIVERING", 15, -5)  # it had not finished after all
    assert (truck(1).status, truck(1).needs_query, truck(1).query_seqnum) == (
        TruckStatus.DELIVERING,
        False,
        None,
    )
    assert truck_kinds(1)[-2:] == ["unexpected report", "reported"]


def test_an_answer_older_than_a_command_sent_since_is_not_taken(fleet):
    pickup(5)
    arrive(1, 10, 0)
    Truck.objects.filter(id=1).update(needs_query=True)
    dispatch.queries_send()
    ack_all()  # the world has taken the query...
    # ...and then the truck is sent out: a newer command
    dispatch.package_loaded(5, 1, now=timezone.now())
    assert truck(1).status == TruckStatus.DELIVERING
    dispatch.truck_reported(1, "ARRIVE WAREHOUSE", 10, 0, world_seqnum(), now=timezone.now())
    assert (truck(1).status, truck(1).needs_query) == (TruckStatus.DELIVERING, True)


def test_a_truck_with_a_command_waiting_for_its_ack_gets_no_new_work(fleet):
    pickup(5)  # truck 1 goes to warehouse 1; the world has not acked it
    assert free() == {2}
    ack_all()
    assert free() == {2}  # still busy: it has package 5 to fetch


def test_the_scenario_of_the_dropped_delivery_no_longer_strands_anything(fleet, settings):
    """The world dropped a truck's UGoDeliver; an old IDLE re-sent for it came in; the
    truck must not be taken for free and sent elsewhere (the re-sent delivery would
    then drive it away from its new warehouse with packages announced there)."""
    settings.UPS_LOADING_WAIT = 0
    pickup(5)
    pickup(6)
    arrive(1, 10, 0)
    dispatch.package_loaded(5, 1, now=timezone.now())
    # 6 is not ready: truck 1 leaves with 5 (UGoDeliver unacked)
    dispatch.depart_overdue(timezone.now())
    assert package(6).status in (PackageStatus.CREATED, PackageStatus.TRUCK_DISPATCHED)
    assert package(6).truck_id != 1
    # An IDLE the world made before (and re-sent) arrives now.
    dispatch.truck_finished(1, "IDLE", 0, 0, world_seqnum(), now=timezone.now())
    assert truck(1).status == TruckStatus.DELIVERING and 1 not in free()
    dispatch.serve_waiting(timezone.now())
    assert [c.truckid for c in sent(WORLD, "pickups")].count(1) == 1  # never sent again


def test_a_refused_load_sends_another_truck_and_asks_where_the_first_is(fleet):
    pickup(5)
    arrive(1, 10, 0)
    [arrived] = sent("amazon", "arrived")
    dispatch.load_failed(
        5, 1, "error: truck 1 is not at warehouse 1 (it is delivering)", now=timezone.now()
    )
    assert kinds(5)[-2:] == ["load refused", "truck dispatched"]
    assert (package(5).status, package(5).truck_id) == (PackageStatus.TRUCK_DISPATCHED, 2)
    assert truck(1).needs_query and 1 not in free()
    arrive(2, 10, 0)
    newer = sent("amazon", "arrived")[-1]
    assert (newer.truck_id, newer.package_id) == (2, 5) and newer.seqnum > arrived.seqnum
    # A late copy about truck 1 changes nothing now.
    dispatch.load_failed(5, 1, "error: truck 1 is not at warehouse 1", now=timezone.now())
    assert (package(5).status, package(5).truck_id) == (PackageStatus.TRUCK_AT_WAREHOUSE, 2)


def test_a_truck_the_world_shows_elsewhere_gives_its_packages_another_truck(fleet):
    pickup(5)
    arrive(1, 10, 0)
    assert package(5).status == PackageStatus.TRUCK_AT_WAREHOUSE
    Truck.objects.filter(id=1).update(needs_query=True)
    dispatch.queries_send()
    report(1, "IDLE", 40, 40)
    assert kinds(5)[-2:] == ["truck went elsewhere", "truck dispatched"]
    # Truck 1, idle and nearest, is sent back for it; a new TruckArrived follows.
    assert truck_kinds(1)[-2:] == ["reported", "sent to warehouse"]
    assert (package(5).status, package(5).truck_id) == (PackageStatus.TRUCK_DISPATCHED, 1)
    arrive(1, 10, 0)
    assert [a.package_id for a in sent("amazon", "arrived")] == [5, 5]


def test_a_delivery_refused_after_its_ack_goes_out_again(fleet):
    delivering(1, 5)
    [deliver] = sent(WORLD, "deliveries")
    ack_all()
    dispatch.confirm_deliveries(timezone.now())
    assert package(5).status == PackageStatus.OUT_FOR_DELIVERY
    # The world's refusal is read after its ack: the package did not go out.
    dispatch.deliveries_refused(
        deliver.seqnum,
        1,
        [5],
        "error: truck 1 is busy traveling to warehouse 2",
        now=timezone.now(),
    )
    assert (package(5).status, package(5).delivery_seqnum) == (
        PackageStatus.OUT_FOR_DELIVERY,
        None,
    )
    assert truck(1).needs_query
    dispatch.queries_send()
    report(1, "ARRIVE WAREHOUSE", 10, 0)
    again = sent(WORLD, "deliveries")[-1]
    assert again.seqnum != deliver.seqnum and [p.packageid for p in again.packages] == [5]
    assert package(5).delivery_seqnum == again.seqnum


def test_a_delivery_the_world_already_made_is_not_failed_by_a_late_refusal(fleet):
    delivering(1, 5)
    [deliver] = sent(WORLD, "deliveries")
    dispatch.deliveries_refused(
        deliver.seqnum, 1, [5], "error: package 5 was already delivered", now=timezone.now()
    )
    assert package(5).status != PackageStatus.FAILED


def test_out_for_delivery_long_on_a_truck_the_world_says_is_idle_goes_again(fleet, settings):
    delivering(1, 5)
    ack_all()
    dispatch.confirm_deliveries(timezone.now())
    finish(1, 20, -20)  # but the delivery of 5 never came
    Package.objects.filter(id=5).update(
        status_changed_at=timezone.now() - datetime.timedelta(seconds=settings.STUCK_AFTER + 1)
    )
    Truck.objects.filter(id=1).update(needs_query=True)
    dispatch.queries_send()
    report(1, "IDLE", 20, -20)
    assert kinds(5)[-1] == "delivery sent again"
    again = sent(WORLD, "deliveries")[-1]
    assert [p.packageid for p in again.packages] == [5]


def test_what_waits_too_long_is_logged_once_and_its_truck_asked(fleet, settings, caplog):
    pickup(5)
    long_ago = timezone.now() - datetime.timedelta(seconds=settings.STUCK_AFTER + 1)
    Package.objects.filter(id=5).update(status_changed_at=long_ago)
    Truck.objects.filter(id=1).update(status_changed_at=long_ago)
    assert dispatch.stuck_find(timezone.now()) == 2  # the package and its traveling truck
    assert kinds(5)[-1] == "stuck" and truck_kinds(1)[-1] == "stuck"
    assert truck(1).needs_query
    assert "package 5 has been truck dispatched" in caplog.text
    assert dispatch.stuck_find(timezone.now()) == 0  # once per stay in that state
    ack_all()
    assert dispatch.queries_send() == 1
    assert OutgoingMessage.objects.filter(peer=WORLD, field="queries").count() == 1


def test_a_truck_at_the_warehouse_takes_a_gathered_load_from_the_trucks_coming(fleet, settings):
    """Packages 1-4 come one by one and are shared out as they come (two per truck:
    UPS_TRUCK_SHARE 2), so each truck was given one bound north and one south. The
    first truck there swaps so that it carries the oldest (north) and the other one
    bound north; the truck still coming gets the two bound south. Nothing is announced
    before its truck is there."""
    settings.UPS_TRUCK_SHARE = 2
    for package_id, dest in ((1, (10, 90)), (2, (10, -90)), (3, (10, 95)), (4, (10, -95))):
        pickup(package_id, dest=dest)
    given = {p: package(p).truck_id for p in (1, 2, 3, 4)}
    assert given == {1: 1, 2: 1, 3: 2, 4: 2}
    arrive(1, 10, 0)
    assert {p: package(p).truck_id for p in (1, 2, 3, 4)} == {1: 1, 2: 2, 3: 1, 4: 2}
    assert sorted(a.package_id for a in sent("amazon", "arrived")) == [1, 3]
    assert package(2).status == PackageStatus.TRUCK_DISPATCHED
    arrive(2, 10, 0)
    assert sorted(a.package_id for a in sent("amazon", "arrived")) == [1, 2, 3, 4]
    assert {p: package(p).truck_id for p in (1, 2, 3, 4)} == {1: 1, 2: 2, 3: 1, 4: 2}


def test_the_first_truck_there_leaves_the_next_one_a_compact_load(fleet, settings):
    """As planning's example (test_a_truck_leaves_the_next_one_a_compact_load), seen
    from warehouse 1 at (10, 0): the narrowest sector around the oldest, 1, would give
    the truck 1 with 4 and 5, far west, and leave 2 with 3 and 6. Both trucks' trips
    weighed, each takes one part of the map: truck 1, there, the north-west and 6 by
    the warehouse; truck 2, still 90 away, the two in the south-east (fewer: it starts
    later)."""
    settings.UPS_TRUCK_SHARE = 3
    dests = {1: (40, -90), 2: (70, -60), 3: (-80, 100), 4: (-90, 50), 5: (-90, 10), 6: (0, 10)}
    for package_id, (x, y) in dests.items():
        pickup(package_id, dest=(x + 10, y))
    assert {p: package(p).truck_id for p in dests} == {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 2}
    arrive(1, 10, 0)
    assert {p: package(p).truck_id for p in dests} == {1: 2, 2: 2, 3: 1, 4: 1, 5: 1, 6: 1}
    assert sorted(a.package_id for a in sent("amazon", "arrived")) == [3, 4, 5, 6]
    arrive(2, 10, 0)
    assert sorted(a.package_id for a in sent("amazon", "arrived")) == [1, 2, 3, 4, 5, 6]


def test_a_truck_there_gives_some_back_when_it_was_given_more_than_its_share(fleet, settings):
    """Truck 2 (nearest to warehouse 2) was given the first four packages, truck 1 the
    last two; truck 1 was last seen by the warehouse too. Truck 2, there first, keeps
    three and gives one back, so that the two finish about together: the three to the
    west (a little the longer trip, since truck 1 is still up to 5 away); the oldest
    goes with truck 1, which is coming for it."""
    settings.UPS_TRUCK_SHARE = 4
    warehouse = (2, 95, 0)
    dests = {1: (145, 0), 2: (130, 35), 3: (95, 50), 4: (60, 35), 5: (45, 0), 6: (60, -35)}
    for package_id, dest in dests.items():
        pickup(package_id, warehouse=warehouse, dest=dest)
    assert {p: package(p).truck_id for p in dests} == {1: 2, 2: 2, 3: 2, 4: 2, 5: 1, 6: 1}
    Truck.objects.filter(id=1).update(x=95, y=5)
    arrive(2, 95, 0)
    assert {p: package(p).truck_id for p in dests} == {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 2}
    assert sorted(a.package_id for a in sent("amazon", "arrived")) == [4, 5, 6]
    arrive(1, 95, 0)
    assert sorted(a.package_id for a in sent("amazon", "arrived")) == [1, 2, 3, 4, 5, 6]


def test_a_truck_there_takes_its_part_of_the_packages_waiting_with_no_truck(fleet, settings):
    """Two trucks of two (UPS_TRUCK_CAPACITY 2) were given four packages as they came:
    truck 1 one bound north and one south, truck 2 two bound east; 5 (north) and 6
    (south) found them full and wait. Truck 1, there first, takes the north (1 and 5)
    of all six, not of its own and truck 2's only (which would leave it 1 and 2, a
    trip north and south); 2, which it was given, waits in 5's stead (as many wait as
    before), with 6: the next truck's load is the south. Truck 2 keeps the east."""
    settings.UPS_TRUCK_SHARE = 2
    settings.UPS_TRUCK_CAPACITY = 2
    dests = {1: (10, 90), 2: (10, -90), 3: (100, 0), 4: (100, 10), 5: (15, 95), 6: (5, -95)}
    for package_id, dest in dests.items():
        pickup(package_id, dest=dest)
    given = {p: package(p).truck_id for p in dests}
    assert given == {1: 1, 2: 1, 3: 2, 4: 2, 5: None, 6: None}
    Truck.objects.filter(id=2).update(x=10, y=5)  # nearly there too
    arrive(1, 10, 0)
    assert {p: package(p).truck_id for p in dests} == {1: 1, 2: None, 3: 2, 4: 2, 5: 1, 6: None}
    assert sorted(a.package_id for a in sent("amazon", "arrived")) == [1, 5]
    assert package(2).status == PackageStatus.CREATED
    assert kinds(5)[-2:] == ["truck dispatched", "truck at warehouse"]


def test_the_naive_baseline_keeps_its_loads_as_given(fleet, settings):
    settings.UPS_DISPATCH = "naive"
    for package_id, dest in ((1, (10, 90)), (2, (10, -90))):
        pickup(package_id, dest=dest)
    assert {p: package(p).truck_id for p in (1, 2)} == {1: 1, 2: 2}
    arrive(2, 10, 0)
    assert [a.package_id for a in sent("amazon", "arrived")] == [2]
