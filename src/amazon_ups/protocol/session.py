"""Sans-IO reliable session: seqnums, acks, re-sends and duplicate detection.

Both protocols we speak (world and Amazon-UPS) make the same promise: every
numbered message is re-sent until the peer acks its seqnum, and every received
numbered message is acked each time it arrives but acted upon once. This module
is that promise as pure state, with time passed in as a number: no sockets, no
clock, no threads. The world simulator uses it for its results, and the clients
use it for their commands.

- ``SeqnumSet``: the seqnums already received, kept as intervals so that a peer
  numbering 1, 2, 3, ... costs one interval however long it runs.
- ``Outbox``: our unacked messages and when each is next due, with backoff.
- ``ReliableSession``: both directions of one exchange put together.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Numbered(Protocol):
    @property
    def seqnum(self) -> int: ...


class Renumbered(Protocol):
    """What ``ReliableSession.send`` numbers itself."""

    seqnum: int


T = TypeVar("T", bound=Numbered)
R = TypeVar("R", bound=Renumbered)


@dataclass(frozen=True)
class ResendPolicy:
    """When an unacked message goes out again: ``first`` seconds after it was
    sent, then each wait ``factor`` times longer, never longer than ``ceiling``."""

    first: float = 0.2
    factor: float = 2.0
    ceiling: float = 5.0

    def __post_init__(self) -> None:
        # A zero wait would re-send in a tight loop.
        if not (0 < self.first <= self.ceiling and self.factor >= 1):
            raise ValueError(f"need 0 < first <= ceiling and factor >= 1: {self}")

    def delay(self, attempts: int) -> float:
        """Wait before the next send, after ``attempts`` sends so far (>= 1)."""
        try:
            grown = self.first * self.factor ** (attempts - 1)
        except OverflowError:  # a peer that never acks: thousands of attempts
            return self.ceiling
        return min(self.ceiling, grown)


class SeqnumSet:
    """A set of integers stored as sorted, disjoint, non-adjacent intervals."""

    def __init__(self, intervals: Iterable[tuple[int, int]] = ()) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(intervals):
            if start > end:
                raise ValueError(f"empty interval ({start}, {end})")
            if merged and start <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts: list[int] = [s for s, _ in merged]
        self._ends: list[int] = [e for _, e in merged]  # inclusive

    def __contains__(self, n: int) -> bool:
        i = bisect.bisect_right(self._starts, n) - 1
        return i >= 0 and n <= self._ends[i]

    def add(self, n: int) -> bool:
        """Add ``n``; returns False if it was already there."""
        i = bisect.bisect_right(self._starts, n) - 1
        if i >= 0 and n <= self._ends[i]:
            return False
        joins_left = i >= 0 and self._ends[i] == n - 1
        joins_right = i + 1 < len(self._starts) and self._starts[i + 1] == n + 1
        if joins_left and joins_right:
            self._ends[i] = self._ends[i + 1]
            del self._starts[i + 1], self._ends[i + 1]
        elif joins_left:
            self._ends[i] = n
        elif joins_right:
            self._starts[i + 1] = n
        else:
            self._starts.insert(i + 1, n)
            self._ends.insert(i + 1, n)
        return True

    def intervals(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    def __len__(self) -> int:
        return sum(e - s + 1 for s, e in zip(self._starts, self._ends, strict=True))

    def __iter__(self) -> Iterator[int]:
        for start, end in zip(self._starts, self._ends, strict=True):
            yield from range(start, end + 1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SeqnumSet) and self.intervals() == other.intervals()

    def __repr__(self) -> str:
        return f"SeqnumSet({self.intervals()!r})"


@dataclass(slots=True)
class _Pending(Generic[T]):
    item: T
    due: float
    attempts: int = 0


@dataclass
class Outbox(Generic[T]):
    """Our unacked messages, each due to be sent now or at a later time."""

    policy: ResendPolicy = field(default_factory=ResendPolicy)
    _pending: dict[int, _Pending[T]] = field(default_factory=dict)
    # (due, seqnum) entries; an entry whose due differs from _pending's is stale.
    _heap: list[tuple[float, int]] = field(default_factory=list)
    # For an owner that reports a peer's missing acks: each item sent this many times
    # without an ack is listed once in ``stale`` (0: never); ``resent`` counts every
    # send after an item's first.
    stale_after: int = 0
    stale: list[T] = field(default_factory=list)
    resent: int = 0

    def put(self, item: T) -> None:
        """Queue ``item`` (keyed by its seqnum) to be sent at the next ``due``."""
        entry = _Pending(item, due=float("-inf"))
        self._pending[item.seqnum] = entry
        heapq.heappush(self._heap, (entry.due, item.seqnum))

    def ack(self, seqnum: int) -> bool:
        """Forget ``seqnum``; returns False if it was not waiting for an ack."""
        if self._pending.pop(seqnum, None) is None:
            return False
        if not self._pending:
            # Every heap entry is stale now, and a dict keeps the size it grew to: after a
            # burst, start small again rather than hold (and scatter) its memory.
            self._pending = {}
            self._heap = []
        return True

    def due(self, now: float, limit: int | None = None, resend: bool = True) -> list[T]:
        """Items to send now, oldest first; each is scheduled for its next re-send.
        At most ``limit`` of them: the others stay due for the next call. Without
        ``resend``, only items never sent (since the last ``rewind``)."""
        out: list[T] = []
        # Items never sent are due from minus infinity: they come first.
        until = now if resend else float("-inf")
        while self._heap and self._heap[0][0] <= until and (limit is None or len(out) < limit):
            due, seqnum = heapq.heappop(self._heap)
            entry = self._pending.get(seqnum)
            if entry is None or entry.due != due:
                continue
            entry.attempts += 1
            if entry.attempts > 1:
                self.resent += 1
                if entry.attempts == self.stale_after:
                    self.stale.append(entry.item)
            entry.due = now + self.policy.delay(entry.attempts)
            heapq.heappush(self._heap, (entry.due, seqnum))
            out.append(entry.item)
        self._compact()
        return out

    def next_deadline(self) -> float | None:
        while self._heap:
            due, seqnum = self._heap[0]
            entry = self._pending.get(seqnum)
            if entry is not None and entry.due == due:
                return due
            heapq.heappop(self._heap)
        return None

    def keep_newest(self) -> int:
        """Forget every unacked item but the newest (highest seqnum); how many went."""
        if len(self._pending) <= 1:
            return 0
        newest = max(self._pending)
        dropped = len(self._pending) - 1
        self._pending = {newest: self._pending[newest]}
        self._heap = [(self._pending[newest].due, newest)]
        return dropped

    def rewind(self) -> None:
        """Make every unacked item due at once (the peer has just reconnected)."""
        for entry in self._pending.values():
            entry.due = float("-inf")
            entry.attempts = 0
        self._heap = sorted((e.due, s) for s, e in self._pending.items())

    def _compact(self) -> None:
        # Acked items leave stale heap entries behind; rebuild before they pile up.
        if len(self._heap) > 2 * len(self._pending) + 64:
            self._heap = [(e.due, s) for s, e in self._pending.items()]
            heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._pending)

    def sends(self, seqnum: int) -> int:
        """How often ``seqnum`` was sent (since the last ``rewind``); 0 if not waiting."""
        entry = self._pending.get(seqnum)
        return 0 if entry is None else entry.attempts

    def __contains__(self, seqnum: object) -> bool:
        return seqnum in self._pending

    def items(self) -> list[T]:
        return [entry.item for _, entry in sorted(self._pending.items())]


@dataclass
class Batch(Generic[T]):
    """What to put in the next message to the peer."""

    acks: list[int]
    items: list[T]

    def __bool__(self) -> bool:
        return bool(self.acks or self.items)


class ReliableSession(Generic[T]):
    """Our numbered messages out (re-sent until acked) and theirs in (acked, deduplicated)."""

    def __init__(
        self,
        first_seqnum: int = 1,
        policy: ResendPolicy | None = None,
        outbox: Outbox[T] | None = None,
    ) -> None:
        """``outbox``: one with the same methods kept otherwise (the world's results are
        kept as bytes: ``world.outbox``); else an ``Outbox`` with ``policy``."""
        self.next_seqnum = first_seqnum
        self.outbox: Outbox[T] = outbox if outbox is not None else Outbox(policy or ResendPolicy())
        self.received = SeqnumSet()
        self._acks_to_send: dict[int, None] = {}

    def take_seqnum(self) -> int:
        """Our next seqnum, for an item about to be ``put`` in the outbox."""
        seqnum = self.next_seqnum
        self.next_seqnum += 1
        return seqnum

    def send(self: ReliableSession[R], item: R, seqnum: int | None = None) -> R:
        """Number ``item`` (with ``seqnum``, else our next seqnum) and queue it until acked.
        A ``seqnum`` given from outside is for a sender that numbers several sessions from
        one counter (the world simulator: its seqnums never follow a client's own)."""
        item.seqnum = self.take_seqnum() if seqnum is None else seqnum
        self.outbox.put(item)
        return item

    def receive(self, seqnum: int) -> bool:
        """A numbered message arrived: it will be acked; True if it is new."""
        self.owe_ack(seqnum)
        return self.received.add(seqnum)

    def owe_ack(self, seqnum: int) -> None:
        """Ack ``seqnum`` in the next ``poll``, without recording it here: for a peer whose
        record of what it received is elsewhere (a daemon's database)."""
        self._acks_to_send[seqnum] = None

    def acknowledge(self, seqnums: Iterable[int]) -> list[int]:
        """The peer acked these; returns the ones we were waiting for."""
        return [s for s in seqnums if self.outbox.ack(s)]

    def poll(self, now: float, limit: int | None = None, resend: bool = True) -> Batch[T]:
        """Acks owed to the peer, plus our items that are due (new, and re-sends unless
        ``resend`` is false), at most ``limit`` items (the rest stay due)."""
        return Batch(self.take_acks(), self.outbox.due(now, limit, resend))

    def take_acks(self) -> list[int]:
        """The acks owed to the peer, for a message going to it now (``poll`` without
        the items, for an owner that takes those from its outbox itself)."""
        acks = list(self._acks_to_send)
        self._acks_to_send.clear()
        return acks

    @property
    def owes_acks(self) -> bool:
        return bool(self._acks_to_send)

    def next_deadline(self) -> float | None:
        """When ``poll`` next has something to send, if nothing else happens."""
        if self._acks_to_send:
            return float("-inf")
        return self.outbox.next_deadline()

    def rewind(self) -> None:
        """The transport was replaced: re-send everything unacked at once."""
        self.outbox.rewind()
