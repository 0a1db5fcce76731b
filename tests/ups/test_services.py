"""Package and truck state changes, and the messages they queue, without sockets."""

from __future__ import annotations

import datetime
import io
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.utils import timezone

from amazon_ups.common.messaging import services as messaging
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.ups.accounts import services as accounts
from amazon_ups.ups.accounts.models import Account
from amazon_ups.ups.dispatch import services as dispatch
from amazon_ups.ups.dispatch.daemon import Dispatcher
from amazon_ups.ups.dispatch.services import trucks as truck_services
from amazon_ups.ups.shipments import services, tracking
from amazon_ups.ups.shipments.models import Package, PackageStatus, Truck, TruckStatus
from tests.ups.helpers import (
    EVENTS_WHEN_ALL_GOES_WELL,
    WORLD,
    ack_all,
    arrive,
    finish,
    report,
    sent,
)

pytestmark = pytest.mark.django_db

AMAZON_LINK = SimpleNamespace(name="amazon", peer="amazon")
WORLD_LINK = SimpleNamespace(name="world", peer=WORLD)


@pytest.fixture
def world():
    """World 1 with truck 1 at the origin and truck 2 far east."""
    messaging.put_setting("world_id", 1)
    dispatch.fleet_reset([(1, 0, 0), (2, 100, 0)], now=timezone.now())


def pickup(package_id: int, warehouse=(1, 10, 0), dest=(20, 20), account=None) -> Package:
    warehouse_id, x, y = warehouse
    return dispatch.pickup_request(
        seqnum=1000 + package_id,
        package_id=package_id,
        warehouse_id=warehouse_id,
        warehouse_x=x,
        warehouse_y=y,
        dest_x=dest[0],
        dest_y=dest[1],
        items=[services.Item(7, "kettle", 2)],
        ups_account=account,
        now=timezone.now(),
    )


def status(package_id: int) -> str:
    return Package.objects.get(id=package_id).status


def kinds(package_id: int) -> list[str]:
    return list(Package.objects.get(id=package_id).events.values_list("kind", flat=True))


def truck(truck_id: int) -> Truck:
    return Truck.objects.get(id=truck_id)


def at_warehouse_with(*package_ids: int, truck_id: int = 1) -> None:
    for package_id in package_ids:
        pickup(package_id)
    arrive(truck_id, 10, 0)


# -- pickups and trucks ----------------------------------------------------------------


def test_a_pickup_sends_the_nearest_free_truck(world):
    package = pickup(5, warehouse=(3, 90, 0))
    assert package.status == PackageStatus.TRUCK_DISPATCHED
    assert package.truck_id == 2
    [command] = sent(WORLD, "pickups")
    assert (command.truckid, command.whid) == (2, 3)
    assert (truck(2).status, truck(2).warehouse_id) == (TruckStatus.TRAVELING, 3)
    assert list(package.items.values_list("product_id", "description", "count")) == [
        (7, "kettle", 2)
    ]
    assert list(package.events.values_list("kind", flat=True)) == ["created", "truck dispatched"]


def test_packages_at_one_warehouse_share_a_truck(world):
    pickup(5)
    pickup(6, dest=(-40, 3))
    assert Package.objects.get(id=6).truck_id == 1
    assert len(sent(WORLD, "pickups")) == 1


def test_a_truck_takes_at_most_its_capacity_and_the_next_free_truck_the_rest(world, settings):
    settings.UPS_TRUCK_CAPACITY = 2
    for package_id in (5, 6, 7):
        pickup(package_id)
    trucks = dict(Package.objects.values_list("id", "truck_id"))
    assert trucks == {5: 1, 6: 1, 7: 2}
    assert [(c.truckid, c.whid) for c in sent(WORLD, "pickups")] == [(1, 1), (2, 1)]


def test_a_burst_is_spread_over_the_free_trucks_and_the_rest_waits(world, settings):
    settings.UPS_TRUCK_CAPACITY = 2
    dispatch.fleet_reset([(1, 0, 0), (2, 100, 0), (3, 11, 0)], now=timezone.now())
    for package_id in range(5, 12):
        pickup(package_id)
    trucks = dict(Package.objects.values_list("id", "truck_id"))
    # Nearest first: truck 3 stands next to the warehouse, then truck 1, then truck 2.
    assert trucks == {5: 3, 6: 3, 7: 1, 8: 1, 9: 2, 10: 2, 11: None}
    assert status(11) == PackageStatus.CREATED
    assert dispatch.serve_waiting(timezone.now()) == 0


def test_a_burst_fills_every_free_truck_a_little_before_any_truck_a_lot(world, settings):
    settings.UPS_TRUCK_CAPACITY = 4
    settings.UPS_TRUCK_SHARE = 2
    for package_id in range(5, 14):
        pickup(package_id)
    trucks = dict(Package.objects.values_list("id", "truck_id"))
    # Two each while a truck is free; then, with none free, the least loaded truck
    # takes the next one, up to its capacity of 4; the last package waits.
    assert trucks == {5: 1, 6: 1, 7: 2, 8: 2, 9: 1, 10: 2, 11: 1, 12: 2, 13: None}
    assert len(sent(WORLD, "pickups")) == 2


def test_a_truck_freed_for_a_queue_takes_a_full_load_when_no_other_is_free(world, settings):
    settings.UPS_TRUCK_CAPACITY = 4
    settings.UPS_TRUCK_SHARE = 2
    dispatch.fleet_reset([(1, 0, 0)], now=timezone.now())
    pickup(5, warehouse=(2, 95, 5))  # the only truck goes elsewhere...
    for package_id in range(6, 11):  # ...while a queue builds up at warehouse 1
        pickup(package_id)
    arrive(1, 95, 5)
    dispatch.package_loaded(5, 1, now=timezone.now())
    dispatch.package_delivered(1, 5, now=timezone.now())
    finish(1, 20, 20)
    assert dispatch.serve_waiting(timezone.now()) == 4
    trucks = dict(Package.objects.filter(id__gte=6).values_list("id", "truck_id"))
    assert trucks == {6: 1, 7: 1, 8: 1, 9: 1, 10: None}


def test_waiting_warehouses_take_turns_for_free_trucks(world, settings):
    settings.UPS_TRUCK_CAPACITY = 2
    dispatch.fleet_reset([(1, 0, 0)], now=timezone.now())
    pickup(5)  # truck 1 goes to warehouse 1 with 5 and 6...
    pickup(6)
    for package_id in (7, 8, 9, 10):  # ...and these wait: 7, 8 and 9 first, at warehouse 1
        pickup(package_id)
    pickup(11, warehouse=(2, 95, 5))
    # Two more trucks become free at once.
    dispatch.fleet_add([(2, 100, 0), (3, 12, 0)], now=timezone.now())
    assert dispatch.serve_waiting(timezone.now()) == 3
    trucks = dict(Package.objects.values_list("id", "truck_id"))
    # Warehouse 1 (oldest) gets the truck nearest to it, warehouse 2 the other one, rather
    # than warehouse 1 taking both while warehouse 2 waits.
    assert (trucks[7], trucks[8], trucks[11]) == (3, 3, 2)
    assert (trucks[9], trucks[10]) == (None, None)


def test_the_naive_policy_sends_the_first_free_truck_for_each_package(world, settings):
    settings.UPS_DISPATCH = "naive"
    pickup(5, warehouse=(3, 90, 0))
    pickup(6, warehouse=(3, 90, 0))
    assert [(c.truckid, c.whid) for c in sent(WORLD, "pickups")] == [(1, 3), (2, 3)]


def test_another_warehouse_gets_another_truck(world):
    pickup(5)
    pickup(6, warehouse=(2, 95, 5))
    assert [(c.truckid, c.whid) for c in sent(WORLD, "pickups")] == [(1, 1), (2, 2)]


def test_a_package_waits_while_every_truck_is_busy_then_gets_the_first_free_one(world):
    pickup(5, warehouse=(1, 10, 0))
    pickup(6, warehouse=(2, 95, 5))
    waiting = pickup(7, warehouse=(3, 50, 50))
    assert (waiting.status, waiting.truck_id) == (PackageStatus.CREATED, None)
    assert dispatch.serve_waiting(timezone.now()) == 0

    arrive(2, 95, 5)
    dispatch.package_loaded(6, 2, now=timezone.now())
    dispatch.package_delivered(2, 6, now=timezone.now())
    finish(2, 60, 60)  # package 6 was delivered near warehouse 3
    assert dispatch.serve_waiting(timezone.now()) == 1
    assert (status(7), Package.objects.get(id=7).truck_id) == (PackageStatus.TRUCK_DISPATCHED, 2)
    assert [(c.truckid, c.whid) for c in sent(WORLD, "pickups")][-1] == (2, 3)


def test_a_truck_standing_at_the_warehouse_takes_new_packages_at_once(world):
    at_warehouse_with(5)
    pickup(6)
    assert status(6) == PackageStatus.TRUCK_AT_WAREHOUSE
    assert [(a.package_id, a.truck_id, a.warehouse_id) for a in sent("amazon", "arrived")] == [
        (5, 1, 1),
        (6, 1, 1),
    ]
    assert len(sent(WORLD, "pickups")) == 1


def test_a_truck_that_has_begun_loading_takes_no_more_packages(world):
    at_warehouse_with(5, 6)
    dispatch.package_loaded(5, 1, now=timezone.now())
    pickup(7)  # arrives while truck 1 is being loaded: truck 2 comes for it
    assert (status(7), Package.objects.get(id=7).truck_id) == (PackageStatus.TRUCK_DISPATCHED, 2)
    assert [(c.truckid, c.whid) for c in sent(WORLD, "pickups")][-1] == (2, 1)
    dispatch.package_loaded(6, 1, now=timezone.now())
    [go] = sent(WORLD, "deliveries")  # truck 1 leaves without waiting for package 7
    assert (go.truckid, sorted(p.packageid for p in go.packages)) == (1, [5, 6])


def test_arrival_announces_each_package_of_the_truck(world):
    pickup(5)
    pickup(6)
    arrive(1, 10, 0)
    assert truck(1).status == TruckStatus.ARRIVE_WAREHOUSE
    assert {status(5), status(6)} == {PackageStatus.TRUCK_AT_WAREHOUSE}
    assert sorted(a.package_id for a in sent("amazon", "arrived")) == [5, 6]


# -- loading and delivering ------------------------------------------------------------


def test_the_truck_leaves_once_every_announced_package_is_loaded(world):
    at_warehouse_with(5, 6)
    dispatch.package_loaded(5, 1, now=timezone.now())
    assert status(5) == PackageStatus.LOADED
    assert sent(WORLD, "deliveries") == []

    dispatch.package_loaded(6, 1, now=timezone.now())
    [deliver] = sent(WORLD, "deliveries")
    assert deliver.truckid == 1
    assert [(p.packageid, p.x, p.y) for p in deliver.packages] == [(5, 20, 20), (6, 20, 20)]
    assert truck(1).status == TruckStatus.DELIVERING


def test_the_route_is_short_not_just_greedy(world):
    pickup(5, dest=(300, 0))
    pickup(6, dest=(15, 0))
    pickup(7, dest=(-50, 0))
    arrive(1, 10, 0)
    for package_id in (5, 6, 7):
        dispatch.package_loaded(package_id, 1, now=timezone.now())
    [deliver] = sent(WORLD, "deliveries")
    # Nearest neighbour would go 6, 7, 5 (420 units); west first is 410.
    assert [p.packageid for p in deliver.packages] == [7, 6, 5]


def test_the_naive_policy_delivers_in_nearest_neighbour_order(world, settings):
    settings.UPS_DISPATCH = "naive"
    dispatch.fleet_reset([(1, 0, 0)], now=timezone.now())
    pickup(5, dest=(300, 0))
    arrive(1, 10, 0)
    dispatch.package_loaded(5, 1, now=timezone.now())
    [deliver] = sent(WORLD, "deliveries")
    assert [p.packageid for p in deliver.packages] == [5]


def test_a_truck_kept_waiting_leaves_with_what_is_loaded(world, settings):
    settings.UPS_LOADING_WAIT = 0
    at_warehouse_with(5, 6)
    [first_announcement] = sent("amazon", "arrived")[1:]
    dispatch.package_loaded(5, 1, now=timezone.now())  # package 6 is not packed yet
    assert sent(WORLD, "deliveries") == []
    assert truck(1).loading_deadline is not None

    assert dispatch.depart_overdue(timezone.now()) == 1
    [deliver] = sent(WORLD, "deliveries")
    assert (deliver.truckid, [p.packageid for p in deliver.packages]) == (1, [5])
    assert truck(1).status == TruckStatus.DELIVERING
    assert truck(1).loading_deadline is None
    # Package 6 went back to the queue and got the next free truck at once...
    left_behind = Package.objects.get(id=6)
    assert (left_behind.status, left_behind.truck_id) == (PackageStatus.TRUCK_DISPATCHED, 2)
    assert "truck left without it" in left_behind.events.values_list("kind", flat=True)
    assert [(c.truckid, c.whid) for c in sent(WORLD, "pickups")][-1] == (2, 1)
    # ...and Amazon hears of that truck when it stands there: a newer TruckArrived.
    arrive(2, 10, 0)
    announcement = sent("amazon", "arrived")[-1]
    assert (announcement.package_id, announcement.truck_id) == (6, 2)
    assert announcement.seqnum > first_announcement.seqnum
    dispatch.package_loaded(6, 2, now=timezone.now())
    assert [p.packageid for p in sent(WORLD, "deliveries")[-1].packages] == [6]


def test_the_loading_deadline_and_the_moves_run_on_the_time_given(world, settings):
    """The daemon's services take the core's time rather than reading the clock: a
    load heard on a virtual clock a day from now is dated then, and so is the deadline
    it sets and the departure past it."""
    settings.UPS_LOADING_WAIT = 60
    at_warehouse_with(5, 6)
    later = timezone.now() + datetime.timedelta(days=1)
    dispatch.package_loaded(5, 1, now=later)
    assert truck(1).loading_deadline == later + datetime.timedelta(seconds=60)
    loaded = Package.objects.get(id=5)
    assert loaded.status_changed_at == later
    assert loaded.events.latest("id").at == later
    assert dispatch.depart_overdue(later + datetime.timedelta(seconds=59)) == 0
    departure = later + datetime.timedelta(seconds=60)
    assert dispatch.depart_overdue(departure) == 1
    left = Truck.objects.get(id=1)
    assert left.status == TruckStatus.DELIVERING and left.status_changed_at == departure
    assert left.events.latest("id").at == departure
    assert Package.objects.get(id=6).status_changed_at == departure  # left behind


def test_a_truck_waits_until_its_loading_deadline(world, settings):
    settings.UPS_LOADING_WAIT = 3600
    at_warehouse_with(5, 6)
    dispatch.package_loaded(5, 1, now=timezone.now())
    assert dispatch.depart_overdue(timezone.now()) == 0
    assert sent(WORLD, "deliveries") == []
    assert status(6) == PackageStatus.TRUCK_AT_WAREHOUSE


def test_a_truck_with_nothing_loaded_keeps_waiting(world, settings):
    settings.UPS_LOADING_WAIT = 0
    at_warehouse_with(5)
    # Leaving empty would deliver nothing; the deadline only runs once a load comes.
    Truck.objects.filter(id=1).update(loading_deadline=timezone.now())
    assert dispatch.depart_overdue(timezone.now()) == 0
    assert (truck(1).status, truck(1).loading_deadline) == (TruckStatus.ARRIVE_WAREHOUSE, None)
    assert status(5) == PackageStatus.TRUCK_AT_WAREHOUSE


def test_a_package_left_behind_but_loaded_after_all_goes_with_its_truck(world, settings):
    settings.UPS_LOADING_WAIT = 0
    at_warehouse_with(5, 6)
    dispatch.package_loaded(5, 1, now=timezone.now())
    dispatch.depart_overdue(timezone.now())  # truck 1 leaves; truck 2 is sent for package 6...
    # ...but Amazon's load onto truck 1 had gone through
    dispatch.package_loaded(6, 1, now=timezone.now())
    deliveries = sent(WORLD, "deliveries")
    assert [(d.truckid, [p.packageid for p in d.packages]) for d in deliveries] == [
        (1, [5]),
        (1, [6]),
    ]
    arrive(2, 10, 0)
    assert [a.package_id for a in sent("amazon", "arrived")] == [5, 6]  # no third
    assert dispatch.serve_waiting(timezone.now()) == 0


def test_an_idle_truck_takes_waiting_work_on_the_next_turn(world, settings):
    settings.UPS_TRUCK_CAPACITY = 1
    pickup(5)
    pickup(6)
    pickup(7)  # both trucks are busy
    arrive(1, 10, 0)
    dispatch.package_loaded(5, 1, now=timezone.now())
    dispatch.package_delivered(1, 5, now=timezone.now())
    finish(1, 20, 20)
    assert dispatch.serve_waiting(timezone.now()) == 1
    assert Package.objects.get(id=7).truck_id == 1


def test_out_for_delivery_once_the_world_acks_the_delivery(world):
    at_warehouse_with(5)
    dispatch.package_loaded(5, 1, now=timezone.now())
    assert dispatch.confirm_deliveries(timezone.now()) == 0
    assert status(5) == PackageStatus.LOADED

    ack_all()
    assert dispatch.confirm_deliveries(timezone.now()) == 1
    assert status(5) == PackageStatus.OUT_FOR_DELIVERY
    [out] = sent("amazon", "out_for_delivery")
    assert (out.package_id, out.truck_id) == (5, 1)
    assert dispatch.confirm_deliveries(timezone.now()) == 0


def test_delivered_tells_amazon_once_with_the_place(world):
    at_warehouse_with(5)
    dispatch.package_loaded(5, 1, now=timezone.now())
    dispatch.package_delivered(1, 5, now=timezone.now())
    dispatch.package_delivered(1, 5, now=timezone.now())
    assert status(5) == PackageStatus.DELIVERED
    [delivered] = sent("amazon", "delivered")
    assert (delivered.package_id, delivered.x, delivered.y) == (5, 20, 20)
    assert (truck(1).x, truck(1).y) == (20, 20)
    # The world delivered it before we saw its ack of the UGoDeliver (a fast world sends
    # both at once): it was out for delivery all the same, said once, before Delivered.
    [out] = sent("amazon", "out_for_delivery")
    assert (out.package_id, out.truck_id) == (5, 1)
    assert out.seqnum < delivered.seqnum
    # The late ack changes nothing: nothing moves backwards or is said twice.
    ack_all()
    assert dispatch.confirm_deliveries(timezone.now()) == 0
    assert status(5) == PackageStatus.DELIVERED
    assert len(sent("amazon", "out_for_delivery")) == 1
    kinds = list(Package.objects.get(id=5).events.values_list("kind", flat=True))
    assert kinds == EVENTS_WHEN_ALL_GOES_WELL


def test_a_repeated_or_late_load_changes_nothing(world):
    at_warehouse_with(5)
    dispatch.package_loaded(5, 1, now=timezone.now())
    dispatch.package_loaded(5, 1, now=timezone.now())
    assert len(sent(WORLD, "deliveries")) == 1


def test_a_package_loaded_on_a_truck_that_left_is_added_to_its_round(world):
    at_warehouse_with(5)
    dispatch.package_loaded(5, 1, now=timezone.now())  # truck 1 leaves with package 5
    pickup(6)  # another truck comes for package 6...
    # ...but Amazon had loaded it on truck 1 (the world says so)
    dispatch.package_loaded(6, 1, now=timezone.now())
    deliveries = sent(WORLD, "deliveries")
    assert [[p.packageid for p in d.packages] for d in deliveries] == [[5], [6]]
    assert Package.objects.get(id=6).truck_id == 1


def test_loading_skips_states_but_never_goes_back(world):
    pickup(5)  # truck dispatched: the TruckArrived was not even sent yet
    dispatch.package_loaded(5, 1, now=timezone.now())
    assert status(5) == PackageStatus.LOADED
    arrive(1, 10, 0)
    assert status(5) == PackageStatus.LOADED
    assert sent("amazon", "arrived") == []


# -- refusals and errors ---------------------------------------------------------------


def pickup_message(package_id: int, seqnum: int, warehouse=(1, 10, 0)) -> au_pb2.PickupRequest:
    return au_pb2.PickupRequest(
        seqnum=seqnum,
        package_id=package_id,
        warehouse=au_pb2.Warehouse(id=warehouse[0], x=warehouse[1], y=warehouse[2]),
        dest_x=1,
        dest_y=2,
    )


def test_a_pickup_handled_on_the_cores_clock_is_dated_by_it(world):
    """The handler takes the time the core was given: the package, its events and the
    truck sent for it are dated then, not by the wall clock."""
    later = timezone.now() + datetime.timedelta(days=2)
    Dispatcher(world=None).handle(AMAZON_LINK, "pickups", pickup_message(5, seqnum=10), later)
    package = Package.objects.select_related("truck").get(id=5)
    assert package.status == PackageStatus.TRUCK_DISPATCHED
    assert package.status_changed_at == later
    assert set(package.events.values_list("at", flat=True)) == {later}
    assert package.truck is not None and package.truck.status_changed_at == later


def test_a_known_package_id_is_refused_with_an_error(world):
    dispatcher = Dispatcher(world=None)
    dispatcher.handle(AMAZON_LINK, "pickups", pickup_message(5, seqnum=10), timezone.now())
    dispatcher.handle(
        AMAZON_LINK, "pickups", pickup_message(5, seqnum=11, warehouse=(2, 0, 9)), timezone.now()
    )
    [error] = sent("amazon", "errors")
    assert (error.origin_seqnum, error.package_id) == (11, 5)
    assert "already known" in error.message
    assert Package.objects.get(id=5).warehouse_id == 1


def test_a_conflicting_warehouse_is_refused_and_leaves_nothing_behind(world):
    dispatcher = Dispatcher(world=None)
    dispatcher.handle(AMAZON_LINK, "pickups", pickup_message(5, seqnum=10), timezone.now())
    dispatcher.handle(
        AMAZON_LINK, "pickups", pickup_message(6, seqnum=11, warehouse=(1, 3, 3)), timezone.now()
    )
    dispatcher.handle(
        AMAZON_LINK, "pickups", pickup_message(7, seqnum=12, warehouse=(9, 10, 0)), timezone.now()
    )
    errors = sent("amazon", "errors")
    assert [(e.origin_seqnum, e.package_id) for e in errors] == [(11, 6), (12, 7)]
    assert list(Package.objects.values_list("id", flat=True)) == [5]


def test_a_pickup_before_any_world_is_refused(db):
    Dispatcher(world=None).handle(
        AMAZON_LINK, "pickups", pickup_message(5, seqnum=10), timezone.now()
    )
    [error] = sent("amazon", "errors")
    assert (error.origin_seqnum, error.package_id) == (10, 5)
    assert not Package.objects.exists()


def test_a_load_of_an_unknown_package_is_refused(world):
    Dispatcher(world=None).handle(
        AMAZON_LINK,
        "loaded",
        au_pb2.PackageLoaded(seqnum=3, package_id=77, truck_id=1),
        timezone.now(),
    )
    [error] = sent("amazon", "errors")
    assert (error.origin_seqnum, error.package_id) == (3, 77)


def test_an_account_is_linked_when_it_exists(world, django_user_model):
    user = django_user_model.objects.create_user("ann", password="x-long-password")
    account = accounts.account_create(user)
    assert pickup(5, account=account.number).account == account
    unlinked = pickup(6, account=123)
    assert (unlinked.account, unlinked.ups_account) == (None, 123)


def test_account_checks_are_answered(world, django_user_model):
    account = accounts.account_create(django_user_model.objects.create_user("ann"))
    dispatcher = Dispatcher(world=None)
    dispatcher.handle(
        AMAZON_LINK,
        "account_checks",
        au_pb2.AccountCheck(seqnum=1, ups_account=account.number),
        timezone.now(),
    )
    dispatcher.handle(
        AMAZON_LINK, "account_checks", au_pb2.AccountCheck(seqnum=2, ups_account=-4), timezone.now()
    )
    answers = [(a.ups_account, a.exists) for a in sent("amazon", "accounts")]
    assert answers == [(account.number, True), (-4, False)]
    assert sent("amazon", "errors") == []


def world_error(origin_seqnum: int, text: str) -> None:
    error = wu.UErr(err=text, originseqnum=origin_seqnum, seqnum=900 + origin_seqnum)
    # Stand-ins: the world link is not used, and of the endpoint handle reads the peer.
    Dispatcher(world=None).handle(WORLD_LINK, "error", error, timezone.now())  # type: ignore[arg-type]


def test_a_refused_pickup_sends_another_truck_and_asks_where_the_first_one_is(world):
    pickup(5)
    [command] = sent(WORLD, "pickups")
    world_error(command.seqnum, "error: truck 1 is busy loading at warehouse 4")
    ack_all()  # the world acks what it refuses, too
    package = Package.objects.get(id=5)
    # Truck 2 was free: it goes at once.
    assert (package.status, package.truck_id, package.pickup_refusals) == (
        PackageStatus.TRUCK_DISPATCHED,
        2,
        1,
    )
    assert kinds(5) == ["created", "truck dispatched", "pickup refused", "truck dispatched"]
    assert [(c.truckid, c.whid) for c in sent(WORLD, "pickups")] == [(1, 1), (2, 1)]
    # Truck 1 is in doubt: not free, and asked about once nothing to it waits for an ack.
    assert (truck(1).status, truck(1).needs_query) == (TruckStatus.TRAVELING, True)
    assert not truck_services.free_trucks().exists()
    assert dispatch.queries_send() == 1
    [query] = sent(WORLD, "queries")
    assert query.truckid == 1
    # The world answers the query: truck 1 is free after all.
    ack_all()
    Dispatcher(world=None).handle(
        WORLD_LINK,
        "truckstatus",
        wu.UTruck(truckid=1, status="IDLE", x=3, y=4, seqnum=1),
        timezone.now(),
    )
    assert (truck(1).status, truck(1).x, truck(1).y) == (TruckStatus.IDLE, 3, 4)
    assert (truck(1).needs_query, truck(1).query_seqnum) == (False, None)
    assert truck_services.free_trucks().exists()


def test_a_pickup_refused_again_and_again_fails_and_amazon_is_told(world):
    pickup(5)
    for _ in range(dispatch.MAX_PICKUP_REFUSALS):
        command = sent(WORLD, "pickups")[-1]
        world_error(command.seqnum, "error: warehouse id 1 does not exist in this world")
        ack_all()
        dispatch.queries_send()
        report(command.truckid, "idle", 0, 0)
        dispatch.serve_waiting(timezone.now())
    package = Package.objects.get(id=5)
    assert package.status == PackageStatus.FAILED
    [error] = sent("amazon", "errors")
    assert (error.origin_seqnum, error.package_id) == (1005, 5)


def test_a_delivery_the_world_refuses_fails_that_package_only(world):
    at_warehouse_with(5, 6)
    dispatch.package_loaded(5, 1, now=timezone.now())
    dispatch.package_loaded(6, 1, now=timezone.now())
    [deliver] = sent(WORLD, "deliveries")
    world_error(deliver.seqnum, "error: package 6 is not loaded on truck 1")
    assert (status(5), status(6)) == (PackageStatus.LOADED, PackageStatus.FAILED)
    [error] = sent("amazon", "errors")
    assert (error.origin_seqnum, error.package_id) == (-1, 6)
    ack_all()
    dispatch.confirm_deliveries(timezone.now())
    assert status(5) == PackageStatus.OUT_FOR_DELIVERY


def test_when_amazon_gives_a_package_up_the_truck_leaves_without_it(world):
    at_warehouse_with(5, 6)
    dispatch.package_loaded(5, 1, now=timezone.now())
    Dispatcher(world=None).handle(
        AMAZON_LINK,
        "errors",
        au_pb2.Error(seqnum=8, origin_seqnum=-1, message="packing failed", package_id=6),
        timezone.now(),
    )
    assert status(6) == PackageStatus.FAILED
    [deliver] = sent(WORLD, "deliveries")
    assert [p.packageid for p in deliver.packages] == [5]
    assert sent("amazon", "errors") == []  # an Error is never answered with an Error


def test_an_error_about_a_truck_arrived_names_the_package(world):
    at_warehouse_with(5)
    [arrived] = sent("amazon", "arrived")
    Dispatcher(world=None).handle(
        AMAZON_LINK,
        "errors",
        au_pb2.Error(seqnum=8, origin_seqnum=arrived.seqnum, message="unknown package 5"),
        timezone.now(),
    )
    assert status(5) == PackageStatus.FAILED


# -- tracking numbers: UPS tells Amazon ------------------------------------------------


def test_a_pickup_tells_amazon_the_tracking_number_before_any_truck(world):
    package = pickup(5)
    at_warehouse_with(6)
    registered = sent("amazon", "registered")
    assert [(r.package_id, r.tracking_number) for r in registered] == [
        (5, package.tracking_number_grouped),
        (6, Package.objects.get(id=6).tracking_number_grouped),
    ]
    arrivals = {arrived.package_id: arrived.seqnum for arrived in sent("amazon", "arrived")}
    assert all(r.seqnum < arrivals[r.package_id] for r in registered)
    assert tracking.parse(registered[0].tracking_number) == package.tracking_number


def test_a_refused_or_repeated_pickup_tells_no_second_number(world):
    dispatcher = Dispatcher(world=None)
    dispatcher.handle(AMAZON_LINK, "pickups", pickup_message(5, seqnum=10), timezone.now())
    dispatcher.handle(AMAZON_LINK, "pickups", pickup_message(5, seqnum=11), timezone.now())
    dispatcher.handle(
        AMAZON_LINK, "pickups", pickup_message(7, seqnum=12, warehouse=(9, 10, 0)), timezone.now()
    )
    assert [r.package_id for r in sent("amazon", "registered")] == [5]


def test_an_error_about_a_package_registered_names_the_package(world):
    pickup(5)
    [registered] = sent("amazon", "registered")
    Dispatcher(world=None).handle(
        AMAZON_LINK,
        "errors",
        au_pb2.Error(seqnum=8, origin_seqnum=registered.seqnum, message="unknown package 5"),
        timezone.now(),
    )
    assert status(5) == PackageStatus.FAILED


def test_seed_demo_prints_the_same_account_each_time(db):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    first, again = out.getvalue().splitlines()
    assert first == again
    number = Account.objects.get(user__username="demo").number
    assert first == f"demo UPS account: {number} (user demo)"


def test_demo_user_is_created_once(db):
    first = accounts.demo_user_ensure("demo", "demo-password-123")
    again = accounts.demo_user_ensure("demo", "demo-password-123")
    assert first.number == again.number
    assert Account.objects.count() == 1
    assert first.user.check_password("demo-password-123")
