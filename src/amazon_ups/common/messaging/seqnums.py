"""Seqnums for the messages we send a peer: one counter row per peer.

Whoever takes a seqnum for ``peer`` locks its counter row until its transaction ends:
senders to one peer queue, so each peer's messages get their seqnums, and their
outbox row ids, in the order they commit (the daemon's outbox cursor relies on it:
``messaging.selectors.unacked``).

Alone (a web request, one item of periodic work), a seqnum costs two statements: the
counter counts on and is read back. A batch of work that sends many (a container of
received messages, a turn's new orders) runs in ``numbered_together``: the counter is
read and locked once per peer, the seqnums are counted on in memory, and each counter
is written once, when the batch ends, still in its transaction.

A unit of the batch may be rolled back alone (a savepoint), and PostgreSQL forgets a
row lock taken inside a savepoint rolled back. So a peer's count is trusted only while
every savepoint that was open when its counter was read is still open; once one has
ended (released or rolled back, which cannot be told apart from here) the next seqnum
reads and locks the counter again, and counts on from the higher of the two:

- released: the lock is still ours and the row still holds what we read, below our
  count (nothing is written until the end);
- rolled back: every message to that peer the batch had numbered was in it (the first
  took the lock), so none survives; meanwhile another transaction may have taken the
  lock and committed seqnums beyond what we read, and the row now says so.

Seqnums left unused by a unit rolled back are a gap, never a repeat: the protocol asks
only that they be unique. The counter's last write takes the higher of its value and
ours, so it never goes back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest

from amazon_ups.common.messaging.models import SeqnumCounter


@dataclass
class _Count:
    next_seqnum: int
    # The savepoints open when the counter was read: the lock holds while they do.
    read_under: tuple[str, ...]


# Per peer, its count in the batch under way; None outside one.
_batch: ContextVar[dict[str, _Count] | None] = ContextVar("seqnums_batch", default=None)


def next_seqnum(peer: str) -> int:
    """Take the next seqnum for ``peer``, in the caller's transaction."""
    counts = _batch.get()
    if counts is None:
        return _alone(peer)
    open_now = tuple(transaction.get_connection().savepoint_ids)
    count = counts.get(peer)
    if count is None or open_now[: len(count.read_under)] != count.read_under:
        stored = _read_and_lock(peer)
        count = counts[peer] = _Count(
            max(stored, count.next_seqnum if count is not None else 0), open_now
        )
    seqnum = count.next_seqnum
    count.next_seqnum += 1
    return seqnum


def _alone(peer: str) -> int:
    """The counter counts on in one UPDATE, which also locks its row until the
    transaction ends, then is read back."""
    counters = SeqnumCounter.objects.filter(peer=peer)
    if not counters.update(next_seqnum=F("next_seqnum") + 1):  # the first message to it
        SeqnumCounter.objects.create(peer=peer, next_seqnum=2)
        return 1
    return counters.values_list("next_seqnum", flat=True).get() - 1


def _read_and_lock(peer: str) -> int:
    """The next seqnum the counter holds for ``peer``, its row locked until the
    transaction ends (a new row for a peer never written to)."""
    found = list(
        SeqnumCounter.objects.select_for_update()
        .filter(peer=peer)
        .values_list("next_seqnum", flat=True)
    )
    if found:
        return found[0]
    SeqnumCounter.objects.create(peer=peer, next_seqnum=1)  # locked: ours until commit
    return 1


@contextlib.contextmanager
def numbered_together() -> Iterator[None]:
    """Inside a transaction, for a batch of work: the messages it sends are numbered in
    memory, each peer's counter read once and written once, at the end (not at all if
    the block raises: the transaction is rolled back). Within a batch, another is part
    of it."""
    if _batch.get() is not None:
        yield
        return
    counts: dict[str, _Count] = {}
    token = _batch.set(counts)
    try:
        yield
    finally:
        _batch.reset(token)
    for peer, count in counts.items():
        SeqnumCounter.objects.filter(peer=peer).update(
            next_seqnum=Greatest(F("next_seqnum"), count.next_seqnum)
        )
