"""Reads of orders."""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Prefetch, QuerySet, Sum, prefetch_related_objects
from django.urls import reverse
from django.utils import timezone

from amazon_ups.amazon.catalog.models import image_url
from amazon_ups.amazon.orders.lifecycle import (
    MACHINE,
    NOT_FINAL,
    PIPELINE,
    WAITING_FOR,
    OrderEventKind,
    held_to_batch_end,
)
from amazon_ups.amazon.orders.models import Order, OrderEvent, OrderLine
from amazon_ups.common import dwell, links
from amazon_ups.common.queries import one_or_none

FINAL = tuple(MACHINE.final)


def order_list_for(user) -> QuerySet[Order]:
    return Order.objects.filter(user=user).order_by("-id").prefetch_related("lines__product")


@dataclass(frozen=True)
class OrderShown:
    """An order as its page and status.json show it: the columns shown, read as values
    (no model object: nothing is saved from these pages), with its warehouse's name."""

    id: int
    status: str
    dest_x: int
    dest_y: int
    ups_account: int | None
    warehouse_id: int | None
    failure: str
    tracking_number: str
    warehouse_name: str | None

    @property
    def waiting_for_stock(self) -> bool:
        """As ``Order.waiting_for_stock``."""
        return self.status == Order.Status.PLACED and self.warehouse_id is not None

    @property
    def status_label(self) -> str:
        """As ``Order.get_status_display()``."""
        return _STATUS_LABELS.get(self.status, self.status)


_STATUS_LABELS: dict[str, str] = dict(Order.Status.choices)


# The columns of an order its page and status.json show, in OrderShown's order after its id.
_SHOWN = (
    "status",
    "dest_x",
    "dest_y",
    "ups_account",
    "warehouse_id",
    "failure",
    "tracking_number",
    "warehouse__name",
)


@dataclass(frozen=True)
class LineShown:
    """One line of an order as its page shows it."""

    product_id: int
    name: str
    image_url: str
    count: int
    price: Decimal

    @property
    def total(self) -> Decimal:
        return self.price * self.count


def order_get_for(user, order_id: int) -> OrderShown | None:
    """The user's order as its status.json shows it; None for anyone else's, so it cannot
    be told from a missing one. Only the columns shown are read, as values: Django builds
    and converts every column read anew on each call, and a model object costs more."""
    rows = list(_orders_shown().filter(id=order_id, user_id=user.pk))
    return OrderShown(order_id, *rows[0]) if rows else None


# The order page's reads, each built once per process and cloned per request (by the
# filter each use adds: never read itself, lest it keep its rows): Django resolves a
# values list (its columns and joins) anew each time one is built. Building and
# compiling the page's two reads: 0.55 -> 0.33 ms, the same SQL.
@functools.cache
def _orders_shown() -> QuerySet:
    return Order.objects.values_list(*_SHOWN)


@functools.cache
def _lines_shown() -> QuerySet:
    return OrderLine.objects.values_list(
        *(f"order__{name}" for name in _SHOWN),
        "product_id",
        "product__name",
        "product__image_file",
        "count",
        "price",
    )


@functools.cache
def _events_shown() -> QuerySet:
    return OrderEvent.objects.order_by("at", "id").values_list("kind", "status", "at", "note")


def order_with_lines_for(user, order_id: int) -> tuple[OrderShown, list[LineShown]] | None:
    """The user's order and its lines (with their products' names and pictures) as its
    page shows them, in one query: the lines joined with their order, which each row
    repeats (a line or two, mostly). None for anyone else's order. An order has one
    line at least (``services.place_order``); one without any is read alone, one query
    more."""
    rows = list(_lines_shown().filter(order_id=order_id, order__user_id=user.pk))
    if not rows:
        order = order_get_for(user, order_id)
        return None if order is None else (order, [])
    width = len(_SHOWN)
    lines = [
        LineShown(product_id, name, image_url(product_id, image_file), count, price)
        for product_id, name, image_file, count, price in (row[width:] for row in rows)
    ]
    # In the order they were written (by product id): no ORDER BY to build.
    lines.sort(key=lambda line: line.product_id)
    return OrderShown(order_id, *rows[0][:width]), lines


def lines_total(lines: Iterable[LineShown]) -> Decimal:
    """What the order costs, from its lines' own prices (as ``Order.total``)."""
    return sum((line.total for line in lines), Decimal("0.00"))


def order_get_by_token(token: str) -> Order | None:
    return one_or_none(Order.objects.filter(token=token))


def order_by_tracking_number(number: str) -> Order | None:
    return Order.objects.filter(tracking_number=number).first() if number else None


# Tracking numbers' holders read ahead by ``orders_locked_ahead``, each handed out once.
_holders_ahead: contextvars.ContextVar[dict[str, int | None] | None] = contextvars.ContextVar(
    "tracking_numbers_read_ahead", default=None
)


def tracking_number_holder(number: str) -> int | None:
    """The id of the order with tracking number ``number``, if any. Read ahead, a
    number's holder is handed out once: only the one who asks may then record the
    number (``services.record_tracking_number``), so any later ask reads it again."""
    ahead = _holders_ahead.get()
    if ahead is not None and number in ahead:
        return ahead.pop(number)
    order = order_by_tracking_number(number)
    return order.id if order is not None else None


def tracking_url(order: Order | OrderShown) -> str | None:
    """The carrier's page for the order's package, or None while UPS has given no number."""
    if not order.tracking_number:
        return None
    return links.carrier_tracking_page(order.tracking_number)


@dataclass(frozen=True)
class EventShown:
    """One event of an order's history as its page and status.json show it."""

    kind: str
    status: str
    at: datetime.datetime
    note: str

    @property
    def what(self) -> str:
        """What happened, in the shopper's words (as ``OrderEvent.what``)."""
        return self.note or _KIND_LABELS.get(self.kind, self.kind)


_KIND_LABELS: dict[str, str] = dict(OrderEventKind.choices)


def order_events(order: OrderShown) -> list[EventShown]:
    """The order's history, oldest first, in one query of the columns shown."""
    return [EventShown(*row) for row in _events_shown().filter(order_id=order.id)]


# Orders read and locked ahead by ``orders_locked_ahead``, each to be handed out once.
_ahead: contextvars.ContextVar[dict[int, Order] | None] = contextvars.ContextVar(
    "orders_locked_ahead", default=None
)


# The orders the unit of work under way has locked (``orders_of_one_unit``).
_of_unit: contextvars.ContextVar[list[Order] | None] = contextvars.ContextVar(
    "orders_of_one_unit", default=None
)


def order_lock(order_id: int) -> Order | None:
    """The order, locked until the transaction ends (a no-op lock on SQLite, whose
    writers queue for the whole database anyway). In a batch whose moves are written at
    its end, its saves are held to then (``lifecycle.held_to_batch_end``)."""
    ahead = _ahead.get()
    order = ahead.pop(order_id, None) if ahead is not None else None
    if order is None:
        # No ORDER BY and no LIMIT to build: the id is the primary key.
        found = list(Order.objects.select_for_update().filter(id=order_id))
        order = found[0] if found else None
    if order is not None:
        if (of_unit := _of_unit.get()) is not None:
            of_unit.append(order)
        held_to_batch_end(order)
    return order


@contextlib.contextmanager
def orders_locked_ahead(
    order_ids: Iterable[int], with_lines: Iterable[int] = (), tracking_numbers: Iterable[str] = ()
) -> Iterator[None]:
    """Inside a transaction: lock and read these orders in one query (in id order), with
    their users (not locked) if any is ``with_lines``, for a batch of work about them (a
    container of messages, a turn's new orders); and the lines of those ``with_lines``
    (delivered: their emails list them and greet their users) in one more
    (``order_lines_read``), and which orders hold ``tracking_numbers`` in one more
    (``tracking_number_holder``). Within the block, ``order_lock`` hands each one out the
    first time it is asked for, as read then. Asked for again (a second message about
    it), it is handed out as the unit of work that had it left it, if that unit ran in
    ``orders_of_one_unit`` and ended without raising; else it is read again, since that
    unit may have been rolled back."""
    ids = sorted(set(order_ids))
    with_lines = sorted(set(with_lines))
    locked = Order.objects.select_for_update(of=("self",)).filter(id__in=ids).order_by("id")
    if with_lines:  # the delivered ones' emails greet their users
        locked = locked.select_related("user")
    ahead = {order.id: order for order in (locked if ids else ())}
    order_lines_read([ahead[i] for i in with_lines if i in ahead])
    numbers = sorted({number for number in tracking_numbers if number})
    holders: dict[str, int | None] = dict.fromkeys(numbers)
    if numbers:
        holders.update(
            Order.objects.filter(tracking_number__in=numbers).values_list("tracking_number", "id")
        )
    token = _ahead.set(ahead)
    holders_token = _holders_ahead.set(holders)
    try:
        yield
    finally:
        _holders_ahead.reset(holders_token)
        _ahead.reset(token)


@contextlib.contextmanager
def orders_of_one_unit() -> Iterator[None]:
    """A unit of work of a batch (``orders_locked_ahead``) that may be rolled back alone
    (a savepoint: one message, one order): the orders it locks are handed out again to
    the batch's next units as it leaves them once it ends without raising, not read
    again; if it raises, they are dropped (and read again when asked for)."""
    ahead = _ahead.get()
    if ahead is None:
        yield
        return
    outer = _of_unit.get()
    locked: list[Order] = []
    token = _of_unit.set(locked)
    try:
        yield
    finally:
        _of_unit.reset(token)
    if outer is not None:  # a unit within a unit: the outer one may still fail
        outer.extend(locked)
        return
    for order in locked:
        ahead[order.id] = order


def order_lines_read(orders: Iterable[Order]) -> None:
    """Read the lines (with their products) of those of ``orders`` whose lines are not
    read yet, in one query; ``order.lines.all()`` hands them out then."""
    prefetch_related_objects(
        list(orders), Prefetch("lines", queryset=OrderLine.objects.select_related("product"))
    )


def order_needs(order: Order) -> dict[int, int]:
    """Product id -> count."""
    return dict(order.lines.values_list("product_id", "count"))


def orders_needs(order_ids: Iterable[int]) -> dict[int, dict[int, int]]:
    """``order_needs`` of each of these orders, in one query (an order's lines never
    change once it is placed)."""
    needs: dict[int, dict[int, int]] = {}
    lines = OrderLine.objects.filter(order_id__in=list(order_ids)).values_list(
        "order_id", "product_id", "count"
    )
    for order_id, product_id, count in lines:
        needs.setdefault(order_id, {})[product_id] = count
    return needs


def _stuck(now: datetime.datetime) -> QuerySet[Order]:
    """Orders in one waiting state for longer than STUCK_AFTER."""
    return Order.objects.filter(status__in=NOT_FINAL, status_changed_at__lt=stuck_before(now))


def orders_newly_stuck(now: datetime.datetime) -> list[int]:
    """Stuck orders not reported since they entered their state."""
    reported = OrderEvent.objects.filter(
        order=OuterRef("pk"), kind=OrderEventKind.STUCK, at__gte=OuterRef("status_changed_at")
    )
    return list(_stuck(now).exclude(Exists(reported)).order_by("id").values_list("id", flat=True))


def orders_stuck_count() -> int:
    return _stuck(timezone.now()).count()


def stuck_for_operators(limit: int = 50) -> dict:
    """For ``/operator/`` (settings.OPERATOR_STUCK): stuck orders, the longest waiting first."""
    now = timezone.now()
    return {
        "count": orders_stuck_count(),
        "items": [
            {
                "what": f"order {order.id}",
                "status": order.status,
                "waiting_for": WAITING_FOR.get(order.status, ""),
                "waiting_seconds": round((now - order.status_changed_at).total_seconds(), 1),
            }
            for order in _stuck(now).order_by("status_changed_at")[:limit]
        ],
    }


def stuck_before(now: datetime.datetime) -> datetime.datetime:
    return now - datetime.timedelta(seconds=settings.STUCK_AFTER)


def orders_awaiting_intake(limit: int, excluding: Iterable[int] = ()) -> list[int]:
    """Placed orders the fulfilment daemon has not taken in yet, oldest first, but for
    ``excluding`` (orders set aside for an operator, which must not fill every batch)."""
    return list(
        Order.objects.filter(status=Order.Status.PLACED, warehouse__isnull=True)
        .exclude(id__in=list(excluding))
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


def orders_waiting_for_stock(warehouse_id: int) -> list[int]:
    return list(
        Order.objects.filter(status=Order.Status.PLACED, warehouse_id=warehouse_id)
        .order_by("id")
        .values_list("id", flat=True)
    )


def waiting_demand(product_ids: Iterable[int]) -> dict[tuple[int, int], int]:
    """(warehouse id, product id) -> units that orders waiting for stock there still need."""
    rows = (
        OrderLine.objects.filter(
            order__status=Order.Status.PLACED,
            order__warehouse__isnull=False,
            product_id__in=list(product_ids),
        )
        .values_list("order__warehouse_id", "product_id")
        # The plugin sees this name clash with OrderLine.total, a property Django
        # lets an annotation shadow.
        .annotate(total=Sum("count"))  # type: ignore[no-redef]
    )
    demand: dict[tuple[int, int], int] = defaultdict(int)
    for warehouse_id, product_id, total in rows:
        demand[warehouse_id, product_id] += total
    return dict(demand)


def orders_in_flight_outside(world_id: int) -> list[int]:
    """Orders taken in by another world that have not reached a final state."""
    return list(
        Order.objects.filter(world_id__isnull=False)
        .exclude(world_id=world_id)
        .exclude(status__in=FINAL)
        .values_list("id", flat=True)
    )


@dataclass(frozen=True)
class Step:
    status: str
    reached: bool
    at: datetime.datetime | None  # None: not reached, or passed with no event of its own

    @property
    def label(self) -> str:
        return Order.Status(self.status).label


def order_steps(order: OrderShown, events: list[EventShown]) -> list[Step]:
    """The pipeline with the time each step was reached, then the failure if any.

    A step counts as reached when a later one is (UPS may report a delivery before
    the departure); it has a time only if an event of its own says when."""
    first_at: dict[str, datetime.datetime] = {}
    for event in events:
        first_at.setdefault(event.status, event.at)
    if order.status == Order.Status.FAILED:
        steps = [Step(status, status in first_at, first_at.get(status)) for status in PIPELINE]
        return [*steps, Step(Order.Status.FAILED, True, first_at.get(Order.Status.FAILED))]
    rank = PIPELINE.index(Order.Status(order.status))
    return [
        Step(status, index <= rank, first_at.get(status) if index <= rank else None)
        for index, status in enumerate(PIPELINE)
    ]


# -- the operators' dashboard -----------------------------------------------------------

# "Usual" is learnt from the histories of this many newest orders.
RECENT_FOR_USUAL = 500


def counts_for_operators() -> list[dict]:
    """Orders by state (settings.OPERATOR_COUNTS: the dashboard's counts, and metrics)."""
    return [
        {"what": "orders", "states": dwell.counts_by_state(Order.objects, Order.Status.choices)}
    ]


def dashboard_for_operators(limit: int = 50) -> dict:
    """For ``/operator/`` (settings.OPERATOR_DASHBOARD): orders by state, and those in a
    waiting state much longer than usual (``common.dwell``), the longest first."""
    now = timezone.now()
    recent = list(Order.objects.order_by("-id").values_list("id", flat=True)[:RECENT_FOR_USUAL])
    histories: dict[int, list] = defaultdict(list)
    events = OrderEvent.objects.filter(order_id__in=recent).order_by("order_id", "at", "id")
    for order_id, at, status in events.values_list("order_id", "at", "status"):
        histories[order_id].append((at, status))
    usual = dwell.limits(histories.values(), NOT_FINAL)
    slow = Order.objects.filter(dwell.slower_than_usual(usual, now))
    items = [
        dwell.slow_row(
            order,
            f"order {order.id}",
            reverse("admin:orders_order_change", args=[order.id]),
            WAITING_FOR.get(order.status, ""),
            usual,
            now,
        )
        for order in slow.order_by("status_changed_at")[:limit]
    ]
    return {
        "counts": counts_for_operators(),
        "usual": usual,
        "slow": {"count": slow.count(), "items": items},
    }


# -- the seller's sales -----------------------------------------------------------------


@dataclass(frozen=True)
class ProductSales:
    product_id: int
    name: str
    units: int
    revenue: Decimal
    orders: int


def seller_sales_totals(seller) -> list[ProductSales]:
    """Per product of the seller's: units sold, what they came to (at the prices of
    their orders), in how many orders; the best seller first."""
    rows = (
        OrderLine.objects.filter(product__seller=seller)
        .values("product_id", "product__name")
        .annotate(
            units=Sum("count"),
            revenue=Sum(F("count") * F("price"), output_field=models.DecimalField()),
            orders=models.Count("order", distinct=True),
        )
        .order_by("-units", "product__name", "product_id")
    )
    return [
        ProductSales(
            product_id=row["product_id"],
            name=row["product__name"],
            units=row["units"],
            revenue=Decimal(row["revenue"] or 0).quantize(Decimal("0.01")),
            orders=row["orders"],
        )
        for row in rows
    ]


def seller_sales(seller) -> QuerySet[OrderLine]:
    """Order lines of the seller's products, newest order first. The buyer's address
    and account are not the seller's business: only the order's id, date and status."""
    return (
        OrderLine.objects.filter(product__seller=seller)
        .select_related("order", "product")
        .only("count", "price", "product__name", "order__id", "order__created_at", "order__status")
        .order_by("-order__created_at", "-order__id", "product__name")
    )
