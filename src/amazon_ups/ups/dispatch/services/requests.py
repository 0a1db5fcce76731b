"""What Amazon asks of the carrier (protocol section 5): carry a package, is this an
account, it is loaded, the load failed, or it gave a package up.

The daemon calls these inside the transaction that records the sub-message; a
``Refused`` undoes what the call did and is answered with an ``Error``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.common.statemachine import EventsWrittenTogether, Outcome
from amazon_ups.protocol import au_pb2
from amazon_ups.ups.accounts.models import Account
from amazon_ups.ups.dispatch.services import trucks
from amazon_ups.ups.shipments import world
from amazon_ups.ups.shipments.models import Package, PackageItem, Truck, Warehouse
from amazon_ups.ups.shipments.package_lifecycle import (
    AWAITING_LOAD,
    AWAITING_TRUCK,
    MACHINE,
    package_created,
)
from amazon_ups.ups.shipments.package_lifecycle import PackageEventKind as P
from amazon_ups.ups.shipments.services.base import (
    Item,
    Refused,
    fail,
    logger,
    move,
    moves_noted,
    package_lock,
    truck_for_load,
)
from amazon_ups.ups.shipments.truck_lifecycle import AT_WAREHOUSE, TruckStatus
from amazon_ups.ups.shipper import services as shipper
from amazon_ups.ups.shipper.services import AMAZON


@dataclass
class _PickupsAhead:
    """What the pickup requests of a container need to know, read in two queries."""

    # The packages looked up, and which of them were already known.
    looked_up: set[int]
    known: set[int]
    warehouses: dict[int, Warehouse]


_pickups_ahead: ContextVar[_PickupsAhead | None] = ContextVar("_pickups_ahead", default=None)


@dataclass
class _Created:
    """The packages made and not written yet (``packages_created_together``), by id."""

    packages: dict[int, Package]
    savepoints: int  # open when the batch began


_created: ContextVar[_Created | None] = ContextVar("packages_created", default=None)

# The items of the packages a container's pickup requests make, written in one statement
# at its end (``pickups_read_together``): nothing the daemon does reads them (they are for
# the package's page). A unit rolled back alone drops its own (``ITEMS.unit()``).
ITEMS = EventsWrittenTogether("package items")


@contextlib.contextmanager
def pickups_read_together(requests: Iterable[tuple[int, int]]) -> Iterator[None]:
    """Within: the pickup requests for these (package id, warehouse id) learn whether
    their package is known, and find their warehouse, from one read of each for all of
    them. A package's answer is handed out once, as read then: asked again (a second
    request for it), it is read again, since the first one may have created it, or been
    rolled back. A warehouse never changes and is never deleted once known (a package
    holds on to it), so one read of it serves every request; a package made by an
    earlier request of the container and not written yet (``packages_created_together``)
    is known without a read. The packages' items are written together at the end
    (``ITEMS``)."""
    requests = list(requests)
    package_ids = {package_id for package_id, _ in requests}
    ahead = _PickupsAhead(
        looked_up=package_ids,
        known=set(Package.objects.filter(id__in=package_ids).values_list("id", flat=True))
        if package_ids
        else set(),
        warehouses=Warehouse.objects.in_bulk({warehouse_id for _, warehouse_id in requests}),
    )
    token = _pickups_ahead.set(ahead)
    try:
        with ITEMS.batch():
            yield
    finally:
        _pickups_ahead.reset(token)


def _package_known(package_id: int) -> bool:
    created = _created.get()
    if created is not None and package_id in created.packages:
        return True
    ahead = _pickups_ahead.get()
    if ahead is not None and package_id in ahead.looked_up:
        ahead.looked_up.discard(package_id)
        return package_id in ahead.known
    return Package.objects.filter(id=package_id).exists()


def _warehouse(warehouse_id: int, x: int, y: int) -> Warehouse:
    ahead = _pickups_ahead.get()
    known = ahead.warehouses.get(warehouse_id) if ahead is not None else None
    if known is None:
        known = Warehouse.objects.filter(id=warehouse_id).first()
    if known is not None:
        if (known.x, known.y) != (x, y):
            raise Refused(f"warehouse {warehouse_id} is at ({known.x}, {known.y}), not ({x}, {y})")
        return known
    other = Warehouse.objects.filter(x=x, y=y).first()
    if other is not None:
        raise Refused(
            f"warehouse {other.id} is at ({x}, {y}); warehouse {warehouse_id} cannot be too"
        )
    return Warehouse.objects.create(id=warehouse_id, x=x, y=y)


@contextlib.contextmanager
def packages_created_together() -> Iterator[None]:
    """Within (inside ``trucks.serving_together``, whose serving reads them): the packages
    the pickup requests make are written in one INSERT, by ``packages_created_write``
    (and at the end, before the warehouses are served), not one each: a container
    brings many, and handling a pickup request reads no package (whether one is known
    is answered from those held here too). Whoever handles anything else in the block
    writes them first (``Dispatcher.handle``). Nothing is written if the block raises.

    Only while its units cannot be rolled back alone: a defect then rolls the whole
    batch back (the first pass of ``isolation.receive_all``), the INSERT of the packages
    included. A unit in a savepoint of its own (the pass after a defect) writes its
    package as it goes, as outside a batch: a package the database refuses is then set
    aside with its request only."""
    if not trucks.serving_later():
        raise RuntimeError("packages_created_together outside serving_together")
    created = _Created({}, len(transaction.get_connection().savepoint_ids))
    token = _created.set(created)
    try:
        yield
        packages_created_write()
    finally:
        _created.reset(token)


def packages_created_write() -> None:
    """Write the packages made so far (``packages_created_together``): before anything
    reads packages."""
    created = _created.get()
    if created is None or not created.packages:
        return
    rows = list(created.packages.values())
    created.packages.clear()
    Package.objects.bulk_create(rows)
    for row in rows:
        row._remember()  # as ``save()`` leaves it: its next save writes what changed


def _held_to_batch_end(package: Package) -> bool:
    """Hold the new ``package`` for ``packages_created_write``, unless no batch is under
    way or the unit at hand may be rolled back alone (it runs in a savepoint the batch did
    not begin in)."""
    created = _created.get()
    if created is None:
        return False
    if len(transaction.get_connection().savepoint_ids) > created.savepoints:
        return False
    created.packages[package.id] = package
    return True


def _package_lock(package_id: int) -> Package:
    package = package_lock(package_id)
    if package is None:
        raise Refused(f"package {package_id} is unknown to UPS", package_id)
    return package


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
    now: datetime,
    fresh: bool = True,
) -> Package:
    """Accept a package at ``now`` (its tracking number is drawn as it is stored), tell
    Amazon the number, and send the package a truck; or raise ``Refused`` having changed
    nothing. Returns the package as it is then (``fresh``; else as it was stored, which
    spares the daemon a read of what it does not need)."""
    if world.world_id() is None:
        raise Refused(f"UPS has no world yet, so package {package_id} cannot be carried")
    if _package_known(package_id):
        raise Refused(f"package {package_id} is already known (PickupRequest #{seqnum})")
    try:
        warehouse = _warehouse(warehouse_id, warehouse_x, warehouse_y)
    except Refused as refusal:
        raise Refused(f"{refusal} (package {package_id})") from None
    account = None
    if ups_account is not None:
        # An unknown account is no reason to refuse: the package travels unlinked.
        account = Account.objects.filter(number=ups_account).first()
    package = Package(
        id=package_id,
        warehouse=warehouse,
        dest_x=dest_x,
        dest_y=dest_y,
        account=account,
        ups_account=ups_account,
        request_seqnum=seqnum,
        status_changed_at=now,
    )
    # Its number is drawn already (the field's default), held or not.
    if fresh or not _held_to_batch_end(package):
        package.save(force_insert=True)
    ITEMS.add_all(
        PackageItem(
            package=package,
            product_id=item.product_id,
            description=item.description[:300],
            count=item.count,
        )
        for item in items
    )
    package_created(package, warehouse.x, warehouse.y, now=now)
    # Before the truck is sought: a truck already there would send TruckArrived, and
    # the shopper should learn the number no later than anything else. In groups, as
    # people read it: the store shows it as it comes, and our site reads it either way.
    shipper.package_registered(package.id, package.tracking_number_grouped)
    trucks.serve_soon(warehouse, now=now)
    if fresh:
        package.refresh_from_db()
    return package


def account_check(number: int) -> bool:
    exists = Account.objects.filter(number=number).exists()
    shipper.account_status(number, exists)
    return exists


def package_loaded(package_id: int, truck_id: int, *, now: datetime) -> None:
    """Amazon put the package on ``truck_id`` (we heard so at ``now``): the world's load
    is the fact, whichever truck we had in mind."""
    package = _package_lock(package_id)
    truck = truck_for_load(truck_id)
    if truck is None:
        raise Refused(f"truck {truck_id} is unknown to UPS (package {package_id})", package_id)
    if MACHINE.outcome(package.status, P.LOADED, package) is Outcome.STALE:
        return
    package.truck = truck
    warehouse = package.warehouse
    with moves_noted(package):
        move(package, P.LOADED, warehouse.x, warehouse.y, f"on truck {truck.id}", now=now)
    if truck.status in AT_WAREHOUSE:
        trucks.depart_if_ready(truck, now=now, loaded=package)
    elif truck.status in (TruckStatus.DELIVERING, TruckStatus.IDLE):
        # It left without waiting for this one (or Amazon loaded a truck we did not
        # announce): add the package to its round.
        trucks.go_deliver(truck, [package], now=now)
    # A truck traveling to another pickup takes the package along when it next
    # leaves a warehouse (depart_if_ready collects every loaded package).


def load_failed(package_id: int, truck_id: int, reason: str, *, now: datetime) -> None:
    """The world refused Amazon's load of the package onto ``truck_id`` (protocol 5.11):
    the truck was not where we thought. The package gets a truck again, and that truck
    is asked where it is before it is given anything else."""
    package = _package_lock(package_id)
    if package.status not in AWAITING_LOAD or package.truck_id != truck_id:
        # Loaded or re-queued meanwhile, or given up: no truck waits for it there.
        logger.info("load of package %d on truck %d failed, no longer news", package_id, truck_id)
        return
    trucks.requeue(package, P.LOAD_REFUSED, f"truck {truck_id}: {reason}", now=now)
    Truck.objects.filter(id=truck_id).update(needs_query=True)
    trucks.serve_soon(package.warehouse, now=now)


# Our sub-messages that Amazon refuses when it does not know the package (5.10).
ORIGINS_ABOUT_A_PACKAGE: dict[str, type[au_pb2.TruckArrived | au_pb2.PackageRegistered]] = {
    "arrived": au_pb2.TruckArrived,
    "registered": au_pb2.PackageRegistered,
}


def amazon_error(origin_seqnum: int, package_id: int | None, text: str, *, now: datetime) -> None:
    """Amazon could not act on something we sent. If it concerns a package it will not
    load, stop waiting for that package; anything else is for the operator."""
    logger.warning(
        "Amazon reports an error (origin #%d, package %s): %s", origin_seqnum, package_id, text
    )
    if package_id is None:
        origin = messaging_selectors.origin(AMAZON, origin_seqnum)
        if origin is None or origin.field not in ORIGINS_ABOUT_A_PACKAGE:
            return
        kind = ORIGINS_ABOUT_A_PACKAGE[origin.field]
        package_id = kind.FromString(bytes(origin.body)).package_id
    package = Package.objects.select_for_update().filter(id=package_id).first()
    if package is None or package.status not in AWAITING_TRUCK:
        return
    truck = package.truck
    fail(package, f"Amazon gave it up: {text}", now=now)
    if truck is not None:
        trucks.depart_if_ready(truck, now=now)
