"""What the fulfilment daemon does: take orders in (``intake``), act in the world and on
what it reports (``world``), and on what UPS tells the store (``ups``). Each function runs
in one transaction with the messages it causes, so a crash never separates a state change
from its consequences; order statuses move only through ``orders.services``, and every
message to UPS is built by the gateway (``carrier.services``)."""

from amazon_ups.amazon.fulfilment.services.intake import Intake, take_in
from amazon_ups.amazon.fulfilment.services.ups import (
    MAX_TRACKING_NUMBER,
    delivered,
    destination_changed,
    out_for_delivery,
    package_registered,
    truck_arrived,
    ups_error,
    world_created,
)
from amazon_ups.amazon.fulfilment.services.world import (
    MAX_RESTOCK,
    PURCHASE_BATCH,
    CannotRestock,
    fail_order,
    hello_request,
    load,
    package_loaded,
    package_packed,
    package_status,
    purchase_arrived,
    restock,
    world_container,
    world_error,
    world_joined,
    world_peer,
)

__all__ = [
    "MAX_RESTOCK",
    "MAX_TRACKING_NUMBER",
    "PURCHASE_BATCH",
    "CannotRestock",
    "Intake",
    "delivered",
    "destination_changed",
    "fail_order",
    "hello_request",
    "load",
    "out_for_delivery",
    "package_loaded",
    "package_packed",
    "package_registered",
    "package_status",
    "purchase_arrived",
    "restock",
    "take_in",
    "truck_arrived",
    "ups_error",
    "world_container",
    "world_created",
    "world_error",
    "world_joined",
    "world_peer",
]
