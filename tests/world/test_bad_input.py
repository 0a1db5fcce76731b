"""Bad input never brings the world down.

Every test runs against a world in this process (where any exception escaping
into the event loop is caught and counted as a crash) and against a world
process (whose log must show no traceback). A healthy pair of clients, on a
world of its own opened before the bad input, must still complete a round trip
afterwards, and the server must still accept new connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.framing import DEFAULT_MAX_FRAME, encode_frame, encode_varint
from amazon_ups.protocol.world_messages import CONNECTED, DIALECTS, Side
from amazon_ups.testing.world import WorldProcess
from amazon_ups.world.client import WorldClient
from tests.support import FAST, RawLink, connect_pair

TRUCKS = ((1, 0, 0), (2, 0, 0))
WAREHOUSES = ((1, 10, 10), (2, -20, 5))
# What a crash looks like in the world's log (asyncio reports escaped exceptions so).
CRASH = re.compile(r"Traceback|Fatal error|Exception in callback|Task exception")


@dataclass
class Target:
    name: str
    ports: dict[Side, int]
    alive: Callable[[], bool]
    troubles: Callable[[], list[str]]  # crashes seen since the test started


@pytest.fixture(scope="module")
def world_subprocess(tmp_path_factory):
    """One world process for the module's tests (each asserts it is still alive)."""
    process = WorldProcess(tmp_path_factory.mktemp("bad-input") / "world.sqlite3").start()
    yield process
    if process.alive():
        process.stop()


@pytest.fixture
async def loop_troubles():
    """Exceptions that escaped into this test's event loop (the in-process world's)."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []

    def record(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        seen.append(f"{context.get('message')}: {context.get('exception')!r}")
        loop.default_exception_handler(context)

    loop.set_exception_handler(record)
    yield seen
    loop.set_exception_handler(None)


@pytest.fixture(params=["in-process", "subprocess"])
def target(request, loop_troubles) -> Target:
    if request.param == "in-process":
        server = request.getfixturevalue("world")
        return Target("in-process", server.ports, lambda: True, lambda: list(loop_troubles))
    process: WorldProcess = request.getfixturevalue("world_subprocess")
    assert process.alive()
    assert process.log is not None
    start = process.log.stat().st_size

    def troubles() -> list[str]:
        with open(process.log, "rb") as log:
            log.seek(start)
            text = log.read().decode(errors="replace")
        return [line for line in text.splitlines() if CRASH.search(line)]

    return Target("subprocess", process.ports, process.alive, troubles)


class Guard:
    """A healthy UPS + Amazon pair on a world of its own, opened before any bad input."""

    def __init__(self, target: Target, ups: WorldClient, amazon: WorldClient):
        self.target, self.ups, self.amazon = target, ups, amazon

    async def check(self) -> None:
        """The world survived: alive, no crash logged, round trips and new connections work."""
        assert self.target.alive(), f"{self.target.name} world died"
        trucks = len(self.ups.of_type(wu.UTruck))
        self.ups.send(wu.UQuery(truckid=1))
        query = self.amazon.send(wa.AQuery(packageid=424_242))
        await self.ups.wait_for(lambda: len(self.ups.of_type(wu.UTruck)) > trucks)
        await self.amazon.wait_result(wa.AErr, lambda r: r.originseqnum == query)
        fresh = await RawLink.join(Side.AMAZON, self.target.ports[Side.AMAZON], places=WAREHOUSES)
        await fresh.close()
        assert self.target.troubles() == []
        assert self.target.alive()


@pytest.fixture
async def guard(target):
    ups, amazon = await connect_pair(target.ports)
    yield Guard(target, ups, amazon)
    await amazon.abort()
    await ups.abort()


def connect_frame(side: Side, world_id: int | None = None) -> bytes:
    message: wa.AConnect | wu.UConnect
    if side is Side.AMAZON:
        message = wa.AConnect(isAmazon=True, initwh=[wa.AInitWarehouse(id=1, x=10, y=10)])
    else:
        message = wu.UConnect(isAmazon=False, trucks=[wu.UInitTruck(id=1, x=0, y=0)])
    if world_id is not None:
        message.worldid = world_id
    return encode_frame(message.SerializeToString())


def varint_field(number: int, value: int) -> bytes:
    """A varint field of any size, whatever the field's declared type."""
    return encode_varint(number << 3) + encode_varint(value % 2**64)


def message_field(number: int, body: bytes) -> bytes:
    return encode_varint(number << 3 | 2) + encode_varint(len(body)) + body


# -- the first frame ----------------------------------------------------------------------

CLOSED = "closed"  # the world closes the connection, with no reply
REFUSED_CLOSED = "refused, closed"  # it replies "error: ..." (worldid -1), then closes
REFUSED = "refused"  # it replies "error: ..."; the connection may try again

FIRST_FRAMES = {
    "garbage frame": (Side.AMAZON, encode_frame(b"\xde\xad\xbe\xef" * 4), REFUSED_CLOSED),
    "garbage bytes": (Side.UPS, b"\xff" * 12 + b"garbage", CLOSED),
    "empty frame": (Side.UPS, b"\x00", REFUSED_CLOSED),
    "commands instead of connect (amazon)": (
        Side.AMAZON,
        encode_frame(
            wa.ACommands(
                buy=[wa.APurchaseMore(whnum=1, seqnum=1)], acks=[1], simspeed=5
            ).SerializeToString()
        ),
        REFUSED_CLOSED,
    ),
    "commands instead of connect (ups)": (
        Side.UPS,
        encode_frame(
            wu.UCommands(pickups=[wu.UGoPickup(truckid=1, whid=1, seqnum=1)]).SerializeToString()
        ),
        REFUSED_CLOSED,
    ),
    "length varint of 6 bytes": (Side.AMAZON, b"\x80" * 5 + b"\x01" + b"\x08\x01", CLOSED),
    "length varint of 10 bytes": (Side.UPS, encode_varint(2**63) + b"\x08\x01", CLOSED),
    "declared length 2**31": (Side.AMAZON, encode_varint(2**31) + b"\x18\x01", CLOSED),
    "declared length 2**32 - 1": (Side.UPS, encode_varint(2**32 - 1), CLOSED),
    "declared length just over the limit": (
        Side.AMAZON,
        encode_varint(DEFAULT_MAX_FRAME + 1) + b"\x18\x01",
        CLOSED,
    ),
    "UConnect on the Amazon port": (
        Side.AMAZON,
        encode_frame(
            wu.UConnect(isAmazon=False, trucks=[wu.UInitTruck(id=1, x=2, y=3)]).SerializeToString()
        ),
        REFUSED,
    ),
    "AConnect on the UPS port": (
        Side.UPS,
        encode_frame(
            wa.AConnect(
                isAmazon=True, initwh=[wa.AInitWarehouse(id=1, x=2, y=3)]
            ).SerializeToString()
        ),
        REFUSED,
    ),
    "connect to a world that does not exist": (Side.UPS, connect_frame(Side.UPS, 10**12), REFUSED),
    "connect to world -1": (Side.AMAZON, connect_frame(Side.AMAZON, -1), REFUSED),
}


@pytest.mark.parametrize("case", list(FIRST_FRAMES))
async def test_bad_first_frame(target, guard, case):
    side, data, expected = FIRST_FRAMES[case]
    link = await RawLink.open(side, target.ports[side])
    link.write_bytes(data)
    if expected == REFUSED:
        await link.wait_for(lambda: link.replies or link.eof)
        assert not link.eof
        assert link.replies[0].result.startswith("error:"), link.replies[0]
        # The connection is still good for a proper connect.
        reply = await link.handshake(places=[(5, 1, 1)])
        assert reply.result == CONNECTED
    else:
        await link.wait_closed()
        if expected == CLOSED:
            assert link.replies == []
        else:
            assert len(link.replies) == 1
            assert link.replies[0].result.startswith("error:"), link.replies[0]
            assert link.replies[0].worldid == -1
        assert link.messages == []
    await link.close()
    await guard.check()


@pytest.mark.parametrize("side", [Side.AMAZON, Side.UPS])
async def test_half_a_first_frame_then_gone(target, guard, side):
    link = await RawLink.open(side, target.ports[side])
    link.write_bytes(connect_frame(side)[:-3])
    await link.close()
    # A declared length the peer never fills, then a reset.
    link = await RawLink.open(side, target.ports[side])
    link.write_bytes(encode_varint(1000) + b"\x08\x01")
    await link.writer.drain()
    link.abort()
    await guard.check()


async def test_half_a_commands_frame_then_gone(target, guard):
    link = await RawLink.join(Side.AMAZON, target.ports[Side.AMAZON], places=WAREHOUSES)
    link.send(simspeed=FAST)
    product = wa.AProduct(id=7, description="book", count=3)
    buy = wa.ACommands(buy=[wa.APurchaseMore(whnum=1, things=[product], seqnum=1)])
    link.write_bytes(encode_frame(buy.SerializeToString())[:-2])
    await link.close()
    # The world is there, and the half-sent purchase never ran: product 7 is unknown.
    again = await RawLink.join(Side.AMAZON, target.ports[Side.AMAZON], link.world_id)
    again.auto_ack = True
    product.count = 1
    again.send(topack=[wa.APack(whnum=1, things=[product], shipid=1, seqnum=2)])
    refused = (await again.wait_for(lambda: errors(again, 2)))[0]
    assert "product_id 7 does not exist" in refused.err
    await again.close()
    await guard.check()


# -- frames after a good connect ----------------------------------------------------------

MALFORMED_BODIES = {
    "truncated sub-message": b"\x0a\x02\x08",
    "wire format garbage": b"\xff\xff\xff\xff",
    "varint of 11 bytes": b"\x38" + b"\xff" * 10 + b"\x01",
    "sub-command without seqnum": None,  # filled in per side below
}


def malformed_body(side: Side, case: str) -> bytes:
    body = MALFORMED_BODIES[case]
    if body is not None:
        return body
    if side is Side.AMAZON:
        return wa.ACommands(buy=[wa.APurchaseMore(whnum=1)]).SerializePartialToString()
    return wu.UCommands(queries=[wu.UQuery(truckid=1)]).SerializePartialToString()


async def joined(target: Target, side: Side) -> RawLink:
    places = WAREHOUSES if side is Side.AMAZON else TRUCKS
    link = await RawLink.join(side, target.ports[side], places=places)
    link.auto_ack = True
    return link


def errors(link: RawLink, origin: int) -> list:
    return [r for r in link.of_type(DIALECTS[link.side].error) if r.originseqnum == origin]


def query(side: Side, seqnum: int, unknown_id: int = 98_765):
    if side is Side.AMAZON:
        return {"queries": [wa.AQuery(packageid=unknown_id, seqnum=seqnum)]}
    return {"queries": [wu.UQuery(truckid=unknown_id, seqnum=seqnum)]}


@pytest.mark.parametrize("side", [Side.AMAZON, Side.UPS])
@pytest.mark.parametrize("case", list(MALFORMED_BODIES))
async def test_malformed_commands_get_an_error_and_the_connection_goes_on(
    target, guard, side, case
):
    link = await joined(target, side)
    link.write_bytes(encode_frame(malformed_body(side, case)))
    error = (await link.wait_for(lambda: errors(link, -1)))[0]
    assert error.err.startswith("error:"), error.err
    # The same connection still works.
    link.send(**query(side, 1))
    answer = (await link.wait_for(lambda: errors(link, 1)))[0]
    assert "98765" in answer.err
    assert not link.eof
    await link.close()
    await guard.check()


async def test_wrong_message_types_after_connect(target, guard):
    amazon = await joined(target, Side.AMAZON)
    ups = await joined(target, Side.UPS)
    # UPS's commands on the Amazon port, Amazon's on the UPS port, a connect again,
    # and the world's own responses sent back up. (No acks: field 6 of UCommands and of
    # AResponses is ACommands.disconnect, and the world would rightly say goodbye.)
    amazon.write_bytes(
        encode_frame(
            wu.UCommands(
                pickups=[wu.UGoPickup(truckid=1, whid=1, seqnum=41)],
                queries=[wu.UQuery(truckid=1, seqnum=42)],
            ).SerializeToString()
        )
    )
    ups.write_bytes(
        encode_frame(
            wa.ACommands(
                topack=[wa.APack(whnum=1, shipid=3, seqnum=43)], simspeed=7, disconnect=False
            ).SerializePartialToString()
        )
    )
    amazon.write_bytes(connect_frame(Side.AMAZON))
    ups.write_bytes(connect_frame(Side.UPS, ups.world_id))
    amazon.write_bytes(
        encode_frame(
            wa.AResponses(
                arrived=[wa.APurchaseMore(whnum=1, seqnum=44)], finished=True
            ).SerializeToString()
        )
    )
    ups.write_bytes(
        encode_frame(
            wu.UResponses(
                completions=[wu.UFinished(truckid=1, x=1, y=1, status="IDLE", seqnum=45)]
            ).SerializeToString()
        )
    )
    # Whatever the world made of them, both connections still answer a query.
    for link in (amazon, ups):
        link.send(**query(link.side, 100))
        await link.wait_for(lambda link=link: errors(link, 100))
        assert not link.eof
        await link.close()
    await guard.check()


async def test_values_too_big_for_int32_fields(target, guard):
    # Connects whose int32 coordinates and ids are sent as 64-bit varints.
    for side in Side:
        # initwh / trucks (field 2): id, x, y; then isAmazon (field 3).
        place = varint_field(1, 2**40 + 3) + varint_field(2, 2**35) + varint_field(3, -(2**40))
        request = message_field(2, place) + varint_field(3, side is Side.AMAZON)
        link = await RawLink.open(side, target.ports[side])
        link.write_bytes(encode_frame(request))
        await link.wait_for(lambda link=link: link.replies or link.eof)
        assert link.replies, f"no reply on the {side} port"
        await link.close()

    amazon = await joined(target, Side.AMAZON)
    ups = await joined(target, Side.UPS)
    product = varint_field(1, 2**70 % 2**64) + message_field(2, b"x") + varint_field(3, 2**33 + 2)
    # APurchaseMore: whnum (int32) far over 2**31, a count over 2**32.
    buy = varint_field(1, 2**40 + 77) + message_field(2, product) + varint_field(3, 1)
    # APack: whnum 2**31 (int32 overflow), shipid 2**63 - 1.
    pack = (
        varint_field(1, 2**31)
        + message_field(2, product)
        + varint_field(3, 2**63 - 1)
        + varint_field(4, 2)
    )
    # APutOnTruck: truckid -2**40, whnum 2**32.
    load = (
        varint_field(1, 2**32) + varint_field(2, -(2**40)) + varint_field(3, 7) + varint_field(4, 3)
    )
    amazon.write_bytes(
        encode_frame(message_field(1, buy) + message_field(2, pack) + message_field(3, load))
    )
    # UGoPickup: truckid 2**32 + 1, whid 2**45. UGoDeliver: truckid 2**31 + 1, package 5
    # to x = 2**33, y = -2**40. UQuery: truckid 2**32 + 2.
    pickup = varint_field(1, 2**32 + 1) + varint_field(2, 2**45) + varint_field(3, 1)
    location = varint_field(1, 5) + varint_field(2, 2**33) + varint_field(3, -(2**40))
    deliver = varint_field(1, 2**31 + 1) + message_field(2, location) + varint_field(3, 2)
    uquery = varint_field(1, 2**32 + 2) + varint_field(2, 3)
    ups.write_bytes(
        encode_frame(
            message_field(1, pickup) + message_field(2, deliver) + message_field(5, uquery)
        )
    )
    # Each command is acked or refused as malformed; none brings anything down.
    await amazon.wait_for(lambda: {1, 2, 3} <= set(amazon.acks()) or errors(amazon, -1))
    await ups.wait_for(lambda: {1, 2, 3} <= set(ups.acks()) or errors(ups, -1))
    for link in (amazon, ups):
        link.send(**query(link.side, 100))
        await link.wait_for(lambda link=link: errors(link, 100))
        await link.close()
    await guard.check()


UNKNOWN_IDS = {
    "buy at an unknown warehouse": (Side.AMAZON, "buy", wa.APurchaseMore(whnum=99, seqnum=1), 99),
    "pack at an unknown warehouse": (
        Side.AMAZON,
        "topack",
        wa.APack(whnum=99, things=[wa.AProduct(id=1, description="x", count=1)], shipid=5),
        99,
    ),
    "pack an unknown product": (
        Side.AMAZON,
        "topack",
        wa.APack(whnum=1, things=[wa.AProduct(id=555, description="x", count=1)], shipid=5),
        555,
    ),
    "load onto an unknown truck": (
        Side.AMAZON,
        "load",
        wa.APutOnTruck(whnum=1, truckid=99, shipid=5),
        99,
    ),
    "load an unknown package": (
        Side.AMAZON,
        "load",
        wa.APutOnTruck(whnum=1, truckid=1, shipid=98_765),
        98_765,
    ),
    "query an unknown package": (Side.AMAZON, "queries", wa.AQuery(packageid=98_765), 98_765),
    "pickup by an unknown truck": (Side.UPS, "pickups", wu.UGoPickup(truckid=99, whid=1), 99),
    "pickup at an unknown warehouse": (Side.UPS, "pickups", wu.UGoPickup(truckid=1, whid=99), 99),
    "deliver with an unknown truck": (Side.UPS, "deliveries", wu.UGoDeliver(truckid=99), 99),
    "deliver an unknown package": (
        Side.UPS,
        "deliveries",
        wu.UGoDeliver(truckid=1, packages=[wu.UDeliveryLocation(packageid=98_765, x=1, y=1)]),
        98_765,
    ),
    "query an unknown truck": (Side.UPS, "queries", wu.UQuery(truckid=99), 99),
}


@pytest.mark.parametrize("case", list(UNKNOWN_IDS))
async def test_unknown_ids_get_errors(target, guard, case):
    side, field_name, command, unknown = UNKNOWN_IDS[case]
    # One world with both sides, so only the named id is unknown.
    ups = await joined(target, Side.UPS)
    amazon = await RawLink.join(
        Side.AMAZON, target.ports[Side.AMAZON], ups.world_id, places=WAREHOUSES
    )
    amazon.auto_ack = True
    link = amazon if side is Side.AMAZON else ups
    command.seqnum = 11
    link.send(**{field_name: [command]})
    error = (await link.wait_for(lambda: errors(link, 11)))[0]
    assert error.err.startswith("error:"), error.err
    assert re.search(rf"\b{unknown}\b", error.err), error.err
    assert 11 in link.acks()
    await amazon.close()
    await ups.close()
    await guard.check()


# -- fuzz ---------------------------------------------------------------------------------


def fuzz_templates(side: Side, rng: random.Random) -> tuple[bytes, list[bytes]]:
    """A valid connect frame and valid commands frames for ``side``, with random values."""
    connect: wa.AConnect | wu.UConnect
    commands: list[wa.ACommands] | list[wu.UCommands]
    if side is Side.AMAZON:
        connect = wa.AConnect(
            isAmazon=True,
            initwh=[wa.AInitWarehouse(id=n, x=rng.randrange(-50, 50), y=n) for n in (1, 2)],
        )
        if rng.random() < 0.2:
            connect.worldid = rng.randrange(0, 8)
        product = wa.AProduct(id=rng.randrange(1, 4), description="p", count=rng.randrange(1, 9))
        commands = [
            wa.ACommands(
                buy=[wa.APurchaseMore(whnum=1, things=[product], seqnum=1)],
                simspeed=FAST,
                acks=[1, 2],
            ),
            wa.ACommands(
                topack=[wa.APack(whnum=1, things=[product], shipid=rng.randrange(9), seqnum=2)],
                load=[wa.APutOnTruck(whnum=1, truckid=1, shipid=rng.randrange(9), seqnum=3)],
                queries=[wa.AQuery(packageid=rng.randrange(9), seqnum=4)],
            ),
            wa.ACommands(disconnect=True, acks=[3]),
        ]
    else:
        connect = wu.UConnect(
            isAmazon=False,
            trucks=[wu.UInitTruck(id=n, x=rng.randrange(-50, 50), y=n) for n in (1, 2)],
        )
        if rng.random() < 0.2:
            connect.worldid = rng.randrange(0, 8)
        location = wu.UDeliveryLocation(packageid=rng.randrange(9), x=3, y=rng.randrange(-9, 9))
        commands = [
            wu.UCommands(
                pickups=[wu.UGoPickup(truckid=1, whid=rng.randrange(3), seqnum=1)],
                simspeed=FAST,
            ),
            wu.UCommands(
                deliveries=[wu.UGoDeliver(truckid=rng.randrange(3), packages=[location], seqnum=2)],
                queries=[wu.UQuery(truckid=2, seqnum=3)],
                acks=[1],
            ),
            wu.UCommands(disconnect=True),
        ]
    frames = [encode_frame(c.SerializeToString()) for c in commands]
    return encode_frame(connect.SerializeToString()), frames


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(6)
        if op == 0 and out:  # flip bits
            for _ in range(rng.randrange(1, 4)):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif op == 1 and out:  # truncate
            del out[rng.randrange(len(out)) :]
        elif op == 2:  # another length in front
            length = rng.choice([0, 1, rng.randrange(200), rng.randrange(2**35), 2**31])
            out[:1] = encode_varint(length)
        elif op == 3:  # insert random bytes
            at = rng.randrange(len(out) + 1)
            out[at:at] = rng.randbytes(rng.randrange(1, 8))
        elif op == 4 and out:  # cut a slice out
            at = rng.randrange(len(out))
            del out[at : at + rng.randrange(1, 6)]
        else:  # repeat a slice
            at = rng.randrange(len(out) + 1)
            out[at:at] = out[at : at + rng.randrange(1, 12)]
    return bytes(out)


def fuzz_input(rng: random.Random) -> tuple[Side, bytes]:
    side = rng.choice([Side.AMAZON, Side.UPS])
    connect, commands = fuzz_templates(side, rng)
    kind = rng.randrange(5)
    if kind == 0:  # noise
        return side, rng.randbytes(rng.randrange(0, 80))
    if kind == 1:  # a damaged connect
        return side, mutate(connect, rng)
    if kind == 2:  # a good connect, then noise
        return side, connect + rng.randbytes(rng.randrange(1, 60))
    # a good (or damaged) connect, then good and damaged commands
    first = connect if kind == 3 else mutate(connect, rng)
    rest = [mutate(f, rng) if rng.random() < 0.6 else f for f in commands]
    return side, first + b"".join(rng.sample(rest, rng.randrange(1, len(rest) + 1)))


async def poke(ports: dict[Side, int], side: Side, data: bytes) -> None:
    """Send ``data``, then end our half; the world must close its half in the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", ports[side])
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
            writer.write_eof()
        async with asyncio.timeout(10):
            with contextlib.suppress(ConnectionError):
                while await reader.read(65536):
                    pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def random_commands(side: Side, rng: random.Random, seqnums: list[int]):
    """A commands message of random but well-formed sub-commands. The ids are few and
    mostly valid, so that commands meet (packages get packed, loaded and delivered):
    the engine's rules get exercised, not just its parser."""

    def seqnum() -> int:
        if seqnums and rng.random() < 0.1:
            return rng.choice(seqnums)  # a repeat
        seqnums.append(len(seqnums) + 1)
        return seqnums[-1]

    def warehouse() -> int:
        return rng.choice([1, 1, 1, 2, 3])

    def truck() -> int:
        return rng.choice([1, 1, 2, 4])

    def package() -> int:
        return rng.randrange(1, 5)

    def products(most: int) -> list[wa.AProduct]:
        return [
            wa.AProduct(id=rng.choice([1, 1, 2]), description="p", count=rng.randrange(1, most))
            for _ in range(rng.randrange(1, 3))
        ]

    message: wa.ACommands | wu.UCommands
    if side is Side.AMAZON:
        message = wa.ACommands()
        for _ in range(rng.randrange(1, 4)):
            kind = rng.randrange(4)
            if kind == 0:
                message.buy.add(whnum=warehouse(), things=products(20), seqnum=seqnum())
            elif kind == 1:
                message.topack.add(
                    whnum=warehouse(), things=products(3), shipid=package(), seqnum=seqnum()
                )
            elif kind == 2:
                message.load.add(
                    whnum=warehouse(), truckid=truck(), shipid=package(), seqnum=seqnum()
                )
            else:
                message.queries.add(packageid=package(), seqnum=seqnum())
    else:
        message = wu.UCommands()
        for _ in range(rng.randrange(1, 3)):
            kind = rng.randrange(3)
            if kind == 0:
                message.pickups.add(truckid=truck(), whid=warehouse(), seqnum=seqnum())
            elif kind == 1:
                stops = [
                    wu.UDeliveryLocation(
                        packageid=package(), x=rng.randrange(-30, 30), y=rng.randrange(-30, 30)
                    )
                    for _ in range(rng.randrange(0, 4))
                ]
                message.deliveries.add(truckid=truck(), packages=stops, seqnum=seqnum())
            else:
                message.queries.add(truckid=truck(), seqnum=seqnum())
    if rng.random() < 0.05:
        message.simspeed = rng.choice([FAST, 2**32 - 1, 50_000])
    elif rng.random() < 0.005:
        message.simspeed = rng.choice([0, 1])  # the slowest: that world's events stall
    if rng.random() < 0.01:
        message.disconnect = True
    return message


async def random_session(ports: dict[Side, int], rng: random.Random, steps: int = 80) -> None:
    """A world of its own, driven by random commands, some of them damaged."""
    ups = await RawLink.join(Side.UPS, ports[Side.UPS], places=((1, 0, 0), (2, 5, 5), (3, -5, 0)))
    amazon = await RawLink.join(Side.AMAZON, ports[Side.AMAZON], ups.world_id, WAREHOUSES)
    ups.auto_ack = amazon.auto_ack = rng.random() < 0.8
    ups.send(simspeed=FAST)
    amazon.send(simspeed=FAST)
    seqnums: dict[Side, list[int]] = {Side.UPS: [], Side.AMAZON: []}
    damage = rng.choice([0.0, 0.03])  # how often a frame is damaged
    usable = [ups, amazon]  # a link is dropped after it sends a damaged frame or is closed
    for _ in range(steps):
        usable = [link for link in usable if not link.eof]
        if not usable:
            break
        link = rng.choice(usable)
        message = random_commands(link.side, rng, seqnums[link.side])
        frame = encode_frame(message.SerializeToString())
        if rng.random() < damage:
            # The stream may be out of step from here on: nothing more to expect on it.
            link.write_bytes(mutate(frame, rng))
            usable.remove(link)
            continue
        link.write_bytes(frame)
        # Let the world answer (and time pass) before the next step.
        fields = DIALECTS[link.side].command_fields
        wanted = {c.seqnum for name in fields for c in getattr(message, name)}
        # The defaults pin this step's link and seqnums; mypy cannot type such a lambda.
        await link.wait_for(lambda link=link, wanted=wanted: wanted <= set(link.acks()) or link.eof)  # type: ignore[misc]
    await amazon.close()
    await ups.close()


async def test_fuzz_a_world_process(world_process):
    process = world_process()
    ups, amazon = await connect_pair(process.ports)
    world_id = ups.world_id
    rng = random.Random(20_240_607)
    inputs = [fuzz_input(rng) for _ in range(1000)]
    for start in range(0, len(inputs), 25):
        batch = inputs[start : start + 25]
        await asyncio.gather(*(poke(process.ports, side, data) for side, data in batch))
        assert process.alive(), f"the world died during fuzz inputs {start}-{start + 25}"
    for _ in range(6):
        await asyncio.gather(*(random_session(process.ports, rng) for _ in range(10)))
        assert process.alive(), "the world died during random sessions"

    log = process.log.read_text(errors="replace")
    assert not [line for line in log.splitlines() if CRASH.search(line)]
    assert "malformed" in log and "bad framing" in log  # the fuzz did reach both paths

    # The healthy pair, connected all along, runs a whole order.
    await order(ups, amazon)
    await amazon.close()
    await ups.close()

    # The journal, fuzz and all, replays after a kill -9.
    process.kill()
    process.start()
    link = await RawLink.join(Side.UPS, process.ports[Side.UPS], world_id)
    link.send(queries=[wu.UQuery(truckid=1, seqnum=1000)])  # a seqnum the world has not seen
    truck = (await link.wait_for(lambda: link.of_type(wu.UTruck)))[0]
    assert (truck.status, truck.x, truck.y) == ("IDLE", 3, 4)
    await link.close()
    ups, amazon = await connect_pair(process.ports)
    await order(ups, amazon)
    await amazon.close()
    await ups.close()
    assert process.alive()


async def order(ups: WorldClient, amazon: WorldClient) -> None:
    amazon.send(wa.APurchaseMore(whnum=1, things=[wa.AProduct(id=7, description="b", count=1)]))
    await amazon.wait_result(wa.APurchaseMore)
    amazon.send(wa.APack(whnum=1, things=[wa.AProduct(id=7, description="b", count=1)], shipid=1))
    ups.send(wu.UGoPickup(truckid=1, whid=1))
    await amazon.wait_result(wa.APacked)
    await ups.wait_result(wu.UFinished)
    amazon.send(wa.APutOnTruck(whnum=1, truckid=1, shipid=1))
    await amazon.wait_result(wa.ALoaded)
    ups.send(wu.UGoDeliver(truckid=1, packages=[wu.UDeliveryLocation(packageid=1, x=3, y=4)]))
    await ups.wait_result(wu.UDeliveryMade)
    idle = await ups.wait_result(wu.UFinished, lambda r: r.status == "IDLE")
    assert (idle.x, idle.y) == (3, 4)
