"""The world's results waiting for an ack, kept as bytes (``world.outbox``): sans-IO, the
same behaviour as the generic ``protocol.session.Outbox``, and no Python object per result."""

from __future__ import annotations

import math
import pickle
import sys
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.session import Outbox, ResendPolicy
from amazon_ups.world import outbox as outbox_module
from amazon_ups.world.model import WireResult
from amazon_ups.world.outbox import ResultOutbox

NUMBERS = {"arrived": 1, "error": 5, "packagestatus": 20}  # 20: a key of two bytes


def fields_of(data: bytes) -> list[tuple[int, bytes]]:
    """A responses message's length-delimited fields, in order: (number, bytes)."""
    out, at = [], 0

    def varint() -> int:
        nonlocal at
        value = shift = 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while at < len(data):
        key = varint()
        assert key & 7 == 2
        size = varint()
        out.append((key >> 3, data[at : at + size]))
        at += size
    return out


def result(seqnum: int, field: str = "error") -> WireResult:
    return WireResult(field, f"result {seqnum}".encode() * (seqnum % 3 + 1), seqnum)


def seqnums(items: list[WireResult]) -> list[int]:
    return [item.seqnum for item in items]


def filled(*numbers: int, policy: ResendPolicy | None = None) -> ResultOutbox:
    outbox = ResultOutbox(policy or ResendPolicy(first=1.0, factor=2.0, ceiling=60.0))
    for seqnum in numbers:
        outbox.put(result(seqnum))
    return outbox


def test_results_come_back_as_they_went_in():
    outbox = ResultOutbox()
    outbox.add(7, "arrived", b"\x08\x01")
    outbox.add(9, "error", b"")
    outbox.add(12, "arrived", b"abc")
    assert outbox.due(0.0) == [
        WireResult("arrived", b"\x08\x01", 7),
        WireResult("error", b"", 9),
        WireResult("arrived", b"abc", 12),
    ]
    assert outbox.items(limit=1) == [WireResult("arrived", b"\x08\x01", 7)]


def test_due_wire_is_what_a_responses_message_holds():
    outbox = ResultOutbox(numbers={f.name: f.number for f in wa.AResponses.DESCRIPTOR.fields})
    errors = [wa.AErr(err=f"error: {n}", originseqnum=n, seqnum=10 + n) for n in range(3)]
    arrived = wa.APurchaseMore(whnum=1, things=[wa.AProduct(id=1, description="x" * 200, count=1)])
    arrived.seqnum = 20
    for error in errors:
        outbox.add(error.seqnum, "error", error.SerializeToString())
    outbox.add(20, "arrived", arrived.SerializeToString())  # a length of two bytes
    outbox.ack(11)
    data, count = outbox.due_wire(0.0)
    assert count == 3
    assert wa.AResponses.FromString(data) == wa.AResponses(
        error=[errors[0], errors[2]], arrived=[arrived]
    )
    assert outbox.due_wire(0.1) == (b"", 0)
    data, count = outbox.due_wire(10.0, limit=2)
    assert count == 2 and list(wa.AResponses.FromString(data).error) == [errors[0], errors[2]]


def test_seqnums_only_grow():
    outbox = filled(5)
    with pytest.raises(ValueError):
        outbox.add(5, "error", b"")
    with pytest.raises(ValueError):
        outbox.add(4, "error", b"")


def test_new_results_due_at_once_then_resent_with_backoff():
    outbox = filled(1, 2, 3, policy=ResendPolicy(first=0.5, factor=2.0, ceiling=3.0))
    assert outbox.next_deadline() == -math.inf
    assert seqnums(outbox.due(10.0)) == [1, 2, 3]
    assert outbox.due(10.0) == []
    sent_at = 10.0
    for wait in [0.5, 1.0, 2.0, 3.0, 3.0]:
        deadline = outbox.next_deadline()
        assert deadline == pytest.approx(sent_at + wait)
        assert outbox.due(deadline - 1e-6) == []
        assert seqnums(outbox.due(deadline)) == [1, 2, 3]
        sent_at = deadline


def test_new_results_first_then_resends_within_the_limit():
    outbox = filled(1, 2, 3)
    assert seqnums(outbox.due(0.0, limit=2)) == [1, 2]
    outbox.put(result(4))
    assert seqnums(outbox.due(5.0, limit=2)) == [3, 4]  # new before due re-sends
    assert seqnums(outbox.due(5.0, limit=1)) == [1]
    assert seqnums(outbox.due(5.0)) == [2]
    assert outbox.due(5.0, resend=False) == []


def test_ack_forgets_and_an_empty_outbox_starts_small_again():
    outbox = filled(1, 2, 3)
    outbox.due(0.0)
    assert outbox.ack(2) and not outbox.ack(2) and not outbox.ack(99)
    assert len(outbox) == 2 and 2 not in outbox and 1 in outbox
    assert seqnums(outbox.items()) == [1, 3]
    assert seqnums(outbox.due(1.0)) == [1, 3]
    outbox.ack(1)
    outbox.ack(3)
    assert len(outbox) == 0 and outbox.next_deadline() is None and outbox.due(100.0) == []
    assert len(outbox._data) == 0 and len(outbox._seqnums) == 0 and not outbox._heap


def test_acked_rows_are_cut_out_and_the_rest_keep_their_bytes_and_schedule():
    outbox = filled(*range(1, 3001))
    outbox.due(0.0, limit=2000)  # 1..2000 sent once, due again at 1.0
    for seqnum in range(1, 3001, 3):  # holes all along
        outbox.ack(seqnum)
    for seqnum in range(2, 1500, 3):
        outbox.ack(seqnum)
    assert len(outbox._seqnums) < 3000  # compacted
    waiting = [s for s in range(1, 3001) if s % 3 == 0 or (s % 3 == 2 and s >= 1500)]
    assert len(outbox) == len(waiting)
    assert outbox.items() == [result(s) for s in waiting]
    assert seqnums(outbox.due(0.5)) == [s for s in waiting if s > 2000]  # never sent
    assert seqnums(outbox.due(1.0)) == [s for s in waiting if s <= 2000]
    assert outbox.sends(2001) == 1 and outbox.sends(3) == 2


def test_acks_in_order_cut_the_first_rows_and_later_results_keep_their_bytes():
    outbox = filled(*range(1, 3001))
    outbox.due(0.0)
    for seqnum in range(1, 2001):
        outbox.ack(seqnum)
        if seqnum % 500 == 0:
            outbox.put(result(3000 + seqnum // 500))
    assert len(outbox._seqnums) < 2000  # the acked rows at the start are gone
    assert outbox.items() == [result(s) for s in range(2001, 3005)]
    outbox.ack(2001)
    outbox.ack(3003)
    assert seqnums(outbox.due(0.5)) == [3001, 3002, 3004]
    assert seqnums(outbox.due(1.0)) == list(range(2002, 3001))


def test_rewind_makes_everything_due_and_restarts_backoff():
    policy = ResendPolicy(first=1.0, factor=2.0, ceiling=60.0)
    outbox = filled(1, 2, 3, policy=policy)
    outbox.due(0.0)
    outbox.due(1.0)
    outbox.ack(2)
    outbox.rewind()
    assert outbox.next_deadline() == -math.inf
    assert seqnums(outbox.due(3.5)) == [1, 3]
    assert outbox.next_deadline() == pytest.approx(3.5 + policy.first)


def test_keep_newest():
    outbox = filled(1, 2, 3)
    outbox.due(0.0)
    assert outbox.keep_newest() == 2
    assert seqnums(outbox.items()) == [3]
    assert outbox.keep_newest() == 0


def test_counts_resends_and_lists_each_stale_result_once():
    outbox = ResultOutbox(ResendPolicy(first=1.0, factor=1.0, ceiling=1.0), stale_after=3)
    outbox.put(result(1))
    outbox.put(result(2))
    outbox.due(0.0)
    outbox.ack(2)
    for now in (1.0, 2.0, 3.0, 4.0):
        assert seqnums(outbox.due(now)) == [1]
    assert outbox.resent == 4
    assert outbox.stale == [result(1)]
    assert outbox.sends(1) == 5 and outbox.sends(2) == 0


def test_pickles_with_its_schedule():
    outbox = filled(1, 2, 3)
    outbox.due(0.0, limit=2)
    copy = pickle.loads(pickle.dumps(outbox))
    assert copy.items() == outbox.items()
    assert seqnums(copy.due(1.0)) == [3, 1, 2]


def test_no_python_object_per_waiting_result():
    """What the outbox is for: many results waiting cost a few buffers, not objects."""
    outbox = ResultOutbox()
    blocks = sys.getallocatedblocks()
    for seqnum in range(1, 20_001):
        outbox.add(seqnum, "error", b"error: package id 1000000001 does not exist")
        if seqnum % 256 == 0:
            outbox.due(float(seqnum), limit=256)
    assert len(outbox) == 20_000
    assert sys.getallocatedblocks() - blocks < 2_000  # a few per group of 256, not per result


# -- the same behaviour as protocol.session.Outbox ------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(1, 3)),
        st.tuples(st.just("ack"), st.integers(0, 40)),
        st.tuples(
            st.just("due"),
            st.floats(0.0, 2.0),
            st.one_of(st.none(), st.integers(1, 5)),
            st.booleans(),
            st.booleans(),  # as the bytes of a responses message
        ),
        st.tuples(st.just("rewind")),
        st.tuples(st.just("keep_newest")),
    ),
    max_size=60,
)


@given(operations, st.sampled_from([1, 3, 1024]))
@settings(max_examples=300, deadline=None)
def test_behaves_as_the_generic_outbox(steps, compact_after):
    """Compacting at once (1), now and then (3), or not in so few results (1024)."""
    with mock.patch.object(outbox_module, "COMPACT_AFTER", compact_after):
        same_as_the_generic_outbox(steps)


def same_as_the_generic_outbox(steps):
    policy = ResendPolicy(first=0.25, factor=2.0, ceiling=1.0)
    reference: Outbox[WireResult] = Outbox(policy, stale_after=3)
    outbox = ResultOutbox(policy, stale_after=3, numbers=NUMBERS)
    seqnum, now = 0, 0.0
    for step in steps:
        kind = step[0]
        if kind == "put":
            for _ in range(step[1]):
                seqnum += 1
                field = ("error", "arrived", "packagestatus")[seqnum % 3]
                reference.put(result(seqnum, field))
                outbox.put(result(seqnum, field))
        elif kind == "ack":
            assert outbox.ack(step[1]) == reference.ack(step[1])
        elif kind == "due":
            now += step[1]
            _, _, limit, resend, wire = step
            expected = reference.due(now, limit, resend)
            if wire:
                data, count = outbox.due_wire(now, limit, resend)
                assert count == len(expected)
                assert fields_of(data) == [(NUMBERS[r.field], r.body) for r in expected]
            else:
                assert outbox.due(now, limit, resend) == expected
        elif kind == "rewind":
            outbox.rewind()
            reference.rewind()
        else:
            assert outbox.keep_newest() == reference.keep_newest()
        assert len(outbox) == len(reference)
        assert outbox.items() == reference.items()
        assert outbox.next_deadline() == reference.next_deadline()
        assert outbox.resent == reference.resent and outbox.stale == reference.stale
        assert [outbox.sends(s) for s in range(seqnum + 1)] == [
            reference.sends(s) for s in range(seqnum + 1)
        ]
