"""The dispatch daemon: the world link, the Amazon link, and what each message does.

The shared runtime (``common.daemon``) owns sockets, acks, re-sends and
duplicates; it calls ``Dispatcher.handle`` once per new sub-message inside a
transaction, and ``Dispatcher.tick`` every turn. This module only translates
wire messages into calls of the services and back.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from google.protobuf.message import Message

from amazon_ups.common.daemon import isolation, link_security
from amazon_ups.common.daemon.endpoint import Endpoint
from amazon_ups.common.daemon.links import WorldLink
from amazon_ups.common.daemon.listen_link import ListenLink
from amazon_ups.common.daemon.runner import Daemon
from amazon_ups.common.exceptions import RefusedAfterWriting
from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.channel import AU_LIMITS, WORLD_SEND_LIMITS, Channel
from amazon_ups.ups.dispatch import planning, selectors
from amazon_ups.ups.dispatch import services as dispatch
from amazon_ups.ups.shipments import selectors as shipments_selectors
from amazon_ups.ups.shipments import services as shipments
from amazon_ups.ups.shipments import world as shipments_world
from amazon_ups.ups.shipments.services import Refused
from amazon_ups.ups.shipments.world import world_id as current_world_id
from amazon_ups.ups.shipper import services as shipper

logger = logging.getLogger(__name__)

# Between looks for what waits far too long.
STUCK_CHECK_INTERVAL = datetime.timedelta(seconds=10)
# Sub-messages whose package is read and locked ahead, for a container of them (the
# field holding the package's id).
PACKAGE_LOCKED_AHEAD = {"loaded": "package_id", "delivered": "packageid"}
# Sub-messages whose handling writes no package but the one it names (read through
# ``package_lock``, or made) or says so (``packages_changed``): after any other, the
# packages read ahead are read again before one is handed out.
WRITE_ONLY_THEIR_PACKAGE = frozenset({"pickups", "loaded", "account_checks", "delivered"})
# Sub-messages whose handling reads no truck's position, and may note a new one: in a
# run of them, a truck's position is written once (``truck_positions_noted``).
NOTE_TRUCK_POSITIONS = frozenset({"delivered"})
# Sub-messages whose handling reads no package but its own (through ``package_lock``)
# and, for a load, those its truck was given (``saves_noted`` included), and may note its
# move: in a run of them, the packages' moves are written in one UPDATE
# (``package_saves_noted``).
NOTE_PACKAGE_SAVES = frozenset({"delivered", "loaded"})
# Sub-messages whose handling reads no package but through ``pickups_read_together`` (which
# knows those made and not written yet): in a run of them, the packages made are written
# in one INSERT (``packages_created_together``).
MAKE_PACKAGES = frozenset({"pickups", "account_checks"})


def world_hello() -> wu.UConnect | None:
    """What we say to the world on connecting; None while we have no world to join
    and it is Amazon's to create."""
    target = settings.WORLD_ID or current_world_id()
    if target is None and settings.WORLD_CREATOR.lower() == "amazon":
        return None
    hello = wu.UConnect(isAmazon=False)
    starts = planning.truck_starts(settings.UPS_TRUCKS)
    if target is not None:
        hello.worldid = target
        if selectors.setting_int(selectors.TRUCKS_WORLD) == target:
            # Back in a world our trucks are already in: they have moved since, and
            # bringing them again at their start places would conflict.
            known = shipments_selectors.truck_ids()
            starts = [start for start in starts if start[0] not in known]
    for truck_id, x, y in starts:
        hello.trucks.add(id=truck_id, x=x, y=y)
    return hello


class Dispatcher:
    def __init__(self, world: WorldLink) -> None:
        self.world = world
        self._rejoin = False
        self._next_stuck_check: datetime.datetime | None = None
        # When the first truck waiting at a warehouse leaves, as the last tick read it
        # (None: none waits); not read yet at first.
        self._first_departure: datetime.datetime | None = None
        self._departures_read = False
        # Per field, what acts on the sub-messages it carries (each handler takes its
        # field's message type, known only at run time: Any) and the time the core was
        # given (``now``).
        self._amazon: dict[str, Callable[[Any, datetime.datetime], None]] = {
            "pickups": self._pickup,
            "loaded": self._loaded,
            "load_failed": self._load_failed,
            "account_checks": self._account_check,
            "worlds": self._world_created,
            "errors": self._amazon_error,
        }
        self._world: dict[str, Callable[[Endpoint, Any, datetime.datetime], None]] = {
            "completions": self._finished,
            "delivered": self._delivered,
            "truckstatus": self._truck_status,
            "error": self._world_error,
        }

    @contextlib.contextmanager
    def around_container(
        self, link: Endpoint, messages: Sequence[tuple[str, Message]]
    ) -> Iterator[None]:
        """The world's id is read once per container (shipments.world.remembered), so are
        the packages and warehouses of its pickup requests (``pickups_read_together``,
        which writes their items together), the packages loaded or delivered are read
        and locked in one query (``packages_locked_ahead``), so are the trucks loaded
        (``trucks_locked_ahead``), what a truck was given is read once for its loads
        (``loads_read_together``), each warehouse given packages is served once, after
        them all (``serving_together``), the packages made are written in one statement
        per run of pickup requests (``packages_created_together``), their events in one
        statement at the end (the trucks' in another), so are the messages to Amazon
        (``said_together``), and the trucks' positions once per run of deliveries, and
        the packages' moves once per run of deliveries or loads (``package_saves_noted``)."""
        pickups = [
            (message.package_id, message.warehouse.id)
            for field, message in messages
            if field == "pickups" and isinstance(message, au_pb2.PickupRequest)
        ]
        about_packages = [
            getattr(message, PACKAGE_LOCKED_AHEAD[field])
            for field, message in messages
            if field in PACKAGE_LOCKED_AHEAD
        ]
        loaded_onto = [
            message.truck_id
            for field, message in messages
            if field == "loaded" and isinstance(message, au_pb2.PackageLoaded)
        ]
        with (
            shipments_world.remembered(),
            # Outermost: what every unit and the serving at the end told Amazon.
            shipper.said_together(),
            shipments.packages_locked_ahead(about_packages),
            shipments.trucks_locked_ahead(loaded_onto),
            dispatch.loads_read_together(),
            dispatch.pickups_read_together(pickups) if pickups else contextlib.nullcontext(),
            shipments.events_written_together(),
            dispatch.serving_together(),
            # Innermost: written before the warehouses are served.
            shipments.truck_positions_noted(),
            shipments.package_saves_noted(),
            dispatch.packages_created_together(),
        ):
            yield

    def handle(self, link: Endpoint, field: str, message: Message, now: datetime.datetime) -> None:
        # Also alone (a dead letter retried): the world's id read once per sub-message.
        # In a container, a defect rolls this message's events back with it.
        # Around any other than a delivery, the trucks' positions noted are written (before
        # it reads a truck, after it noted one), in its savepoint: rolled back with it,
        # they are noted again; so are the packages' moves noted, before any other than
        # a delivery or a load, and the packages made, before any other than a pickup.
        notes_positions = field in NOTE_TRUCK_POSITIONS
        try:
            with (
                shipments_world.remembered(),
                shipments.events_of_one_unit(),
                dispatch.package_items.unit(),
                shipper.said_in_unit(),
                shipments.truck_positions_of_one_unit(),
                shipments.package_saves_of_one_unit(),
            ):
                if field not in MAKE_PACKAGES:
                    dispatch.packages_created_write()
                if not notes_positions:
                    shipments.truck_positions_write()
                if field not in NOTE_PACKAGE_SAVES:
                    shipments.package_saves_write()
                if link.name == "amazon":
                    self._amazon[field](message, now)
                else:
                    self._world[field](link, message, now)
                if not notes_positions:
                    shipments.truck_positions_write()
        except BaseException:
            shipments.packages_changed()  # rolled back, maybe after writing others
            raise
        if field not in WRITE_ONLY_THEIR_PACKAGE:
            shipments.packages_changed()

    def tick(self, now: datetime.datetime) -> datetime.datetime | None:
        with shipments_world.remembered():
            return self._tick(now)

    def _tick(self, now: datetime.datetime) -> datetime.datetime | None:
        if self._rejoin:
            # Dropped here, between the turn's reads and sends, never under a read.
            self._rejoin = False
            self.world.drop("Amazon announced another world")
            self.world.retry_at = 0.0
        if current_world_id() is None:
            return None
        # Each step runs item by item (a truck, a warehouse...): a defect sets that item
        # aside for an operator and the rest go on (common.daemon.isolation).
        # Overdue trucks are listed only when the last tick's read (at its end) says one
        # may be. A deadline written since (a load) is read at this tick's end: one
        # already past is returned, and the core looks again at once.
        if not self._departures_read or (
            self._first_departure is not None and self._first_departure <= now
        ):
            dispatch.depart_overdue(now)
        dispatch.serve_waiting(now)
        # After the turn's reads: the world's acks and refusals of this turn are in.
        dispatch.confirm_deliveries(now)
        dispatch.redirects_settle(now)
        if self._next_stuck_check is None or now >= self._next_stuck_check:
            self._next_stuck_check = now + STUCK_CHECK_INTERVAL
            dispatch.stuck_find(now)
        # One read of the trucks, last (what the steps above changed is in it): whether
        # one is to be asked where it is (a truck in doubt, or stuck just now), and when
        # the first waiting at a warehouse leaves (a query changes no deadline).
        trucks = selectors.trucks_at_tick_end()
        if trucks.in_doubt:
            dispatch.queries_send()
        # What comes from the world, Amazon or the web wakes the daemon; by the clock
        # alone, a truck's loading deadline and the stuck check fall due.
        departure = trucks.first_departure
        self._first_departure, self._departures_read = departure, True
        due = self._next_stuck_check
        return due if departure is None else min(departure, due)

    def on_connect(self, link: Endpoint) -> None:
        if link is self.world and settings.WORLD_SIMSPEED:
            link.channel.set_once(simspeed=settings.WORLD_SIMSPEED)

    # -- from Amazon -------------------------------------------------------------------

    @staticmethod
    def _refusable(seqnum: int, action: Callable[[], object], package_id: int | None = None):
        """Run ``action``; if it refuses (having changed nothing: ``refused_by``), answer
        with an Error."""
        with shipments.events_of_one_unit(), shipper.said_in_unit():
            said = shipper.said_so_far()
            refusal = isolation.refused_by(action)
            if refusal is not None and shipper.said_so_far() != said:
                # What it told Amazon is kept for the end of the batch, not written yet:
                # refused_by cannot see it, and it would go out with the refusal.
                raise RefusedAfterWriting(f"refused after telling Amazon: {refusal}") from refusal
        if isinstance(refusal, Refused):
            logger.warning("refused Amazon's #%d: %s", seqnum, refusal)
            shipper.refuse(seqnum, str(refusal), refusal.package_id or package_id)
        elif refusal is not None:
            raise refusal  # not the carrier's: nobody here can answer it

    def _pickup(self, request: au_pb2.PickupRequest, now: datetime.datetime) -> None:
        items = [shipments.Item(i.product_id, i.description, i.count) for i in request.items]
        self._refusable(
            request.seqnum,
            lambda: dispatch.pickup_request(
                seqnum=request.seqnum,
                package_id=request.package_id,
                warehouse_id=request.warehouse.id,
                warehouse_x=request.warehouse.x,
                warehouse_y=request.warehouse.y,
                dest_x=request.dest_x,
                dest_y=request.dest_y,
                items=items,
                ups_account=request.ups_account if request.HasField("ups_account") else None,
                now=now,
                fresh=False,
            ),
            request.package_id,
        )

    def _loaded(self, loaded: au_pb2.PackageLoaded, now: datetime.datetime) -> None:
        self._refusable(
            loaded.seqnum,
            lambda: dispatch.package_loaded(loaded.package_id, loaded.truck_id, now=now),
            loaded.package_id,
        )

    def _load_failed(self, failed: au_pb2.LoadFailed, now: datetime.datetime) -> None:
        self._refusable(
            failed.seqnum,
            lambda: dispatch.load_failed(
                failed.package_id, failed.truck_id, failed.reason, now=now
            ),
            failed.package_id,
        )

    def _account_check(self, check: au_pb2.AccountCheck, now: datetime.datetime) -> None:
        dispatch.account_check(check.ups_account)

    def _world_created(self, created: au_pb2.WorldCreated, now: datetime.datetime) -> None:
        def move() -> None:
            if dispatch.world_announced(created.world_id, created.seqnum):
                transaction.on_commit(self._leave_world)

        self._refusable(created.seqnum, move)

    def _leave_world(self) -> None:
        self._rejoin = True

    def _amazon_error(self, error: au_pb2.Error, now: datetime.datetime) -> None:
        package_id = error.package_id if error.HasField("package_id") else None
        dispatch.amazon_error(error.origin_seqnum, package_id, error.message, now=now)

    # -- from the world ------------------------------------------------------------------

    def _finished(self, link: Endpoint, finished: wu.UFinished, now: datetime.datetime) -> None:
        dispatch.truck_finished(
            finished.truckid, finished.status, finished.x, finished.y, finished.seqnum, now=now
        )

    def _delivered(self, link: Endpoint, made: wu.UDeliveryMade, now: datetime.datetime) -> None:
        dispatch.package_delivered(made.truckid, made.packageid, now=now)

    def _truck_status(self, link: Endpoint, truck: wu.UTruck, now: datetime.datetime) -> None:
        dispatch.truck_reported(
            truck.truckid, truck.status, truck.x, truck.y, truck.seqnum, now=now
        )

    def _world_error(self, link: Endpoint, error: wu.UErr, now: datetime.datetime) -> None:
        assert link.peer is not None  # the core hands over messages of a known peer
        origin = messaging_selectors.origin(link.peer, error.originseqnum)
        if origin is None:
            logger.warning(
                "the world reports an error (origin #%d): %s", error.originseqnum, error.err
            )
            return
        body = bytes(origin.body)
        if origin.field == "pickups":
            pickup = wu.UGoPickup.FromString(body)
            dispatch.pickup_refused(pickup.truckid, pickup.whid, error.err, now=now)
        elif origin.field == "deliveries":
            deliver = wu.UGoDeliver.FromString(body)
            dispatch.deliveries_refused(
                deliver.seqnum,
                deliver.truckid,
                [p.packageid for p in deliver.packages],
                error.err,
                now=now,
            )
        elif origin.field == "queries":
            dispatch.query_refused(wu.UQuery.FromString(body).truckid, error.err)
        else:
            logger.warning(
                "the world refused our %s #%d (%s): %s",
                origin.field,
                origin.seqnum,
                origin.ref,
                error.err,
            )


def build_daemon(listen_host: str | None = None, listen_port: int | None = None) -> Daemon:
    """The daemon, its Amazon port already listening (``port=0`` picks a free one)."""
    world = WorldLink(
        "world",
        Channel(wu.UResponses, wu.UCommands, send_limits=WORLD_SEND_LIMITS),
        settings.WORLD_HOST,
        settings.WORLD_UPS_PORT,
        connected_type=wu.UConnected,
        hello=world_hello,
        joined=dispatch.world_joined,
    )
    host = listen_host or settings.UPS_HOST
    amazon = ListenLink(
        "amazon",
        Channel(au_pb2.AmazonToUps, au_pb2.UpsToAmazon, limits=AU_LIMITS),
        host,
        settings.UPS_PORT if listen_port is None else listen_port,
        peer=shipper.AMAZON,
        auth=link_security.ups_auth(host),
    )
    dispatcher = Dispatcher(world)
    return Daemon(
        name="ups",
        links=[world, amazon],
        handle=dispatcher.handle,
        tick=dispatcher.tick,
        on_connect=dispatcher.on_connect,
        around_container=dispatcher.around_container,
    )
