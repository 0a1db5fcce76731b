"""What the world tells the carrier: trucks that arrived or finished, answers to our
queries, deliveries made, and commands it refused.

A truck's reports are read in the world's order (its seqnums): one older than the last
applied changes nothing. A report that fits what we expect of the truck moves it; one
that does not (the world re-sending an old one, or running a command later than
another) is not guessed at: the truck is queried, and the answer decides. Deliveries
are facts about packages and always count.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.db.models import F, Q

from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.ups.dispatch.services import trucks
from amazon_ups.ups.shipments.models import Package, Truck, Warehouse
from amazon_ups.ups.shipments.package_lifecycle import CARRIED, PackageStatus
from amazon_ups.ups.shipments.package_lifecycle import PackageEventKind as P
from amazon_ups.ups.shipments.services import redirect
from amazon_ups.ups.shipments.services.base import (
    delivered_at_destination,
    fail,
    logger,
    move,
    moves_noted,
    package_lock,
    stuck_before,
    truck_lock,
    truck_ref,
    truck_ref_of,
    world_peer,
)
from amazon_ups.ups.shipments.truck_lifecycle import (
    AT_WAREHOUSE,
    TruckStatus,
    truck_move,
    truck_report_is_new,
)
from amazon_ups.ups.shipments.truck_lifecycle import TruckEventKind as T

# A pickup the world keeps refusing (e.g. the warehouse is unknown to it) is given
# up after this many tries, each with another free truck.
MAX_PICKUP_REFUSALS = 5
PACKAGE_IN_TEXT = re.compile(r"package(?: id)? (\d+)")


def _truck_lock(truck_id: int) -> Truck | None:
    truck = truck_lock(truck_id)
    if truck is None:
        logger.warning("the world speaks of truck %d, which is not ours", truck_id)
    return truck


def _doubt(truck: Truck, world_seqnum: int | None, note: str, *, now: datetime) -> None:
    """What the world said of ``truck`` does not fit what we know: ask it."""
    truck.needs_query = True
    truck_move(truck, T.UNEXPECTED_REPORT, world_seqnum=world_seqnum, note=note, now=now)


def truck_finished(
    truck_id: int, status: str, x: int, y: int, world_seqnum: int, *, now: datetime
) -> None:
    """The world's UFinished (heard at ``now``): the truck arrived at a warehouse, or
    finished its deliveries."""
    truck = _truck_lock(truck_id)
    if truck is None:
        return
    if not truck_report_is_new(truck, world_seqnum):
        logger.info("truck %d: report #%d is older than what we know", truck_id, world_seqnum)
        return
    truck.x, truck.y = x, y
    status = status.lower()
    warehouse = truck.warehouse
    heading_here = warehouse is not None and (warehouse.x, warehouse.y) == (x, y)
    if (
        status == TruckStatus.ARRIVE_WAREHOUSE
        and truck.status == TruckStatus.TRAVELING
        and heading_here
    ):
        assert warehouse is not None  # heading_here
        truck_move(
            truck, T.ARRIVED, world_seqnum=world_seqnum, note=f"warehouse {warehouse.id}", now=now
        )
        trucks.arrived(truck, now=now)
        return
    # After its deliveries; but a delivery of ours the world has not acked may still be
    # run after this report.
    finished = status == TruckStatus.IDLE and truck.status == TruckStatus.DELIVERING
    if finished and not trucks.commands_unacked(truck):
        truck.warehouse = None
        truck.loading_deadline = None
        truck_move(truck, T.FINISHED, world_seqnum=world_seqnum, now=now)
        trucks.reconcile(truck, now=now)
        return
    _doubt(truck, world_seqnum, f"{status} at ({x}, {y}) while {truck.status}", now=now)


def _answer_is_current(truck: Truck, query_seqnum: int) -> bool:
    """Whether the world's answer to our query ``query_seqnum`` tells the truck as it is
    now: every command to it was acked before the query was made (so the world ran
    them first), and none was sent after."""
    query = messaging_selectors.origin(world_peer(), query_seqnum)
    if query is None:
        return False
    commands = OutgoingMessage.objects.filter(
        peer=world_peer(), ref=truck_ref(truck.id), field__in=trucks.COMMANDS
    )
    return not commands.filter(
        Q(seqnum__gt=query_seqnum) | Q(acked_at=None) | Q(acked_at__gte=query.created_at)
    ).exists()


def _heading(truck: Truck) -> Warehouse | None:
    """The warehouse of our latest pickup for ``truck``."""
    latest = (
        OutgoingMessage.objects.filter(peer=world_peer(), ref=truck_ref(truck.id), field="pickups")
        .order_by("-seqnum")
        .first()
    )
    if latest is None:
        return None
    return Warehouse.objects.filter(id=wu.UGoPickup.FromString(bytes(latest.body)).whid).first()


def truck_reported(
    truck_id: int, status: str, x: int, y: int, world_seqnum: int, *, now: datetime
) -> None:
    """The world's answer (UTruck, heard at ``now``) to our query about a truck: its word
    decides, when nothing we sent it since can have changed it."""
    truck = _truck_lock(truck_id)
    if truck is None:
        return
    asked, truck.query_seqnum = truck.query_seqnum, None
    status = status.lower()
    if status not in TruckStatus.values:
        logger.warning("truck %d has a status we do not know: %r", truck_id, status)
        truck.save()
        return
    if not truck_report_is_new(truck, world_seqnum):
        truck.save()
        return
    if asked is None or not _answer_is_current(truck, asked):
        # Ours was sent before a command it may not reflect: ask again once all is acked.
        truck.needs_query = True
        truck.save()
        return
    truck.x, truck.y = x, y
    if status in AT_WAREHOUSE:
        truck.warehouse = Warehouse.objects.filter(x=x, y=y).first()
    elif status == TruckStatus.TRAVELING:
        truck.warehouse = _heading(truck)
    else:
        truck.warehouse = None
        truck.loading_deadline = None
    truck_move(
        truck, T.REPORTED, reported=status, world_seqnum=world_seqnum, note=f"({x}, {y})", now=now
    )
    if status in AT_WAREHOUSE and truck.warehouse is None:
        logger.warning("truck %d stands at (%d, %d), where we know no warehouse", truck_id, x, y)
    trucks.reconcile(truck, now=now)
    _resend_lost_deliveries(truck, now=now)


def _resend_lost_deliveries(truck: Truck, *, now: datetime) -> None:
    """The world says the truck is idle, but packages it took out are not delivered and
    have waited long: their delivery never ran. Send them again (if the world did
    deliver one, it refuses that one as already delivered, and its report still comes)."""
    if truck.status != TruckStatus.IDLE:
        return
    lost = Package.objects.filter(
        truck=truck,
        status=PackageStatus.OUT_FOR_DELIVERY,
        status_changed_at__lt=stuck_before(now),
    ).exclude(delivery_seqnum=None)
    for package in lost:
        package.delivery_seqnum = None
        move(package, P.DELIVERY_RESENT, note=f"truck {truck.id} is idle", now=now)
    trucks.drive_cargo(truck, now=now)


def query_refused(truck_id: int, text: str) -> None:
    truck = _truck_lock(truck_id)
    if truck is not None:
        truck.query_seqnum = None
        truck.save()
    logger.warning("the world refused our query about truck %d: %s", truck_id, text)


def package_delivered(truck_id: int, package_id: int, *, now: datetime) -> None:
    package = package_lock(package_id)
    if package is None:
        logger.warning("the world delivered package %d, which UPS does not know", package_id)
        return
    with moves_noted(package):
        if package.status == PackageStatus.LOADED and package.delivery_seqnum is not None:
            # The world's ack of the UGoDeliver came in the same response as this delivery
            # (a fast world): it was out for delivery all the same, and Amazon hears so.
            trucks.out_for_delivery([package], truck_id, now=now)
        if redirect.redirect_unsettled_at_delivery(package, truck_id, now=now):
            return
        delivered_at_destination(package, truck_id, now=now)


def pickup_refused(truck_id: int, warehouse_id: int, text: str, *, now: datetime) -> None:
    """The world refused to send ``truck_id`` to ``warehouse_id``. Its packages go back
    in the queue for another truck (up to ``MAX_PICKUP_REFUSALS``), and we ask the world
    where the truck really is, since our picture of it was wrong."""
    logger.warning(
        "the world refused to send truck %d to warehouse %d: %s", truck_id, warehouse_id, text
    )
    for package in Package.objects.select_for_update().filter(
        truck_id=truck_id, warehouse_id=warehouse_id, status=PackageStatus.TRUCK_DISPATCHED
    ):
        package.pickup_refusals += 1
        if package.pickup_refusals >= MAX_PICKUP_REFUSALS:
            fail(
                package,
                f"the world refused every truck sent for it: {text}",
                package.request_seqnum,
                now=now,
            )
            continue
        trucks.requeue(package, P.PICKUP_REFUSED, text, now=now)
    truck = _truck_lock(truck_id)
    if truck is None:
        return
    if truck.status == TruckStatus.TRAVELING and truck.warehouse_id == warehouse_id:
        # Still "traveling" (so nobody picks it) but heading nowhere, until the world's
        # answer to a query says what it is doing.
        truck.warehouse = None
        truck.needs_query = True
        truck_move(truck, T.PICKUP_REFUSED, note=text, now=now)
    warehouse = Warehouse.objects.filter(id=warehouse_id).first()
    if warehouse is not None:
        trucks.serve_warehouse(warehouse, now=now)


def deliveries_refused(
    seqnum: int, truck_id: int, package_ids: list[int], text: str, *, now: datetime
) -> None:
    """The world refused (part of) our UGoDeliver ``seqnum``. A package delivered already
    needs nothing (the world's report of it comes); another one the error names cannot
    be delivered by that truck: it fails. If none is named, the whole command was
    refused: its packages are cargo again, for the truck's next departure, and we ask
    the world where the truck is."""
    logger.warning("the world refused deliveries of truck %d (%s): %s", truck_id, package_ids, text)
    if redirect.redirect_refused(seqnum, text, now=now):
        return
    named = {int(n) for n in PACKAGE_IN_TEXT.findall(text)} & set(package_ids)
    if named:
        if "already delivered" in text:
            return
        for package in Package.objects.select_for_update().filter(id__in=named):
            fail(package, f"the world refused to deliver it: {text}", -1, now=now)
        return
    for package in Package.objects.select_for_update().filter(
        id__in=package_ids, status__in=CARRIED, delivery_seqnum=seqnum
    ):
        # Possibly "out for delivery" already, if the world's ack was read first.
        package.delivery_seqnum = None
        move(package, P.DELIVERY_REFUSED, note=text, now=now)
    truck = _truck_lock(truck_id)
    if truck is not None:
        truck.needs_query = True
        truck_move(truck, T.DELIVERY_REFUSED, note=text, now=now)


def trucks_to_query() -> list[int]:
    """Trucks in doubt whose query can go: no query of ours about them is out, and no
    command to them waits for an ack (so the answer reflects them)."""
    in_doubt = Truck.objects.filter(needs_query=True, query_seqnum=None)
    if not in_doubt.exists():
        return []  # most turns: one small query
    waiting = OutgoingMessage.objects.filter(peer=world_peer(), acked_at=None).values("ref")
    return list(
        in_doubt.annotate(ref=truck_ref_of(F("id")))
        .exclude(ref__in=waiting)
        .values_list("id", flat=True)
    )


def truck_query(truck_id: int) -> None:
    """Ask the world what ``truck_id`` is doing (``truck_reported`` takes the answer)."""
    truck = _truck_lock(truck_id)
    if truck is None or not truck.needs_query or truck.query_seqnum is not None:
        return
    query = messaging.send(
        world_peer(), "queries", wu.UQuery(truckid=truck.id), truck_ref(truck.id)
    )
    truck.query_seqnum = query.seqnum
    truck.needs_query = False
    truck.save(update_fields=["query_seqnum", "needs_query", "updated_at"])
