"""Every change of an order happens here, for the web and the fulfilment daemon alike.

Statuses only move forward: messages from the world and from UPS come in any
order and any number of times, so a step already passed is a no-op rather than
an error. ``failed`` is final too, except that a delivery still wins over it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from amazon_ups.amazon.catalog import selectors as catalog_selectors
from amazon_ups.amazon.orders import selectors
from amazon_ups.amazon.orders.models import Order, OrderEvent, OrderLine
from amazon_ups.common.daemon.wakeup import notify
from amazon_ups.common.mail.services import queue_email
from amazon_ups.protocol.limits import INT32_MAX, INT32_MIN, INT64_MAX

MAX_COUNT = 1000  # per product and order: a typo, not a shopper, orders more
WAKEUP_CHANNEL = "amazon_ups_amazon"  # the fulfilment daemon's (runner.Daemon name "amazon")

Status = Order.Status
PIPELINE = selectors.PIPELINE
RANK = {status: rank for rank, status in enumerate(PIPELINE)}


# -- placing -------------------------------------------------------------------------


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be a whole number.", code="invalid")
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}.", code="out_of_range")
    return value


@transaction.atomic
def place_order(
    *,
    user,
    items: Mapping[int, int],
    dest_x: int,
    dest_y: int,
    ups_account: int | None = None,
    token: str | None = None,
) -> Order:
    """Store a new order (lines and first event included) and wake the daemon.

    Never talks to the world or to UPS: the daemon takes it from here. With a
    ``token`` already used by this user, returns that order instead of a second one.
    """
    if token is not None:
        if not 0 < len(token) <= 64:
            raise ValidationError("This form is damaged. Reload the page.")
        existing = selectors.order_get_by_token(token)
        if existing is not None:
            if existing.user_id != user.pk:
                raise ValidationError("This form was already used. Reload the page.")
            return existing
    _check_int("x", dest_x, INT32_MIN, INT32_MAX)
    _check_int("y", dest_y, INT32_MIN, INT32_MAX)
    if ups_account is not None:
        _check_int("The UPS account", ups_account, 1, INT64_MAX)
    if not items:
        raise ValidationError("An order needs at least one product.")
    for count in items.values():
        _check_int("The quantity", count, 1, MAX_COUNT)
    products = catalog_selectors.products_by_id(items)
    if missing := sorted(set(items) - set(products)):
        raise ValidationError(f"No such product: {', '.join(map(str, missing))}.")

    try:
        # A savepoint: a concurrent double submit loses the race on the unique token
        # without spoiling the surrounding transaction.
        with transaction.atomic():
            order = Order.objects.create(
                user=user,
                dest_x=dest_x,
                dest_y=dest_y,
                ups_account=ups_account,
                token=token or uuid.uuid4().hex,
            )
    except IntegrityError:
        existing = selectors.order_get_by_token(token) if token else None
        if existing is None or existing.user_id != user.pk:
            raise
        return existing
    lines = OrderLine.objects.bulk_create(
        OrderLine(order=order, product_id=product_id, count=count)
        for product_id, count in sorted(items.items())
    )
    _event(order, "order placed")
    if ups_account is not None:
        # Imported here: fulfilment builds on orders, not the other way round.
        from amazon_ups.amazon.fulfilment import services as fulfilment_services

        # The order does not wait for the answer (protocol 5.8): UPS links the
        # package if it knows the account, and the order page tells which it was.
        fulfilment_services.check_ups_account(ups_account)
    for line in lines:
        line.product = products[line.product_id]
    queue_email(
        to=user.email,
        template="orders/email/placed",
        context={"order": order, "lines": lines, "user": user},
        ref=f"order-placed:{order.id}",
    )
    transaction.on_commit(lambda: notify(WAKEUP_CHANNEL))
    return order


# -- the pipeline ------------------------------------------------------------------------


def _event(order: Order, note: str = "") -> None:
    OrderEvent.objects.create(order=order, status=order.status, note=note[:300])


def note(order: Order, text: str) -> None:
    """A step that does not change the status (waiting for stock, a truck, ...)."""
    _event(order, text)


def advance(order: Order, status: str, note: str = "") -> bool:
    """Move ``order`` forward to ``status``; False (and nothing changes) if it is not ahead."""
    status = Status(status)
    if order.status == Status.DELIVERED:
        return False
    if order.status == Status.FAILED and status != Status.DELIVERED:
        return False
    if order.status != Status.FAILED and RANK[status] <= RANK[Status(order.status)]:
        return False
    order.status = status
    order.save()
    _event(order, note)
    return True


def take_in(order: Order, *, warehouse_id: int, world_id: int, note: str = "") -> None:
    """The daemon has chosen where the package ships from, in which world."""
    order.warehouse_id = warehouse_id
    order.world_id = world_id
    order.save()
    _event(order, note)


def start_packing(order: Order) -> bool:
    return advance(order, Status.PACKING, f"packing at warehouse {order.warehouse_id}")


def mark_packed(order: Order) -> bool:
    return advance(order, Status.PACKED, "packed")


def record_truck(order: Order, *, truck_id: int, seqnum: int) -> bool:
    """UPS says a truck waits at the warehouse; only the latest such message counts."""
    if order.truck_seqnum is not None and seqnum <= order.truck_seqnum:
        return False
    if order.status == Status.FAILED or RANK[Status(order.status)] >= RANK[Status.LOADED]:
        return False  # it is on its truck already: that truck is the fact
    order.truck_id = truck_id
    order.truck_seqnum = seqnum
    order.save()
    _event(order, f"truck {truck_id} is at warehouse {order.warehouse_id}")
    return True


def can_load(order: Order) -> bool:
    """Packed, a truck is there, and no load is under way (a refused one waits for a
    newer truck, whose arrival clears the way by recording it)."""
    if order.truck_id is None or order.loading_truck_id is not None:
        return False
    return order.status in (Status.PACKED, Status.LOADING)


def start_loading(order: Order) -> int:
    """Put the package on the truck of the latest TruckArrived; returns that truck."""
    assert can_load(order), order
    order.loading_truck_id = order.truck_id
    if not advance(order, Status.LOADING, f"loading onto truck {order.truck_id}"):
        order.save()
        _event(order, f"loading onto truck {order.truck_id}, again")
    return order.loading_truck_id


def load_refused(order: Order, reason: str) -> None:
    """The world would not load: wait for UPS to announce a truck again."""
    if order.truck_id == order.loading_truck_id:
        # Forget that truck: only a newer TruckArrived may start the next try. (One
        # that came during the load has replaced it already, and may go at once.)
        order.truck_id = None
    order.loading_truck_id = None
    order.save()
    _event(order, f"the world refused the load ({reason}); waiting for a truck")


def mark_loaded(order: Order) -> int | None:
    """The world loaded the package; returns the truck it is on, or None if this is
    not news (then UPS has been told already)."""
    if order.status == Status.FAILED or RANK[Status(order.status)] >= RANK[Status.LOADED]:
        return None
    truck_id = order.loading_truck_id if order.loading_truck_id is not None else order.truck_id
    if truck_id is None:
        return None
    order.truck_id = truck_id
    order.loading_truck_id = None
    advance(order, Status.LOADED, f"on truck {truck_id}")
    return truck_id


def mark_delivering(order: Order, *, truck_id: int) -> bool:
    return advance(order, Status.DELIVERING, f"out for delivery on truck {truck_id}")


def mark_delivered(order: Order, *, x: int, y: int) -> bool:
    if order.status == Status.DELIVERED:
        return False
    # Where it was delivered wins over any destination we knew (protocol 5.6).
    order.dest_x, order.dest_y = x, y
    if not advance(order, Status.DELIVERED, f"delivered at ({x}, {y})"):
        return False
    queue_email(
        to=order.user.email,
        template="orders/email/delivered",
        context={"order": order, "lines": list(order.lines.select_related("product"))},
        ref=f"order-delivered:{order.id}",
    )
    return True


def change_destination(order: Order, *, x: int, y: int, seqnum: int) -> bool:
    if order.status == Status.DELIVERED:
        return False
    if order.destination_seqnum is not None and seqnum <= order.destination_seqnum:
        return False
    order.dest_x, order.dest_y = x, y
    order.destination_seqnum = seqnum
    order.save()
    _event(order, f"destination changed to ({x}, {y})")
    return True


def fail(order: Order, reason: str) -> bool:
    if order.status in (Status.DELIVERED, Status.FAILED):
        return False
    order.status = Status.FAILED
    order.failure = reason
    order.save()
    _event(order, reason)
    return True
