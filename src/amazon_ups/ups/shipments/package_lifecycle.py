"""A package's life at UPS: its states, the events that move it, and the one function
that does.

``package_move`` is the only writer of ``Package.status``; ``docs/architecture.md``
draws the diagram from ``MACHINE``. Messages from Amazon and from the world come late,
repeated and out of order: per event kind, the table says in which states it is stale
news (nothing changes); anything else it does not allow is ``IllegalPackageMove``.
The ways back to *created* (a truck left without it, its pickup or its load was
refused, its truck went elsewhere) are our own decisions, each with its own event.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from django.db import models

from amazon_ups.common.statemachine import (
    EventsWrittenTogether,
    IllegalTransition,
    Machine,
    Move,
    saves_held_to_end,
)


class PackageStatus(models.TextChoices):
    CREATED = "created", "Label created"
    TRUCK_DISPATCHED = "truck dispatched", "Truck on its way to the warehouse"
    TRUCK_AT_WAREHOUSE = "truck at warehouse", "Truck at the warehouse"
    LOADED = "loaded", "Loaded on the truck"
    OUT_FOR_DELIVERY = "out for delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Cannot be delivered"


class PackageEventKind(models.TextChoices):
    CREATED = "created"
    TRUCK_DISPATCHED = "truck dispatched"
    TRUCK_AT_WAREHOUSE = "truck at warehouse"
    LOADED = "loaded"
    OUT_FOR_DELIVERY = "out for delivery"
    DELIVERED = "delivered"
    FAILED = "failed"
    # Back to the queue for another truck.
    PICKUP_REFUSED = "pickup refused"
    LEFT_BEHIND = "truck left without it"
    LOAD_REFUSED = "load refused"
    TRUCK_REASSIGNED = "truck went elsewhere"
    # Recorded only.
    REDIRECTED = "redirected"
    REDIRECT_CONFIRMED = "redirect confirmed"
    REDIRECT_TOO_LATE = "redirect too late"
    REDIRECT_FAILED = "redirect failed"
    DELIVERY_REFUSED = "delivery refused"
    DELIVERY_RESENT = "delivery sent again"
    STUCK = "stuck", "waiting far longer than usual"


S = PackageStatus
K = PackageEventKind
AWAITING_TRUCK = (S.CREATED, S.TRUCK_DISPATCHED, S.TRUCK_AT_WAREHOUSE)
NOT_FINAL = (*AWAITING_TRUCK, S.LOADED, S.OUT_FOR_DELIVERY)
# Packages that still need their truck at the warehouse.
AWAITING_LOAD = (S.TRUCK_DISPATCHED, S.TRUCK_AT_WAREHOUSE)
# On a truck, not delivered yet.
CARRIED = (S.LOADED, S.OUT_FOR_DELIVERY)

MACHINE = Machine(
    name="package",
    states=tuple(S.values),
    initial=S.CREATED,
    final=frozenset({S.DELIVERED, S.FAILED}),
    moves={
        K.TRUCK_DISPATCHED: Move.of([S.CREATED], S.TRUCK_DISPATCHED),
        K.TRUCK_AT_WAREHOUSE: Move.of([S.CREATED, S.TRUCK_DISPATCHED], S.TRUCK_AT_WAREHOUSE),
        # The world's load is the fact, whatever we had planned: even a package we had
        # given up is on the truck now, and gets delivered.
        K.LOADED: Move.of(
            [*AWAITING_TRUCK, S.FAILED], S.LOADED, stale=[S.LOADED, S.OUT_FOR_DELIVERY, S.DELIVERED]
        ),
        K.OUT_FOR_DELIVERY: Move.of(
            [S.LOADED], S.OUT_FOR_DELIVERY, stale=[S.OUT_FOR_DELIVERY, S.DELIVERED, S.FAILED]
        ),
        K.DELIVERED: Move.of([*NOT_FINAL, S.FAILED], S.DELIVERED, stale=[S.DELIVERED]),
        K.FAILED: Move.of(NOT_FINAL, S.FAILED, stale=[S.DELIVERED, S.FAILED]),
        K.PICKUP_REFUSED: Move.of([S.TRUCK_DISPATCHED], S.CREATED),
        K.LEFT_BEHIND: Move.of(AWAITING_LOAD, S.CREATED),
        K.LOAD_REFUSED: Move.of(AWAITING_LOAD, S.CREATED),
        K.TRUCK_REASSIGNED: Move.of(AWAITING_LOAD, S.CREATED),
        K.REDIRECTED: Move.of(NOT_FINAL, None),
        # A redirect sent to the truck: the world took the new place, or it lost the race,
        # or the world refused it.
        K.REDIRECT_CONFIRMED: Move.of(CARRIED, None),
        K.REDIRECT_TOO_LATE: Move.of([*CARRIED, S.DELIVERED], None),
        K.REDIRECT_FAILED: Move.of([*CARRIED, S.DELIVERED], None),
        K.DELIVERY_REFUSED: Move.of(CARRIED, None, stale=[S.DELIVERED]),
        K.DELIVERY_RESENT: Move.of(CARRIED, None),
        K.STUCK: Move.of(NOT_FINAL, None, stale=[S.DELIVERED, S.FAILED]),
    },
)


class IllegalPackageMove(IllegalTransition):
    pass


# The events of a batch of work (a container of received messages), written together.
EVENTS = EventsWrittenTogether("package events")


def package_move(
    package,
    kind: PackageEventKind,
    x: int | None = None,
    y: int | None = None,
    note: str = "",
    *,
    now: datetime,
) -> bool:
    """Make event ``kind`` happen to ``package`` at ``now``: set its status from the
    table, save it, and record the event (with where it happened, when known). False,
    and nothing changes, when the table calls it stale news."""
    if not MACHINE.apply(package, kind, IllegalPackageMove, now=now):
        return False
    EVENTS.add(package.events.model(package=package, kind=kind, x=x, y=y, note=note[:300], at=now))
    return True


def package_moves(
    packages,
    kind: PackageEventKind,
    x: int | None = None,
    y: int | None = None,
    note: str = "",
    *,
    now: datetime,
) -> list:
    """``package_move`` for packages that make one move together (a truckload given a
    truck, or sent out, at once): each moves and records its event as alone, and those
    moved are saved together (``SavesWhatChanged.save_together``: one UPDATE for them
    all when their changes are alike), not one UPDATE each. Returns those moved; to the
    others it was stale news."""
    moved = []
    for package in packages:
        held, package.saves_held = package.saves_held, True
        try:
            if package_move(package, kind, x, y, note, now=now):
                moved.append(package)
        finally:
            package.saves_held = held
    owed = [package for package in moved if not package.saves_held]  # else an outer block's
    if owed:
        type(owed[0]).save_together(owed)
    return moved


def moves_saved_together(package) -> contextlib.AbstractContextManager[None]:
    """The moves of ``package`` in the block written in one UPDATE at its end, not one
    each: some come in pairs (out for delivery, then delivered, when the world's ack of
    the command and its delivery come together)."""
    return saves_held_to_end(package)


def package_created(package, x: int | None = None, y: int | None = None, *, now: datetime) -> None:
    """The first event of a new package (the machine's initial state), at ``now``."""
    EVENTS.add(package.events.model(package=package, kind=K.CREATED, x=x, y=y, at=now))
