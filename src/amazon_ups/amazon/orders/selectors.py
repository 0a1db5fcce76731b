"""Reads of orders."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet, Sum
from django.utils import timezone

from amazon_ups.amazon.orders.lifecycle import (
    MACHINE,
    NOT_FINAL,
    PIPELINE,
    WAITING_FOR,
    OrderEventKind,
)
from amazon_ups.amazon.orders.models import Order, OrderEvent, OrderLine

FINAL = tuple(MACHINE.final)


def order_list_for(user) -> QuerySet[Order]:
    return Order.objects.filter(user=user).order_by("-id").prefetch_related("lines__product")


def order_get_for(user, order_id: int) -> Order | None:
    """The user's order; None for anyone else's, so it cannot be told from a missing one."""
    return (
        Order.objects.filter(user=user, id=order_id)
        .select_related("warehouse")
        .prefetch_related("lines__product")
        .first()
    )


def order_get_by_token(token: str) -> Order | None:
    return Order.objects.filter(token=token).first()


def order_by_tracking_number(number: str) -> Order | None:
    return Order.objects.filter(tracking_number=number).first() if number else None


def tracking_url(order: Order) -> str | None:
    """The carrier's page for the order's package (settings.UPS_TRACKING_URL, with
    ``{number}`` in it), or None while UPS has given no number or no page is set."""
    if not order.tracking_number or "{number}" not in settings.UPS_TRACKING_URL:
        return None
    return settings.UPS_TRACKING_URL.replace("{number}", quote(order.tracking_number, safe=""))


def order_events(order: Order) -> list[OrderEvent]:
    return list(order.events.order_by("at", "id"))


def order_lock(order_id: int) -> Order | None:
    """The order, locked until the transaction ends (a no-op lock on SQLite, whose
    writers queue for the whole database anyway)."""
    return Order.objects.select_for_update().filter(id=order_id).first()


def order_needs(order: Order) -> dict[int, int]:
    """Product id -> count."""
    return dict(order.lines.values_list("product_id", "count"))


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
        .annotate(total=Sum("count"))
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


def order_steps(order: Order, events: list[OrderEvent]) -> list[Step]:
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
