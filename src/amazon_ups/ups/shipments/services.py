"""State changes of packages, trucks and accounts: statuses move here and nowhere else.

The daemon calls these inside the transaction in which it records the message
that caused the change (``messaging.first_receipt``), and the messages a change
causes, to the world or to Amazon, are queued (``messaging.send``) in that same
transaction: a change and what it tells others commit together or not at all.
Functions called from elsewhere (the daemon's tick, management commands) open
their own transaction.

Messages can arrive in any order and more than once, so a package's status
only moves forward (``STATUS_RANK``); the one way back, a refused pickup that
puts a package back in the queue, is our own decision (``pickup_refused``).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, Min, OuterRef, Q
from django.utils import timezone

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
    return True


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


def _truck_for(warehouse: Warehouse) -> Truck | None:
    """A truck heading to or standing at ``warehouse`` that has not begun loading."""
    # Once loading has begun the truck takes no more: it leaves when what it was
    # given is loaded, instead of waiting for packages that keep coming.
    loading_begun = Package.objects.filter(
        truck=OuterRef("pk"), status=PackageStatus.LOADED, delivery_seqnum=None
    )
    return (
        Truck.objects.filter(warehouse=warehouse, status__in=[TruckStatus.TRAVELING, *AT_WAREHOUSE])
        .exclude(Exists(loading_begun))
        .order_by("id")
        .first()
    )


def _send_free_truck(warehouse: Warehouse) -> Truck | None:
    """Send the nearest free truck to ``warehouse``; None if every truck is busy."""
    # A truck is busy while packages wait for it at a warehouse, or are on it but
    # not sent out yet.
    busy = Package.objects.filter(truck=OuterRef("pk")).filter(
        Q(status__in=AWAITING_LOAD) | Q(status=PackageStatus.LOADED, delivery_seqnum=None)
    )
    # The world refuses a pickup for a truck that is traveling or loading.
    free = Truck.objects.filter(
        status__in=[TruckStatus.IDLE, TruckStatus.ARRIVE_WAREHOUSE]
    ).exclude(Exists(busy))
    truck_id = planning.nearest((warehouse.x, warehouse.y), free.values_list("id", "x", "y"))
    if truck_id is None:
        return None
    truck = Truck.objects.get(id=truck_id)
    messaging.send(
        _world_peer(),
        "pickups",
        wu.UGoPickup(truckid=truck.id, whid=warehouse.id),
        ref=f"truck:{truck.id}",
    )
    truck.status = TruckStatus.TRAVELING
    truck.warehouse = warehouse
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
        messaging.send(
            AMAZON,
            "arrived",
            au_pb2.TruckArrived(
                package_id=package.id, truck_id=truck.id, warehouse_id=warehouse.id
            ),
            ref=f"package:{package.id}",
        )


def _serve_warehouse(warehouse: Warehouse) -> int:
    """Give the packages waiting at ``warehouse`` a truck: one already going there
    (several packages share it), else the nearest free one. Returns how many got one."""
    waiting = list(
        Package.objects.filter(
            warehouse=warehouse, status=PackageStatus.CREATED, truck=None
        ).order_by("id")
    )
    if not waiting:
        return 0
    truck = _truck_for(warehouse) or _send_free_truck(warehouse)
    if truck is None:
        return 0
    for package in waiting:
        package.warehouse = warehouse
        if truck.status in AT_WAREHOUSE:
            _announce(package, truck)
        else:
            package.truck = truck
            _advance(package, PackageStatus.TRUCK_DISPATCHED, note=f"truck {truck.id}")
    return len(waiting)


def serve_waiting() -> int:
    """Packages that found every truck busy get one now, if one is free; oldest first."""
    if dispatch_selectors.world_id() is None:
        return 0
    warehouse_ids = list(
        Package.objects.filter(status=PackageStatus.CREATED, truck=None)
        .values("warehouse")
        .annotate(oldest=Min("id"))
        .order_by("oldest")
        .values_list("warehouse", flat=True)
    )
    served = 0
    for warehouse_id in warehouse_ids:
        with transaction.atomic():
            served += _serve_warehouse(Warehouse.objects.get(id=warehouse_id))
    return served


def _go_deliver(truck: Truck, packages: list[Package]) -> None:
    """Send ``truck`` out with ``packages``, nearest stop first. They are out for
    delivery once the world acks the command (``confirm_deliveries``)."""
    by_id = {package.id: package for package in packages}
    order = planning.route_order((truck.x, truck.y), [(p.id, p.dest_x, p.dest_y) for p in packages])
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
    truck.save()


def _depart_if_ready(truck: Truck) -> None:
    """A truck at a warehouse leaves once every package announced there is loaded."""
    if truck.status not in AT_WAREHOUSE:
        return
    if Package.objects.filter(truck=truck, status__in=AWAITING_LOAD).exists():
        return
    cargo = list(
        Package.objects.filter(truck=truck, status=PackageStatus.LOADED, delivery_seqnum=None)
    )
    if cargo:
        _go_deliver(truck, cargo)


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
                if _advance(package, PackageStatus.OUT_FOR_DELIVERY, note=f"truck {truck_id}"):
                    messaging.send(
                        AMAZON,
                        "out_for_delivery",
                        au_pb2.OutForDelivery(package_id=package.id, truck_id=truck_id),
                        ref=f"package:{package.id}",
                    )
                    moved += 1
    return moved


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
