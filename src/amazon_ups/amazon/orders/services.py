"""Every change of an order happens here, for the web and the fulfilment daemon alike.

Every status moves through ``lifecycle.order_move``, by the table there: messages
from the world and from UPS come in any order and any number of times, so news the
table calls stale is a no-op rather than an error, and ``failed`` is final except
that a delivery still wins over it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from amazon_ups.amazon.carrier import services as carrier
from amazon_ups.amazon.catalog import selectors as catalog_selectors
from amazon_ups.amazon.catalog.models import Product
from amazon_ups.amazon.orders import selectors
from amazon_ups.amazon.orders.lifecycle import (
    MACHINE,
    IllegalOrderMove,
    events_of_one_unit,
    events_written_together,
    moves_saved_together,
    moves_written_together,
    order_created,
    order_move,
)
from amazon_ups.amazon.orders.lifecycle import OrderEventKind as Kind
from amazon_ups.amazon.orders.models import Order, OrderLine
from amazon_ups.common.daemon.wakeup import channel_of, notify
from amazon_ups.common.mail.services import queue_email
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.statemachine import Outcome
from amazon_ups.protocol.limits import INT32_MAX, INT32_MIN, INT64_MAX

MAX_COUNT = 1000  # per product and order: a typo, not a shopper, orders more
WAKEUP_CHANNEL = channel_of("amazon")  # the fulfilment daemon's (runner.Daemon name)

Status = Order.Status


# -- placing -------------------------------------------------------------------------


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be a whole number.", code="invalid")
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}.", code="out_of_range")
    return value


def place_order(
    *,
    user,
    items: Mapping[int, int],
    dest_x: int,
    dest_y: int,
    ups_account: int | None = None,
    token: str | None = None,
    products: Mapping[int, Product] | None = None,
    token_looked_up: bool = False,
) -> Order:
    """Store a new order (lines and first event included) and wake the daemon.

    Never talks to the world or to UPS: the daemon takes it from here. With a
    ``token`` already used by this user, returns that order instead of a second one.
    ``products``: the ordered products, where the caller has just read them (the Buy
    form's page did); else they are read here. ``token_looked_up``: the caller's
    transaction looked the token up already (``order_of_token``) and found no order.
    """
    if token is not None and not 0 < len(token) <= 64:
        raise ValidationError("This form is damaged. Reload the page.")
    # A form's second post (a double click, a retry) gets the first one's order. In a
    # transaction of its own, its insert finds the token taken (a unique index) and the
    # order is read after the rollback: no read before every order for the rare second
    # post. In a caller's (checkout's) nothing can be read after a failed insert: the
    # token is looked up first.
    in_caller_transaction = transaction.get_connection().in_atomic_block
    if (
        token
        and in_caller_transaction
        and not token_looked_up
        and (existing := order_of_token(user, token))
    ):
        return existing
    try:
        products = _checked(items, dest_x, dest_y, ups_account, products)
    except ValidationError:
        # The first post may have been fine then (a product taken off sale since).
        if token and not in_caller_transaction and (existing := order_of_token(user, token)):
            return existing
        raise

    # The writes commit together: in a transaction of their own, or in the caller's
    # (checkout's) without a savepoint, whose two statements would buy nothing there: a
    # failure fails the caller's transaction too. A refusal above wrote nothing.
    try:
        with transaction.atomic(savepoint=False):
            return _store_order(user, items, products, dest_x, dest_y, ups_account, token)
    except IntegrityError:
        # The token is taken (by an earlier post, or one that committed since the
        # look-up above): the transaction is rolled back, and that order is the answer.
        # In a caller's transaction nothing can be read any more: checkout's posts queue
        # on the cart's lock, so one there is a mistake, raised.
        if not token or in_caller_transaction:
            raise
        existing = order_of_token(user, token)
        if existing is None:
            raise
        return existing


def order_of_token(user, token: str) -> Order | None:
    """The order a form's earlier post placed; refused (``ValidationError``) if another
    user's."""
    existing = selectors.order_get_by_token(token)
    if existing is not None and existing.user_id != user.pk:
        raise ValidationError("This form was already used. Reload the page.")
    return existing


def _checked(
    items: Mapping[int, int],
    dest_x: int,
    dest_y: int,
    ups_account: int | None,
    products: Mapping[int, Product] | None,
) -> Mapping[int, Product]:
    """Refuses an order that cannot be placed; returns its products (read if not given)."""
    _check_int("x", dest_x, INT32_MIN, INT32_MAX)
    _check_int("y", dest_y, INT32_MIN, INT32_MAX)
    if ups_account is not None:
        _check_int("The UPS account", ups_account, 1, INT64_MAX)
    if not items:
        raise ValidationError("An order needs at least one product.")
    for count in items.values():
        _check_int("The quantity", count, 1, MAX_COUNT)
    if products is None or not set(items) <= set(products):
        products = catalog_selectors.products_by_id(items)
    if missing := sorted(set(items) - set(products)):
        raise ValidationError(f"No such product: {', '.join(map(str, missing))}.")
    if off_sale := sorted(p.name for p in products.values() if not p.listed):
        raise ValidationError(
            f"No longer sold: {', '.join(off_sale)}. Take it out of your cart to go ahead."
        )
    return products


def _store_order(
    user,
    items: Mapping[int, int],
    products: Mapping[int, Product],
    dest_x: int,
    dest_y: int,
    ups_account: int | None,
    token: str | None,
) -> Order:
    order = Order.objects.create(
        user=user,
        dest_x=dest_x,
        dest_y=dest_y,
        ups_account=ups_account,
        token=token or uuid.uuid4().hex,
    )
    lines = OrderLine.objects.bulk_create(
        # The price is copied: what this order costs never changes with the catalog.
        OrderLine(order=order, product_id=product_id, count=count, price=products[product_id].price)
        for product_id, count in sorted(items.items())
    )
    order_created(order)
    if ups_account is not None:
        # The order does not wait for the answer (protocol 5.8): UPS links the
        # package if it knows the account, and the order page tells which it was.
        carrier.account_check(ups_account)
    for line in lines:
        line.product = products[line.product_id]
    queue_email(
        to=user.email,
        template="orders/email/placed",
        # The total from the lines in hand (order.total would read them again).
        context={
            "order": order,
            "lines": lines,
            "user": user,
            "total": sum((line.total for line in lines), Decimal("0.00")),
        },
        ref=f"order-placed:{order.id}",
    )
    transaction.on_commit(lambda: notify(WAKEUP_CHANNEL))
    return order


# -- a batch of the daemon's work ----------------------------------------------------------


@contextlib.contextmanager
def batch(
    order_ids: Iterable[int], delivered: Iterable[int] = (), tracking_numbers: Iterable[str] = ()
) -> Iterator[None]:
    """Inside a transaction, for a batch of work about these orders (a container of
    messages, a turn's new orders), each unit of which runs in ``unit()`` in a savepoint
    of its own: the orders are read and locked in one query
    (``selectors.orders_locked_ahead``), with the lines of those ``delivered`` (their
    emails list them) in one more, and the holders of ``tracking_numbers`` (to be
    recorded) in one more; and their events written in one statement at the end
    (``lifecycle.events_written_together``), and the messages they send in one more
    (``messaging.sent_together``: nothing the daemon does reads back a message it sent
    in the same batch); the orders' moves, alike ones in one UPDATE, at the end too
    while no unit may be rolled back alone (``lifecycle.moves_written_together``)."""
    with (
        selectors.orders_locked_ahead(
            order_ids, with_lines=delivered, tracking_numbers=tracking_numbers
        ),
        events_written_together(),
        messaging.sent_together(),
        moves_written_together(),
    ):
        yield


@contextlib.contextmanager
def unit() -> Iterator[None]:
    """A unit of a ``batch`` that may be rolled back alone (a savepoint): if it raises,
    its events and messages are dropped and the orders it locked are read again when
    next asked for; else the next units have them as it left them
    (``selectors.orders_of_one_unit``)."""
    with events_of_one_unit(), messaging.sent_of_one_unit(), selectors.orders_of_one_unit():
        yield


# One UPDATE for an order's moves that come in pairs (taken in and packing, ...).
saved_together = moves_saved_together


# -- the pipeline ------------------------------------------------------------------------
#
# Each function below is one event of the order's life (``lifecycle.MACHINE``); it
# returns False when the event is stale news, which changes nothing.


def note(order: Order, kind: Kind, text: str = "") -> bool:
    """An event that does not change the status (the warehouse chosen, waiting for stock)."""
    return order_move(order, kind, text)


def take_in(order: Order, *, warehouse_id: int, world_id: int, note: str = "") -> None:
    """The daemon has chosen where the package ships from, in which world."""
    order.warehouse_id = warehouse_id
    order.world_id = world_id
    order_move(order, Kind.TAKEN_IN, note)


def start_packing(order: Order) -> bool:
    return order_move(order, Kind.PACKING, f"packing at warehouse {order.warehouse_id}")


def mark_packed(order: Order) -> bool:
    return order_move(order, Kind.PACKED)


def record_truck(order: Order, *, truck_id: int, seqnum: int) -> bool:
    """UPS says a truck waits at the warehouse; only the latest such message counts."""
    if order.truck_seqnum is not None and seqnum <= order.truck_seqnum:
        return False
    if MACHINE.outcome(order.status, Kind.TRUCK_ARRIVED, order) is Outcome.STALE:
        return False  # it is on its truck already: that truck is the fact
    order.truck_id = truck_id
    order.truck_seqnum = seqnum
    return order_move(
        order, Kind.TRUCK_ARRIVED, f"truck {truck_id} at warehouse {order.warehouse_id}"
    )


def can_load(order: Order) -> bool:
    """Packed, a truck is there, and no load is under way (a refused one waits for a
    newer truck, whose arrival clears the way by recording it)."""
    if order.truck_id is None or order.loading_truck_id is not None:
        return False
    return MACHINE.allows(order.status, Kind.LOADING)


def start_loading(order: Order) -> int:
    """Put the package on the truck of the latest TruckArrived; returns that truck."""
    if not can_load(order):
        raise IllegalOrderMove("order", order, order.status, Kind.LOADING)
    truck_id = order.truck_id
    assert truck_id is not None  # can_load: a truck is there
    order.loading_truck_id = truck_id
    order_move(order, Kind.LOADING, f"loading onto truck {truck_id}")
    return truck_id


def load_refused(order: Order, reason: str) -> int | None:
    """The world would not load: back to packed, waiting for UPS to announce a truck
    again. Returns the truck that was refused, or None if this is not news."""
    truck_id = order.loading_truck_id
    if truck_id is None or not MACHINE.allows(order.status, Kind.LOAD_REFUSED):
        return None
    if order.truck_id == truck_id:
        # Forget that truck: only a newer TruckArrived may start the next try. (One
        # that came during the load has replaced it already, and may go at once.)
        order.truck_id = None
    order.loading_truck_id = None
    order_move(
        order, Kind.LOAD_REFUSED, f"the world refused the load onto truck {truck_id}: {reason}"
    )
    return truck_id


def mark_loaded(order: Order) -> int | None:
    """The world loaded the package; returns the truck it is on, or None if this is
    not news (then UPS has been told already)."""
    truck_id = order.loading_truck_id
    if truck_id is None or MACHINE.outcome(order.status, Kind.LOADED, order) is Outcome.STALE:
        return None
    order.truck_id = truck_id
    order.loading_truck_id = None
    order_move(order, Kind.LOADED, f"loaded on truck {truck_id}")
    return truck_id


def mark_delivering(order: Order, *, truck_id: int) -> bool:
    return order_move(order, Kind.OUT_FOR_DELIVERY, f"out for delivery on truck {truck_id}")


def mark_delivered(order: Order, *, x: int, y: int) -> bool:
    if MACHINE.outcome(order.status, Kind.DELIVERED, order) is Outcome.STALE:
        return False
    # Where it was delivered wins over any destination we knew (protocol 5.6).
    order.dest_x, order.dest_y = x, y
    order_move(order, Kind.DELIVERED, f"delivered at ({x}, {y})")
    selectors.order_lines_read([order])  # unless read ahead with its batch
    queue_email(
        to=order.user.email,
        template="orders/email/delivered",
        context={
            "order": order,
            "lines": list(order.lines.all()),
            "tracking_url": selectors.tracking_url(order),
        },
        ref=f"order-delivered:{order.id}",
    )
    return True


def change_destination(order: Order, *, x: int, y: int, seqnum: int) -> bool:
    if order.destination_seqnum is not None and seqnum <= order.destination_seqnum:
        return False
    if MACHINE.outcome(order.status, Kind.DESTINATION_CHANGED, order) is Outcome.STALE:
        return False
    order.dest_x, order.dest_y = x, y
    order.destination_seqnum = seqnum
    return order_move(order, Kind.DESTINATION_CHANGED, f"destination changed to ({x}, {y})")


def record_tracking_number(order: Order, number: str) -> bool:
    """UPS's tracking number for the package (protocol 5.12), in whatever state the
    order is: it may come after the delivery. Returns False when it was known
    already; a different one than known is the caller's to refuse."""
    if order.tracking_number == number:
        return False
    if order.tracking_number:
        raise ValueError(f"order {order.id} has tracking number {order.tracking_number}")
    order.tracking_number = number
    order.save(update_fields=["tracking_number", "updated_at"])
    return True


def fail(order: Order, reason: str) -> bool:
    if MACHINE.outcome(order.status, Kind.FAILED, order) is Outcome.STALE:
        return False
    order.failure = reason
    return order_move(order, Kind.FAILED, reason)
