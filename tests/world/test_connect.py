"""Connecting to the world over real sockets: creating, joining, refusals, reconnecting.

Each test runs against a live in-process world server (the ``ports`` fixture). Where
``WorldClient`` hides what a test needs to see (the exact ``AConnected``/``UConnected``
reply, a retry on the same socket, unacked results), ``Raw`` speaks frames by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from google.protobuf.message import Message

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.channel import SubMessage
from amazon_ups.protocol.framing import FrameDecoder, MalformedMessage, encode_frame, parse_message
from amazon_ups.protocol.world_messages import DIALECTS, Side
from amazon_ups.world.client import ConnectRefused, WorldClient
from tests.support import FAST

HOST = "127.0.0.1"
TIMEOUT = 10.0
TRUCKS = ((1, 0, 0), (2, 3, 4))
WAREHOUSES = ((1, 10, 10), (2, -20, 5))


def names(text: str, kind: str, number: int) -> bool:
    """``text`` names ``kind`` ``number`` (e.g. "truck 3", "warehouse id 3", "world 3")."""
    return re.search(rf"\b{kind}(?:[ _]id)? {number}(?!\d)", text) is not None


def other(side: Side) -> Side:
    return Side.AMAZON if side is Side.UPS else Side.UPS


def default_places(side: Side) -> tuple[tuple[int, int, int], ...]:
    return WAREHOUSES if side is Side.AMAZON else TRUCKS


class Raw:
    """One connection speaking frames by hand; results are acked only when asked."""

    def __init__(self, side: Side, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.side = side
        self.dialect = DIALECTS[side]
        self.reader, self.writer = reader, writer
        self.frames = FrameDecoder()
        self.bodies: list[bytes] = []

    @classmethod
    async def open(cls, side: Side, ports: dict[Side, int], port_side: Side | None = None) -> Raw:
        """Connect to the port of ``port_side`` (default: ``side``'s own port)."""
        reader, writer = await asyncio.open_connection(HOST, ports[port_side or side])
        return cls(side, reader, writer)

    def write(self, message: Message) -> None:
        self.writer.write(encode_frame(message.SerializeToString()))

    async def next_body(self, timeout: float = TIMEOUT) -> bytes | None:
        """The next frame's body, or None when the world closed the connection."""
        async with asyncio.timeout(timeout):
            while not self.bodies:
                data = await self.reader.read(65536)
                if not data:
                    return None
                self.bodies.extend(self.frames.feed(data))
        return self.bodies.pop(0)

    async def read(self, message_type: type[Message]) -> Any:
        body = await self.next_body()
        assert body is not None, "the world closed the connection"
        message = parse_message(message_type, body)
        assert not isinstance(message, MalformedMessage), message
        return message

    async def connect(
        self,
        world_id: int | None = None,
        places: Iterable[tuple[int, int, int]] = (),
        is_amazon: bool | None = None,
    ) -> Any:
        """Send AConnect/UConnect and return the AConnected/UConnected reply."""
        request = self.dialect.connect(
            isAmazon=self.side is Side.AMAZON if is_amazon is None else is_amazon
        )
        if world_id is not None:
            request.worldid = world_id
        for place_id, x, y in places:
            # An AConnect on the Amazon side, a UConnect on UPS's.
            place = (
                request.initwh.add() if isinstance(request, wa.AConnect) else request.trucks.add()
            )
            place.id, place.x, place.y = place_id, x, y
        self.write(request)
        return await self.read(self.dialect.connected)

    async def results_until(
        self, done: Callable[[Message], bool], ack: bool = True
    ) -> tuple[list[Message], list[int]]:
        """Read responses until a result satisfies ``done``; returns (results, acks seen)."""
        results: list[Message] = []
        acks: list[int] = []
        while not any(done(r) for r in results):
            message = await self.read(self.dialect.responses)
            acks.extend(message.acks)
            new = [
                r for name in self.dialect.result_fields.values() for r in getattr(message, name)
            ]
            results.extend(new)
            if ack and new:
                self.write(self.dialect.commands(acks=[r.seqnum for r in new]))
        return results, acks

    async def goodbye(self) -> Any:
        """disconnect=true; returns the responses message carrying finished=true."""
        self.write(self.dialect.commands(disconnect=True))
        while True:
            message = await self.read(self.dialect.responses)
            if message.finished:
                assert await self.next_body() is None, "the world must close after finished"
                await self.close()
                return message

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def create_raw(ports: dict[Side, int], side: Side, places=None) -> tuple[Raw, int]:
    raw = await Raw.open(side, ports)
    reply = await raw.connect(places=default_places(side) if places is None else places)
    assert reply.result == "connected!"
    return raw, reply.worldid


async def open_client(
    ports: dict[Side, int], side: Side, world_id: int | None = None, places=()
) -> WorldClient:
    client = await WorldClient.open(side, HOST, ports[side], world_id=world_id, places=places)
    client.set_simspeed(FAST)
    return client


async def refused(
    ports: dict[Side, int], side: Side, world_id: int | None, places=()
) -> ConnectRefused:
    with pytest.raises(ConnectRefused) as caught:
        await WorldClient.open(side, HOST, ports[side], world_id=world_id, places=places)
    assert caught.value.result.startswith("error:"), caught.value.result
    return caught.value


async def truck_arrives(ups: WorldClient, truck: int, warehouse: int) -> wu.UFinished:
    """Send truck ``truck`` to ``warehouse``; return its UFinished (failing on a UErr)."""
    seqnum = ups.send(wu.UGoPickup(truckid=truck, whid=warehouse))

    def outcomes() -> list[Message]:
        errors = [r for r in ups.of_type(wu.UErr) if r.originseqnum == seqnum]
        return errors + [r for r in ups.of_type(wu.UFinished) if r.truckid == truck]

    (outcome, *_) = await ups.wait_for(outcomes)
    assert isinstance(outcome, wu.UFinished), outcome
    return outcome


async def uerr_for(ups: WorldClient, command: SubMessage) -> wu.UErr:
    seqnum = ups.send(command)
    return await ups.wait_result(wu.UErr, lambda r: r.originseqnum == seqnum)


# -- creating and joining ------------------------------------------------------------------


async def test_ups_creates_a_world_with_trucks_and_amazon_joins_it_with_warehouses(ports):
    ups, world_id = await create_raw(ports, Side.UPS, places=TRUCKS)
    assert world_id >= 1
    amazon = await Raw.open(Side.AMAZON, ports)
    joined = await amazon.connect(world_id, places=WAREHOUSES)
    assert (joined.result, joined.worldid) == ("connected!", world_id)

    # Both brought their places: truck 2 drives to warehouse 2, and the world says where.
    ups.write(wu.UCommands(simspeed=FAST, pickups=[wu.UGoPickup(truckid=2, whid=2, seqnum=1)]))
    results, acks = await ups.results_until(lambda r: isinstance(r, wu.UFinished))
    assert 1 in acks
    assert [(r.truckid, r.x, r.y, r.status) for r in results] == [(2, -20, 5, "ARRIVE WAREHOUSE")]
    amazon.write(
        wa.ACommands(
            simspeed=FAST,
            buy=[
                wa.APurchaseMore(
                    whnum=1, seqnum=1, things=[wa.AProduct(id=1, description="d", count=2)]
                )
            ],
        )
    )
    results, _ = await amazon.results_until(lambda r: isinstance(r, wa.APurchaseMore))
    assert [(r.whnum, r.things[0].count) for r in results] == [(1, 2)]
    await ups.goodbye()
    await amazon.goodbye()


async def test_amazon_creates_a_world_with_warehouses_and_ups_joins_it_with_trucks(ports):
    amazon, world_id = await create_raw(ports, Side.AMAZON, places=WAREHOUSES)
    ups = await Raw.open(Side.UPS, ports)
    joined = await ups.connect(world_id, places=[(7, 1, 1)])
    assert (joined.result, joined.worldid) == ("connected!", world_id)
    ups.write(wu.UCommands(simspeed=FAST, pickups=[wu.UGoPickup(truckid=7, whid=1, seqnum=1)]))
    results, _ = await ups.results_until(lambda r: isinstance(r, wu.UFinished))
    assert [(r.truckid, r.x, r.y, r.status) for r in results] == [(7, 10, 10, "ARRIVE WAREHOUSE")]
    await ups.goodbye()
    await amazon.goodbye()


async def test_each_creation_makes_a_new_world(ports):
    first, first_id = await create_raw(ports, Side.UPS)
    second, second_id = await create_raw(ports, Side.AMAZON)
    assert first_id != second_id
    await first.goodbye()
    await second.goodbye()


@pytest.mark.parametrize("side", list(Side))
async def test_joining_an_unknown_world_is_refused_naming_it(ports, side):
    raw = await Raw.open(side, ports)
    reply = await raw.connect(world_id=4242, places=default_places(side))
    assert reply.result.startswith("error:")
    assert names(reply.result, "world", 4242), reply.result
    assert reply.worldid == 4242
    await raw.close()


@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize("join", [False, True], ids=["create", "join"])
async def test_is_amazon_must_match_the_port(ports, side, join):
    world_id = None
    if join:
        owner, world_id = await create_raw(ports, other(side))
    raw = await Raw.open(side, ports)
    reply = await raw.connect(world_id, default_places(side), is_amazon=side is not Side.AMAZON)
    assert reply.result.startswith("error:"), reply.result
    assert reply.worldid == (world_id if join else -1)
    # The refusal created nothing and joined nothing: the right request still works.
    retry = await raw.connect(world_id, default_places(side))
    assert retry.result == "connected!"
    if join:
        assert retry.worldid == world_id
        await owner.goodbye()
    await raw.goodbye()


async def test_an_amazon_connect_on_the_ups_port_is_refused(ports):
    # AConnect and UConnect share their wire layout; only isAmazon tells them apart.
    raw = await Raw.open(Side.AMAZON, ports, port_side=Side.UPS)
    reply = await raw.connect(places=WAREHOUSES)
    assert reply.result.startswith("error:"), reply.result
    assert reply.worldid == -1
    await raw.close()


async def test_a_first_frame_that_is_not_a_connect_is_refused_and_closed(ports):
    raw = await Raw.open(Side.UPS, ports)
    raw.writer.write(encode_frame(b""))  # an empty UConnect lacks the required isAmazon
    reply = await raw.read(wu.UConnected)
    assert reply.result.startswith("error:")
    assert reply.worldid == -1
    assert await raw.next_body() is None
    await raw.close()


async def test_retrying_connect_on_the_same_socket_after_an_error(ports):
    raw = await Raw.open(Side.UPS, ports)
    unknown = await raw.connect(world_id=999, places=TRUCKS)
    assert unknown.result.startswith("error:")
    wrong_side = await raw.connect(places=TRUCKS, is_amazon=True)
    assert wrong_side.result.startswith("error:")
    created = await raw.connect(places=TRUCKS)
    assert created.result == "connected!"
    # Now the same socket carries commands.
    raw.write(wu.UCommands(queries=[wu.UQuery(truckid=2, seqnum=1)]))
    results, acks = await raw.results_until(lambda r: isinstance(r, wu.UTruck))
    assert acks == [1]
    assert [(r.truckid, r.status, r.x, r.y) for r in results] == [(2, "IDLE", 3, 4)]
    await raw.goodbye()


# -- one connection per side -----------------------------------------------------------------


@pytest.mark.parametrize("side", list(Side))
async def test_a_second_connection_for_a_side_is_refused_and_the_first_keeps_working(ports, side):
    creator = await open_client(ports, side, places=default_places(side))
    world_id = creator.world_id
    partner = await open_client(ports, other(side), world_id, default_places(other(side)))
    ups = creator if side is Side.UPS else partner

    second = await refused(ports, side, world_id)
    assert second.world_id == world_id
    assert names(second.result, "world", world_id), second.result

    # Both connections of the world still work.
    arrived = await truck_arrives(ups, 1, 2)
    assert (arrived.x, arrived.y, arrived.status) == (-20, 5, "ARRIVE WAREHOUSE")
    amazon = creator if side is Side.AMAZON else partner
    amazon.send(wa.AQuery(packageid=5))
    error = await amazon.wait_result(wa.AErr)
    assert names(error.err, "package", 5)

    # Once the first has said goodbye, a new connection for that side is accepted.
    await creator.close()
    assert creator.finished
    replacement = await open_client(ports, side, world_id)
    assert replacement.world_id == world_id
    # ... and a third one is refused again while the replacement is there.
    await refused(ports, side, world_id)
    await replacement.close()
    await partner.close()


async def test_a_new_connection_is_accepted_after_an_abrupt_drop(ports):
    ups = await open_client(ports, Side.UPS, places=TRUCKS)
    world_id = ups.world_id
    await ups.abort()  # no goodbye: the socket just closes
    again = await open_client(ports, Side.UPS, world_id)
    assert again.world_id == world_id
    again.send(wu.UQuery(truckid=1))
    truck = await again.wait_result(wu.UTruck)
    assert (truck.status, truck.x, truck.y) == ("IDLE", 0, 0)
    await again.close()


# -- trucks and warehouses brought again --------------------------------------------------------


@pytest.mark.parametrize("side", list(Side))
async def test_an_identical_reinit_is_accepted(ports, side):
    creator, world_id = await create_raw(ports, side)
    await creator.goodbye()
    raw = await Raw.open(side, ports)
    # Same ids at the same places, in another order, one of them twice.
    places = [*reversed(default_places(side)), default_places(side)[0]]
    reply = await raw.connect(world_id, places)
    assert (reply.result, reply.worldid) == ("connected!", world_id)
    await raw.goodbye()


async def test_a_conflicting_truck_reinit_is_refused_naming_it_and_adds_nothing(ports):
    ups = await open_client(ports, Side.UPS, places=TRUCKS)
    world_id = ups.world_id
    await ups.close()
    raw = await Raw.open(Side.UPS, ports)
    reply = await raw.connect(world_id, [(9, 1, 1), (2, 3, 5)])
    assert reply.result.startswith("error:"), reply.result
    assert names(reply.result, "truck", 2), reply.result
    assert reply.worldid == world_id
    # The socket is not joined; it can retry without the conflict.
    retry = await raw.connect(world_id)
    assert (retry.result, retry.worldid) == ("connected!", world_id)
    # Truck 9 of the refused request was not added, and truck 2 did not move.
    raw.write(
        wu.UCommands(
            queries=[wu.UQuery(truckid=9, seqnum=1), wu.UQuery(truckid=2, seqnum=2)],
        )
    )
    results, _ = await raw.results_until(lambda r: isinstance(r, wu.UTruck))
    errors = [r for r in results if isinstance(r, wu.UErr)]
    assert [e.originseqnum for e in errors] == [1]
    assert names(errors[0].err, "truck", 9)
    trucks = [(r.truckid, r.x, r.y) for r in results if isinstance(r, wu.UTruck)]
    assert trucks == [(2, 3, 4)]
    await raw.goodbye()


async def test_a_conflicting_warehouse_reinit_is_refused_naming_it_and_adds_nothing(ports):
    amazon = await open_client(ports, Side.AMAZON, places=WAREHOUSES)
    world_id = amazon.world_id
    await amazon.close()
    conflict = await refused(ports, Side.AMAZON, world_id, places=[(8, 0, 0), (1, 11, 10)])
    assert names(conflict.result, "warehouse", 1), conflict.result
    assert conflict.world_id == world_id
    # Warehouse 8 was not added; warehouse 1 is still at (10, 10).
    ups = await open_client(ports, Side.UPS, world_id, places=[(1, 0, 0)])
    error = await uerr_for(ups, wu.UGoPickup(truckid=1, whid=8))
    assert names(error.err, "warehouse", 8)
    arrived = await truck_arrives(ups, 1, 1)
    assert (arrived.x, arrived.y) == (10, 10)
    await ups.close()


@pytest.mark.parametrize("side", list(Side))
async def test_conflicting_ids_in_a_creating_request_are_refused(ports, side):
    raw = await Raw.open(side, ports)
    reply = await raw.connect(places=[(4, 0, 0), (4, 1, 0)])
    assert reply.result.startswith("error:"), reply.result
    assert names(reply.result, "truck" if side is Side.UPS else "warehouse", 4)
    assert reply.worldid == -1
    await raw.close()


async def test_new_trucks_and_warehouses_brought_on_a_join_are_added(ports):
    ups = await open_client(ports, Side.UPS, places=[(1, 0, 0)])
    world_id = ups.world_id
    amazon = await open_client(ports, Side.AMAZON, world_id, places=[(1, 10, 10)])
    await ups.close()
    await amazon.close()

    amazon = await open_client(ports, Side.AMAZON, world_id, places=[(1, 10, 10), (5, 50, 0)])
    ups = await open_client(ports, Side.UPS, world_id, places=[(1, 0, 0), (3, 7, 7)])
    arrived = await truck_arrives(ups, 3, 5)
    assert (arrived.truckid, arrived.x, arrived.y) == (3, 50, 0)
    ups.send(wu.UQuery(truckid=1))
    truck = await ups.wait_result(wu.UTruck)
    assert (truck.status, truck.x, truck.y) == ("IDLE", 0, 0)
    await ups.close()
    await amazon.close()


# -- reconnecting ----------------------------------------------------------------------------------


async def test_reconnecting_keeps_the_world_and_resends_unacked_results(ports):
    amazon = await open_client(ports, Side.AMAZON, places=WAREHOUSES)
    ups = await Raw.open(Side.UPS, ports)
    reply = await ups.connect(amazon.world_id, TRUCKS)
    assert reply.result == "connected!"
    ups.write(wu.UCommands(simspeed=FAST, pickups=[wu.UGoPickup(truckid=1, whid=1, seqnum=1)]))
    results, _ = await ups.results_until(lambda r: isinstance(r, wu.UFinished), ack=False)
    (finished,) = results
    await ups.goodbye()  # leaves with the UFinished unacked

    ups = await Raw.open(Side.UPS, ports)
    reply = await ups.connect(amazon.world_id)
    assert (reply.result, reply.worldid) == ("connected!", amazon.world_id)
    # The unacked result comes again, with the same world seqnum.
    results, _ = await ups.results_until(lambda r: isinstance(r, wu.UFinished))
    assert results[0] == finished
    # The truck is still at the warehouse, and the old seqnum 1 is not run again:
    # a repeated pickup would make a second, new UFinished.
    ups.write(
        wu.UCommands(
            pickups=[wu.UGoPickup(truckid=1, whid=1, seqnum=1)],
            queries=[wu.UQuery(truckid=1, seqnum=2)],
        )
    )
    results, acks = await ups.results_until(lambda r: isinstance(r, wu.UTruck))
    assert {1, 2} <= set(acks)
    assert all(r.seqnum == finished.seqnum for r in results if isinstance(r, wu.UFinished))
    truck = next(r for r in results if isinstance(r, wu.UTruck))
    assert (truck.status, truck.x, truck.y) == ("ARRIVE WAREHOUSE", 10, 10)
    await ups.goodbye()
    await amazon.close()


async def test_disconnect_answers_the_commands_in_the_same_message(ports):
    raw, _ = await create_raw(ports, Side.UPS)
    raw.write(wu.UCommands(queries=[wu.UQuery(truckid=2, seqnum=1)], disconnect=True))
    seen_acks: list[int] = []
    trucks: list[wu.UTruck] = []
    while True:
        message = await raw.read(wu.UResponses)
        seen_acks.extend(message.acks)
        trucks.extend(message.truckstatus)
        if message.finished:
            break
    assert seen_acks == [1]
    assert [(t.truckid, t.status, t.x, t.y) for t in trucks] == [(2, "IDLE", 3, 4)]
    assert await raw.next_body() is None
    await raw.close()
