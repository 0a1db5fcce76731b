"""The sans-IO reliable session: seqnum sets, re-send policy, outbox, and both put together.

Time is always an explicit float here; nothing sleeps or reads a clock.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.session import (
    Batch,
    Outbox,
    ReliableSession,
    ResendPolicy,
    SeqnumSet,
)


@dataclass
class Msg:
    payload: str
    seqnum: int = 0


def numbered(*seqnums: int) -> list[Msg]:
    return [Msg(f"m{s}", s) for s in seqnums]


def seqnums(items) -> list[int]:
    return [item.seqnum for item in items]


# -- SeqnumSet -------------------------------------------------------------------------------


def check_intervals(s: SeqnumSet) -> None:
    intervals = s.intervals()
    for start, end in intervals:
        assert start <= end
    for (_, end), (next_start, _) in itertools.pairwise(intervals):
        # Sorted, disjoint, and not adjacent (adjacent ones must have been merged).
        assert end + 1 < next_start


# A narrow range makes adjacency and repeats common; a few wide values add gaps.
seqnum_values = st.one_of(st.integers(-20, 60), st.integers(-(2**62), 2**62))


@given(st.lists(seqnum_values, max_size=120), st.lists(seqnum_values, max_size=20))
@settings(max_examples=200)
def test_seqnum_set_behaves_like_a_set(adds, probes):
    s = SeqnumSet()
    model: set[int] = set()
    for n in adds:
        assert s.add(n) == (n not in model)
        model.add(n)
        assert n in s
        check_intervals(s)
    assert len(s) == len(model)
    for n in [*probes, *adds, *(a + 1 for a in adds), *(a - 1 for a in adds)]:
        assert (n in s) == (n in model)
    assert list(s) == sorted(model)
    assert SeqnumSet(s.intervals()) == s
    assert list(SeqnumSet(s.intervals())) == sorted(model)


def test_seqnum_set_consecutive_is_one_interval():
    s = SeqnumSet()
    for n in range(1, 1001):
        assert s.add(n)
    assert s.intervals() == [(1, 1000)]
    assert len(s) == 1000


def test_seqnum_set_merges_on_both_sides():
    s = SeqnumSet()
    for n in (1, 2, 4, 5, 10):
        s.add(n)
    assert s.intervals() == [(1, 2), (4, 5), (10, 10)]
    assert s.add(3)
    assert s.intervals() == [(1, 5), (10, 10)]
    assert s.add(9)
    assert s.intervals() == [(1, 5), (9, 10)]
    assert not s.add(4)
    assert s.intervals() == [(1, 5), (9, 10)]
    assert 0 not in s
    assert 6 not in s
    assert 8 not in s
    assert 11 not in s


@given(st.lists(st.tuples(seqnum_values, st.integers(0, 30)), max_size=15))
def test_seqnum_set_from_overlapping_intervals(pairs):
    intervals = [(start, start + length) for start, length in pairs]
    s = SeqnumSet(intervals)
    check_intervals(s)
    model = {n for start, end in intervals for n in range(start, end + 1)}
    assert list(s) == sorted(model)
    assert len(s) == len(model)


def test_seqnum_set_rejects_reversed_interval():
    with pytest.raises(ValueError):
        SeqnumSet([(5, 4)])


def test_seqnum_set_equality():
    assert SeqnumSet([(1, 3)]) == SeqnumSet([(1, 1), (2, 3)])
    assert SeqnumSet([(1, 3)]) != SeqnumSet([(1, 4)])
    assert SeqnumSet() != set()


# -- ResendPolicy ----------------------------------------------------------------------------


def test_resend_policy_defaults():
    policy = ResendPolicy()
    delays = [policy.delay(n) for n in range(1, 12)]
    assert 0 < delays[0] <= 0.5  # the first re-send comes well under a second
    # It grows until the ceiling, then stays there.
    assert delays[1] > delays[0]
    assert delays == sorted(delays)
    assert max(delays) == policy.ceiling
    assert delays[-1] == policy.ceiling
    assert policy.ceiling <= 10


def test_resend_policy_exact_backoff():
    policy = ResendPolicy(first=0.25, factor=2.0, ceiling=3.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize("attempts", [1_000, 1_025, 5_000, 10**6])
def test_resend_policy_many_attempts_stay_capped(attempts):
    # A peer that never acks makes the attempts count grow without bound (one every
    # `ceiling` seconds): the delay must stay at the ceiling, never overflow.
    assert ResendPolicy().delay(attempts) == ResendPolicy().ceiling


@given(st.integers(1, 10**7))
@settings(max_examples=200)
def test_resend_policy_is_bounded_and_monotonic(attempts):
    policy = ResendPolicy()
    delay = policy.delay(attempts)
    assert policy.first <= delay <= policy.ceiling
    assert policy.delay(attempts + 1) >= delay


# -- Outbox ----------------------------------------------------------------------------------


def test_outbox_new_items_due_at_once_then_resent_with_backoff():
    policy = ResendPolicy(first=0.5, factor=2.0, ceiling=3.0)
    outbox: Outbox[Msg] = Outbox(policy)
    assert outbox.next_deadline() is None
    for item in numbered(1, 2, 3):
        outbox.put(item)
    assert outbox.next_deadline() == -math.inf
    assert seqnums(outbox.due(10.0)) == [1, 2, 3]
    assert outbox.due(10.0) == []
    sent_at = [10.0]
    for expected_wait in [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]:
        deadline = outbox.next_deadline()
        assert deadline == pytest.approx(sent_at[-1] + expected_wait)
        assert outbox.due(deadline - 1e-6) == []
        assert seqnums(outbox.due(deadline)) == [1, 2, 3]
        sent_at.append(deadline)


def test_outbox_late_poll_schedules_from_the_actual_send_time():
    outbox: Outbox[Msg] = Outbox(ResendPolicy(first=1.0, factor=2.0, ceiling=60.0))
    outbox.put(Msg("a", 1))
    outbox.due(0.0)
    # Polled long after the deadline: sent once (not once per missed deadline).
    assert seqnums(outbox.due(100.0)) == [1]
    assert outbox.next_deadline() == pytest.approx(102.0)


def test_outbox_items_put_later_have_their_own_schedule():
    outbox: Outbox[Msg] = Outbox(ResendPolicy(first=1.0, factor=2.0, ceiling=60.0))
    outbox.put(Msg("a", 1))
    assert seqnums(outbox.due(0.0)) == [1]
    outbox.put(Msg("b", 2))
    assert seqnums(outbox.due(0.5)) == [2]
    assert outbox.next_deadline() == pytest.approx(1.0)
    assert seqnums(outbox.due(1.0)) == [1]
    assert outbox.next_deadline() == pytest.approx(1.5)
    assert seqnums(outbox.due(1.5)) == [2]
    # Both now wait 2 s: 1 at 3.0, 2 at 3.5; at 4.0 both are due, earliest-due first.
    assert seqnums(outbox.due(4.0)) == [1, 2]


def test_outbox_ack_removes():
    outbox: Outbox[Msg] = Outbox(ResendPolicy(first=1.0))
    for item in numbered(1, 2, 3):
        outbox.put(item)
    outbox.due(0.0)
    assert outbox.ack(2) is True
    assert outbox.ack(2) is False
    assert outbox.ack(99) is False
    assert len(outbox) == 2
    assert 2 not in outbox
    assert 1 in outbox
    assert seqnums(outbox.items()) == [1, 3]
    assert seqnums(outbox.due(1.0)) == [1, 3]
    outbox.ack(1)
    outbox.ack(3)
    assert len(outbox) == 0
    assert outbox.next_deadline() is None
    assert outbox.due(1000.0) == []


def test_outbox_ack_before_first_send():
    outbox: Outbox[Msg] = Outbox()
    outbox.put(Msg("a", 1))
    assert outbox.ack(1)
    assert outbox.next_deadline() is None
    assert outbox.due(0.0) == []


def test_outbox_rewind_makes_everything_due_and_restarts_backoff():
    policy = ResendPolicy(first=1.0, factor=2.0, ceiling=60.0)
    outbox: Outbox[Msg] = Outbox(policy)
    for item in numbered(1, 2, 3):
        outbox.put(item)
    outbox.due(0.0)
    outbox.due(1.0)
    outbox.due(3.0)  # now waiting 4 s
    outbox.ack(2)
    assert outbox.due(3.5) == []
    outbox.rewind()
    assert outbox.next_deadline() == -math.inf
    assert seqnums(outbox.due(3.5)) == [1, 3]
    assert outbox.next_deadline() == pytest.approx(3.5 + policy.first)


def test_outbox_counts_resends_and_lists_each_stale_item_once():
    outbox: Outbox[Msg] = Outbox(ResendPolicy(first=1.0, factor=1.0, ceiling=1.0), stale_after=3)
    for item in numbered(1, 2):
        outbox.put(item)
    assert seqnums(outbox.due(0.0)) == [1, 2]
    outbox.ack(2)
    for now in (1.0, 2.0, 3.0, 4.0):
        assert seqnums(outbox.due(now)) == [1]
    assert outbox.resent == 4  # every send after the first
    assert seqnums(outbox.stale) == [1]  # at its third send, not again at its fourth, fifth
    assert outbox.sends(1) == 5 and outbox.sends(2) == 0


def test_outbox_keep_newest_forgets_the_older_items():
    outbox: Outbox[Msg] = Outbox(ResendPolicy(first=1.0))
    for item in numbered(4, 9, 7):
        outbox.put(item)
    outbox.due(0.0)
    assert outbox.keep_newest() == 2
    assert seqnums(outbox.items()) == [9]
    outbox.rewind()
    assert seqnums(outbox.due(0.5)) == [9]
    assert Outbox(ResendPolicy()).keep_newest() == 0


def test_session_sends_with_a_seqnum_from_outside():
    """The world numbers every session's results from one counter."""
    session: ReliableSession[Msg] = ReliableSession()
    session.send(Msg("a"), 1042)
    session.send(Msg("b"))  # its own counter is untouched
    assert seqnums(session.outbox.items()) == [1, 1042]


def test_outbox_put_again_replaces_and_is_due_at_once():
    outbox: Outbox[Msg] = Outbox(ResendPolicy(first=1.0))
    outbox.put(Msg("old", 1))
    outbox.due(0.0)
    outbox.put(Msg("new", 1))
    assert len(outbox) == 1
    assert [m.payload for m in outbox.due(0.1)] == ["new"]
    assert outbox.due(0.2) == []


def test_outbox_survives_compaction():
    outbox: Outbox[Msg] = Outbox(ResendPolicy(first=1.0, factor=1.0, ceiling=1.0))
    for item in numbered(*range(200)):
        outbox.put(item)
    assert len(outbox.due(0.0)) == 200
    for s in range(200):
        if s % 4:
            outbox.ack(s)
    # Leaves 150 stale entries behind; a due() call compacts them away.
    assert outbox.due(0.5) == []
    assert seqnums(outbox.due(1.0)) == list(range(0, 200, 4))
    assert outbox.next_deadline() == pytest.approx(2.0)


outbox_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 40)),
        st.tuples(st.just("ack"), st.integers(0, 40)),
        st.tuples(st.just("ack_all"), st.just(0)),
        st.tuples(st.just("due"), st.integers(0, 3000)),
        st.tuples(st.just("rewind"), st.just(0)),
    ),
    max_size=150,
)


@given(outbox_ops)
@settings(max_examples=150, deadline=None)
def test_outbox_matches_model(ops):
    """Against a plain model: each pending seqnum has a due time and an attempt count."""
    policy = ResendPolicy(first=0.2, factor=2.0, ceiling=5.0)
    outbox: Outbox[Msg] = Outbox(policy)
    model: dict[int, list[float]] = {}  # seqnum -> [due, attempts]
    now = 0.0
    for op, arg in ops:
        if op == "put":
            outbox.put(Msg(f"m{arg}", arg))
            model[arg] = [-math.inf, 0]
        elif op == "ack":
            assert outbox.ack(arg) == (arg in model)
            model.pop(arg, None)
        elif op == "ack_all":
            for s in list(model):
                assert outbox.ack(s)
            model.clear()
        elif op == "due":
            now += arg / 1000
            expected = sorted((d, s) for s, (d, _) in model.items() if d <= now)
            assert seqnums(outbox.due(now)) == [s for _, s in expected]
            for _, s in expected:
                model[s][1] += 1
                model[s][0] = now + policy.delay(int(model[s][1]))
        else:
            outbox.rewind()
            model = {s: [-math.inf, 0] for s in model}
        assert len(outbox) == len(model)
        assert seqnums(outbox.items()) == sorted(model)
        deadline = outbox.next_deadline()
        assert deadline == (min(d for d, _ in model.values()) if model else None)


# -- ReliableSession -------------------------------------------------------------------------


def test_session_numbers_items_in_increasing_order():
    session: ReliableSession[Msg] = ReliableSession(first_seqnum=28)
    items = [Msg("a"), Msg("b"), Msg("c")]
    returned = [session.send(item) for item in items]
    assert returned[0] is items[0]
    assert seqnums(items) == [28, 29, 30]
    assert session.next_seqnum == 31
    assert seqnums(session.outbox.items()) == [28, 29, 30]


def test_session_numbers_protobuf_messages():
    session: ReliableSession[wu.UGoPickup] = ReliableSession()
    pickup = session.send(wu.UGoPickup(truckid=1, whid=2))
    assert pickup.seqnum == 1
    assert pickup.IsInitialized()


def test_session_poll_sends_new_items_once_then_resends():
    session: ReliableSession[Msg] = ReliableSession(policy=ResendPolicy(first=0.3))
    session.send(Msg("a"))
    session.send(Msg("b"))
    batch = session.poll(0.0)
    assert batch.acks == []
    assert [m.payload for m in batch.items] == ["a", "b"]
    assert session.poll(0.1) == Batch([], [])
    assert not session.poll(0.1)
    assert session.next_deadline() == pytest.approx(0.3)
    assert [m.payload for m in session.poll(0.3).items] == ["a", "b"]


def test_session_receive_dedups_but_acks_every_receipt():
    session: ReliableSession[Msg] = ReliableSession()
    assert session.next_deadline() is None
    assert session.receive(5) is True
    assert session.owes_acks
    assert session.next_deadline() == -math.inf
    assert session.receive(5) is False
    assert session.receive(7) is True
    assert session.poll(0.0).acks == [5, 7]
    assert not session.owes_acks
    assert session.poll(0.0).acks == []
    # A repeat after its ack went out is acked again (the ack may have been lost).
    assert session.receive(5) is False
    batch = session.poll(1.0)
    assert batch.acks == [5]
    assert batch
    assert list(session.received) == [5, 7]


def test_session_acknowledge_returns_only_awaited():
    session: ReliableSession[Msg] = ReliableSession()
    for payload in "abc":
        session.send(Msg(payload))
    session.poll(0.0)
    assert session.acknowledge([2, 99, 2, 0]) == [2]
    assert session.acknowledge([2]) == []
    assert session.acknowledge(iter([3, 1])) == [3, 1]
    assert len(session.outbox) == 0
    assert session.next_deadline() is None
    assert not session.poll(100.0)


def test_session_rewind_resends_unacked_now():
    session: ReliableSession[Msg] = ReliableSession(policy=ResendPolicy(first=5.0))
    for payload in "ab":
        session.send(Msg(payload))
    session.poll(0.0)
    session.acknowledge([1])
    assert not session.poll(1.0)
    session.rewind()
    assert [m.payload for m in session.poll(1.0).items] == ["b"]


# -- two sessions over a bad channel -------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    to: int
    acks: tuple[int, ...]
    items: tuple[tuple[int, str], ...]


class LossyExchange(RuleBasedStateMachine):
    """Two peers, each a ReliableSession, over a channel that drops, duplicates and
    reorders whatever hypothesis chooses, with a simulated clock. After the chaos, the
    channel turns reliable: every message must then reach the other application
    exactly once, and nothing may be acked before its peer received it."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.sessions: list[ReliableSession[Msg]] = [
            ReliableSession(first_seqnum=1, policy=ResendPolicy(0.2, 2.0, 5.0)),
            ReliableSession(first_seqnum=28, policy=ResendPolicy(0.5, 1.5, 3.0)),
        ]
        self.sent: list[dict[int, str]] = [{}, {}]  # by sender: seqnum -> payload
        self.delivered: list[list[str]] = [[], []]  # by receiving application
        self.channel: list[Packet] = []
        self.count = 0

    # -- what the peers do

    @rule(side=st.integers(0, 1))
    def send(self, side: int) -> None:
        self.count += 1
        item = self.sessions[side].send(Msg(f"{side}:{self.count}"))
        assert item.seqnum not in self.sent[side]
        self.sent[side][item.seqnum] = item.payload

    @rule(side=st.integers(0, 1))
    def poll(self, side: int) -> None:
        batch = self.sessions[side].poll(self.now)
        if batch:
            items = tuple((m.seqnum, m.payload) for m in batch.items)
            self.channel.append(Packet(1 - side, tuple(batch.acks), items))

    # -- what the channel does

    @precondition(lambda self: self.channel)
    @rule(pick=st.integers(min_value=0))
    def deliver(self, pick: int) -> None:
        self.arrive(self.channel.pop(pick % len(self.channel)))

    @precondition(lambda self: self.channel)
    @rule(pick=st.integers(min_value=0))
    def drop(self, pick: int) -> None:
        self.channel.pop(pick % len(self.channel))

    @precondition(lambda self: self.channel)
    @rule(pick=st.integers(min_value=0))
    def duplicate(self, pick: int) -> None:
        self.arrive(self.channel[pick % len(self.channel)])  # and it stays in flight

    @rule(seconds=st.floats(0, 8, allow_nan=False))
    def wait(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def wait_for_deadline(self) -> None:
        deadlines = [d for s in self.sessions if (d := s.next_deadline()) is not None]
        self.now = max([self.now, *deadlines]) if deadlines else self.now

    def arrive(self, packet: Packet) -> None:
        receiver = self.sessions[packet.to]
        sender = 1 - packet.to
        for seqnum in receiver.acknowledge(packet.acks):
            # Only what the peer's application really got can be acked.
            assert self.sent[packet.to][seqnum] in self.delivered[sender]
        for seqnum, payload in packet.items:
            assert self.sent[sender][seqnum] == payload
            if receiver.receive(seqnum):
                self.delivered[packet.to].append(payload)

    @invariant()
    def delivered_at_most_once(self) -> None:
        for side in (0, 1):
            delivered = self.delivered[side]
            assert len(delivered) == len(set(delivered))
            assert set(delivered) <= set(self.sent[1 - side].values())

    @invariant()
    def acked_items_left_the_outbox(self) -> None:
        for side in (0, 1):
            peer_got = set(self.delivered[1 - side])
            for seqnum in self.sent[side]:
                if seqnum not in self.sessions[side].outbox:
                    assert self.sent[side][seqnum] in peer_got

    def teardown(self) -> None:
        # The channel heals: whatever was in flight is lost, and from now on every
        # poll arrives. Re-sends must bring everything across in a few deadlines.
        self.channel.clear()
        for _ in range(100):
            for side in (0, 1):
                batch = self.sessions[side].poll(self.now)
                if batch:
                    items = tuple((m.seqnum, m.payload) for m in batch.items)
                    self.arrive(Packet(1 - side, tuple(batch.acks), items))
            if not any(len(s.outbox) or s.owes_acks for s in self.sessions):
                break
            deadlines = [d for s in self.sessions if (d := s.next_deadline()) is not None]
            self.now = max(self.now, min(deadlines))
        else:
            pytest.fail("the sessions did not settle on a reliable channel")
        for side in (0, 1):
            assert sorted(self.delivered[1 - side]) == sorted(self.sent[side].values())
            assert len(self.delivered[1 - side]) == len(self.sent[side])
            assert self.sessions[side].next_deadline() is None


LossyExchange.TestCase.settings = settings(max_examples=120, stateful_step_count=40, deadline=None)
test_lossy_exchange = LossyExchange.TestCase
