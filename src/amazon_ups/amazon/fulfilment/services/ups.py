"""What UPS tells the store (au.proto, ``UpsToAmazon``), acted on; a message that cannot
be taken is refused through the gateway (``carrier.refuse``)."""

from __future__ import annotations

import logging

from django.conf import settings

from amazon_ups.amazon.carrier import services as carrier
from amazon_ups.amazon.fulfilment import selectors
from amazon_ups.amazon.fulfilment.services.world import (
    fail_order,
    load,
    move_to_world,
    order_of_ref,
)
from amazon_ups.amazon.orders import selectors as orders_selectors
from amazon_ups.amazon.orders import services as orders_services
from amazon_ups.amazon.orders.models import Order
from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.common.messaging import services as messaging
from amazon_ups.protocol import au_pb2 as au

logger = logging.getLogger(__name__)

MAX_TRACKING_NUMBER = 64  # characters (protocol 5.12)
Status = Order.Status


# -- from UPS --------------------------------------------------------------------------------


def _known_package(message) -> Order | None:
    """The order behind ``message.package_id``, or None after refusing the message: a
    package is known to UPS's messages once we asked for its pickup."""
    order = orders_selectors.order_lock(message.package_id)
    if order is None or order.warehouse_id is None:
        carrier.refuse(
            message.seqnum, f"package {message.package_id} is unknown", message.package_id
        )
        return None
    return order


def world_created(message: au.WorldCreated) -> int | None:
    """UPS tells us its world; returns the world id if we must move to it."""
    if selectors.amazon_creates_world():
        carrier.refuse(
            message.seqnum,
            f"Amazon creates the world here (WORLD_CREATOR=amazon); "
            f"not moving to world {message.world_id}",
        )
        return None
    latest = selectors.latest_world_seqnum()
    if latest is not None and message.seqnum <= latest:
        return None
    messaging.put_setting(selectors.WORLD_SEQNUM, message.seqnum)
    if settings.WORLD_ID is not None:
        if message.world_id != settings.WORLD_ID:
            logger.warning(
                "UPS uses world %d, but WORLD_ID=%d is configured: staying",
                message.world_id,
                settings.WORLD_ID,
            )
        return None
    if selectors.stored_world_id() == message.world_id:
        return None
    move_to_world(message.world_id)
    logger.info("UPS says the world is %d", message.world_id)
    return message.world_id


def truck_arrived(message: au.TruckArrived) -> None:
    order = _known_package(message)
    if order is None:
        return
    if message.warehouse_id != order.warehouse_id:
        carrier.refuse(
            message.seqnum,
            f"package {order.id} ships from warehouse {order.warehouse_id}, "
            f"not {message.warehouse_id}",
            order.id,
        )
        return
    if order.status == Status.FAILED:
        carrier.refuse(
            message.seqnum, f"package {order.id} was given up: {order.failure}", order.id
        )
        return
    with orders_services.saved_together(order):
        orders_services.record_truck(order, truck_id=message.truck_id, seqnum=message.seqnum)
        if orders_services.can_load(order):
            load(order)


def _tracking_number_problem(number: str) -> str | None:
    printable = all(" " <= c <= "~" for c in number)
    # Spaces group it for reading; at its ends or doubled they would make two texts
    # of one number.
    if not 0 < len(number) <= MAX_TRACKING_NUMBER or not printable:
        return f"up to {MAX_TRACKING_NUMBER} printable ASCII characters"
    if number != number.strip() or "  " in number:
        return "spaced by single spaces between other characters only"
    return None


def package_registered(message: au.PackageRegistered) -> None:
    """UPS accepted the package and gave it this tracking number (protocol 5.12). A copy
    changes nothing; a second, different number is refused and the first stays."""
    order = _known_package(message)
    if order is None:
        return
    number = message.tracking_number
    if problem := _tracking_number_problem(number):
        carrier.refuse(message.seqnum, f"a tracking number is {problem}", order.id)
        return
    if order.tracking_number and order.tracking_number != number:
        carrier.refuse(
            message.seqnum,
            f"package {order.id} has tracking number {order.tracking_number} already",
            order.id,
        )
        return
    holder = orders_selectors.tracking_number_holder(number)
    if holder is not None and holder != order.id:
        carrier.refuse(
            message.seqnum,
            f"tracking number {number} is package {holder}'s, not {order.id}'s",
            order.id,
        )
        return
    orders_services.record_tracking_number(order, number)


def out_for_delivery(message: au.OutForDelivery) -> None:
    if order := _known_package(message):
        orders_services.mark_delivering(order, truck_id=message.truck_id)


def delivered(message: au.Delivered) -> None:
    if order := _known_package(message):
        orders_services.mark_delivered(order, x=message.x, y=message.y)


def destination_changed(message: au.DestinationChanged) -> None:
    if order := _known_package(message):
        orders_services.change_destination(order, x=message.x, y=message.y, seqnum=message.seqnum)


def ups_error(message: au.Error) -> None:
    # Never answered with an Error, whatever it says (protocol 5.10).
    origin = messaging_selectors.origin(carrier.UPS, message.origin_seqnum)
    if origin is not None and origin.field == "pickups":
        if order := order_of_ref(origin.ref):
            fail_order(order, f"UPS will not carry the package: {message.message}", False)
            return
    elif message.origin_seqnum == -1 and message.HasField("package_id"):
        order = orders_selectors.order_lock(message.package_id)
        if order is not None and order.warehouse_id is not None:
            fail_order(order, f"UPS cannot carry the package: {message.message}", False)
            return
    logger.warning(
        "UPS reports an error about our message %d%s: %s",
        message.origin_seqnum,
        f" ({origin.field} {origin.ref})" if origin else "",
        message.message,
    )
