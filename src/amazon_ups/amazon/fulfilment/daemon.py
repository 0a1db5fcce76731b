"""The fulfilment daemon: the store's side of the world and of UPS.

It is ``common.daemon.runner.Daemon`` with two links (the world, UPS) and three
hooks: ``tick`` takes in new orders, ``handle`` acts on each new sub-message,
``on_connect`` sets the world's simspeed. All decisions are in ``services``.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from google.protobuf.message import Message

from amazon_ups.amazon.carrier import services as carrier
from amazon_ups.amazon.fulfilment import services, upkeep
from amazon_ups.amazon.orders import services as orders_services
from amazon_ups.common.daemon import link_security
from amazon_ups.common.daemon.endpoint import Endpoint
from amazon_ups.common.daemon.links import UpsLink, WorldLink
from amazon_ups.common.daemon.runner import Daemon
from amazon_ups.protocol import au_pb2 as au
from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.channel import AU_LIMITS, WORLD_SEND_LIMITS, Channel

logger = logging.getLogger(__name__)

# Between looks for what waits far too long.
STUCK_CHECK_INTERVAL = datetime.timedelta(seconds=10)

# Per field, what acts on the sub-messages it carries (each handler takes its field's
# message type, known only at run time: Any).
WORLD_HANDLERS: dict[str, Callable[[Any], object]] = {
    "arrived": services.purchase_arrived,
    "ready": services.package_packed,
    "loaded": services.package_loaded,
    "packagestatus": services.package_status,
}

UPS_HANDLERS: dict[str, Callable[[Any], object]] = {
    "arrived": services.truck_arrived,
    "registered": services.package_registered,
    "out_for_delivery": services.out_for_delivery,
    "delivered": services.delivered,
    "redirected": services.destination_changed,
    "accounts": carrier.account_status_record,
    "errors": services.ups_error,
}


class Fulfilment:
    def __init__(self) -> None:
        self._next_stuck_check: datetime.datetime | None = None
        self.world = WorldLink(
            "world",
            Channel(incoming=wa.AResponses, outgoing=wa.ACommands, send_limits=WORLD_SEND_LIMITS),
            settings.WORLD_HOST,
            settings.WORLD_AMAZON_PORT,
            connected_type=wa.AConnected,
            hello=services.hello_request,
            # Amazon's services read the clock themselves still (UPS's take ``now``).
            joined=lambda world_id, now: services.world_joined(world_id),
        )
        ups_addresses = link_security.ups_addresses()
        self.ups = UpsLink(
            "ups",
            Channel(incoming=au.UpsToAmazon, outgoing=au.AmazonToUps, limits=AU_LIMITS),
            ups_addresses,
            peer=carrier.UPS,
            auth=link_security.amazon_auth([host for host, _ in ups_addresses]),
        )
        self.daemon = Daemon(
            name="amazon",
            links=[self.world, self.ups],
            handle=self.handle,
            tick=self.tick,
            on_connect=self.on_connect,
            around_container=self.around_container,
        )

    def run(self) -> None:
        self.daemon.run()

    def stop(self) -> None:
        self.daemon.stop()

    # -- hooks ----------------------------------------------------------------------------------

    def on_connect(self, link: Endpoint) -> None:
        if link is self.world and settings.WORLD_SIMSPEED is not None:
            link.channel.set_once(simspeed=settings.WORLD_SIMSPEED)

    def tick(self, now: datetime.datetime) -> datetime.datetime:
        upkeep.intake()
        if self._next_stuck_check is None or now >= self._next_stuck_check:
            self._next_stuck_check = now + STUCK_CHECK_INTERVAL
            upkeep.stuck_find(now)
        # New orders wake the daemon (wakeup.notify); only the stuck check is by the clock.
        return self._next_stuck_check

    def around_container(
        self, link: Endpoint, messages: Sequence[tuple[str, Message]]
    ) -> contextlib.AbstractContextManager[object]:
        """The orders a container's messages are about, read and locked in one query (and
        the lines of the delivered ones, for their emails, in one; which orders hold the
        tracking numbers UPS gives, in one), and the events of their moves written in one
        (``orders.services.batch``); from the world, the stock its packing takes in one
        UPDATE per warehouse (``services.world_container``)."""
        from_world = link is self.world
        packages = [
            (field, package_id)
            for field, message in messages
            if (package_id := _package_of(from_world, field, message)) is not None
        ]
        if from_world:
            return services.world_container(package_id for _, package_id in packages)
        return orders_services.batch(
            (package_id for _, package_id in packages),
            delivered=[package_id for field, package_id in packages if field == "delivered"],
            tracking_numbers=[
                message.tracking_number
                for _, message in messages
                if isinstance(message, au.PackageRegistered)
            ],
        )

    def handle(self, link: Endpoint, field: str, message: Message, now: datetime.datetime) -> None:
        # ``now``: the core's time; Amazon's services still read the clock themselves.
        with orders_services.unit():  # a defect rolls this message's events back too
            self._handle(link, field, message)

    def _handle(self, link: Endpoint, field: str, message: Message) -> None:
        if link is self.world:
            if field == "error":
                assert link.peer is not None  # the core hands over messages of a known peer
                assert isinstance(message, wa.AErr)
                services.world_error(link.peer, message)
            else:
                WORLD_HANDLERS[field](message)
        elif field == "worlds":
            assert isinstance(message, au.WorldCreated)
            if services.world_created(message) is not None:
                transaction.on_commit(self._rejoin)
        else:
            UPS_HANDLERS[field](message)

    def _rejoin(self) -> None:
        """Connect to the world UPS just named, now rather than at the next retry."""
        # The connection, or an attempt still joining the old world.
        self.world.drop("moving to another world")
        self.world.retry_at = 0.0


# The field of each package-bearing message type that holds the package (order) id.
WORLD_PACKAGE_FIELDS = {"ready": "shipid", "loaded": "shipid", "packagestatus": "packageid"}
UPS_PACKAGE_FIELDS = dict.fromkeys(
    ("arrived", "registered", "out_for_delivery", "delivered", "redirected"), "package_id"
)


def _package_of(from_world: bool, field: str, message: Message) -> int | None:
    name = (WORLD_PACKAGE_FIELDS if from_world else UPS_PACKAGE_FIELDS).get(field)
    return getattr(message, name) if name is not None else None


def build() -> Fulfilment:
    return Fulfilment()


def preflight() -> None:
    """Raises ``ImproperlyConfigured`` if the link to UPS could not be made as set."""
    link_security.amazon_auth([host for host, _ in link_security.ups_addresses()])
