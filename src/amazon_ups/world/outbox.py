"""The world's results waiting for an ack, kept in a few flat buffers (sans-IO).

The world may hold tens of thousands of unacked results per world side (``--max-unacked``),
for a peer that sends big frames of commands. Kept as Python objects (a record, its
bytes, its seqnum and due time, a heap entry: six small objects a result), a burst of them
spreads over many of Python's 1 MiB memory arenas, and one long-lived object allocated
meanwhile (another world's package) keeps a whole arena from going back to the system
once the burst is acked: the world stays at the size of its worst minute. Here a result
costs no Python object while it waits: its body is appended to one ``bytearray``, its
seqnum, field, send count and re-send group to ``array`` columns, in seqnum order (the
world numbers its results from one increasing counter). Big buffers come from the C
allocator (mapped on their own past ``memory.MMAP_THRESHOLD``), and go back whole.

Re-sends are scheduled by group, not by result: the results sent in one ``due`` call
with the same send count are due again at the same time, so one heap entry (and one
array of seqnums) stands for all of them.

``ResultOutbox`` has the methods of ``protocol.session.Outbox`` that a
``ReliableSession`` and the world use, with the same behaviour: new results first, in
seqnum order, then re-sends as they come due, oldest due first.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass

from amazon_ups.protocol.framing import encode_varint
from amazon_ups.protocol.session import ResendPolicy
from amazon_ups.world.model import WireResult

# Acked results are cut out of the columns once this many of them (and as many as the
# results still waiting) leave holes; until then they are only marked.
COMPACT_AFTER = 1024
NOT_FOUND = -1
WIRE_BYTES = 2  # the protobuf wire type of a length-delimited field (a message)


@dataclass(slots=True)
class _Group:
    """Results sent together with the same send count: due again together."""

    due: float
    seqnums: array  # ascending
    waiting: int  # how many of them are not acked yet


class ResultOutbox:
    """Unacked results of one world side, as bytes in flat buffers."""

    def __init__(
        self,
        policy: ResendPolicy | None = None,
        stale_after: int = 0,
        numbers: Mapping[str, int] | None = None,
    ) -> None:
        """``numbers``: each result field's number in the responses message (what
        ``due_wire`` needs; ``DIALECTS[side].responses``'s, for the world)."""
        self.policy = policy or ResendPolicy()
        self._numbers = dict(numbers or {})
        # For the diagnostics: each result sent this many times without an ack is listed
        # once in ``stale`` (0: never); ``resent`` counts every send after a first.
        self.stale_after = stale_after
        self.stale: list[WireResult] = []
        self.resent = 0
        self._fields: list[str] = []  # result field names, by index
        self._index: dict[str, int] = {}
        self._tags: list[bytes] = []  # each field's key in the responses message
        self._clear()

    def _clear(self) -> None:
        # One row per result, in seqnum order; acked rows are marked until compacted.
        self._seqnums = array("q")
        self._field = array("B")
        # Each result as it goes in a responses message: its field's key, its length, its
        # bytes; rows one after another. Where each row ends, counted from the first byte
        # ever put in _data (the bytes before _base are gone with their rows); it starts
        # where the row before ended.
        self._ends = array("q")
        self._base = 0
        self._sends = array("I")  # how often sent (since the last rewind)
        self._group = array("q")  # its re-send group (0: none)
        self._acked = bytearray()
        self._data = bytearray()
        self._waiting = 0
        self._holes = 0
        # Rows from this seqnum on were never sent (since the last rewind).
        self._unsent_from = 0
        self._groups: dict[int, _Group] = {}
        self._heap: list[tuple[float, int]] = []  # (due, group id)
        self._next_group = 1

    # -- adding and acking --------------------------------------------------------------

    def add(self, seqnum: int, field: str, body: bytes) -> None:
        """Queue a result, numbered above every one before it, to be sent at once."""
        if self._seqnums and seqnum <= self._seqnums[-1]:
            raise ValueError(f"seqnum {seqnum} is not above {self._seqnums[-1]}")
        index = self._index.get(field)
        if index is None:
            index = self._index[field] = len(self._fields)
            self._fields.append(field)
            self._tags.append(encode_varint(self._numbers.get(field, 0) << 3 | WIRE_BYTES))
        if not self._waiting:
            self._unsent_from = seqnum
        self._seqnums.append(seqnum)
        self._field.append(index)
        data = self._data
        data += self._tags[index]
        size = len(body)
        if size < 0x80:
            data.append(size)
        else:
            data += encode_varint(size)
        data += body
        self._ends.append(self._base + len(data))
        self._sends.append(0)
        self._group.append(0)
        self._acked.append(0)
        self._waiting += 1

    def put(self, item: WireResult) -> None:
        """``add`` for a ``WireResult`` (what ``ReliableSession.send`` passes)."""
        self.add(item.seqnum, item.field, item.body)

    def _row(self, seqnum: int) -> int:
        row = bisect_left(self._seqnums, seqnum)
        if row < len(self._seqnums) and self._seqnums[row] == seqnum and not self._acked[row]:
            return row
        return NOT_FOUND

    def ack(self, seqnum: int) -> bool:
        """Forget ``seqnum``; False if it was not waiting for an ack."""
        row = self._row(seqnum)
        if row == NOT_FOUND:
            return False
        self._acked[row] = 1
        self._waiting -= 1
        group = self._groups.get(self._group[row])
        if group is not None:
            group.waiting -= 1
            if not group.waiting:
                del self._groups[self._group[row]]  # its heap entry is left, and skipped
        if not self._waiting:
            # After a burst, start small again rather than hold (and scatter) its memory.
            self._clear()
            return True
        self._holes += 1
        if self._holes >= COMPACT_AFTER and self._holes >= self._waiting:
            self._compact()
        return True

    def _compact(self) -> None:
        """Cut the acked rows out of the columns (and the bodies' bytes out of the data):
        the acked rows at the start (a peer acks in about the order it was sent), in C,
        then, if holes are left all along, every one."""
        head = self._acked.find(0)
        if head > 0:
            end = self._ends[head - 1]
            del self._data[: end - self._base]  # at the front of a bytearray: no copy
            self._base = end
            for column in (self._seqnums, self._field, self._ends, self._sends, self._group):
                del column[:head]
            del self._acked[:head]
            self._holes -= head
        if self._holes >= COMPACT_AFTER and self._holes >= self._waiting:
            self._compact_all()
        if len(self._heap) > 2 * len(self._groups) + 64:
            self._heap = [(group.due, gid) for gid, group in self._groups.items()]
            heapq.heapify(self._heap)

    def _compact_all(self) -> None:
        keep = [row for row, acked in enumerate(self._acked) if not acked]
        data = bytearray()
        ends = array("q")
        old, base = memoryview(self._data), self._base
        old_ends = array("q", (end - base for end in self._ends))
        run = NOT_FOUND  # the first row of a run of kept rows, copied in one piece
        for position, row in enumerate(keep):
            if run == NOT_FOUND:
                run = row
            if position + 1 < len(keep) and keep[position + 1] == row + 1:
                continue
            start = old_ends[run - 1] if run else 0
            shift = len(data) - start
            data += old[start : old_ends[row]]
            ends.extend(old_ends[each] + shift for each in range(run, row + 1))
            run = NOT_FOUND
        old.release()
        self._seqnums = array("q", [self._seqnums[row] for row in keep])
        self._field = array("B", [self._field[row] for row in keep])
        self._sends = array("I", [self._sends[row] for row in keep])
        self._group = array("q", [self._group[row] for row in keep])
        self._acked = bytearray(len(keep))
        self._data = data
        self._ends = ends
        self._base = 0
        self._holes = 0

    # -- sending ------------------------------------------------------------------------

    def _start(self, row: int) -> int:
        return (self._ends[row - 1] if row else self._base) - self._base

    def _result(self, row: int) -> WireResult:
        field = self._field[row]
        data, at = self._data, self._start(row) + len(self._tags[field])
        while data[at] & 0x80:  # past the length
            at += 1
        body = bytes(data[at + 1 : self._ends[row] - self._base])
        return WireResult(self._fields[field], body, self._seqnums[row])

    def _first_unsent(self) -> int:
        """The row of the first result never sent (the number of rows if none is)."""
        rows = len(self._seqnums)
        if not rows or self._unsent_from > self._seqnums[-1]:
            return rows
        row = bisect_left(self._seqnums, self._unsent_from)
        while row < rows and self._acked[row]:  # acked before it was ever sent
            row += 1
        self._unsent_from = self._seqnums[row] if row < rows else self._seqnums[-1] + 1
        return row

    def due(self, now: float, limit: int | None = None, resend: bool = True) -> list[WireResult]:
        """Results to send now: those never sent, in seqnum order, then (with ``resend``)
        those due again by ``now``, oldest due first; at most ``limit``, the others stay
        due. Each is scheduled for its next re-send."""
        return [self._result(row) for row in self._due_rows(now, limit, resend)]

    def due_wire(
        self, now: float, limit: int | None = None, resend: bool = True
    ) -> tuple[bytes, int]:
        """``due``'s results as the bytes they make in a responses message (to merge into
        one), and how many they are: new results, in a row, are one copy."""
        rows = self._due_rows(now, limit, resend)
        data, ends, base = self._data, self._ends, self._base
        parts = []
        first = previous = NOT_FOUND
        for row in rows:
            if row == previous + 1 and previous != NOT_FOUND:
                previous = row
                continue
            if first != NOT_FOUND:
                parts.append(data[self._start(first) : ends[previous] - base])
            first = previous = row
        if first != NOT_FOUND:
            parts.append(data[self._start(first) : ends[previous] - base])
        return b"".join(parts), len(rows)

    def _due_rows(self, now: float, limit: int | None, resend: bool) -> list[int]:
        """The rows ``due`` sends, in its order; each scheduled for its next re-send."""
        rows = len(self._seqnums)
        room = rows if limit is None else limit
        first = row = self._first_unsent()
        new: list[int] = []
        holes = self._acked.find(1, row, row + room) != -1
        if not holes:  # the usual: the next ``room`` rows, all waiting
            row = min(rows, row + room)
            new = list(range(first, row))
        else:
            while row < rows and len(new) < room:
                if not self._acked[row]:
                    new.append(row)
                row += 1
        if new:
            self._unsent_from = self._seqnums[row] if row < rows else self._seqnums[-1] + 1
        again: list[int] = []
        room -= len(new)
        while resend and self._heap and self._heap[0][0] <= now and len(again) < room:
            due, gid = heapq.heappop(self._heap)
            group = self._groups.get(gid)
            if group is None or group.due != due:
                continue  # every result of it was acked
            del self._groups[gid]
            left = array("q")
            for seqnum in group.seqnums:
                found = self._row(seqnum)
                if found == NOT_FOUND:
                    continue
                if len(again) < room:
                    again.append(found)
                else:
                    left.append(seqnum)
            if left:  # the limit came first: the rest stay due as they were
                self._groups[gid] = _Group(due, left, len(left))
                heapq.heappush(self._heap, (due, gid))
        # Re-sent rows are all older than new ones: their groups go first on a tie.
        self._schedule(again, now)
        if new and not holes:
            self._schedule_new(first, row, now)
        else:
            self._schedule(new, now)
        return new + again

    def _schedule_new(self, first: int, end: int, now: float) -> None:
        """Rows ``first`` to ``end`` (all waiting) just sent for the first time."""
        count = end - first
        gid = self._next_group
        self._next_group += 1
        group = _Group(now + self.policy.delay(1), self._seqnums[first:end], count)
        self._groups[gid] = group
        heapq.heappush(self._heap, (group.due, gid))
        self._sends[first:end] = array("I", [1]) * count
        self._group[first:end] = array("q", [gid]) * count

    def _schedule(self, rows: list[int], now: float) -> None:
        """The rows just sent: counted, and grouped by when they are due again."""
        groups: dict[int, tuple[int, _Group]] = {}  # by send count
        for row in sorted(rows):
            sends = self._sends[row] + 1
            self._sends[row] = sends
            if sends > 1:
                self.resent += 1
                if sends == self.stale_after:
                    self.stale.append(self._result(row))
            found = groups.get(sends)
            if found is None:
                gid = self._next_group
                self._next_group += 1
                group = _Group(now + self.policy.delay(sends), array("q"), 0)
                groups[sends] = gid, group
                self._groups[gid] = group
                heapq.heappush(self._heap, (group.due, gid))
            else:
                gid, group = found
            group.seqnums.append(self._seqnums[row])
            group.waiting += 1
            self._group[row] = gid

    def next_deadline(self) -> float | None:
        """When ``due`` next has something (minus infinity: at once); None: never."""
        if not self._waiting:
            return None
        if self._first_unsent() < len(self._seqnums):
            return float("-inf")
        while self._heap:
            due, gid = self._heap[0]
            group = self._groups.get(gid)
            if group is not None and group.due == due:
                return due
            heapq.heappop(self._heap)
        return None

    def rewind(self) -> None:
        """Make every unacked result due at once (the peer has just reconnected)."""
        if not self._waiting:
            return
        rows = len(self._seqnums)
        self._unsent_from = self._seqnums[0]
        self._sends = array("I", bytes(rows * self._sends.itemsize))
        self._group = array("q", bytes(rows * self._group.itemsize))
        self._groups = {}
        self._heap = []

    def keep_newest(self) -> int:
        """Forget every unacked result but the newest; how many went."""
        waiting = [self._seqnums[row] for row, acked in enumerate(self._acked) if not acked]
        for seqnum in waiting[:-1]:
            self.ack(seqnum)
        return max(0, len(waiting) - 1)

    # -- looking ------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._waiting

    def __contains__(self, seqnum: int) -> bool:
        return self._row(seqnum) != NOT_FOUND

    def sends(self, seqnum: int) -> int:
        """How often ``seqnum`` was sent (since the last ``rewind``); 0 if not waiting."""
        row = self._row(seqnum)
        return 0 if row == NOT_FOUND else self._sends[row]

    def items(self, limit: int | None = None) -> list[WireResult]:
        """The unacked results, oldest first (the first ``limit`` of them)."""
        out: list[WireResult] = []
        for row, acked in enumerate(self._acked):
            if limit is not None and len(out) >= limit:
                break
            if not acked:
                out.append(self._result(row))
        return out
