"""Durability: worlds survive kill -9 and clean stops of the world process.

The subprocess tests build a world in stable states (trucks standing still,
packages packed, loaded or delivered), leave some results unacked, stop the
process one way or another, start it again on the same state file and check
that everything a client could observe is as it was. The unit tests check the
journal's snapshot + replay path against an engine that was never stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import sqlite3
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.channel import SubMessage
from amazon_ups.protocol.framing import encode_frame
from amazon_ups.protocol.session import Outbox
from amazon_ups.protocol.world_messages import CONNECTED, DIALECTS, Side
from amazon_ups.world.engine import WorldEngine
from amazon_ups.world.journal import Entry, EntryKind, Journal, apply
from amazon_ups.world.model import WireResult
from amazon_ups.world.outbox import ResultOutbox
from tests.support import FAST, RawLink
from tests.world.sqlite_memory import sqlite_memory_used

TRUCKS = ((1, 0, 0), (2, 0, 0), (3, 0, 0))
WAREHOUSES = ((1, 10, 10), (2, -20, 5))
STOCK = 10  # units of product 7 bought at warehouse 1
# shipid -> units of product 7 in it
PACKAGES = {101: 2, 102: 1, 103: 1, 104: 1}
LEFT = STOCK - sum(PACKAGES.values())


def seven(count: int) -> wa.AProduct:
    return wa.AProduct(id=7, description="book", count=count)


M = TypeVar("M", bound=SubMessage)


def unacked(link: RawLink) -> dict[int, SubMessage]:
    """Results received but never acked by us (the world must still hold them)."""
    return {r.seqnum: r for r in link.results() if r.seqnum not in link.sent_acks}


def distinct(link: RawLink, message_type: type[M]) -> dict[int, M]:
    """The results of one type received, once each (by world seqnum)."""
    return {r.seqnum: r for r in link.of_type(message_type)}


@dataclass
class Built:
    world_id: int
    amazon_pending: dict[int, SubMessage] = field(default_factory=dict)
    ups_pending: dict[int, SubMessage] = field(default_factory=dict)
    amazon_acked: set[int] = field(default_factory=set)
    ups_acked: set[int] = field(default_factory=set)


async def build_world(ports: dict[Side, int]) -> Built:
    """Trucks 1 (at warehouse 1, loaded with 101 and 102), 2 (idle at home), 3 (idle where it
    delivered 104); package 103 packed; product 7: LEFT units; some results left unacked."""
    ups = await RawLink.join(Side.UPS, ports[Side.UPS], places=TRUCKS)
    amazon = await RawLink.join(
        Side.AMAZON, ports[Side.AMAZON], world_id=ups.world_id, places=WAREHOUSES
    )
    ups.auto_ack = amazon.auto_ack = True
    ups.send(simspeed=FAST)
    amazon.send(simspeed=FAST)

    amazon.send(buy=[wa.APurchaseMore(whnum=1, things=[seven(STOCK)], seqnum=1)])
    await amazon.wait_for(lambda: amazon.of_type(wa.APurchaseMore))
    amazon.send(
        topack=[
            wa.APack(whnum=1, things=[seven(units)], shipid=shipid, seqnum=seqnum)
            for seqnum, (shipid, units) in enumerate(PACKAGES.items(), start=2)
        ]
    )
    ups.send(
        pickups=[
            wu.UGoPickup(truckid=1, whid=1, seqnum=1),
            wu.UGoPickup(truckid=3, whid=1, seqnum=2),
        ]
    )
    await amazon.wait_for(lambda: len(amazon.of_type(wa.APacked)) == len(PACKAGES))
    await ups.wait_for(lambda: len(ups.of_type(wu.UFinished)) == 2)
    amazon.send(
        load=[
            wa.APutOnTruck(whnum=1, truckid=1, shipid=101, seqnum=6),
            wa.APutOnTruck(whnum=1, truckid=1, shipid=102, seqnum=7),
            wa.APutOnTruck(whnum=1, truckid=3, shipid=104, seqnum=8),
        ]
    )
    await amazon.wait_for(lambda: len(amazon.of_type(wa.ALoaded)) == 3)
    deliver = wu.UDeliveryLocation(packageid=104, x=30, y=40)
    ups.send(deliveries=[wu.UGoDeliver(truckid=3, packages=[deliver], seqnum=3)])
    await ups.wait_for(lambda: [r for r in ups.of_type(wu.UFinished) if r.status == "IDLE"])
    assert [r.packageid for r in ups.of_type(wu.UDeliveryMade)] == [104]
    assert amazon.of_type(wa.AErr) == [] and ups.of_type(wu.UErr) == []

    # From here on nothing is acked: these results must outlive the world process.
    ups.auto_ack = amazon.auto_ack = False
    amazon.send(queries=[wa.AQuery(packageid=101, seqnum=9), wa.AQuery(packageid=103, seqnum=10)])
    ups.send(queries=[wu.UQuery(truckid=2, seqnum=4)])
    await amazon.wait_for(lambda: len(amazon.of_type(wa.APackage)) >= 2)
    await ups.wait_for(lambda: ups.of_type(wu.UTruck))
    built = Built(
        world_id=ups.world_id,
        amazon_pending=unacked(amazon),
        ups_pending=unacked(ups),
        amazon_acked=set(amazon.sent_acks),
        ups_acked=set(ups.sent_acks),
    )
    assert len(built.amazon_pending) == 2 and len(built.ups_pending) == 1
    await amazon.close()
    await ups.close()
    return built


async def check_world(ports: dict[Side, int], built: Built) -> None:
    """Everything built is still there, exactly."""
    ups = await RawLink.open(Side.UPS, ports[Side.UPS])
    assert (await ups.handshake(built.world_id)).result == CONNECTED
    amazon = await RawLink.open(Side.AMAZON, ports[Side.AMAZON])
    assert (await amazon.handshake(built.world_id)).result == CONNECTED

    # The unacked results come again, the very same; acked ones do not.
    await amazon.wait_for(lambda: set(built.amazon_pending) <= set(amazon.result_seqnums()))
    await ups.wait_for(lambda: set(built.ups_pending) <= set(ups.result_seqnums()))
    for link, pending, acked in (
        (amazon, built.amazon_pending, built.amazon_acked),
        (ups, built.ups_pending, built.ups_acked),
    ):
        assert all(r == pending[r.seqnum] for r in link.results() if r.seqnum in pending)
        assert not acked & set(link.result_seqnums())
        link.ack(*pending)
    amazon.auto_ack = ups.auto_ack = True

    # Seqnums seen before the restart are still known: acked again, not run again.
    # (The repeated purchase would add STOCK units; the repeated query would be
    # answered with a new world seqnum.)
    amazon.send(
        buy=[wa.APurchaseMore(whnum=1, things=[seven(STOCK)], seqnum=1)],
        queries=[wa.AQuery(packageid=101, seqnum=9)],
    )
    ups.send(queries=[wu.UQuery(truckid=2, seqnum=4)])
    await amazon.wait_for(lambda: {1, 9} <= set(amazon.acks()))
    await ups.wait_for(lambda: 4 in ups.acks())

    # Packages and trucks are where they were.
    amazon.send(queries=[wa.AQuery(packageid=shipid, seqnum=20 + shipid) for shipid in PACKAGES])
    ups.send(queries=[wu.UQuery(truckid=truck, seqnum=10 + truck) for truck in (1, 2, 3)])
    await amazon.wait_for(lambda: len(distinct(amazon, wa.APackage)) >= 2 + len(PACKAGES))
    await ups.wait_for(lambda: len(distinct(ups, wu.UTruck)) >= 1 + 3)
    answers = [r for n, r in distinct(amazon, wa.APackage).items() if n not in built.amazon_pending]
    assert sorted((r.packageid, r.status) for r in answers) == [
        (101, "LOADED"),
        (102, "LOADED"),
        (103, "PACKED"),
        (104, "DELIVERED"),
    ]
    trucks = [r for n, r in distinct(ups, wu.UTruck).items() if n not in built.ups_pending]
    assert sorted((t.truckid, t.status, t.x, t.y) for t in trucks) == [
        (1, "ARRIVE WAREHOUSE", 10, 10),
        (2, "IDLE", 0, 0),
        (3, "IDLE", 30, 40),
    ]

    # Stock: exactly LEFT units. The one-more check runs after a packing, which takes
    # as long as a purchase: a repeated purchase, had it run, would have arrived.
    amazon.send(topack=[wa.APack(whnum=1, things=[seven(LEFT)], shipid=105, seqnum=30)])
    packed = await amazon.wait_for(
        lambda: (
            [r for r in amazon.of_type(wa.APacked) if r.shipid == 105]
            or [r for r in amazon.of_type(wa.AErr) if r.originseqnum == 30]
        )
    )
    assert isinstance(packed[0], wa.APacked), packed[0]
    amazon.send(topack=[wa.APack(whnum=1, things=[seven(1)], shipid=106, seqnum=31)])
    refused = await amazon.wait_for(
        lambda: [r for r in amazon.of_type(wa.AErr) if r.originseqnum == 31]
    )
    assert "has 0 of product 7" in refused[0].err
    # Nothing else went wrong, and no old command was run a second time: there is one
    # answer about package 101 and one about truck 2 from before the restart, one after.
    assert [r.originseqnum for r in amazon.of_type(wa.AErr)] == [31]
    assert ups.of_type(wu.UErr) == []
    assert len(distinct(amazon, wa.APackage)) == 2 + len(PACKAGES)
    assert [r.packageid for r in distinct(amazon, wa.APackage).values()].count(101) == 2
    assert len(distinct(ups, wu.UTruck)) == 1 + 3
    assert [r.truckid for r in distinct(ups, wu.UTruck).values()].count(2) == 2

    # And the world goes on: truck 1 delivers what it holds.
    ups.send(
        deliveries=[
            wu.UGoDeliver(
                truckid=1,
                packages=[
                    wu.UDeliveryLocation(packageid=101, x=1, y=1),
                    wu.UDeliveryLocation(packageid=102, x=2, y=2),
                ],
                seqnum=20,
            )
        ]
    )
    await ups.wait_for(lambda: len(ups.of_type(wu.UDeliveryMade)) == 2)
    await amazon.close()
    await ups.close()


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM"])
async def test_world_survives_a_restart(world_process, how):
    process = world_process()
    built = await build_world(process.ports)
    if how == "kill -9":
        process.kill()
    else:
        assert process.stop() == 0
    process.start()
    await check_world(process.ports, built)

    # World ids are never reused: a new world gets the next one.
    fresh = await RawLink.join(Side.UPS, process.ports[Side.UPS], places=TRUCKS)
    assert fresh.world_id == built.world_id + 1
    await fresh.close()


async def test_world_survives_two_restarts_in_a_row(world_process):
    process = world_process()
    built = await build_world(process.ports)
    process.kill()
    process.start()
    assert process.stop() == 0  # a snapshot of the replayed state
    process.start()
    await check_world(process.ports, built)


async def test_every_command_acked_before_kill_9_is_kept(world_process):
    """Stream purchases, kill -9 mid-stream: every purchase the world acked has happened,
    and after a correct client re-sends the rest, each has happened exactly once."""
    process = world_process()
    ups = await RawLink.join(Side.UPS, process.ports[Side.UPS], places=TRUCKS)
    amazon = await RawLink.join(
        Side.AMAZON, process.ports[Side.AMAZON], world_id=ups.world_id, places=WAREHOUSES
    )
    amazon.send(simspeed=FAST)
    count = 12_000

    # Purchase n buys one unit of product 7 (to count them all) and one of its own
    # product 10_000 + n (to tell which ones happened).
    def own(n: int, units: int = 1) -> wa.AProduct:
        return wa.AProduct(id=10_000 + n, description=f"product {n}", count=units)

    def frame(n: int) -> bytes:
        buy = wa.APurchaseMore(whnum=1, things=[seven(1), own(n)], seqnum=n)
        return encode_frame(wa.ACommands(buy=[buy]).SerializeToString())

    async def stream(link: RawLink, seqnums: list[int]) -> None:
        with contextlib.suppress(ConnectionError):
            for start in range(0, len(seqnums), 200):
                link.write_bytes(b"".join(frame(n) for n in seqnums[start : start + 200]))
                await link.writer.drain()

    writing = asyncio.create_task(stream(amazon, list(range(1, count + 1))))
    await amazon.wait_for(lambda: amazon.acks())
    process.kill()  # while commands are still streaming in
    await amazon.wait_closed()
    writing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writing
    await ups.close()
    acked = set(amazon.acks())
    assert acked <= set(range(1, count + 1))
    assert len(acked) < count, "the world had read every command before it was killed"

    process.start()
    again = await RawLink.open(Side.AMAZON, process.ports[Side.AMAZON])
    assert (await again.handshake(ups.world_id)).result == CONNECTED
    again.auto_ack = True

    def packed(shipid: int, seqnum: int) -> list:
        return [r for r in again.of_type(wa.APacked) if r.shipid == shipid] or [
            r for r in again.of_type(wa.AErr) if r.originseqnum == seqnum
        ]

    # Every acked purchase happened: one package holds a unit of each one's product.
    whole = [own(n) for n in sorted(acked)]
    again.send(topack=[wa.APack(whnum=1, things=whole, shipid=1, seqnum=count + 1)])
    done = await again.wait_for(lambda: packed(1, count + 1))
    assert isinstance(done[0], wa.APacked), done[0]

    # A correct client re-sends what it did not see acked: each of those now runs, or is
    # known to the world already (it ran before the kill, its ack never left).
    rest = [n for n in range(1, count + 1) if n not in acked]
    writing = asyncio.create_task(stream(again, rest))
    await again.wait_for(lambda: set(rest) <= set(again.acks()), timeout=60)
    await writing
    whole = [own(n) for n in rest]
    again.send(topack=[wa.APack(whnum=1, things=whole, shipid=2, seqnum=count + 2)])
    done = await again.wait_for(lambda: packed(2, count + 2))
    assert isinstance(done[0], wa.APacked), done[0]

    # And none ran twice: exactly `count` units of product 7 (the check for one more
    # runs after a packing, which takes as long as a purchase).
    again.send(topack=[wa.APack(whnum=1, things=[seven(count)], shipid=3, seqnum=count + 3)])
    done = await again.wait_for(lambda: packed(3, count + 3))
    assert isinstance(done[0], wa.APacked), done[0]
    again.send(topack=[wa.APack(whnum=1, things=[seven(1)], shipid=4, seqnum=count + 4)])
    done = await again.wait_for(lambda: packed(4, count + 4))
    assert isinstance(done[0], wa.AErr) and "has 0 of product 7" in done[0].err
    await again.close()


# -- the journal itself: snapshot + replay == the engine that never stopped ---------------

T0 = 1_700_000_000.0


def _commands(side: Side, world: int, at: float, **fields) -> Entry:
    body = DIALECTS[side].commands(**fields).SerializeToString()
    return Entry(EntryKind.COMMANDS, side, world, T0 + at, body)


def _connect(side: Side, at: float, message) -> Entry:
    world = message.worldid if message.HasField("worldid") else None
    return Entry(EntryKind.CONNECT, side, world, T0 + at, message.SerializeToString())


def journal_entries() -> list[Entry]:
    """A day in two worlds: every kind of entry, timed events between them."""
    ups, amazon = Side.UPS, Side.AMAZON
    trucks = [wu.UInitTruck(id=1, x=0, y=0), wu.UInitTruck(id=2, x=5, y=5)]
    houses = [wa.AInitWarehouse(id=1, x=10, y=10), wa.AInitWarehouse(id=2, x=-20, y=5)]
    return [
        _connect(ups, 0.0, wu.UConnect(isAmazon=False, trucks=trucks)),
        _connect(amazon, 0.1, wa.AConnect(worldid=1, isAmazon=True, initwh=houses)),
        _commands(amazon, 1, 0.2, buy=[wa.APurchaseMore(whnum=1, things=[seven(5)], seqnum=1)]),
        _commands(ups, 1, 0.3, pickups=[wu.UGoPickup(truckid=1, whid=1, seqnum=1)]),
        # The purchase has arrived (1 s); result 1 acked.
        _commands(
            amazon,
            1,
            1.5,
            acks=[1],
            topack=[wa.APack(whnum=1, things=[seven(2)], shipid=7, seqnum=2)],
        ),
        Entry(EntryKind.MALFORMED, amazon, 1, T0 + 1.6, b"frame of 3 bytes is not valid"),
        # Packed (1 s), truck 1 at warehouse 1 (2 s of driving).
        _commands(
            amazon,
            1,
            3.0,
            acks=[2],
            load=[wa.APutOnTruck(whnum=1, truckid=1, shipid=7, seqnum=3)],
        ),
        _commands(
            ups,
            1,
            3.1,
            acks=[1],
            deliveries=[
                wu.UGoDeliver(
                    truckid=1, packages=[wu.UDeliveryLocation(packageid=7, x=3, y=4)], seqnum=2
                )
            ],
        ),
        _commands(
            amazon,
            1,
            3.2,
            buy=[wa.APurchaseMore(whnum=1, things=[seven(5)], seqnum=1)],  # a repeat
            queries=[wa.AQuery(packageid=7, seqnum=4), wa.AQuery(packageid=99, seqnum=5)],
        ),
        # Still loading at 3.1, so that delivery was refused; loaded at 3.5: off it goes.
        _commands(
            ups,
            1,
            3.6,
            deliveries=[
                wu.UGoDeliver(
                    truckid=1, packages=[wu.UDeliveryLocation(packageid=7, x=3, y=4)], seqnum=3
                )
            ],
        ),
        _connect(amazon, 4.0, wa.AConnect(isAmazon=True, initwh=houses[:1])),  # world 2
        _commands(
            amazon,
            2,
            4.1,
            simspeed=10,  # its purchase takes 10 s
            buy=[wa.APurchaseMore(whnum=1, things=[seven(3)], seqnum=1)],
        ),
        _commands(ups, 1, 5.0, simspeed=50, queries=[wu.UQuery(truckid=1, seqnum=4)]),
        _commands(ups, 1, 5.1, pickups=[wu.UGoPickup(truckid=2, whid=2, seqnum=5)]),
        _connect(ups, 6.0, wu.UConnect(worldid=1, isAmazon=False, trucks=trucks[:1])),
        _commands(amazon, 1, 6.5, acks=[3, 4, 5, 6], queries=[wa.AQuery(packageid=7, seqnum=6)]),
    ]


def visible_state(engine: WorldEngine) -> tuple:
    """What clients can observe, now or later: worlds and what each side is owed.

    Left out: when each unacked result is next re-sent and which acks are still to
    be sent; a live world changes those by sending, and every reconnect resets them.
    """
    worlds = {}
    for world_id, world in engine.worlds.items():
        sessions = {
            side: (
                session.next_seqnum,
                session.received.intervals(),
                [item.body for item in session.outbox.items()],
            )
            for side, session in world.sessions.items()
        }
        worlds[world_id] = (
            world.warehouses,
            world.trucks,
            world.packages,
            world.products,
            dict(world.simspeed),
            sessions,
        )
    return engine.next_world_id, engine.next_deadline(), worlds


def run_live(journal: Journal, entries: list[Entry]) -> WorldEngine:
    """As the server does: journal, run, poll every side, snapshot when due."""
    engine = journal.load()
    for entry in entries:
        journal.record(entry)
        apply(engine, entry)
        engine.advance(entry.at + 0.05)
        for world_id in engine.worlds:
            for side in Side:
                engine.responses(world_id, side, entry.at + 0.05)
        if journal.snapshot_due:
            journal.snapshot(engine)
    return engine


@pytest.mark.parametrize("snapshot_every", [1, 5, 7, 10_000])
def test_snapshot_and_replay_rebuild_the_live_engine(tmp_path, snapshot_every):
    entries = journal_entries()
    path = tmp_path / "world.sqlite3"
    journal = Journal(path, snapshot_every=snapshot_every)
    live = run_live(journal, entries)
    journal.close()

    with sqlite3.connect(path) as db:
        (left,) = db.execute("SELECT COUNT(*) FROM journal").fetchone()
        snapshot = db.execute("SELECT last_entry FROM snapshot").fetchone()
    if snapshot_every <= len(entries):
        assert snapshot is not None
        assert left == len(entries) % snapshot_every
        assert snapshot[0] == len(entries) - left
    else:
        assert snapshot is None and left == len(entries)

    loaded = Journal(path, snapshot_every=snapshot_every)
    restored = loaded.load()
    assert visible_state(restored) == visible_state(live)

    # The same future: every timed event fires alike, and after a reconnect each
    # side is re-sent the same results.
    later = entries[-1].at + 1000
    for engine in (live, restored):
        engine.advance(later)
    assert visible_state(restored) == visible_state(live)
    for world_id in live.worlds:
        for side in Side:
            sent = []
            for engine in (live, restored):
                engine.worlds[world_id].sessions[side].rewind()
                message = engine.responses(world_id, side, later)
                if message is not None:
                    del message.acks[:]  # the live engine sent its acks already
                sent.append(b"" if message is None else message.SerializeToString())
            assert sent[0] == sent[1]
    loaded.close()


def test_journal_state_matches_a_reference_run(tmp_path):
    """The journal's engine equals one fed the same entries with no journal at all."""
    entries = journal_entries()
    journal = Journal(tmp_path / "world.sqlite3", snapshot_every=4)
    reference = WorldEngine(first_seqnum=journal.first_seqnum)
    for entry in entries:
        apply(reference, entry)
    run_live(journal, entries)
    journal.close()
    restored = Journal(tmp_path / "world.sqlite3").load()
    assert visible_state(restored) == visible_state(reference)

    # And it is the state we meant to build.
    world = restored.worlds[1]
    assert world.warehouses[1].stock == {7: 3}  # the repeated purchase did not run
    assert world.packages[7].status == "DELIVERED"
    assert (world.trucks[1].x, world.trucks[1].y, world.trucks[1].status) == (3, 4, "IDLE")
    assert world.trucks[2].status == "TRAVELING"
    assert restored.worlds[2].warehouses[1].stock == {}  # its purchase is on its way
    restored.advance(entries[-1].at + 100)
    assert restored.worlds[2].warehouses[1].stock == {7: 3}
    assert (world.trucks[2].x, world.trucks[2].y, world.trucks[2].status) == (
        -20,
        5,
        "ARRIVE WAREHOUSE",
    )


# -- the journal's own memory ------------------------------------------------------------------


MB = 1_000_000


def test_release_memory_gives_back_the_page_cache_a_burst_filled(tmp_path):
    memory_used = sqlite_memory_used()
    journal = Journal(tmp_path / "world.sqlite3")
    before = memory_used()
    for n in range(20_000):
        journal.record(Entry(EntryKind.COMMANDS, Side.AMAZON, 1, float(n), b"x" * 300))
    journal.commit()
    assert memory_used() - before > 1 * MB  # the cache filled: else this proves nothing
    journal.release_memory()
    assert memory_used() - before < MB / 4
    journal.close()


def test_a_snapshot_leaves_no_copy_of_itself_in_memory(tmp_path):
    memory_used = sqlite_memory_used()
    path = tmp_path / "world.sqlite3"
    journal = Journal(path)
    big = bytes(range(256)) * (32 * 1024)  # 8 MiB, standing in for a big engine
    journal.snapshot(big)  # type: ignore[arg-type]
    journal.release_memory()
    assert memory_used() < 1 * MB
    journal.close()
    with sqlite3.connect(path) as db:
        (stored,) = db.execute("SELECT engine FROM snapshot").fetchone()
    assert pickle.loads(stored) == big


def test_results_waiting_for_acks_in_an_older_snapshot_still_go_out():
    """Snapshots from before results were kept in a ``ResultOutbox`` hold them in an
    ``Outbox``: as messages (older still) or as ``WireResult``; loaded, they go out."""
    engine = WorldEngine(first_seqnum=1)
    engine.connect(Side.AMAZON, wa.AConnect(isAmazon=True, initwh=[wa.AInitWarehouse(id=1)]), 0.0)
    engine.next_result_seqnum = 3
    session = engine.worlds[1].sessions[Side.AMAZON]
    session.outbox = Outbox(engine.resend_policy)
    session.send(wa.AErr(err="error: from an older snapshot", originseqnum=5), seqnum=1)
    body = wa.AErr(err="error: kept as bytes", originseqnum=6, seqnum=2).SerializeToString()
    session.send(WireResult("error", body), seqnum=2)
    loaded = WorldEngine.__new__(WorldEngine)
    loaded.__setstate__(engine.__getstate__())  # as unpickling does
    assert isinstance(loaded.worlds[1].sessions[Side.AMAZON].outbox, ResultOutbox)
    loaded.reject_malformed(1, Side.AMAZON, "from this version")
    responses = loaded.responses(1, Side.AMAZON, now=1.0)
    assert [e.err for e in responses.error] == [
        "error: from an older snapshot",
        "error: kept as bytes",
        "error: from this version",
    ]
    assert [e.seqnum for e in responses.error] == [1, 2, 3]
