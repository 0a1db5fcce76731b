"""Everything UPS says to Amazon (au.proto, ``UpsToAmazon``), built here and nowhere else.
Each function writes the message to the durable outbox (``messaging``) in the caller's
transaction; the dispatch daemon sends it and re-sends it until Amazon acks it.

Callers pass plain values, not UPS's models: this app is the gateway, below every other
app of the carrier, and knows nothing of packages or trucks.
"""

from __future__ import annotations

import contextlib

from amazon_ups.common.messaging import services as messaging
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol.channel import SubMessage

AMAZON = "amazon"  # the messaging peer of the Amazon link
MAX_ERROR = 1000  # characters of an Error's message


def _say(field: str, message: SubMessage, ref: str = "") -> None:
    messaging.send(AMAZON, field, message, ref)


def said_together() -> contextlib.AbstractContextManager[None]:
    """Inside a transaction, for a batch of work (a container of received messages, an
    item of the daemon's periodic work): what it tells Amazon is written in one INSERT
    at its end, still in its transaction (not at all if the block raises), instead of
    one INSERT per message: every package is registered, announced, sent out and
    delivered, each a message to Amazon, and a container moves many packages.

    Nothing the daemon does reads back what it told Amazon while a batch runs, unlike
    its commands to the world, which are written at once: a truck with one unacked is
    busy (``messaging.sent_together``, holding Amazon's only). A unit of the batch that
    may be rolled back alone (a savepoint) runs in ``said_in_unit``, so that what it
    said goes with it. Within a batch, another is part of it."""
    return messaging.sent_together(peers=(AMAZON,))


# A unit of work in ``said_together`` whose messages are dropped if it raises.
said_in_unit = messaging.sent_of_one_unit
# How many messages the batch under way holds (0 outside one): a refusal must come
# before anything is said (``isolation.refused_by``).
said_so_far = messaging.messages_held


def _package_ref(package_id: int) -> str:
    return f"package:{package_id}"


def world_created(world_id: int) -> None:
    """We made the world: Amazon joins it (protocol 4)."""
    created = au_pb2.WorldCreated(world_id=world_id)
    _say("worlds", created, ref=f"world:{world_id}")


def package_registered(package_id: int, tracking_number: str) -> None:
    """We took the package, and this is its tracking number (protocol 5.12)."""
    registered = au_pb2.PackageRegistered(package_id=package_id, tracking_number=tracking_number)
    _say("registered", registered, ref=_package_ref(package_id))


def account_status(ups_account: int, exists: bool) -> None:
    """Our answer to an AccountCheck (protocol 5.8)."""
    status = au_pb2.AccountStatus(ups_account=ups_account, exists=exists)
    _say("accounts", status, ref=f"account:{ups_account}")


def truck_arrived(package_id: int, truck_id: int, warehouse_id: int) -> None:
    """The truck stands at the package's warehouse: Amazon may load it (protocol 5.3)."""
    arrived = au_pb2.TruckArrived(
        package_id=package_id, truck_id=truck_id, warehouse_id=warehouse_id
    )
    _say("arrived", arrived, ref=_package_ref(package_id))


def out_for_delivery(package_id: int, truck_id: int) -> None:
    going = au_pb2.OutForDelivery(package_id=package_id, truck_id=truck_id)
    _say("out_for_delivery", going, ref=_package_ref(package_id))


def delivered(package_id: int, x: int, y: int) -> None:
    _say(
        "delivered",
        au_pb2.Delivered(package_id=package_id, x=x, y=y),
        ref=_package_ref(package_id),
    )


def destination_changed(package_id: int, x: int, y: int) -> None:
    """The recipient sent the package elsewhere (protocol 5.9)."""
    changed = au_pb2.DestinationChanged(package_id=package_id, x=x, y=y)
    _say("redirected", changed, ref=_package_ref(package_id))


def refuse(origin_seqnum: int, problem: str, package_id: int | None = None) -> None:
    """Amazon's sub-message ``origin_seqnum`` is refused for ``problem`` (protocol 5.10):
    the one place where the wire's ``error: ...`` text is written."""
    _error(origin_seqnum, f"error: {problem}", package_id)


def package_failed(origin_seqnum: int, reason: str, package_id: int) -> None:
    """We gave the package up (``origin_seqnum`` -1: because of no message of Amazon's)."""
    _error(origin_seqnum, reason, package_id)


def _error(origin_seqnum: int, text: str, package_id: int | None) -> None:
    error = au_pb2.Error(origin_seqnum=origin_seqnum, message=text[:MAX_ERROR])
    if package_id is not None:
        error.package_id = package_id
    ref = _package_ref(package_id) if package_id is not None else ""
    _say("errors", error, ref=ref)
