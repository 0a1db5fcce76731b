"""A truck's life as UPS knows it: what we believe it is doing, the events that change
that belief, and the one function that records them.

Our commands move the belief at once (a pickup: *traveling*; a delivery:
*delivering*); the world's reports move it when they fit what we expect (an arrival at
the warehouse we sent it to, *idle* after its deliveries). A report that does not fit
is not applied: the truck is queried, and the world's answer (``REPORTED``) sets any
state. Reports are ordered by the world's seqnum, so an older one never moves a truck
back (``truck_report_is_new``).
"""

from __future__ import annotations

from datetime import datetime

from django.db import models

from amazon_ups.common.statemachine import (
    AS_REPORTED,
    EventsWrittenTogether,
    IllegalTransition,
    Machine,
    Move,
)


class TruckStatus(models.TextChoices):
    # The world's own words, lower-cased (it sends them upper-case).
    IDLE = "idle", "Idle"
    TRAVELING = "traveling", "Traveling to a warehouse"
    ARRIVE_WAREHOUSE = "arrive warehouse", "At a warehouse"
    LOADING = "loading", "Loading"
    DELIVERING = "delivering", "Delivering"


class TruckEventKind(models.TextChoices):
    BROUGHT = "brought", "brought into the world"
    SENT_TO_WAREHOUSE = "sent to warehouse"
    SENT_TO_DELIVER = "sent to deliver"
    ARRIVED = "arrived", "arrived at the warehouse"
    FINISHED = "finished", "finished its deliveries"
    REPORTED = "reported", "the world's answer to a query"
    PICKUP_REFUSED = "pickup refused"
    DELIVERY_REFUSED = "delivery refused"
    UNEXPECTED_REPORT = "unexpected report", "a report that does not fit: queried"
    STUCK = "stuck", "in one state far longer than usual"


S = TruckStatus
K = TruckEventKind
ALL = tuple(S.values)
# Standing at a warehouse, where Amazon can load it.
AT_WAREHOUSE = (S.ARRIVE_WAREHOUSE, S.LOADING)

MACHINE = Machine(
    name="truck",
    states=ALL,
    initial=S.IDLE,
    final=frozenset(),
    moves={
        # Into a (new) world, at its start place.
        K.BROUGHT: Move.of(ALL, S.IDLE),
        # The world refuses a pickup for a truck that is traveling or loading.
        K.SENT_TO_WAREHOUSE: Move.of([S.IDLE, S.ARRIVE_WAREHOUSE, S.DELIVERING], S.TRAVELING),
        # A delivering truck takes more stops; the world refuses a traveling one.
        K.SENT_TO_DELIVER: Move.of([S.IDLE, *AT_WAREHOUSE, S.DELIVERING], S.DELIVERING),
        K.ARRIVED: Move.of([S.TRAVELING], S.ARRIVE_WAREHOUSE),
        K.FINISHED: Move.of([S.DELIVERING], S.IDLE),
        K.REPORTED: Move.of(ALL, AS_REPORTED),
        K.PICKUP_REFUSED: Move.of([S.TRAVELING], None),
        K.DELIVERY_REFUSED: Move.of(ALL, None),
        K.UNEXPECTED_REPORT: Move.of(ALL, None),
        K.STUCK: Move.of(ALL, None),
    },
)


class IllegalTruckMove(IllegalTransition):
    pass


# A batch of work's truck events, written in one statement at its end, as its packages'
# (``package_lifecycle.EVENTS``; where one is batched, so is the other): nothing the
# daemon does reads them (they are for the pages).
EVENTS = EventsWrittenTogether("truck events")


def truck_move(
    truck,
    kind: TruckEventKind,
    *,
    reported: str | None = None,
    world_seqnum: int | None = None,
    note: str = "",
    now: datetime,
) -> None:
    """Make event ``kind`` happen to ``truck`` at ``now`` (``reported``: the status the
    world gave, for ``REPORTED``), save it, and record the event with the world's
    seqnum of the report behind it, if any."""
    if world_seqnum is not None:
        truck.report_seqnum = world_seqnum
    MACHINE.apply(truck, kind, IllegalTruckMove, reported, now=now)  # never stale
    EVENTS.add(
        truck.events.model(
            truck=truck,
            at=now,
            kind=kind,
            status=truck.status,
            x=truck.x,
            y=truck.y,
            world_seqnum=world_seqnum,
            note=note[:300],
        )
    )


def truck_report_is_new(truck, world_seqnum: int) -> bool:
    """Whether a report with this world seqnum is newer than the last one applied (the
    world numbers its results in the order it makes them)."""
    return truck.report_seqnum is None or world_seqnum > truck.report_seqnum
