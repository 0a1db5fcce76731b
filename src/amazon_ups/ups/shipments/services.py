"""State changes of packages, trucks and accounts: statuses move here and nowhere else.

The daemon calls these inside the transaction in which it records the message
that caused the change (``messaging.first_receipt``), and the messages a change
causes, to the world or to Amazon, are queued (``messaging.send``) in that same
transaction: a change and what it tells others commit together or not at all.
Functions called from elsewhere (the daemon's tick, management commands) open
their own transaction.

Messages can arrive in any order and more than once, so a package's status
only moves forward (``STATUS_RANK``); the one way back, putting a package back in
the queue for another truck, is our own decision (a refused pickup,
``pickup_refused``; a truck that left without it, ``depart_overdue``).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Exists, Min, OuterRef, Q
from django.utils import timezone

from amazon_ups.common.mail.services import queue_email
from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.common.messaging import services as messaging
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.ups.dispatch import planning
from amazon_ups.ups.dispatch import selectors as dispatch_selectors
from amazon_ups.ups.shipments.models import (
    STATUS_RANK,
    Account,
    Package,
    PackageEvent,
    PackageItem,
    PackageStatus,
    Truck,
    TruckStatus,
    Warehouse,
)

logger = logging.getLogger("amazon_ups.ups")

AMAZON = "amazon"  # the messaging peer of the store
# A pickup the world keeps refusing (e.g. the warehouse is unknown to it) is given
# up after this many tries, each with another free truck.
MAX_PICKUP_REFUSALS = 3
# Trucks standing at a warehouse, where Amazon can load them.
AT_WAREHOUSE = (TruckStatus.ARRIVE_WAREHOUSE, TruckStatus.LOADING)
# Packages that still need their truck at the warehouse.
AWAITING_LOAD = (PackageStatus.TRUCK_DISPATCHED, PackageStatus.TRUCK_AT_WAREHOUSE)


class Refused(Exception):
    """A request we will not act on; the caller answers it with an ``Error``."""

    def __init__(self, text: str, package_id: int | None = None) -> None:
        super().__init__(text)
        self.package_id = package_id


@dataclass(frozen=True)
class Item:
    product_id: int
    description: str
    count: int


# -- helpers -------------------------------------------------------------------------


def _world_peer() -> str:
    peer = dispatch_selectors.world_peer()
    if peer is None:
        raise RuntimeError("no world yet: nothing can be sent to it")
    return peer


def _event(package: Package, kind: str, x: int | None = None, y: int | None = None, note=""):
    PackageEvent.objects.create(package=package, kind=kind, x=x, y=y, note=note[:300])


def _advance(
    package: Package, status: str, x: int | None = None, y: int | None = None, note: str = ""
) -> bool:
    """Move ``package`` forward to ``status`` (and save it); False if it is already there
    or past it, in which case nothing is saved."""
    if STATUS_RANK[status] <= STATUS_RANK[package.status]:
        return False
    package.status = status
    package.save()
    _event(package, status, x, y, note)
    if status in OWNER_EMAILS:
        _email_owner(package, status, x, y)
    return True


# The moments the owner hears of by email: (template, ref prefix).
OWNER_EMAILS = {
    PackageStatus.OUT_FOR_DELIVERY: ("shipments/email/out_for_delivery", "pkg-out"),
    PackageStatus.DELIVERED: ("shipments/email/delivered", "pkg-delivered"),
}


def _email_owner(package: Package, status: str, x: int | None, y: int | None) -> None:
    account = package.account
    if account is None:
        return
    template, ref = OWNER_EMAILS[status]
    queue_email(
        to=account.user.email,
        template=template,
        context={"package": package, "user": account.user, "x": x, "y": y},
        ref=f"{ref}:{package.id}",
    )


def _fail(package: Package, reason: str, origin_seqnum: int | None = None) -> bool:
    """Give the package up; tell Amazon unless it was Amazon that gave it up
    (``origin_seqnum`` None): an Error is never answered with an Error."""
    package.failure = reason[:300]
    if not _advance(package, PackageStatus.FAILED, note=reason):
        return False
    if origin_seqnum is not None:
        amazon_refuse(origin_seqnum, reason, package.id)
    logger.warning("package %d failed: %s", package.id, reason)
    return True


# -- Amazon asks -------------------------------------------------------------------


def amazon_refuse(origin_seqnum: int, text: str, package_id: int | None = None) -> None:
    """Tell Amazon we will not act on its sub-message ``origin_seqnum``."""
    error = au_pb2.Error(origin_seqnum=origin_seqnum, message=text[:1000])
    if package_id is not None:
        error.package_id = package_id
    ref = f"package:{package_id}" if package_id is not None else ""
    messaging.send(AMAZON, "errors", error, ref=ref)


def _warehouse(warehouse_id: int, x: int, y: int) -> Warehouse:
    known = Warehouse.objects.filter(id=warehouse_id).first()
    if known is not None:
        if (known.x, known.y) != (x, y):
            raise Refused(
                f"error: warehouse {warehouse_id} is at ({known.x}, {known.y}), not ({x}, {y})"
            )
        return known
    other = Warehouse.objects.filter(x=x, y=y).first()
    if other is not None:
        raise Refused(
            f"error: warehouse {other.id} is at ({x}, {y}); warehouse {warehouse_id} cannot be too"
        )
    return Warehouse.objects.create(id=warehouse_id, x=x, y=y)


def pickup_request(
    *,
    seqnum: int,
    package_id: int,
    warehouse_id: int,
    warehouse_x: int,
    warehouse_y: int,
    dest_x: int,
    dest_y: int,
    items: Iterable[Item] = (),
    ups_account: int | None = None,
) -> Package:
    """Accept a package and send it a truck, or raise ``Refused`` having changed nothing."""
    if dispatch_selectors.world_id() is None:
        raise Refused(f"error: UPS has no world yet, so package {package_id} cannot be carried")
    if Package.objects.filter(id=package_id).exists():
        raise Refused(f"error: package {package_id} is already known (PickupRequest #{seqnum})")
    try:
        warehouse = _warehouse(warehouse_id, warehouse_x, warehouse_y)
    except Refused as refusal:
        raise Refused(f"{refusal} (package {package_id})") from None
    account = None
    if ups_account is not None:
        # An unknown account is no reason to refuse: the package travels unlinked.
        account = Account.objects.filter(number=ups_account).first()
    package = Package.objects.create(
        id=package_id,
        warehouse=warehouse,
        dest_x=dest_x,
        dest_y=dest_y,
        account=account,
        ups_account=ups_account,
        request_seqnum=seqnum,
    )
    PackageItem.objects.bulk_create(
        PackageItem(
            package=package,
            product_id=item.product_id,
            description=item.description[:300],
            count=item.count,
        )
        for item in items
    )
    _event(package, PackageStatus.CREATED, warehouse.x, warehouse.y)
    _serve_warehouse(warehouse)
    package.refresh_from_db()
    return package


def account_check(number: int) -> bool:
    exists = Account.objects.filter(number=number).exists()
    messaging.send(
        AMAZON,
        "accounts",
        au_pb2.AccountStatus(ups_account=number, exists=exists),
        ref=f"account:{number}",
    )
    return exists


def package_loaded(package_id: int, truck_id: int) -> None:
    """Amazon put the package on ``truck_id``: the world's load is the fact, whichever
    truck we had in mind."""
    package = Package.objects.filter(id=package_id).first()
    if package is None:
        raise Refused(f"error: package {package_id} is unknown to UPS", package_id)
    truck = Truck.objects.filter(id=truck_id).first()
    if truck is None:
        raise Refused(
            f"error: truck {truck_id} is unknown to UPS (package {package_id})", package_id
        )
    if STATUS_RANK[package.status] >= STATUS_RANK[PackageStatus.LOADED]:
        return
    package.truck = truck
    warehouse = package.warehouse
    _advance(package, PackageStatus.LOADED, warehouse.x, warehouse.y, note=f"on truck {truck.id}")
    if truck.status in AT_WAREHOUSE:
        _depart_if_ready(truck)
    elif truck.status in (TruckStatus.DELIVERING, TruckStatus.IDLE):
        # It left without waiting for this one (or Amazon loaded a truck we did not
        # announce): add the package to its round.
        _go_deliver(truck, [package])
    # A truck traveling to another pickup takes the package along when it next
    # leaves a warehouse (_depart_if_ready collects every loaded package).


def amazon_error(origin_seqnum: int, package_id: int | None, text: str) -> None:
    """Amazon could not act on something we sent. If it concerns a package it will not
    load, stop waiting for that package; anything else is for the operator."""
    logger.warning(
        "Amazon reports an error (origin #%d, package %s): %s", origin_seqnum, package_id, text
    )
    if package_id is None:
        origin = messaging_selectors.origin(AMAZON, origin_seqnum)
        if origin is None or origin.field != "arrived":
            return
        package_id = au_pb2.TruckArrived.FromString(bytes(origin.body)).package_id
    package = Package.objects.filter(id=package_id).first()
    if package is None or STATUS_RANK[package.status] >= STATUS_RANK[PackageStatus.LOADED]:
        return
    truck = package.truck
    _fail(package, f"Amazon gave it up: {text}")
    if truck is not None:
        _depart_if_ready(truck)


# -- trucks ----------------------------------------------------------------------------


# Packages a truck has been given for its current trip: waiting for it at the
# warehouse, or on it but not sent out yet.
def _given(truck: Truck):
    return Package.objects.filter(truck=truck).filter(
        Q(status__in=AWAITING_LOAD) | Q(status=PackageStatus.LOADED, delivery_seqnum=None)
    )


def _free_trucks():
    """Trucks with nothing given for a trip, where the world accepts a pickup (it
    refuses one for a truck that is traveling or loading)."""
    busy = Package.objects.filter(truck=OuterRef("pk")).filter(
        Q(status__in=AWAITING_LOAD) | Q(status=PackageStatus.LOADED, delivery_seqnum=None)
    )
    return Truck.objects.filter(
        status__in=[TruckStatus.IDLE, TruckStatus.ARRIVE_WAREHOUSE]
    ).exclude(Exists(busy))


def _truck_for(warehouse: Warehouse, limit: int) -> Truck | None:
    """A truck heading to or standing at ``warehouse`` that has not begun loading and
    has fewer than ``limit`` packages; the least loaded one, so trucks fill evenly."""
    # Once loading has begun the truck takes no more: it leaves when what it was
    # given is loaded, instead of waiting for packages that keep coming.
    loading_begun = Package.objects.filter(
        truck=OuterRef("pk"), status=PackageStatus.LOADED, delivery_seqnum=None
    )
    return (
        Truck.objects.filter(warehouse=warehouse, status__in=[TruckStatus.TRAVELING, *AT_WAREHOUSE])
        .exclude(Exists(loading_begun))
        .annotate(waiting=Count("packages", filter=Q(packages__status__in=AWAITING_LOAD)))
        .filter(waiting__lt=limit)
        .order_by("waiting", "id")
        .first()
    )


def _send_free_truck(warehouse: Warehouse, rule: planning.Policy) -> Truck | None:
    """Send a free truck to ``warehouse`` (the nearest one, unless ``rule`` is the naive
    baseline); None if every truck is busy."""
    truck_id = planning.choose_truck(
        (warehouse.x, warehouse.y), _free_trucks().values_list("id", "x", "y"), rule
    )
    if truck_id is None:
        return None
    truck = Truck.objects.get(id=truck_id)
    if truck.status in AT_WAREHOUSE and truck.warehouse_id == warehouse.id:
        return truck  # already there: Amazon can load it at once
    messaging.send(
        _world_peer(),
        "pickups",
        wu.UGoPickup(truckid=truck.id, whid=warehouse.id),
        ref=f"truck:{truck.id}",
    )
    truck.status = TruckStatus.TRAVELING
    truck.warehouse = warehouse
    truck.loading_deadline = None
    truck.save()
    return truck


def _announce(package: Package, truck: Truck) -> None:
    """The truck stands at the package's warehouse: Amazon may load it."""
    package.truck = truck
    package.announced = True
    warehouse = package.warehouse
    if _advance(
        package,
        PackageStatus.TRUCK_AT_WAREHOUSE,
        warehouse.x,
        warehouse.y,
        note=f"truck {truck.id}",
    ):
        # A package announced before (its truck left without it) is announced again
        # with a newer seqnum: Amazon loads onto the truck of the latest TruckArrived.
        messaging.send(
            AMAZON,
            "arrived",
            au_pb2.TruckArrived(
                package_id=package.id, truck_id=truck.id, warehouse_id=warehouse.id
            ),
            ref=f"package:{package.id}",
        )


def _serve_warehouse(warehouse: Warehouse, max_batches: int | None = None) -> int:
    """Give the packages waiting at ``warehouse`` a truck, oldest first, in at most
    ``max_batches`` batches. Returns how many packages got a truck.

    Packages share a truck already going there until it has ``share`` of them; then
    the nearest free truck is sent too, so a burst is spread over idle trucks; when
    no truck is free, the trucks going there take up to their ``capacity``."""
    rule = dispatch_selectors.policy()
    waiting = Package.objects.filter(
        warehouse=warehouse, status=PackageStatus.CREATED, truck=None
    ).order_by("id")
    served = batches = 0
    while max_batches is None or batches < max_batches:
        batch = list(waiting[: rule.capacity])
        if not batch:
            break
        limit = rule.share
        truck = _truck_for(warehouse, limit) or _send_free_truck(warehouse, rule)
        if truck is None:
            limit = rule.capacity
            truck = _truck_for(warehouse, limit)
        if truck is None:
            break
        batch = batch[: max(limit - _given(truck).count(), 0)]
        if not batch:
            break
        batches += 1
        for package in batch:
            package.warehouse = warehouse
            if truck.status in AT_WAREHOUSE:
                _announce(package, truck)
            else:
                package.truck = truck
                _advance(package, PackageStatus.TRUCK_DISPATCHED, note=f"truck {truck.id}")
        served += len(batch)
    return served


def serve_waiting() -> int:
    """Packages that found every truck busy get one now, if one is free. Warehouses
    take turns, oldest waiting package first, one batch each per turn, so a burst at
    one warehouse does not take every free truck while others wait."""
    # A package waits only while no truck going to its warehouse has room (it joins
    # such a truck at once, and a truck arriving takes the packages waiting there), so
    # without a free truck there is nothing to do: the daemon's every turn costs one query.
    if dispatch_selectors.world_id() is None or not _free_trucks().exists():
        return 0
    warehouse_ids = list(
        Package.objects.filter(status=PackageStatus.CREATED, truck=None)
        .values("warehouse")
        .annotate(oldest=Min("id"))
        .order_by("oldest")
        .values_list("warehouse", flat=True)
    )
    served = 0
    first_round = True
    while warehouse_ids:
        still_waiting = []
        for warehouse_id in warehouse_ids:
            if first_round and not _free_trucks().exists():
                break  # the rest have no truck going there with room either (see above)
            with transaction.atomic():
                warehouse = Warehouse.objects.get(id=warehouse_id)
                got = _serve_warehouse(warehouse, max_batches=1)
                left = Package.objects.filter(
                    warehouse=warehouse, status=PackageStatus.CREATED, truck=None
                ).exists()
            served += got
            if got and left:
                still_waiting.append(warehouse_id)
        # Later rounds fill the trucks just sent up to their capacity, free trucks or not.
        first_round = False
        warehouse_ids = still_waiting
    return served


def _go_deliver(truck: Truck, packages: list[Package]) -> None:
    """Send ``truck`` out with ``packages`` in a short route order. They are out for
    delivery once the world acks the command (``confirm_deliveries``)."""
    by_id = {package.id: package for package in packages}
    order = planning.route_order(
        (truck.x, truck.y),
        [(p.id, p.dest_x, p.dest_y) for p in packages],
        improve=dispatch_selectors.policy().improve_routes,
    )
    command = wu.UGoDeliver(truckid=truck.id)
    for package_id in order:
        package = by_id[package_id]
        command.packages.add(packageid=package.id, x=package.dest_x, y=package.dest_y)
    sent = messaging.send(_world_peer(), "deliveries", command, ref=f"truck:{truck.id}")
    Package.objects.filter(id__in=order).update(
        delivery_seqnum=sent.seqnum, updated_at=timezone.now()
    )
    truck.status = TruckStatus.DELIVERING
    truck.warehouse = None
    truck.loading_deadline = None
    truck.save()


def _cargo(truck: Truck) -> list[Package]:
    """Packages on ``truck`` that it has not been sent out with yet."""
    return list(
        Package.objects.filter(truck=truck, status=PackageStatus.LOADED, delivery_seqnum=None)
    )


def _depart_if_ready(truck: Truck) -> None:
    """A truck at a warehouse leaves once every package announced there is loaded.
    While it waits with some on board, each load gives the rest a new deadline
    (``UPS_LOADING_WAIT``): past it, ``depart_overdue`` sends the truck off."""
    if truck.status not in AT_WAREHOUSE:
        return
    cargo = _cargo(truck)
    if Package.objects.filter(truck=truck, status__in=AWAITING_LOAD).exists():
        if cargo:
            truck.loading_deadline = timezone.now() + dispatch_selectors.loading_wait()
            truck.save(update_fields=["loading_deadline", "updated_at"])
        return
    if cargo:
        _go_deliver(truck, cargo)


def depart_overdue() -> int:
    """Trucks that waited past their loading deadline leave with what is loaded. The
    packages they were waiting for go back to the queue and get the next truck (that
    truck's arrival is announced to Amazon anew). Returns how many trucks left."""
    if dispatch_selectors.world_id() is None:
        return 0
    overdue = Truck.objects.filter(status__in=AT_WAREHOUSE, loading_deadline__lte=timezone.now())
    left = 0
    for truck_id in overdue.values_list("id", flat=True):
        with transaction.atomic():
            truck = Truck.objects.select_related("warehouse").get(id=truck_id)
            if truck.status not in AT_WAREHOUSE or truck.loading_deadline is None:
                continue
            cargo = _cargo(truck)
            truck.loading_deadline = None
            if not cargo:
                truck.save(update_fields=["loading_deadline", "updated_at"])
                continue
            for package in Package.objects.filter(truck=truck, status__in=AWAITING_LOAD):
                package.truck = None
                package.announced = False
                package.status = PackageStatus.CREATED
                package.save()
                _event(package, "truck left without it", note=f"truck {truck.id}: not ready")
            warehouse = truck.warehouse
            _go_deliver(truck, cargo)
            if warehouse is not None:
                _serve_warehouse(warehouse)
            left += 1
    return left


def confirm_deliveries() -> int:
    """Packages whose UGoDeliver the world has acked are out for delivery; tell Amazon.
    Returns how many moved."""
    peer = dispatch_selectors.world_peer()
    if peer is None:
        return 0
    seqnums = set(
        Package.objects.filter(status=PackageStatus.LOADED)
        .exclude(delivery_seqnum=None)
        .values_list("delivery_seqnum", flat=True)
    )
    moved = 0
    for seqnum in sorted(seqnums):
        sent = messaging_selectors.origin(peer, seqnum)
        if sent is None or sent.acked_at is None:
            continue
        truck_id = wu.UGoDeliver.FromString(bytes(sent.body)).truckid
        with transaction.atomic():
            for package in Package.objects.filter(
                status=PackageStatus.LOADED, delivery_seqnum=seqnum
            ):
                moved += _out_for_delivery(package, truck_id)
    return moved


def _out_for_delivery(package: Package, truck_id: int) -> bool:
    if not _advance(package, PackageStatus.OUT_FOR_DELIVERY, note=f"truck {truck_id}"):
        return False
    messaging.send(
        AMAZON,
        "out_for_delivery",
        au_pb2.OutForDelivery(package_id=package.id, truck_id=truck_id),
        ref=f"package:{package.id}",
    )
    return True


# -- the world reports -----------------------------------------------------------------


def _truck(truck_id: int) -> Truck | None:
    truck = Truck.objects.select_related("warehouse").filter(id=truck_id).first()
    if truck is None:
        logger.warning("the world speaks of truck %d, which is not ours", truck_id)
    return truck


def truck_arrived(truck_id: int, x: int, y: int) -> None:
    """The world: the truck stands at the warehouse we sent it to."""
    truck = _truck(truck_id)
    if truck is None:
        return
    warehouse = truck.warehouse
    if warehouse is None or (warehouse.x, warehouse.y) != (x, y):
        warehouse = Warehouse.objects.filter(x=x, y=y).first()
    truck.status = TruckStatus.ARRIVE_WAREHOUSE
    truck.x, truck.y = x, y
    truck.warehouse = warehouse
    truck.save()
    if warehouse is None:
        logger.warning("truck %d arrived at (%d, %d), where we know no warehouse", truck_id, x, y)
        return
    for package in Package.objects.filter(
        truck=truck, warehouse=warehouse, status=PackageStatus.TRUCK_DISPATCHED
    ).select_related("warehouse"):
        _announce(package, truck)
    # Packages that came in while every truck was busy can board now.
    _serve_warehouse(warehouse)
    _depart_if_ready(truck)


def truck_idle(truck_id: int, x: int, y: int) -> None:
    """The world: the truck made its last delivery and is free (``serve_waiting`` uses it)."""
    truck = _truck(truck_id)
    if truck is None:
        return
    truck.status = TruckStatus.IDLE
    truck.x, truck.y = x, y
    truck.warehouse = None
    truck.loading_deadline = None
    truck.save()


def truck_reported(truck_id: int, status: str, x: int, y: int) -> None:
    """The world answered a query about the truck: take its word for it."""
    truck = _truck(truck_id)
    if truck is None:
        return
    status = status.lower()
    if status not in TruckStatus.values:
        logger.warning("truck %d has a status we do not know: %r", truck_id, status)
        return
    truck.status = status
    truck.x, truck.y = x, y
    if status == TruckStatus.IDLE:
        truck.warehouse = None
    truck.save()


def package_delivered(truck_id: int, package_id: int) -> None:
    package = Package.objects.filter(id=package_id).first()
    if package is None:
        logger.warning("the world delivered package %d, which UPS does not know", package_id)
        return
    if package.status == PackageStatus.LOADED and package.delivery_seqnum is not None:
        # The world's ack of the UGoDeliver came in the same response as this delivery
        # (a fast world): it was out for delivery all the same, and Amazon hears so.
        _out_for_delivery(package, truck_id)
    if _redirect_unsettled_at_delivery(package, truck_id):
        return
    _delivered_at_destination(package, truck_id)


def _delivered_at_destination(package: Package, truck_id: int) -> None:
    """The world delivered ``package`` where it last accepted its destination (dest_x, y)."""
    Truck.objects.filter(id=truck_id).update(x=package.dest_x, y=package.dest_y)
    if _advance(
        package,
        PackageStatus.DELIVERED,
        package.dest_x,
        package.dest_y,
        note=f"by truck {truck_id}",
    ):
        messaging.send(
            AMAZON,
            "delivered",
            au_pb2.Delivered(package_id=package.id, x=package.dest_x, y=package.dest_y),
            ref=f"package:{package.id}",
        )


def pickup_refused(truck_id: int, warehouse_id: int, text: str) -> None:
    """The world refused to send ``truck_id`` to ``warehouse_id``. Its packages go back
    in the queue for another truck (up to ``MAX_PICKUP_REFUSALS``), and we ask the world
    where the truck really is, since our picture of it was wrong."""
    logger.warning(
        "the world refused to send truck %d to warehouse %d: %s", truck_id, warehouse_id, text
    )
    for package in Package.objects.filter(
        truck_id=truck_id, warehouse_id=warehouse_id, status=PackageStatus.TRUCK_DISPATCHED
    ):
        package.pickup_refusals += 1
        if package.pickup_refusals >= MAX_PICKUP_REFUSALS:
            _fail(
                package,
                f"the world refused every truck sent for it: {text}",
                package.request_seqnum,
            )
            continue
        package.truck = None
        package.status = PackageStatus.CREATED
        package.save()
        _event(package, "pickup refused", note=text)
    truck = _truck(truck_id)
    if truck is None:
        return
    if truck.status == TruckStatus.TRAVELING and truck.warehouse_id == warehouse_id:
        # Still "traveling" (so nobody picks it) but heading nowhere, until the world's
        # answer to this query says what it is doing.
        truck.warehouse = None
        truck.save()
        messaging.send(
            _world_peer(), "queries", wu.UQuery(truckid=truck.id), ref=f"truck:{truck.id}"
        )


PACKAGE_IN_TEXT = re.compile(r"package(?: id)? (\d+)")


def deliveries_refused(seqnum: int, truck_id: int, package_ids: list[int], text: str) -> None:
    """The world refused (part of) our UGoDeliver ``seqnum``. A package the error names
    cannot be delivered by that truck: it fails. If none is named, the whole command
    was refused: its packages wait for the truck's next departure."""
    logger.warning("the world refused deliveries of truck %d (%s): %s", truck_id, package_ids, text)
    if _redirect_refused(seqnum, text):
        return
    named = {int(n) for n in PACKAGE_IN_TEXT.findall(text)} & set(package_ids)
    if named:
        for package in Package.objects.filter(id__in=named):
            _fail(package, f"the world refused to deliver it: {text}", -1)
        return
    for package in Package.objects.filter(
        id__in=package_ids, status=PackageStatus.LOADED, delivery_seqnum=seqnum
    ):
        package.delivery_seqnum = None
        package.save()
        _event(package, "delivery refused", note=text)


# -- world and fleet -------------------------------------------------------------------


def fleet_reset(starts: Iterable[planning.Place]) -> None:
    """Our trucks as brought into a new world: idle at their start places."""
    starts = list(starts)
    for truck_id, x, y in starts:
        Truck.objects.update_or_create(
            id=truck_id,
            defaults={"status": TruckStatus.IDLE, "x": x, "y": y, "warehouse": None},
        )
    Truck.objects.exclude(id__in=[truck_id for truck_id, _, _ in starts]).delete()


def fleet_add(starts: Iterable[planning.Place]) -> None:
    """Trucks brought into the current world for the first time (UPS_TRUCKS grew)."""
    for truck_id, x, y in starts:
        Truck.objects.get_or_create(id=truck_id, defaults={"x": x, "y": y})


def packages_abandon(reason: str) -> int:
    """We moved to another world: packages of the old one will never be delivered."""
    abandoned = 0
    for package in Package.objects.exclude(
        status__in=[PackageStatus.DELIVERED, PackageStatus.FAILED]
    ):
        abandoned += _fail(package, reason)
    return abandoned


# -- accounts ---------------------------------------------------------------------------


def account_create(user) -> Account:
    """An account with a fresh random number (9 digits: short enough to type)."""
    while True:
        number = 100_000_000 + secrets.randbelow(900_000_000)
        if not Account.objects.filter(number=number).exists():
            return Account.objects.create(user=user, number=number)


@transaction.atomic
def demo_user_ensure(username: str, password: str) -> Account:
    """The demo user and its account; running it again only resets the password."""
    user, created = get_user_model().objects.get_or_create(username=username)
    if created or not user.check_password(password):
        user.set_password(password)
        user.save()
    account = Account.objects.filter(user=user).first()
    return account or account_create(user)


# -- redirect ---------------------------------------------------------------------------
#
# The owner changes where a package goes. Before the world has the package's delivery
# (not yet sent out), the new place is simply recorded and dispatch uses it. Once a
# UGoDeliver carrying it is out, the world keeps its own copy of the destination: we
# send the delivery again with the new place (the world changes the stop in place)
# and the change is in force only when the world has accepted that command. If the
# world delivered first, the redirect lost the race: the package is where the world
# left it. The store hears of a change once it is in force (DestinationChanged), never
# of a lost one (protocol 5.7).

INT32 = (-(2**31), 2**31 - 1)
REDIRECTABLE = (
    PackageStatus.CREATED,
    PackageStatus.TRUCK_DISPATCHED,
    PackageStatus.TRUCK_AT_WAREHOUSE,
    PackageStatus.LOADED,
    PackageStatus.OUT_FOR_DELIVERY,
)


@dataclass(frozen=True)
class RedirectResult:
    accepted: bool
    message: str
    # True when the new place went to the truck in the world (out for delivery), so
    # it is in force only once the world accepts it.
    resent: bool = False


def _delivered_event(package: Package) -> PackageEvent | None:
    return package.events.filter(kind=PackageStatus.DELIVERED).order_by("-at", "-id").first()


def _too_late(package: Package) -> str:
    event = _delivered_event(package)
    if event is None or event.x is None:
        return f"Too late: package {package.id} was already delivered."
    at = timezone.localtime(event.at).strftime("%H:%M")
    return f"Too late: package {package.id} was delivered at ({event.x}, {event.y}) at {at}."


def _destination_changed(package: Package) -> None:
    messaging.send(
        AMAZON,
        "redirected",
        au_pb2.DestinationChanged(package_id=package.id, x=package.dest_x, y=package.dest_y),
        ref=f"package:{package.id}",
    )


def _resend_delivery(package: Package) -> int:
    """Send the package's delivery again, to its new place, on the truck that has it."""
    command = wu.UGoDeliver(truckid=package.truck_id)
    command.packages.add(packageid=package.id, x=package.dest_x, y=package.dest_y)
    sent = messaging.send(_world_peer(), "deliveries", command, ref=f"package:{package.id}")
    return sent.seqnum


def package_redirect(package: Package, *, x: int, y: int, by_user) -> RedirectResult:
    """Send ``package`` to (x, y) instead, on its owner's word."""
    if not all(isinstance(v, int) and INT32[0] <= v <= INT32[1] for v in (x, y)):
        raise ValueError(f"({x}, {y}) is not a place on the grid")
    with transaction.atomic():
        package = (
            Package.objects.select_for_update()
            .select_related("account", "truck")
            .filter(id=package.id)
            .first()
        )
        if package is None or package.account is None or package.account.user_id != by_user.pk:
            return RedirectResult(False, "No package with that number is yours.")
        if package.status == PackageStatus.DELIVERED:
            return RedirectResult(False, _too_late(package))
        if package.status not in REDIRECTABLE:
            return RedirectResult(
                False, f"Package {package.id} cannot be delivered, so it cannot be redirected."
            )
        if package.redirect_seqnum is not None:
            return RedirectResult(
                False,
                "The truck has not yet confirmed your last change of address; "
                "try again in a moment.",
            )
        if (package.dest_x, package.dest_y) == (x, y):
            return RedirectResult(True, f"Package {package.id} already goes to ({x}, {y}).")
        old = (package.dest_x, package.dest_y)
        package.dest_x, package.dest_y = x, y
        world_has_it = package.delivery_seqnum is not None and package.truck_id is not None
        if not world_has_it:
            package.save()
            _event(package, "redirected", x, y, note=f"instead of ({old[0]}, {old[1]})")
            _destination_changed(package)
            return RedirectResult(True, f"Package {package.id} will be delivered at ({x}, {y}).")
        package.redirect_from_x, package.redirect_from_y = old
        package.redirect_seqnum = _resend_delivery(package)
        package.save()
        _event(package, "redirected", x, y, note=f"instead of ({old[0]}, {old[1]}); told the truck")
        return RedirectResult(
            True,
            f"The truck is on its way: we told it to deliver package {package.id} at ({x}, {y}) "
            f"instead. If it gets there first, the package is delivered at "
            f"({old[0]}, {old[1]}).",
            resent=True,
        )


def _redirect_clear(package: Package) -> None:
    package.redirect_seqnum = None
    package.redirect_from_x = package.redirect_from_y = None
    package.delivery_unsettled_truck = None


def _redirect_lost(package: Package, why: str) -> None:
    """The world did not take the new place: the package goes (or went) to the old one."""
    asked = (package.dest_x, package.dest_y)
    package.dest_x, package.dest_y = package.redirect_from_x, package.redirect_from_y
    truck_id = package.delivery_unsettled_truck
    _redirect_clear(package)
    package.save()
    if truck_id is not None:
        _delivered_at_destination(package, truck_id)
    _event(package, why, asked[0], asked[1], note=f"kept ({package.dest_x}, {package.dest_y})")


def _redirect_unsettled_at_delivery(package: Package, truck_id: int) -> bool:
    """The world delivered ``package``; True if where is not known yet (decided by
    ``redirects_settle`` at the end of the daemon's turn)."""
    if package.redirect_seqnum is None:
        return False
    sent = messaging_selectors.origin(_world_peer(), package.redirect_seqnum)
    if sent is None or sent.acked_at is None:
        # The world has not read the new place: it delivered at the old one.
        package.delivery_unsettled_truck = truck_id
        _redirect_lost(package, "redirect too late")
        return True
    # The world read the redirect, but maybe only after this delivery: its error saying
    # so may follow in the same batch. redirects_settle decides after the batch.
    package.delivery_unsettled_truck = truck_id
    package.save()
    return True


def _redirect_refused(seqnum: int, text: str) -> bool:
    """The world refused our re-sent delivery ``seqnum``; False if it was no redirect."""
    package = Package.objects.filter(redirect_seqnum=seqnum).first()
    if package is None:
        return False
    late = "already delivered" in text
    _redirect_lost(package, "redirect too late" if late else "redirect failed")
    return True


def redirects_settle() -> int:
    """Redirects the world has accepted (acked, no error) are in force: tell Amazon, or,
    for a package delivered meanwhile, record the delivery at the new place. Called
    once per daemon turn, after the turn's messages; returns how many settled."""
    peer = dispatch_selectors.world_peer()
    if peer is None:
        return 0
    settled = 0
    for package_id, seqnum in Package.objects.exclude(redirect_seqnum=None).values_list(
        "id", "redirect_seqnum"
    ):
        sent = messaging_selectors.origin(peer, seqnum)
        if sent is None or sent.acked_at is None:
            continue
        with transaction.atomic():
            package = (
                Package.objects.select_for_update()
                .filter(id=package_id, redirect_seqnum=seqnum)
                .first()
            )
            if package is None:
                continue
            truck_id = package.delivery_unsettled_truck
            _redirect_clear(package)
            package.save()
            if truck_id is not None:
                _delivered_at_destination(package, truck_id)
            elif package.status not in (PackageStatus.DELIVERED, PackageStatus.FAILED):
                _destination_changed(package)
            settled += 1
    return settled
