"""The dispatch daemon's periodic work, run every turn after the turn's messages.

Each item (a truck, a warehouse, a delivery command, a package) runs in a transaction
of its own through ``each_item``: a defect in one sets that item aside for an operator
and the rest go on (``common.daemon.isolation``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from django.db.models import Exists, OuterRef, Q

from amazon_ups.common.daemon.isolation import each_item
from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.ups.dispatch.services import reports, trucks
from amazon_ups.ups.shipments import world
from amazon_ups.ups.shipments.models import Package, PackageEvent, Truck, TruckEvent, Warehouse
from amazon_ups.ups.shipments.package_lifecycle import NOT_FINAL, PackageStatus
from amazon_ups.ups.shipments.package_lifecycle import PackageEventKind as P
from amazon_ups.ups.shipments.services import redirect
from amazon_ups.ups.shipments.services.base import (
    events_written_together,
    logger,
    move,
    stuck_before,
    truck_lock,
    truck_ref,
)
from amazon_ups.ups.shipments.truck_lifecycle import AT_WAREHOUSE, TruckStatus, truck_move
from amazon_ups.ups.shipments.truck_lifecycle import TruckEventKind as T
from amazon_ups.ups.shipper import services as shipper

Item = TypeVar("Item")


def _each(
    what: str,
    items: Iterable[Item],
    *,
    ref: Callable[[Item], str],
    action: Callable[[Item], object],
) -> int:
    """``each_item``, which costs nothing when there is nothing to do (most turns): it
    reads the work items set aside before it looks at the items. What an item tells
    Amazon is written in one statement (``shipper.said_together``), and so are its
    packages' events, and its trucks'."""
    listed = list(items)
    if not listed:
        return 0

    def act(item: Item) -> None:
        with shipper.said_together(), events_written_together():
            action(item)

    return each_item(what, listed, ref=ref, action=act)


# -- departures -------------------------------------------------------------------------------


def depart_overdue(now: datetime) -> int:
    """Trucks that waited past their loading deadline leave with what is loaded (the
    packages they waited for get the next truck). Returns how many left."""
    overdue = Truck.objects.filter(status__in=AT_WAREHOUSE, loading_deadline__lte=now)
    left = []

    def depart(truck_id: int) -> None:
        truck = truck_lock(truck_id)
        assert truck is not None  # just listed; only this daemon removes trucks (new world)
        if truck.status in AT_WAREHOUSE and truck.loading_deadline is not None:
            left.append(trucks.depart(truck, now=now))

    _each("departure", overdue.values_list("id", flat=True), ref=truck_ref, action=depart)
    return sum(left)


def _serve_one(
    warehouse_id: int, *, first_round: bool, again: list[int], served: list[int], now: datetime
) -> None:
    if first_round and not trucks.any_free_truck():
        return  # the rest have no truck going there with room either (see serve_waiting)
    warehouse = Warehouse.objects.select_for_update().get(id=warehouse_id)
    got = trucks.serve_warehouse(warehouse, max_batches=1, now=now)
    served.append(got)
    if got and trucks.still_waiting(warehouse_id):
        again.append(warehouse_id)


def serve_waiting(now: datetime) -> int:
    """Packages that found every truck busy get one now, if one is free. Warehouses
    take turns, oldest waiting package first, one batch each per turn, so a burst at
    one warehouse does not take every free truck while others wait."""
    # A package waits only while no truck going to its warehouse has room (it joins
    # such a truck at once, and a truck arriving takes the packages waiting there), so
    # without a free truck there is nothing to do. Most turns nothing waits, or every
    # truck is on the road: a small query says so.
    if world.world_id() is None:
        return 0
    warehouse_ids = trucks.warehouses_waiting()
    if not warehouse_ids or not trucks.any_free_truck():
        return 0
    served: list[int] = []
    first_round = True
    while warehouse_ids:
        again: list[int] = []
        serve = functools.partial(
            _serve_one, first_round=first_round, again=again, served=served, now=now
        )
        _each("serving a warehouse", warehouse_ids, ref=lambda w: f"warehouse:{w}", action=serve)
        # Later rounds fill the trucks just sent up to their capacity, free trucks or not.
        first_round = False
        warehouse_ids = again
    return sum(served)


def confirm_deliveries(now: datetime) -> int:
    """Packages whose UGoDeliver the world has acked are out for delivery; tell Amazon.
    Returns how many moved."""
    peer = world.world_peer()
    if peer is None:
        return 0
    acked = OutgoingMessage.objects.filter(
        peer=peer, seqnum=OuterRef("delivery_seqnum"), acked_at__isnull=False
    )
    seqnums = sorted(
        {
            seqnum
            for seqnum in Package.objects.filter(status=PackageStatus.LOADED)
            .filter(Exists(acked))
            .values_list("delivery_seqnum", flat=True)
            if seqnum is not None  # always: a message acked has a seqnum
        }
    )
    moved = []

    def confirm(seqnum: int) -> None:
        sent = messaging_selectors.origin(peer, seqnum)
        assert sent is not None  # found acked just now; sent messages are kept
        truck_id = wu.UGoDeliver.FromString(bytes(sent.body)).truckid
        going = Package.objects.select_for_update().filter(
            status=PackageStatus.LOADED, delivery_seqnum=seqnum
        )
        moved.append(trucks.out_for_delivery(list(going), truck_id, now=now))

    _each("out for delivery", seqnums, ref=lambda s: f"delivery:{s}", action=confirm)
    return sum(moved)


def redirects_settle(now: datetime) -> int:
    """Redirects the world has accepted are in force (``redirect.redirect_settle``)."""
    return _each(
        "redirect",
        redirect.redirects_waiting(),
        ref=lambda item: f"package:{item[0]}",
        action=lambda item: redirect.redirect_settle(*item, now=now),
    )


def queries_send() -> int:
    """Ask the world about the trucks in doubt (``reports.truck_query``)."""
    if world.world_id() is None:
        return 0
    return _each(
        "truck query", reports.trucks_to_query(), ref=truck_ref, action=reports.truck_query
    )


# -- what waits far longer than it should -----------------------------------------------------
#
# Every wait has a way out that needs no person (a truck is re-sent, a load refused is
# re-queued, a delivery that never ran goes again); this is the net under those ways:
# anything in one waiting state for longer than STUCK_AFTER is logged once (a STUCK
# event), shown to operators, and its truck is asked where it is, which re-drives it.


def _not_reported_since_change(events, subject: str, kind: str):
    """For a queryset of packages or trucks: no STUCK event since their status changed."""
    since = {subject: OuterRef("pk"), "kind": kind, "at__gte": OuterRef("status_changed_at")}
    return ~Exists(events.filter(**since))


def packages_newly_stuck(now: datetime) -> list[int]:
    return list(
        Package.objects.filter(status__in=NOT_FINAL, status_changed_at__lt=stuck_before(now))
        .filter(_not_reported_since_change(PackageEvent.objects, "package", P.STUCK))
        .values_list("id", flat=True)
    )


def package_stuck(package_id: int, now: datetime) -> None:
    package = Package.objects.select_for_update().get(id=package_id)
    waited = (now - package.status_changed_at).total_seconds()
    logger.warning(
        "package %d has been %s for %.0f s (truck %s): asking the world",
        package.id,
        package.status,
        waited,
        package.truck_id,
    )
    move(package, P.STUCK, note=f"{package.status} for {waited:.0f} s", now=now)
    if package.truck_id is not None:
        Truck.objects.filter(id=package.truck_id, query_seqnum=None).update(needs_query=True)


def trucks_newly_stuck(now: datetime) -> list[int]:
    """Trucks on the road far longer than a trip takes, or whose query the world has
    not answered for as long."""
    moving = Q(status__in=[TruckStatus.TRAVELING, TruckStatus.DELIVERING, TruckStatus.LOADING])
    return list(
        Truck.objects.filter(moving | Q(query_seqnum__isnull=False))
        .filter(status_changed_at__lt=stuck_before(now))
        .filter(_not_reported_since_change(TruckEvent.objects, "truck", T.STUCK))
        .values_list("id", flat=True)
    )


def truck_stuck(truck_id: int, now: datetime) -> None:
    truck = truck_lock(truck_id)
    assert truck is not None  # just listed; only this daemon removes trucks (new world)
    waited = (now - truck.status_changed_at).total_seconds()
    logger.warning(
        "truck %d has been %s for %.0f s: asking the world", truck.id, truck.status, waited
    )
    # A query the world never answered is asked again.
    truck.query_seqnum = None
    truck.needs_query = True
    truck_move(truck, T.STUCK, note=f"{truck.status} for {waited:.0f} s", now=now)


def stuck_find(now: datetime) -> int:
    """Log, record and re-drive what is newly stuck; returns how many were found."""
    return _each(
        "stuck package",
        packages_newly_stuck(now),
        ref=lambda p: f"package:{p}",
        action=lambda p: package_stuck(p, now),
    ) + _each(
        "stuck truck",
        trucks_newly_stuck(now),
        ref=truck_ref,
        action=lambda t: truck_stuck(t, now),
    )
