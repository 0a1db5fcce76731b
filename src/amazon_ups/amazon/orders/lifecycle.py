"""An order's life: its states, the events that move it, and the one function that does.

The table is the whole truth: ``order_move`` is the only writer of ``Order.status``
(services and the fulfilment daemon call it), and ``docs/architecture.md`` draws the
diagram from it. Messages from the world and from UPS arrive late, repeated and out of
order; for each event kind the table says in which states it is such stale news, which
changes nothing, and everything else it does not allow is ``IllegalOrderMove``.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import models, transaction
from django.utils import timezone

from amazon_ups.common.statemachine import (
    EventsWrittenTogether,
    IllegalTransition,
    Machine,
    Move,
    saves_held_to_end,
)


class OrderStatus(models.TextChoices):
    PLACED = "placed"
    PACKING = "packing"
    PACKED = "packed"
    LOADING = "loading"
    LOADED = "loaded"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"


class OrderEventKind(models.TextChoices):
    PLACED = "placed", "order placed"
    TAKEN_IN = "taken in", "warehouse chosen"
    WAITING_FOR_STOCK = "waiting for stock"
    PACKING = "packing"
    PACKED = "packed"
    TRUCK_ARRIVED = "truck arrived", "truck at the warehouse"
    LOADING = "loading"
    LOAD_REFUSED = "load refused", "the world refused the load"
    LOADED = "loaded"
    OUT_FOR_DELIVERY = "out for delivery"
    DELIVERED = "delivered"
    DESTINATION_CHANGED = "destination changed"
    FAILED = "failed"
    STUCK = "stuck", "waiting far longer than usual"
    WORLD_STATUS = "world status", "what the world says of it"


S = OrderStatus
K = OrderEventKind
NOT_FINAL = (S.PLACED, S.PACKING, S.PACKED, S.LOADING, S.LOADED, S.DELIVERING)
ON_A_TRUCK = (S.LOADED, S.DELIVERING, S.DELIVERED)
# The steps the shopper sees, in order (failed stands beside them).
PIPELINE = (S.PLACED, S.PACKING, S.PACKED, S.LOADING, S.LOADED, S.DELIVERING, S.DELIVERED)

# What an order in each waiting state waits for, in an operator's words (keyed by
# status, which a model's field holds as a plain str).
WAITING_FOR: dict[str, str] = {
    S.PLACED: "stock, or the daemon to take it in",
    S.PACKING: "the world to pack it",
    S.PACKED: "UPS to announce a truck at the warehouse",
    S.LOADING: "the world to load it",
    S.LOADED: "UPS to send the truck out",
    S.DELIVERING: "UPS to report the delivery",
}

MACHINE = Machine(
    name="order",
    states=tuple(S.values),
    initial=S.PLACED,
    final=frozenset({S.DELIVERED, S.FAILED}),
    moves={
        # Recorded only: the daemon chose the warehouse, or waits for stock there.
        K.TAKEN_IN: Move.of([S.PLACED], None),
        K.WAITING_FOR_STOCK: Move.of([S.PLACED], None),
        K.PACKING: Move.of([S.PLACED], S.PACKING),
        K.PACKED: Move.of(
            [S.PACKING], S.PACKED, stale=[*ON_A_TRUCK, S.PACKED, S.LOADING, S.FAILED]
        ),
        # UPS's truck is a condition of loading, not a state of the order.
        K.TRUCK_ARRIVED: Move.of(
            [S.PLACED, S.PACKING, S.PACKED, S.LOADING], None, stale=[*ON_A_TRUCK, S.FAILED]
        ),
        K.LOADING: Move.of([S.PACKED], S.LOADING),
        # The way back: the truck was gone; the package waits, packed, for the next one.
        K.LOAD_REFUSED: Move.of([S.LOADING], S.PACKED),
        K.LOADED: Move.of([S.LOADING], S.LOADED, stale=[*ON_A_TRUCK, S.FAILED]),
        # UPS's news may overtake the world's (protocol 3.5): a skip moves straight on.
        K.OUT_FOR_DELIVERY: Move.of(
            [S.PLACED, S.PACKING, S.PACKED, S.LOADING, S.LOADED],
            S.DELIVERING,
            stale=[S.DELIVERING, S.DELIVERED, S.FAILED],
        ),
        # The world's fact beats our bookkeeping: a delivery wins even over a failure.
        K.DELIVERED: Move.of([*NOT_FINAL, S.FAILED], S.DELIVERED, stale=[S.DELIVERED]),
        K.DESTINATION_CHANGED: Move.of([*NOT_FINAL, S.FAILED], None, stale=[S.DELIVERED]),
        K.FAILED: Move.of(NOT_FINAL, S.FAILED, stale=[S.DELIVERED, S.FAILED]),
        K.STUCK: Move.of(NOT_FINAL, None, stale=[S.DELIVERED, S.FAILED]),
        K.WORLD_STATUS: Move.of(NOT_FINAL, None, stale=[S.DELIVERED, S.FAILED]),
    },
)


class IllegalOrderMove(IllegalTransition):
    pass


# The events of a batch of work (a container, a turn's new orders), written together.
EVENTS = EventsWrittenTogether("order events")
events_written_together = EVENTS.batch
events_of_one_unit = EVENTS.unit


def order_move(order, kind: OrderEventKind, note: str = "") -> bool:
    """Make event ``kind`` happen to ``order``: set its status from the table, save it,
    and record the event. False (and nothing changes) when it is stale news."""
    # Amazon's services do not pass the time down yet: an order moves on the wall clock,
    # read once for a batch whose moves are written together (same moment, same UPDATE).
    held = _held.get()
    now = held.now if held is not None else timezone.now()
    if not MACHINE.apply(order, kind, IllegalOrderMove, now=now):
        return False
    EVENTS.add(order.events.model(order=order, kind=kind, status=order.status, note=note[:300]))
    return True


def moves_saved_together(order) -> contextlib.AbstractContextManager[None]:
    """The moves of ``order`` in the block written in one UPDATE at its end, not one
    each: ``Machine.apply`` saves at every move, and some events come in pairs (taken in,
    then packing; a truck recorded, then loading)."""
    return saves_held_to_end(order)


@dataclass
class _Held:
    now: datetime.datetime
    savepoints: int  # open when the batch began
    orders: list = field(default_factory=list)


# The batch under way whose orders' saves are held to its end (``moves_written_together``).
_held: contextvars.ContextVar[_Held | None] = contextvars.ContextVar(
    "order_moves_written_together", default=None
)


@contextlib.contextmanager
def moves_written_together() -> Iterator[None]:
    """Inside a transaction, for a batch of work (a container, a turn's new orders): the
    orders handed to it (``held_to_batch_end``) are saved at its end, those whose
    changes are alike (the same columns to the same values: packed, out for delivery,
    taken in at one warehouse) in one UPDATE, not one each. Its moves are dated alike,
    when it began.

    Only while its units cannot be rolled back alone: a defect then rolls the whole
    batch back (its first pass, ``isolation.receive_all``/``each_item_together``). A
    unit in a savepoint of its own (the pass after a defect) saves as it goes, as
    outside a batch: were an order's changes of one unit held, a later unit that
    failed with it would drop them. Nothing in a batch reads an order's columns back
    from the database but by its id (``selectors.order_lock`` hands out the copy held):
    a listing that does (orders waiting for stock, a tracking number's holder) may see
    it as it was before the batch, and what that gets wrong raises (an illegal move, a
    number held twice), so the batch runs again, unit by unit, saving as it goes."""
    held = _Held(timezone.now(), len(transaction.get_connection().savepoint_ids))
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        for order in held.orders:
            order.saves_held = False
    _write_together(held)


def held_to_batch_end(order) -> None:
    """Hold ``order``'s saves to the end of the batch under way, if any, unless the unit
    of work at hand may be rolled back alone (it runs in a savepoint the batch did not
    begin in)."""
    held = _held.get()
    if held is None or order.saves_held:
        return
    if len(transaction.get_connection().savepoint_ids) > held.savepoints:
        return
    order.saves_held = True
    held.orders.append(order)


def _write_together(held: _Held) -> None:
    owed = [order for order in held.orders if order.save_owed]
    if owed:
        # Those that changed the same columns in one UPDATE.
        type(owed[0]).save_together(owed)


def order_created(order, note: str = "") -> None:
    """The first event of a new order (the machine's initial state)."""
    order.events.create(kind=K.PLACED, status=order.status, note=note[:300])
