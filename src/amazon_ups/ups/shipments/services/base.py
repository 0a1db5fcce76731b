"""What every part of the carrier's services shares: the peers, the refusal, and the
package move that also tells the owner by email."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat

from amazon_ups.common.mail.services import queue_email
from amazon_ups.common.statemachine import Outcome, saves_held_to_end
from amazon_ups.ups.shipments import world
from amazon_ups.ups.shipments.exceptions import Refused as Refused  # the services' name
from amazon_ups.ups.shipments.models import Package, Truck
from amazon_ups.ups.shipments.package_lifecycle import EVENTS as PACKAGE_EVENTS
from amazon_ups.ups.shipments.package_lifecycle import (
    MACHINE,
    PackageEventKind,
    package_move,
    package_moves,
)
from amazon_ups.ups.shipments.truck_lifecycle import EVENTS as TRUCK_EVENTS
from amazon_ups.ups.shipper import services as shipper

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    product_id: int
    description: str
    count: int


def world_peer() -> str:
    peer = world.world_peer()
    if peer is None:
        raise RuntimeError("no world yet: nothing can be sent to it")
    return peer


def stuck_before(now: datetime) -> datetime:
    """Anything still in a waiting state it entered before this is stuck (STUCK_AFTER)."""
    return now - timedelta(seconds=settings.STUCK_AFTER)


def truck_ref(truck_id: int) -> str:
    """The ``ref`` of every command and query we send the world about a truck, so the
    ones still waiting for an ack are found by it."""
    return f"truck:{truck_id}"


def truck_ref_of(truck_id) -> Concat:
    """``truck_ref`` in SQL, of a truck id expression (``OuterRef("pk")``, ``F("id")``)."""
    return Concat(Value("truck:"), Cast(truck_id, CharField()), output_field=CharField())


def truck_lock(truck_id: int) -> Truck | None:
    """The truck (with its warehouse), locked until the transaction ends."""
    return (
        Truck.objects.select_for_update(of=("self",))
        .select_related("warehouse")
        .filter(id=truck_id)
        .first()
    )


def _packages_locked(ids: Iterable[int]):
    """Packages (with their warehouse), locked until the transaction ends."""
    return (
        Package.objects.select_for_update(of=("self",))
        .select_related("warehouse")
        .filter(id__in=ids)
    )


@dataclass
class _Ahead:
    """Packages read and locked ahead (``packages_locked_ahead``), not handed out yet."""

    packages: dict[int, Package]
    # Something wrote packages since they were read: read them again before one is
    # handed out.
    stale: bool = False
    # How many times packages were written other than through ``package_lock``'s
    # (``packages_changes``).
    changes: int = 0


_ahead: ContextVar[_Ahead | None] = ContextVar("packages_locked_ahead", default=None)


def package_lock(package_id: int) -> Package | None:
    """The package (with its warehouse), locked until the transaction ends."""
    package_saves_write([package_id])  # a delivery of it noted: written, then read
    ahead = _ahead.get()
    if ahead is not None and package_id in ahead.packages:
        if ahead.stale:
            again = _packages_locked(sorted(ahead.packages)).order_by("id")
            ahead.packages = {package.id: package for package in again}
            ahead.stale = False
        package = ahead.packages.pop(package_id, None)
        if package is not None:
            return package
    # No ORDER BY and no LIMIT to build: the id is the primary key.
    found = list(_packages_locked([package_id]))
    return found[0] if found else None


def packages_changed() -> None:
    """Packages may have been written other than through ``package_lock``'s (a truck's
    whole load, a rolled-back unit of work): those read ahead are read again before the
    next is handed out."""
    ahead = _ahead.get()
    if ahead is None:
        return
    ahead.changes += 1
    if ahead.packages:
        ahead.stale = True


def packages_written(package_ids: Iterable[int]) -> None:
    """``packages_changed``, for a write that names its packages (a truck sent out with
    them): of those read ahead, only these are read again (each when asked for), not
    all. A container of loads onto trucks that leave as they fill was a read of every
    package still ahead at each departure. What else was read of packages (what a truck
    was given, the trucks loaded) is read again, as after any change."""
    ahead = _ahead.get()
    if ahead is None:
        return
    ahead.changes += 1
    for package_id in package_ids:
        ahead.packages.pop(package_id, None)


def packages_changes() -> int | None:
    """How many times packages were written other than through ``package_lock``'s in
    the batch under way (``packages_locked_ahead``; None outside one): what was read of
    packages holds while this stays the same, if the one handed out since is kept up to
    date by whoever moves it."""
    ahead = _ahead.get()
    return None if ahead is None else ahead.changes


@contextlib.contextmanager
def packages_locked_ahead(package_ids: Iterable[int]) -> Iterator[None]:
    """Inside a transaction, outside the savepoints of its units of work (a rolled-back
    savepoint would release the locks): lock and read these packages in one query (in
    id order: two batches that lock in that order never wait for each other), for a
    batch of work about them (a container of messages). Within the block,
    ``package_lock`` hands each one out the first time it is asked for, as read then
    (or again after ``packages_changed``); asked for again (a second message about it),
    it reads it again, since the first one's work may have changed it, or been rolled
    back. A package not found is read again when asked for: a unit may have made it."""
    ids = sorted(set(package_ids))
    found = _packages_locked(ids).order_by("id") if ids else ()
    token = _ahead.set(_Ahead({package.id: package for package in found}))
    try:
        yield
    finally:
        _ahead.reset(token)


@dataclass
class _TrucksAhead:
    """Trucks read and locked ahead (``trucks_locked_ahead``), each with how many times
    packages had been changed when it was read (``packages_changes``)."""

    trucks: dict[int, tuple[int | None, Truck]]


_trucks_ahead: ContextVar[_TrucksAhead | None] = ContextVar("trucks_locked_ahead", default=None)


@contextlib.contextmanager
def trucks_locked_ahead(truck_ids: Iterable[int]) -> Iterator[None]:
    """Inside ``packages_locked_ahead`` (outside the units' savepoints): lock and read
    these trucks in one query, in id order, for a container of loads onto them.
    ``truck_for_load`` hands each one out, as read or as the last load onto it left it
    (a load writes its truck only through the object it was handed: its deadline, its
    departure), until packages are written otherwise (``packages_changed``: a message
    that may write trucks too, a unit rolled back), when it is read again."""
    ids = sorted(set(truck_ids))
    found = Truck.objects.select_for_update().filter(id__in=ids).order_by("id") if ids else ()
    changes = packages_changes()
    token = _trucks_ahead.set(_TrucksAhead({truck.id: (changes, truck) for truck in found}))
    try:
        yield
    finally:
        _trucks_ahead.reset(token)


def truck_for_load(truck_id: int) -> Truck | None:
    """The truck a package is loaded onto, locked until the transaction ends."""
    ahead = _trucks_ahead.get()
    known = ahead.trucks.get(truck_id) if ahead is not None else None
    changes = packages_changes()
    if ahead is not None and known is not None and known[0] == changes:
        return known[1]
    truck = Truck.objects.select_for_update().filter(id=truck_id).first()
    if ahead is not None and truck is not None:
        ahead.trucks[truck_id] = (changes, truck)
    return truck


# The moments the owner hears of by email: (template, ref prefix).
OWNER_EMAILS = {
    PackageEventKind.OUT_FOR_DELIVERY: ("shipments/email/out_for_delivery", "pkg-out"),
    PackageEventKind.DELIVERED: ("shipments/email/delivered", "pkg-delivered"),
}


def move(
    package: Package,
    kind: PackageEventKind,
    x: int | None = None,
    y: int | None = None,
    note: str = "",
    *,
    now: datetime,
) -> bool:
    """``package_lifecycle.package_move``, and the owner's email for the moments they
    hear of."""
    if not package_move(package, kind, x, y, note, now=now):
        return False
    _tell_owner(package, kind, x, y)
    return True


def moves(
    packages: Iterable[Package],
    kind: PackageEventKind,
    x: int | None = None,
    y: int | None = None,
    note: str = "",
    *,
    now: datetime,
) -> list[Package]:
    """``move`` for packages that make one move together, saved together
    (``package_lifecycle.package_moves``). Returns those moved."""
    moved = package_moves(packages, kind, x, y, note, now=now)
    for package in moved:
        _tell_owner(package, kind, x, y)
    return moved


def _tell_owner(package: Package, kind: PackageEventKind, x: int | None, y: int | None) -> None:
    if kind in OWNER_EMAILS and package.account is not None:
        template, ref = OWNER_EMAILS[kind]
        user = package.account.user
        queue_email(
            to=user.email,
            template=template,
            context={"package": package, "user": user, "x": x, "y": y},
            ref=f"{ref}:{package.id}",
        )


def fail(package: Package, reason: str, origin_seqnum: int | None = None, *, now: datetime) -> bool:
    """Give the package up; tell Amazon unless it was Amazon that gave it up
    (``origin_seqnum`` None): an Error is never answered with an Error."""
    if MACHINE.outcome(package.status, PackageEventKind.FAILED, package) is Outcome.STALE:
        return False
    package.failure = reason[:300]
    move(package, PackageEventKind.FAILED, note=reason, now=now)
    if origin_seqnum is not None:
        shipper.package_failed(origin_seqnum, reason, package.id)
    logger.warning("package %d failed: %s", package.id, reason)
    return True


# Where trucks delivered while a run of deliveries is handled (``truck_positions_noted``),
# each truck's latest, to be written once.
_positions: ContextVar[dict[int, tuple[int, int]] | None] = ContextVar(
    "truck_positions", default=None
)


def _truck_seen_at(truck_id: int, x: int, y: int) -> None:
    noted = _positions.get()
    if noted is None:
        Truck.objects.filter(id=truck_id).update(x=x, y=y)
    else:
        noted[truck_id] = (x, y)


def truck_positions_write() -> None:
    """Write the positions noted so far: before anything reads or moves a truck."""
    noted = _positions.get()
    if noted:
        for truck_id, (x, y) in noted.items():
            Truck.objects.filter(id=truck_id).update(x=x, y=y)
        noted.clear()


@contextlib.contextmanager
def truck_positions_noted() -> Iterator[None]:
    """Within: where a delivery puts its truck is noted, and written by
    ``truck_positions_write`` (and at the end), once per truck however many of its
    deliveries came: a container of the world's reports brings a truck's deliveries
    together, and nothing in handling a delivery reads where a truck is."""
    token = _positions.set({})
    try:
        yield
        truck_positions_write()
    finally:
        _positions.reset(token)


@contextlib.contextmanager
def truck_positions_of_one_unit() -> Iterator[None]:
    """A unit of work (a sub-message) whose positions noted go if it is rolled back."""
    noted = _positions.get()
    before = dict(noted) if noted else {}
    try:
        yield
    except BaseException:
        if noted is not None:
            noted.clear()
            noted.update(before)
        raise


# The packages a run of deliveries moved, whose saves wait (``package_saves_noted``), by
# id; None outside one.
_saves: ContextVar[dict[int, Package] | None] = ContextVar("package_saves", default=None)
# The packages whose saves were written in the unit under way (``package_saves_of_one_unit``).
_saves_written: ContextVar[list[Package] | None] = ContextVar("saves_written", default=None)


@contextlib.contextmanager
def moves_noted(package: Package) -> Iterator[None]:
    """``moves_saved_together``, whose save, inside ``package_saves_noted``, waits to be
    written with the other deliveries' (``package_saves_write``)."""
    noted = _saves.get()
    with saves_held_to_end(package, None if noted is None else _note(noted)):
        yield


def _note(noted: dict[int, Package]) -> Callable[[Package], None]:
    def note(package: Package) -> None:
        noted[package.id] = package

    return note


def saves_noted() -> list[Package]:
    """The packages whose moves are noted and not written yet (``moves_noted``), as they
    are now: what a read of the database says of them is out of date."""
    noted = _saves.get()
    return list(noted.values()) if noted else []


def package_saves_write(ids: Iterable[int] | None = None) -> None:
    """Write the saves noted so far (only those of packages ``ids``, if given), alike ones
    in one UPDATE (``save_together``): before anything reads packages but through
    ``package_lock``, which writes the one it is asked for first."""
    noted = _saves.get()
    if not noted:
        return
    keys = list(noted) if ids is None else [i for i in ids if i in noted]
    if not keys:
        return
    rows = [noted.pop(key) for key in keys]
    Package.save_together(rows)
    written = _saves_written.get()
    if written is not None:
        written.extend(rows)


@contextlib.contextmanager
def package_saves_noted() -> Iterator[None]:
    """Within: the moves of a delivery or a load (``moves_noted``) are saved by
    ``package_saves_write`` (and at the end), a run of them in one UPDATE, not one each:
    a container brings many together, and handling one reads no package but its own
    (through ``package_lock``) and, for a load, those its truck was given, which take
    the moves noted into account (``saves_noted``)."""
    token = _saves.set({})
    try:
        yield
        package_saves_write()
    finally:
        _saves.reset(token)


@contextlib.contextmanager
def package_saves_of_one_unit() -> Iterator[None]:
    """A unit of work (a sub-message) whose saves noted go if it is rolled back, and
    whose writes of others' saves are undone with it: those are owed again (in full: what
    the package took for the database's was rolled back too)."""
    noted = _saves.get()
    if noted is None:
        yield
        return
    before = dict(noted)
    written: list[Package] = []
    token = _saves_written.set(written)
    try:
        yield
    except BaseException:
        for row in written:
            row.forget_saved()
        noted.clear()
        noted.update(before)
        raise
    finally:
        _saves_written.reset(token)


def delivered_at_destination(package: Package, truck_id: int, *, now: datetime) -> None:
    """The world delivered ``package`` where it last accepted its destination (dest_x, y)."""
    _truck_seen_at(truck_id, package.dest_x, package.dest_y)
    if move(
        package,
        PackageEventKind.DELIVERED,
        package.dest_x,
        package.dest_y,
        note=f"by truck {truck_id}",
        now=now,
    ):
        shipper.delivered(package.id, package.dest_x, package.dest_y)


# -- the events of a batch of work --------------------------------------------------------


@contextlib.contextmanager
def events_written_together() -> Iterator[None]:
    """Within (a transaction): the packages' events and the trucks' are written at the
    end, one statement each (``package_lifecycle.EVENTS``, ``truck_lifecycle.EVENTS``):
    nothing the daemon does reads them, they are for the pages."""
    with PACKAGE_EVENTS.batch(), TRUCK_EVENTS.batch():
        yield


@contextlib.contextmanager
def events_of_one_unit() -> Iterator[None]:
    """A unit of work rolled back alone (a savepoint) takes its events with it."""
    with PACKAGE_EVENTS.unit(), TRUCK_EVENTS.unit():
        yield
