"""UPS's part, played by the tests: a world connection with trucks, and a server that
speaks the Amazon-UPS protocol (au.proto) to the fulfilment daemon.

It is a minimal but correct carrier: every sub-message gets a seqnum and is re-sent
until acked, every copy it receives is acked and acted on once. One truck per
package (round robin), so the tests need at least as many trucks as packages in
flight. It runs its own asyncio loop in a thread, so a test can stay synchronous
and use the Django ORM while the daemon and this carrier talk.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections import Counter
from typing import Any

from google.protobuf.message import Message

from amazon_ups.protocol import au_pb2 as au
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.channel import Channel, SubMessage
from amazon_ups.protocol.link_auth import HandshakeFailed, Role
from amazon_ups.protocol.world_messages import Side
from amazon_ups.streams import StreamPeer
from amazon_ups.world.client import WorldClient
from tests.support import FAST, TEST_LINK_SECRET, link_handshake


def tracking_of(package_id: int) -> str:
    """The tracking number the fake gives a package: any text will do for Amazon."""
    return f"FAKE-{package_id}"


TAKEOVER_FIRST_SEQNUM = 1_000_000


class FakeUps:
    def __init__(
        self,
        world_port: int,
        trucks: tuple[tuple[int, int, int], ...] = ((1, 0, 0), (2, 0, 0), (3, 0, 0)),
        create_world: bool = True,
        accounts: frozenset[int] = frozenset(),
        secret: str = TEST_LINK_SECRET,
        tls: ssl.SSLContext | None = None,
        port: int = 0,
        join: int | None = None,
    ) -> None:
        """``port``: where to listen (0: any free one); ``join``: a world to join at
        start (another UPS's, as a standby that took over does)."""
        self.secret = secret
        self.tls = tls
        self.refused: list[str] = []  # why connections failed the link's handshake
        self.world_port = world_port
        self.trucks = trucks
        self.create_world = create_world
        self.accounts = accounts
        self.peer = StreamPeer(
            Channel(au.AmazonToUps, au.UpsToAmazon),
            on_message=self._act,
            on_container=self._container,
        )
        self.world: WorldClient | None = None
        self.port: int | None = None
        self._listen_port = port
        self._join_at_start = join
        self.world_errors: list[Message] = []
        self.deliveries_made: Counter[int] = Counter()
        self.connections = 0
        self.empty = 0  # empty messages received: Amazon's keep-alives
        self._packages: dict[int, au.PickupRequest] = {}
        self._truck_of: dict[int, int] = {}
        self._before_world: list[au.PickupRequest] = []
        self._out_for_delivery: dict[int, tuple[int, list[int]]] = {}  # UGoDeliver seqnum ->
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: list[asyncio.Task] = []

    # -- what the test sees -----------------------------------------------------------------

    @property
    def received(self) -> list[tuple[str, Message]]:
        """What Amazon sent, each sub-message once, in arrival order: (field, message)."""
        return self.peer.received

    @property
    def malformed(self) -> list[str]:
        return self.peer.malformed

    def of(self, field: str) -> list[Message]:
        return self.peer.of(field)

    @property
    def world_id(self) -> int | None:
        return self.world.world_id if self.world else None

    def tell(self, message: SubMessage) -> None:
        """Send Amazon a sub-message (numbered, re-sent until acked); thread-safe."""
        self._loop.call_soon_threadsafe(self._tell, message)

    # -- life -----------------------------------------------------------------------------------

    def start(self) -> FakeUps:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """Stops serving, world connection included (once: again does nothing)."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self._listen_port, ssl=self.tls
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if self.create_world:
            await self._join(None)
        elif self._join_at_start is not None:
            await self._join(self._join_at_start)
            # A UPS that takes over carries on from the database, never reusing a
            # seqnum the world or Amazon has seen (they would take the message for a
            # repeat); this one has none, so it starts far beyond the one it replaces.
            assert self.world is not None
            self.world.peer.channel.session.next_seqnum = TAKEOVER_FIRST_SEQNUM
            self.peer.channel.session.next_seqnum = TAKEOVER_FIRST_SEQNUM

    async def _stop(self) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await self.peer.detach()
        if self.world is not None:
            await self.world.abort()

    async def _join(self, world_id: int | None) -> None:
        self.world = await WorldClient.open(
            Side.UPS, "127.0.0.1", self.world_port, world_id=world_id, places=self.trucks
        )
        self.world.set_simspeed(FAST)
        if world_id is None:
            self._tell(au.WorldCreated(world_id=self.world.world_id))
        self._tasks.append(asyncio.create_task(self._pump_world()))
        waiting, self._before_world = self._before_world, []
        for message in waiting:
            self._pick_up(message)

    # -- the Amazon side ------------------------------------------------------------------------

    def _tell(self, message: SubMessage) -> None:
        self.peer.send(message)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            leftover = await link_handshake(reader, writer, Role.UPS, self.secret)
        except (HandshakeFailed, TimeoutError, ConnectionError, OSError) as error:
            self.refused.append(str(error))
            writer.close()
            return
        # The newest connection that proves itself replaces the old one (protocol 2.1).
        await self.peer.detach()
        self.connections += 1
        self.peer.attach(reader, writer, leftover)

    def _container(self, container: Message) -> None:
        if not container.ByteSize():
            self.empty += 1

    # message: Any, as its type is the one its field carries (PickupRequest for pickups...).
    def _act(self, field: str, message: Any) -> None:
        if field == "pickups":
            if self.world is None:
                # Amazon's world is being joined (``worlds`` came just before): the
                # pickup waits for it.
                self._before_world.append(message)
                return
            self._pick_up(message)
        elif field == "loaded":
            request = self._packages[message.package_id]
            stop = wu.UDeliveryLocation(
                packageid=message.package_id, x=request.dest_x, y=request.dest_y
            )
            assert self.world is not None
            seqnum = self.world.send(wu.UGoDeliver(truckid=message.truck_id, packages=[stop]))
            self._out_for_delivery[seqnum] = (message.truck_id, [message.package_id])
        elif field == "worlds" and self.world is None:
            self._tasks.append(asyncio.create_task(self._join(message.world_id)))
        elif field == "account_checks":
            self._tell(
                au.AccountStatus(
                    ups_account=message.ups_account, exists=message.ups_account in self.accounts
                )
            )

    def _pick_up(self, message: Any) -> None:
        package_id = message.package_id
        self._packages[package_id] = message
        truck_id = self.trucks[(len(self._packages) - 1) % len(self.trucks)][0]
        self._truck_of[package_id] = truck_id
        assert self.world is not None
        self.world.send(wu.UGoPickup(truckid=truck_id, whid=message.warehouse.id))
        self._tell(
            au.PackageRegistered(package_id=package_id, tracking_number=tracking_of(package_id))
        )

    # -- the world side -------------------------------------------------------------------------

    async def _pump_world(self) -> None:
        world = self.world
        assert world is not None
        seen = 0

        def news() -> bool:
            acked = any(seqnum in world.acked for seqnum in self._out_for_delivery)
            return len(world.results) > seen or acked

        while True:
            await world.wait_for(news, timeout=None)
            for result in world.results[seen:]:
                self._on_world(result)
            seen = len(world.results)
            for seqnum in [s for s in self._out_for_delivery if s in world.acked]:
                truck_id, package_ids = self._out_for_delivery.pop(seqnum)
                for package_id in package_ids:
                    self._tell(au.OutForDelivery(package_id=package_id, truck_id=truck_id))

    def _on_world(self, result: Message) -> None:
        if isinstance(result, wu.UFinished) and result.status.lower() == "arrive warehouse":
            for package_id, request in self._packages.items():
                at = (request.warehouse.x, request.warehouse.y) == (result.x, result.y)
                if self._truck_of[package_id] == result.truckid and at:
                    self._tell(
                        au.TruckArrived(
                            package_id=package_id,
                            truck_id=result.truckid,
                            warehouse_id=request.warehouse.id,
                        )
                    )
        elif isinstance(result, wu.UDeliveryMade):
            self.deliveries_made[result.packageid] += 1
            request = self._packages[result.packageid]
            self._tell(
                au.Delivered(package_id=result.packageid, x=request.dest_x, y=request.dest_y)
            )
        elif isinstance(result, wu.UErr):
            self.world_errors.append(result)
