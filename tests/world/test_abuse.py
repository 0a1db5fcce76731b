"""A world that serves everyone fairly under abuse.

Each test plays one finding of the attacker's review, over real sockets, against a
world in this process (where its state can be looked at) or a world process (where
its latency and memory are its own): a huge frame, floods of bytes before and after the
handshake, a connect that never completes, too many connections, worlds nobody uses,
and memory after the abusers leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.framing import MalformedMessage, encode_frame, encode_varint
from amazon_ups.protocol.world_messages import CONNECTED, Side
from amazon_ups.testing.waiting import wait_until_async
from amazon_ups.testing.world import WorldProcess
from amazon_ups.world.client import WorldClient
from amazon_ups.world.faults import FaultConfig
from amazon_ups.world.limits import KiB, Limits, MiB
from amazon_ups.world.server import ServerConfig, WorldServer
from tests.support import RawLink, connect_pair
from tests.world.sqlite_memory import sqlite_memory_used

WAREHOUSES = ((1, 10, 10),)
UNKNOWN = 10**9  # package ids from here on do not exist: each query gets an AErr


@pytest.fixture
async def limited_world(tmp_path):
    """``await limited_world(limits=..., faults=...)``: a world in this event loop."""
    started: list[WorldServer] = []

    async def start(limits: Limits | None = None, **config: Any) -> WorldServer:
        server = WorldServer(
            ServerConfig(
                ups_port=0,
                amazon_port=0,
                state=tmp_path / "world.sqlite3",
                limits=limits or Limits(),
                **config,
            )
        )
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        if server._loop is not None:
            await server.stop()


def queries(count: int, first_seqnum: int = 1) -> wa.ACommands:
    return wa.ACommands(
        queries=[
            wa.AQuery(packageid=UNKNOWN + seqnum, seqnum=seqnum)
            for seqnum in range(first_seqnum, first_seqnum + count)
        ]
    )


def error_count(link: RawLink) -> int:
    """Errors received, every copy counted (the world re-sends until acked)."""
    return sum(len(message.error) for message in link.messages)


class Answers:
    """The errors a link received, once each (by world seqnum): world seqnum -> the
    command's seqnum. Read as messages arrive, so that waiting for them stays cheap."""

    def __init__(self, *links: RawLink) -> None:
        self.links = links
        self.read = [0] * len(links)
        self.by_world_seqnum: dict[int, int] = {}

    def __len__(self) -> int:
        for index, link in enumerate(self.links):
            for message in link.messages[self.read[index] :]:
                for error in message.error:
                    self.by_world_seqnum[error.seqnum] = error.originseqnum
            self.read[index] = len(link.messages)
        return len(self.by_world_seqnum)


def ack_count(link: RawLink) -> int:
    return sum(len(message.acks) for message in link.messages)


async def round_trip(client: WorldClient) -> float:
    """One query, timed from sending it to its result."""
    start = time.monotonic()
    seqnum = client.send(wa.AQuery(packageid=UNKNOWN - 1))
    await client.wait_result(wa.AErr, lambda r: r.originseqnum == seqnum, timeout=60)
    return time.monotonic() - start


async def closed_by_world(reader: asyncio.StreamReader, timeout: float = 10.0) -> bytes:
    """Everything the world sent until it closed the connection."""
    received = b""
    async with asyncio.timeout(timeout):
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                received += data
    return received


async def flood(writer: asyncio.StreamWriter, data: bytes) -> int:
    """Write ``data`` until the world cuts us off; how much it took."""
    sent = 0
    with contextlib.suppress(ConnectionError):
        for start in range(0, len(data), 256 * KiB):
            writer.write(data[start : start + 256 * KiB])
            await writer.drain()
            sent += min(256 * KiB, len(data) - start)
    return sent


def rss(pid: int) -> int:
    """Resident memory of process ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


# -- a huge frame ---------------------------------------------------------------------------

# The review's frame: 200,000 queries froze every world for 28 s. Here 100,000, let through
# by raised limits, so that the slicing (not the cap) is what keeps the other world served.
HUGE = 100_000
HUGE_LIMITS = (
    "--max-commands", str(HUGE), "--max-frame", str(4 * MiB),
    "--max-buffered-in", str(8 * MiB), "--max-unacked", str(4 * HUGE),
)  # fmt: skip
# The other world's round trip while the huge frame runs, at most; it was the whole
# frame's run (many seconds) before the slicing.
STALL_BOUND = 1.0


async def test_a_huge_frame_does_not_stall_another_world(world_process):
    world = world_process(*HUGE_LIMITS)
    ups, amazon = await connect_pair(world.ports)
    abuser = await RawLink.join(Side.AMAZON, world.ports[Side.AMAZON], places=WAREHOUSES)
    abuser.auto_ack = True
    quiet = [await round_trip(amazon) for _ in range(5)]

    started = time.monotonic()
    abuser.write(queries(HUGE))
    during = []
    while ack_count(abuser) < HUGE:
        during.append(await round_trip(amazon))
    took = time.monotonic() - started

    assert len(during) >= 5, f"the frame ran in {took:.2f} s, too fast to measure around"
    assert max(during) < STALL_BOUND, (
        f"another world waited up to {max(during):.2f} s (quiet: {max(quiet):.3f} s) "
        f"while the frame ran for {took:.2f} s"
    )
    # Exactly once: every query acked once and answered once.
    answers = Answers(abuser)
    await abuser.wait_for(lambda: len(answers) >= HUGE, timeout=60)
    acks = [seqnum for message in abuser.messages for seqnum in message.acks]
    assert sorted(acks) == list(range(1, HUGE + 1))
    assert sorted(answers.by_world_seqnum.values()) == list(range(1, HUGE + 1))
    # Nor were the results re-sent while the peer's acks waited behind its own frame.
    assert error_count(abuser) < HUGE * 1.05
    for client in (ups, amazon):
        await client.abort()
    await abuser.close()


async def test_a_huge_frame_is_journaled_in_slices_and_runs_once_across_kill_9(world_process):
    world = world_process(*HUGE_LIMITS, "--slice-commands", "512")
    abuser = await RawLink.join(Side.AMAZON, world.ports[Side.AMAZON], places=WAREHOUSES)
    abuser.auto_ack = True
    abuser.write(queries(HUGE))
    await abuser.wait_for(lambda: ack_count(abuser) > 5_000, timeout=30)
    world.kill()
    await abuser.wait_closed()
    acked = ack_count(abuser)
    with contextlib.closing(sqlite3.connect(world.state)) as db:
        slices, biggest = db.execute(
            "SELECT count(*), max(length(body)) FROM journal WHERE kind = 'commands'"
        ).fetchone()
    # Acked means journaled, slice by slice: no entry holds the whole frame, whose replay
    # would then be one long stall again.
    assert slices >= acked // 512
    assert biggest < len(queries(HUGE).SerializeToString()) // 10

    world = world_process(*HUGE_LIMITS, state=world.state)
    again = await RawLink.join(Side.AMAZON, world.ports[Side.AMAZON], abuser.world_id)
    again.auto_ack = True
    again.write(queries(HUGE))  # the client sends again what was not acked: all of it, here
    await again.wait_for(lambda: ack_count(again) >= HUGE, timeout=60)
    # Each query ran once: one error each, under one world seqnum, across both lives.
    answers = Answers(abuser, again)
    await again.wait_for(lambda: len(answers) >= HUGE, timeout=60)
    assert sorted(answers.by_world_seqnum.values()) == list(range(1, HUGE + 1))
    await again.close()


async def test_commands_past_the_cap_get_one_error_no_ack_and_go_later(limited_world):
    server = await limited_world(Limits(max_commands=100, max_unacked=1000))
    link = await RawLink.join(Side.AMAZON, server.ports[Side.AMAZON], places=WAREHOUSES)
    link.auto_ack = True
    link.write(queries(150))
    capped = await link.wait_for(lambda: [e for e in link.of_type(wa.AErr) if e.originseqnum == -1])
    assert capped[0].err.startswith("error: a commands message may hold at most 100")
    assert "held 150" in capped[0].err
    answers = Answers(link)
    await link.wait_for(lambda: len(answers) >= 101)
    assert sorted(link.acks()) == list(range(1, 101))
    # The peer sends the other 50 again, as it would any unacked command.
    link.write(queries(50, first_seqnum=101))
    await link.wait_for(lambda: ack_count(link) >= 150)
    assert sorted(link.acks()) == list(range(1, 151))
    assert server.engine.tally(link.world_id, Side.AMAZON).refused == 50
    await link.close()


# -- floods of bytes --------------------------------------------------------------------------


async def test_a_byte_flood_before_the_handshake_is_cut_at_the_connect_limit(limited_world):
    server = await limited_world()
    limit = server.limits.connect_max_frame
    # A declared length over the limit: closed at the length, nothing buffered.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.ports[Side.UPS])
    took = await flood(writer, encode_varint(15 * MiB) + b"\x00" * (15 * MiB))
    assert await closed_by_world(reader) == b""
    assert took < 15 * MiB
    # A length under the limit, then more bytes than a connect frame may have, in one
    # go: a connect frame, then the start of another, all before any reply was read.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.ports[Side.UPS])
    body = b"\x18\x00" + b"\x12\x00" * (limit // 2 - 2)
    took = await flood(writer, encode_varint(len(body) + 10) + body + b"\x00" * (15 * MiB))
    assert await closed_by_world(reader) == b""
    assert took < 15 * MiB
    writer.close()
    await wait_until_async(lambda: server.ledger.total == 0 and server.admission.total == 0)


async def test_unfinished_frames_are_cut_at_the_total_cap(limited_world):
    limits = Limits(
        max_frame=1 * MiB,
        max_buffered_in=1 * MiB + 64 * KiB,
        max_buffered_total=2 * MiB + 512 * KiB,
    )
    server = await limited_world(limits)
    port = server.ports[Side.AMAZON]
    links = [await RawLink.join(Side.AMAZON, port, places=WAREHOUSES) for _ in range(3)]
    frame = encode_frame(queries(80_000).SerializeToString())
    assert 900 * KiB < len(frame) < 1 * MiB
    for index, link in enumerate(links[:2]):
        link.write_bytes(frame[:-1])
        await link.writer.drain()
        await wait_until_async(lambda i=index: server.ledger.total >= (i + 1) * (len(frame) - 10))
    links[2].write_bytes(frame[:-1])
    await links[2].wait_closed()
    assert server.ledger.total <= limits.max_buffered_total
    # The first two were within the limits: their frames complete and run.
    for link in links[:2]:
        link.write_bytes(frame[-1:])
    for link in links[:2]:
        await link.wait_for(lambda link=link: ack_count(link) >= 10_000, timeout=30)
        assert not link.eof
        await link.close()
    await wait_until_async(lambda: server.ledger.total == 0)


async def test_one_connection_past_its_own_input_cap_is_cut(limited_world):
    server = await limited_world(Limits(max_frame=64 * KiB, max_buffered_in=64 * KiB))
    link = await RawLink.join(Side.UPS, server.ports[Side.UPS], places=((1, 0, 0),))
    link.write_bytes(encode_varint(64 * KiB + 1))
    await link.wait_closed()
    assert server.ledger.total == 0


# -- the connect frame ------------------------------------------------------------------------


async def test_a_connect_that_never_completes_is_closed_after_the_deadline(limited_world):
    server = await limited_world(Limits(connect_deadline=0.5))
    port = server.ports[Side.AMAZON]
    started = time.monotonic()
    silent = await asyncio.open_connection("127.0.0.1", port)
    half = await asyncio.open_connection("127.0.0.1", port)
    request = wa.AConnect(isAmazon=True, initwh=[wa.AInitWarehouse(id=1, x=1, y=1)])
    half[1].write(encode_frame(request.SerializeToString())[:-2])
    joined = await RawLink.join(Side.AMAZON, port, places=WAREHOUSES)
    for reader, _ in (silent, half):
        assert await closed_by_world(reader, timeout=5) == b""
    assert time.monotonic() - started >= 0.5
    # A connection that connected in time is not cut by the deadline.
    joined.send(queries=[wa.AQuery(packageid=UNKNOWN, seqnum=1)])
    await joined.wait_for(lambda: error_count(joined))
    assert not joined.eof
    await joined.close()
    for _, writer in (silent, half):
        writer.close()


# -- connection caps -------------------------------------------------------------------------


async def open_from(address: str, side: Side, port: int) -> RawLink:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
    return RawLink(side, reader, writer)


async def refused(link: RawLink) -> str:
    await link.wait_for(lambda: link.replies and link.eof)
    (reply,) = link.replies
    assert not isinstance(reply, MalformedMessage), str(reply)
    assert reply.worldid == -1
    return reply.result


async def test_connection_caps_refuse_clearly_while_others_keep_working(limited_world, caplog):
    caplog.set_level(logging.WARNING, logger="amazon_ups.world.server")
    server = await limited_world(Limits(max_connections=6, max_connections_per_address=4))
    ports = server.ports
    ups, amazon = await connect_pair(ports)  # two from 127.0.0.1
    extra = [await open_from("127.0.0.1", Side.UPS, ports[Side.UPS]) for _ in range(2)]
    await wait_until_async(lambda: server.admission.total == 4)

    one_too_many = await open_from("127.0.0.1", Side.UPS, ports[Side.UPS])
    text = await refused(one_too_many)
    assert text.startswith("error: too many connections from one address"), text

    others = [await open_from("127.0.0.2", Side.AMAZON, ports[Side.AMAZON]) for _ in range(2)]
    await wait_until_async(lambda: server.admission.total == 6)
    beyond = await open_from("127.0.0.3", Side.AMAZON, ports[Side.AMAZON])
    text = await refused(beyond)
    assert text.startswith("error: too many connections (the world serves at most 6"), text
    assert any("refused: error: too many connections" in r.getMessage() for r in caplog.records)

    # Those already in are served as before...
    await round_trip(amazon)
    reply = await others[0].handshake(places=WAREHOUSES)
    assert reply.result == CONNECTED
    # ... and a place freed is a place taken.
    await extra[0].close()
    await wait_until_async(lambda: server.admission.total == 5)
    late = await open_from("127.0.0.1", Side.UPS, ports[Side.UPS])
    assert (await late.handshake(places=((1, 0, 0),))).result == CONNECTED
    for link in (late, extra[1], *others):
        await link.close()
    await ups.abort()
    await amazon.abort()
    await wait_until_async(lambda: server.admission.total == 0)


# -- worlds nobody uses -----------------------------------------------------------------------


async def test_idle_worlds_are_retired_and_say_so(limited_world):
    server = await limited_world(Limits(world_idle=0.3))
    ups, amazon = await connect_pair(server.ports)
    kept_ups, kept_amazon = await connect_pair(server.ports)  # connected, however quiet
    retired = ups.world_id
    await ups.close()
    await amazon.close()
    await wait_until_async(lambda: retired not in server.engine.worlds, what="world retired")
    with pytest.raises(Exception) as refusal:
        await WorldClient.open(Side.UPS, "127.0.0.1", server.ports[Side.UPS], world_id=retired)
    assert re.fullmatch(
        rf"error: world {retired} was retired after 0\.[3-9] s idle", refusal.value.result
    ), refusal.value.result
    assert kept_ups.world_id in server.engine.worlds
    await round_trip(kept_amazon)
    # The state file forgets it too; a restarted world still says why.
    await server.stop()
    server = await limited_world(Limits(world_idle=3600))
    assert retired not in server.engine.worlds and retired in server.engine.retired
    for client in (kept_ups, kept_amazon):
        await client.abort()


async def test_beyond_the_count_the_longest_idle_world_makes_room(limited_world):
    server = await limited_world(Limits(max_worlds=2))
    port = server.ports[Side.UPS]
    first = await WorldClient.open(Side.UPS, "127.0.0.1", port, places=((1, 0, 0),))
    second = await WorldClient.open(Side.UPS, "127.0.0.1", port, places=((1, 0, 0),))
    await first.close()
    await second.close()
    third = await WorldClient.open(Side.UPS, "127.0.0.1", port, places=((1, 0, 0),))
    assert sorted(server.engine.worlds) == [second.world_id, third.world_id]
    with pytest.raises(Exception) as refusal:
        await WorldClient.open(Side.UPS, "127.0.0.1", port, world_id=first.world_id)
    assert refusal.value.result.startswith(f"error: world {first.world_id} was retired after"), (
        refusal.value.result
    )
    assert "to make room" in refusal.value.result
    # With every world connected, none can make room: a new one is refused.
    again = await WorldClient.open(Side.UPS, "127.0.0.1", port, world_id=second.world_id)
    with pytest.raises(Exception) as refusal:
        await WorldClient.open(Side.UPS, "127.0.0.1", port, places=((1, 0, 0),))
    assert refusal.value.result.startswith("error: too many worlds (2)"), refusal.value.result
    for client in (again, third):
        await client.abort()


# -- what the log says --------------------------------------------------------------------------


async def test_the_summary_counts_commands_dropped_by_flakiness(limited_world, caplog):
    caplog.set_level(logging.INFO, logger="amazon_ups.world.server")
    server = await limited_world(
        Limits(summary_every=0.2), faults=FaultConfig(flakiness=50, seed=3)
    )
    link = await RawLink.join(Side.AMAZON, server.ports[Side.AMAZON], places=WAREHOUSES)
    link.write(queries(100))
    await link.wait_for(lambda: link.acks())
    taken = len(link.acks())
    assert 0 < taken < 100
    line = f"world {link.world_id}: amazon in the last"
    expected = (
        f"{taken} commands, {taken} results, {taken} errors, {100 - taken} dropped by flakiness"
    )
    found = await wait_until_async(
        lambda: [r.getMessage() for r in caplog.records if line in r.getMessage()],
        what="a summary line",
    )
    assert found[0].endswith(expected), found[0]
    await link.close()


# -- memory ----------------------------------------------------------------------------------------

FLOODERS = 12


async def test_memory_goes_back_down_after_abusive_connections_close(world_process):
    """The review's twelve connections each sending 15 MiB of an unfinished frame, let in
    by raised limits: the world holds them while they are open and gives the memory back
    once they are gone."""
    world: WorldProcess = world_process(
        "--max-frame", str(16 * MiB), "--max-buffered-in", str(16 * MiB),
        "--max-buffered-total", str(512 * MiB),
    )  # fmt: skip
    assert world.proc is not None
    pid = world.proc.pid
    warm = await RawLink.join(Side.UPS, world.ports[Side.UPS], places=((1, 0, 0),))
    await warm.close()
    baseline = rss(pid)

    flooders = [
        await RawLink.join(Side.AMAZON, world.ports[Side.AMAZON], places=WAREHOUSES)
        for _ in range(FLOODERS)
    ]
    chunk = b"\x00" * (15 * MiB)
    for link in flooders:
        link.write_bytes(encode_varint(16 * MiB - 16) + chunk)
    for link in flooders:
        await link.writer.drain()
    peak = await wait_until_async(
        lambda: (value := rss(pid)) > baseline + FLOODERS * 10 * MiB and value,
        timeout=30,
        what="the world holding the unfinished frames",
    )
    for link in flooders:
        link.abort()
    # Back near where it was: within 10 % or 8 MiB of the baseline, whichever is more.
    # (Without memory.tune() and trim(), glibc kept some 15 MiB more here.)
    near = baseline + max(baseline // 10, 8 * MiB)
    after = await wait_until_async(
        lambda: (value := rss(pid)) <= near and value,
        timeout=30,
        what=f"RSS back under {near / MiB:.0f} MiB (baseline {baseline / MiB:.0f} MiB)",
    )
    assert peak - baseline > 100 * MiB and after <= near


async def test_after_an_abusive_connection_the_journal_gives_back_its_page_cache(limited_world):
    """Frames of queries, all answered and acked, grow the journal, and SQLite's page
    cache with it, to its cap; once the connection is gone the cache is given back
    (in the abuse benchmark, 2 MB of what the world kept)."""
    memory_used = sqlite_memory_used()
    server = await limited_world()
    link = await RawLink.join(Side.AMAZON, server.ports[Side.AMAZON], places=WAREHOUSES)
    link.auto_ack = True
    per_frame = server.limits.max_commands
    # Past the cap, as the abuser does: the frame is as big as allowed (its rest is
    # refused), so that closing the connection counts as the end of a burst.
    padding = queries(1, first_seqnum=10**9).SerializeToString()
    frames = 0
    while memory_used() < 1 * MiB:
        assert frames < 100, "the page cache never filled: nothing to give back"
        for _ in range(2):  # two at a time: the world holds more than TRIM_AFTER
            first = frames * per_frame + 1
            body = queries(per_frame, first_seqnum=first).SerializeToString()
            body += padding * ((server.limits.max_frame - len(body)) // len(padding))
            link.write_bytes(encode_varint(len(body)) + body)
            frames += 1
        await link.wait_for(lambda n=frames * per_frame: ack_count(link) >= n, timeout=60)
    await link.close()
    await wait_until_async(
        lambda: memory_used() < 512 * KiB,
        timeout=10,
        what=f"SQLite's memory back under 512 KiB (now {memory_used() / KiB:.0f} KiB)",
    )


async def test_with_the_default_limits_the_same_flood_takes_no_memory(world_process):
    world: WorldProcess = world_process()
    assert world.proc is not None
    pid = world.proc.pid
    baseline = rss(pid)
    links = [
        await RawLink.join(Side.AMAZON, world.ports[Side.AMAZON], places=WAREHOUSES)
        for _ in range(FLOODERS)
    ]
    before_handshake = [
        await asyncio.open_connection("127.0.0.1", world.ports[Side.UPS]) for _ in range(FLOODERS)
    ]
    for link in links:
        link.write_bytes(encode_varint(15 * MiB) + b"\x00" * (1 * MiB))
    for _, writer in before_handshake:
        writer.write(encode_varint(15 * MiB) + b"\x00" * (1 * MiB))
    for link in links:
        await link.wait_closed()
    for reader, writer in before_handshake:
        assert await closed_by_world(reader) == b""
        writer.close()
    assert rss(pid) < baseline + 16 * MiB


async def test_no_resends_pile_up_for_a_peer_that_is_not_reading(limited_world):
    """While the transport holds more than it should (the peer is not reading what it was
    sent), results are not sent again on top of their copies still in our buffer; once
    it drains, re-sends go as before."""
    server = await limited_world()
    link = await RawLink.join(Side.AMAZON, server.ports[Side.AMAZON], places=WAREHOUSES)
    link.write(queries(3))
    await link.wait_for(lambda: error_count(link) >= 3)
    results = [error.seqnum for message in link.messages for error in message.error]
    outbox = server.engine.worlds[link.world_id].sessions[Side.AMAZON].outbox
    ours = server.links[(link.world_id, Side.AMAZON)]
    later = time.time() + 60  # every re-send long due
    ours.pause_writing()  # what the transport calls past its high-water mark
    assert ours.resend_from() == float("inf")
    ours.flush(later)
    assert [outbox.sends(seqnum) for seqnum in results] == [1, 1, 1]
    ours.resume_writing()
    ours.flush(later)
    assert [outbox.sends(seqnum) for seqnum in results] == [2, 2, 2]
    await link.wait_for(lambda: error_count(link) >= 6)
