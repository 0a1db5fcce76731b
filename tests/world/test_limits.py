"""The world's limits as pure decisions, without sockets: slicing a commands message,
admitting connections, counting buffered bytes, choosing worlds to retire."""

from __future__ import annotations

import contextlib
import sqlite3
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.world_messages import AMAZON, UPS, Side
from amazon_ups.world.engine import WorldEngine
from amazon_ups.world.journal import Entry, EntryKind, Journal, apply, retire_entry
from amazon_ups.world.limits import (
    COMMAND_UNITS,
    DAY,
    Admission,
    BufferLedger,
    FrameSlicer,
    Limits,
    Overflow,
    Refusal,
    RetireReason,
    duration,
    lazy_commands,
    retired_text,
    retirements,
)
from amazon_ups.world.summary import Tally, Throttle

NOW = 1_000_000.0


def amazon_frame(buys: int, packs: int, queries: int, acks: int = 0) -> wa.ACommands:
    book = wa.AProduct(id=7, description="book", count=1)
    seqnum = iter(range(1, 10**6))
    return wa.ACommands(
        buy=[wa.APurchaseMore(whnum=1, things=[book], seqnum=next(seqnum)) for _ in range(buys)],
        topack=[
            wa.APack(whnum=1, things=[book], shipid=i, seqnum=next(seqnum)) for i in range(packs)
        ],
        queries=[wa.AQuery(packageid=i % 5, seqnum=next(seqnum)) for i in range(queries)],
        acks=list(range(1, acks + 1)),
        simspeed=500,
    )


def lazy(frame, dialect=AMAZON):
    """``frame`` as the server parses it: its sub-commands still bytes."""
    return lazy_commands(dialect).FromString(frame.SerializePartialToString())


def checked(dialect, frame, limits: Limits) -> FrameSlicer:
    slicer = FrameSlicer(dialect, lazy(frame, dialect), limits)
    while not slicer.checked:
        assert slicer.check() is None
    return slicer


def slices(frame, limits: Limits, dialect=AMAZON) -> list:
    slicer = checked(dialect, frame, limits)
    out = []
    while (piece := slicer.next()) is not None:
        out.append(piece)
    return out


# -- slicing -------------------------------------------------------------------------------


def test_slices_hold_every_command_once_in_order_simspeed_first_disconnect_last():
    frame = amazon_frame(buys=300, packs=200, queries=500, acks=5000)
    frame.disconnect = True
    pieces = slices(frame, Limits(slice_commands=64))
    assert len(pieces) > 10
    assert [p.last for p in pieces] == [False] * (len(pieces) - 1) + [True]
    assert pieces[0].message.simspeed == 500
    assert not any(p.message.HasField("simspeed") for p in pieces[1:])
    assert pieces[-1].message.disconnect and not any(p.message.disconnect for p in pieces[:-1])
    for name in ("buy", "topack", "queries"):
        joined = [c for p in pieces for c in getattr(p.message, name)]
        assert joined == list(getattr(frame, name))
    assert [a for p in pieces for a in p.message.acks] == list(frame.acks)
    # Acks come before any command, as the engine runs a whole message.
    first_command = next(i for i, p in enumerate(pieces) if p.commands)
    assert all(not p.acks for p in pieces[first_command + 1 :])
    for piece in pieces:
        units = (
            piece.acks
            + sum(
                COMMAND_UNITS + len(c.things)
                for name in ("buy", "topack", "queries")
                for c in getattr(piece.message, name)
                if name != "queries"
            )
            + COMMAND_UNITS * len(piece.message.queries)
        )
        assert units <= 64 * COMMAND_UNITS + COMMAND_UNITS + 1


def test_a_small_message_is_one_slice():
    frame = amazon_frame(buys=2, packs=1, queries=3, acks=4)
    (piece,) = slices(frame, Limits())
    assert piece.last and piece.commands == 6 and piece.acks == 4
    assert piece.message == frame


def test_a_small_message_parsed_whole_goes_as_it_is():
    frame = amazon_frame(buys=2, packs=1, queries=3, acks=4)
    slicer = FrameSlicer(AMAZON, frame, Limits())
    assert slicer.checked
    piece = slicer.next()
    assert piece is not None and piece.whole and piece.message is frame and piece.last
    assert slicer.next() is None
    # Parsed whole but too big for one slice: cut like any other.
    frame = amazon_frame(buys=0, packs=0, queries=100, acks=10)
    pieces = []
    slicer = FrameSlicer(AMAZON, frame, Limits(slice_commands=16))
    while (piece := slicer.next()) is not None:
        pieces.append(piece)
    assert len(pieces) > 1 and not any(p.whole for p in pieces)
    assert [q for p in pieces for q in p.message.queries] == list(frame.queries)


def test_an_empty_message_is_one_empty_slice():
    (piece,) = slices(wu.UCommands(), Limits(), UPS)
    assert piece.last and piece.commands == 0 and piece.message == wu.UCommands()


def test_commands_past_the_cap_are_never_sliced():
    frame = amazon_frame(buys=30, packs=30, queries=60)
    slicer = checked(AMAZON, frame, Limits(max_commands=50, max_unacked=50))
    assert (slicer.held, slicer.excess) == (120, 70)
    pieces = []
    while (piece := slicer.next()) is not None:
        pieces.append(piece)
    taken = [
        c for p in pieces for name in ("buy", "topack", "queries") for c in getattr(p.message, name)
    ]
    assert len(taken) == 50
    assert taken == [*frame.buy, *frame.topack[:20]]


def test_drop_commands_keeps_the_acks():
    frame = amazon_frame(buys=0, packs=0, queries=5000, acks=100)
    slicer = checked(AMAZON, frame, Limits(slice_commands=10))
    first = slicer.next()
    assert first is not None and first.acks == 100
    assert slicer.drop_commands() == 5000 - first.commands
    last = slicer.next()
    assert last is not None and last.last and last.commands == 0
    assert slicer.next() is None


def test_one_bad_sub_command_makes_the_whole_message_malformed_before_anything_runs():
    frame = amazon_frame(buys=0, packs=0, queries=3000)
    frame.queries.add(packageid=1)  # no seqnum: a required field
    slicer = FrameSlicer(AMAZON, lazy(frame), Limits(slice_commands=16))
    problems = []
    steps = 0
    while not slicer.checked and not problems:
        steps += 1
        if (problem := slicer.check()) is not None:
            problems.append(problem)
    assert steps > 1  # checked a step at a time, too
    assert problems == ["queries #3001: AQuery lacks required fields: seqnum"]


def test_a_command_bigger_than_a_slice_still_goes_alone():
    things = [wa.AProduct(id=i, description="x", count=1) for i in range(10_000)]
    frame = wa.ACommands(buy=[wa.APurchaseMore(whnum=1, things=things, seqnum=s) for s in (1, 2)])
    pieces = slices(frame, Limits(slice_commands=4))
    assert [p.commands for p in pieces] == [1, 1]


def test_a_slice_made_from_bytes_carries_them():
    frame = amazon_frame(buys=50, packs=50, queries=200, acks=30)
    for piece in slices(frame, Limits(slice_commands=16)):
        assert piece.body is not None and piece.message.SerializeToString() == piece.body


def test_no_python_object_per_sub_command_while_a_big_message_is_checked_and_sliced():
    """A megabyte of queries is held as its bytes: checking and slicing it leave at most
    a step's worth of objects at a time, not one (or more) per sub-command."""
    frame = amazon_frame(buys=0, packs=0, queries=10_000)
    before = sys.getallocatedblocks()
    slicer = checked(AMAZON, frame, Limits())
    assert sys.getallocatedblocks() - before < 1_000
    first = slicer.next()
    assert first is not None and first.commands == 64
    assert sys.getallocatedblocks() - before < 1_000


def run_engine(frames_by_slice: bool, frame: wa.ACommands, limits: Limits) -> WorldEngine:
    engine = WorldEngine(first_seqnum=1)
    engine.connect(Side.AMAZON, wa.AConnect(isAmazon=True, initwh=[wa.AInitWarehouse(id=1)]), NOW)
    engine.handle(
        1,
        Side.AMAZON,
        wa.ACommands(
            buy=[
                wa.APurchaseMore(
                    whnum=1,
                    things=[wa.AProduct(id=7, description="book", count=50)],
                    seqnum=999_999,
                )
            ]
        ),
        NOW,
    )
    engine.advance(NOW + 100)
    if frames_by_slice:
        for piece in slices(frame, limits):
            engine.handle(1, Side.AMAZON, piece.message, NOW + 100)
    else:
        engine.handle(1, Side.AMAZON, frame, NOW + 100)
    engine.advance(NOW + 200)
    return engine


@settings(max_examples=25, deadline=None)
@given(
    buys=st.integers(0, 40),
    packs=st.integers(0, 80),
    queries=st.integers(0, 80),
    acks=st.integers(0, 300),
    size=st.integers(1, 20),
)
def test_running_the_slices_is_running_the_message(buys, packs, queries, acks, size):
    frame = amazon_frame(buys, packs, queries, acks)
    limits = Limits(slice_commands=size)
    whole, sliced = run_engine(False, frame, limits), run_engine(True, frame, limits)
    assert sliced.responses(1, Side.AMAZON, NOW + 200) == whole.responses(1, Side.AMAZON, NOW + 200)
    assert sliced.worlds[1].warehouses == whole.worlds[1].warehouses
    assert sliced.worlds[1].packages == whole.worlds[1].packages


# -- connections and buffers -----------------------------------------------------------


def test_admission_counts_in_total_and_per_address():
    admission = Admission(Limits(max_connections=3, max_connections_per_address=2))
    assert admission.admit("10.0.0.1") is None
    assert admission.admit("10.0.0.1") is None
    assert admission.admit("10.0.0.1") is Refusal.TOO_MANY_FROM_ADDRESS
    assert admission.admit("10.0.0.2") is None
    assert admission.admit("10.0.0.3") is Refusal.TOO_MANY_CONNECTIONS
    admission.release("10.0.0.1")
    assert admission.admit("10.0.0.3") is None
    assert admission.total == 3
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        admission.release(address)
    assert admission.total == 0 and not admission.by_address


def test_refusals_say_what_and_how_many():
    limits = Limits(max_connections=5, max_connections_per_address=2)
    text = Refusal.TOO_MANY_CONNECTIONS.text(limits, "10.0.0.1")
    assert text.startswith("error: too many connections") and "5" in text
    text = Refusal.TOO_MANY_FROM_ADDRESS.text(limits, "10.0.0.1")
    assert text.startswith("error: too many connections from one address") and "10.0.0.1" in text


def test_ledger_cuts_the_connection_that_grows_past_a_limit():
    limits = Limits(
        max_frame=100,
        connect_max_frame=100,
        max_buffered_in=100,
        max_buffered_out=50,
        max_buffered_total=200,
    )
    ledger = BufferLedger(limits)
    assert ledger.set_in("a", 100) is None
    assert ledger.set_in("a", 101) is Overflow.INPUT
    assert ledger.set_out("b", 51) is Overflow.OUTPUT
    assert ledger.set_out("b", 50) is None
    assert ledger.set_in("a", 100) is None
    assert ledger.set_in("c", 51) is Overflow.TOTAL  # 100 + 50 + 51
    assert ledger.set_in("d", 0) is None  # holding nothing, it is not to blame
    ledger.forget("c")
    assert ledger.total == 150
    ledger.forget("a")
    ledger.forget("b")
    assert ledger.total == 0


def test_limits_that_contradict_each_other_are_refused():
    with pytest.raises(ValueError, match="positive"):
        Limits(max_commands=0)
    with pytest.raises(ValueError, match="max_buffered_in"):
        Limits(max_frame=2048, connect_max_frame=1024, max_buffered_in=1024)
    with pytest.raises(ValueError, match="max_unacked"):
        Limits(max_commands=10, max_unacked=5)


# -- retiring worlds -------------------------------------------------------------------------


def test_idle_worlds_are_retired_connected_ones_never():
    limits = Limits(world_idle=100)
    last = {1: NOW - 500, 2: NOW - 150, 3: NOW - 50, 4: NOW - 1000}
    due = retirements(last, connected={4}, now=NOW, limits=limits)
    assert [(r.world, r.reason) for r in due] == [(1, RetireReason.IDLE), (2, RetireReason.IDLE)]
    assert due[0].idle_for == 500


def test_beyond_the_count_the_longest_idle_make_room():
    limits = Limits(max_worlds=3)
    last = {1: NOW - 50, 2: NOW - 10, 3: NOW - 30, 4: NOW - 5}
    due = retirements(last, connected={3}, now=NOW, limits=limits)
    assert [(r.world, r.reason) for r in due] == [(1, RetireReason.ROOM)]
    due = retirements(last, connected={3}, now=NOW, limits=limits, coming=1)
    assert [r.world for r in due] == [1, 2]
    # With every world connected, nothing can go.
    assert retirements(last, connected={1, 2, 3, 4}, now=NOW, limits=limits, coming=1) == []


def test_a_retired_world_says_why():
    assert retired_text(7, RetireReason.IDLE, DAY, 1000) == (
        "error: world 7 was retired after 24 h idle"
    )
    text = retired_text(7, RetireReason.ROOM, 90, 1000)
    assert text.startswith("error: world 7 was retired after 90 s idle, to make room")
    assert "1000" in text
    assert [duration(s) for s in (0.5, 45, 600, 3 * 3600, 7 * DAY)] == [
        "0.5 s",
        "45 s",
        "10 min",
        "3 h",
        "7 d",
    ]


def snapshot_size(path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT length(engine) FROM snapshot").fetchone()[0]


def test_retirement_is_journaled_and_leaves_no_state_behind(tmp_path):
    journal = Journal(tmp_path / "world.sqlite3")
    engine = journal.load()
    for worldid in (None, None):
        request = wu.UConnect(
            isAmazon=False, trucks=[wu.UInitTruck(id=i, x=0, y=0) for i in range(500)]
        )
        if worldid is not None:
            request.worldid = worldid
        entry = Entry(EntryKind.CONNECT, Side.UPS, None, NOW, request.SerializeToString())
        journal.record(entry)
        apply(engine, entry)
    journal.commit()
    journal.snapshot(engine)
    before = snapshot_size(tmp_path / "world.sqlite3")
    entry = retire_entry(1, RetireReason.IDLE, 2 * DAY, 1000, NOW + 2 * DAY)
    journal.record(entry)
    apply(engine, entry)
    journal.commit()
    assert list(engine.worlds) == [2]
    # Replayed from the journal (snapshot, then the retirement): the same.
    replayed = Journal(tmp_path / "world.sqlite3").load()
    assert list(replayed.worlds) == [2] and 1 in replayed.retired
    journal.snapshot(engine)
    journal.close()
    assert snapshot_size(tmp_path / "world.sqlite3") < before * 0.6
    again = Journal(tmp_path / "world.sqlite3").load()
    assert list(again.worlds) == [2]
    result = again.connect(Side.UPS, wu.UConnect(isAmazon=False, worldid=1), NOW)
    assert result.result == "error: world 1 was retired after 2 d idle"


# -- summaries -------------------------------------------------------------------------------


def test_tally_line_and_throttle():
    tally = Tally(commands=10, results=9, errors=2, dropped=3)
    assert tally.line() == "10 commands, 9 results, 2 errors, 3 dropped by flakiness"
    assert not Tally()
    throttle = Throttle(10)
    assert throttle.allow(0) == 0
    assert throttle.allow(1) is None and throttle.allow(2) is None
    assert throttle.allow(11) == 2
