"""The fulfilment daemon's periodic work: taking new orders in, and finding what waits
far longer than it should.

A turn's new orders are taken in in one transaction, each in a savepoint of its own
(``each_item_together``); a stuck order is looked at in a transaction of its own
(``each_item``). Either way a defect in one sets that order aside for an operator (it
stays where it was, shown on ``/operator/``) and the others go on
(``common.daemon.isolation``).
"""

from __future__ import annotations

import datetime
import logging

from amazon_ups.amazon.fulfilment import selectors, services
from amazon_ups.amazon.orders import selectors as orders_selectors
from amazon_ups.amazon.orders import services as orders_services
from amazon_ups.amazon.orders.lifecycle import WAITING_FOR, OrderEventKind, OrderStatus
from amazon_ups.common.daemon.isolation import each_item, each_item_together, set_aside_refs
from amazon_ups.common.messaging import services as messaging
from amazon_ups.protocol import world_amazon_pb2 as wa

logger = logging.getLogger(__name__)

INTAKE_BATCH = 100  # orders taken in per loop turn, so replies are not held up for long

# States in which the world knows the package: asking it what it is doing is harmless.
KNOWN_TO_THE_WORLD = (
    OrderStatus.PACKING,
    OrderStatus.PACKED,
    OrderStatus.LOADING,
    OrderStatus.LOADED,
    OrderStatus.DELIVERING,
)


def _order_ref(order_id: int) -> str:
    return f"order:{order_id}"  # intake and stuck checks set an order aside by this


def intake() -> int:
    """Take in the orders placed since the last turn, oldest first, in one transaction
    (one commit for the batch); returns how many."""
    # Most looks find no order waiting (a message came, not an order): one read says so.
    # The orders set aside are read only when some wait, and the waiting read again only
    # when some of those were set aside (they must not fill every batch).
    order_ids = orders_selectors.orders_awaiting_intake(INTAKE_BATCH)
    if not order_ids:
        return 0
    refs = set_aside_refs()
    set_aside = {int(ref[6:]) for ref in refs if ref.startswith("order:")}
    if not set_aside.isdisjoint(order_ids):
        order_ids = orders_selectors.orders_awaiting_intake(INTAKE_BATCH, excluding=set_aside)
        if not order_ids:
            return 0
    world_id = selectors.world_for_orders()
    if world_id is None:
        return 0
    intake = services.Intake(world_id, order_ids)
    return each_item_together(
        "taking an order in",
        order_ids,
        ref=_order_ref,
        action=intake.take_in,
        around=intake.batch,
        skipped=refs,  # as read above: one read a turn, not two
    )


def order_stuck(order_id: int, now: datetime.datetime) -> None:
    """Log the order once, record it in its history, and re-drive it where that is
    safe: load it if it can be loaded, and ask the world what it knows of it."""
    order = orders_selectors.order_lock(order_id)
    assert order is not None  # just listed as stuck
    waited = (now - order.status_changed_at).total_seconds()
    what = WAITING_FOR.get(order.status, "")
    logger.warning(
        "order %d has been %s for %.0f s, waiting for %s", order.id, order.status, waited, what
    )
    with orders_services.saved_together(order):
        orders_services.note(
            order, OrderEventKind.STUCK, f"{order.status} for {waited:.0f} s: longer than usual"
        )
        if orders_services.can_load(order):
            services.load(order)
    world_id = order.world_id
    if order.status in KNOWN_TO_THE_WORLD and world_id is not None:
        messaging.send(
            services.world_peer(world_id),
            "queries",
            wa.AQuery(packageid=order.id),
            ref=_order_ref(order.id),
        )


def stuck_find(now: datetime.datetime) -> int:
    """Orders newly stuck (``orders_selectors.orders_newly_stuck``); returns how many."""
    return each_item(
        "stuck order",
        orders_selectors.orders_newly_stuck(now),
        ref=_order_ref,
        action=lambda order_id: order_stuck(order_id, now),
    )
