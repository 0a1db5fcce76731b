"""Seqnums for what we send a peer (common.messaging.seqnums): never one twice, each
peer's in commit order, and cheap in a batch, whatever its savepoints do. The
messaging tables are common to both sites; they run here on UPS's database."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import OutgoingMessage, SeqnumCounter
from amazon_ups.common.messaging.seqnums import numbered_together
from amazon_ups.protocol import au_pb2
from tests.support import wait_for_a_lock_wait

PEER = "amazon"


def send(peer: str = PEER) -> int:
    return messaging.send(peer, "accounts", au_pb2.AccountStatus(ups_account=1, exists=True)).seqnum


def stored(peer: str = PEER) -> list[int]:
    return list(
        OutgoingMessage.objects.filter(peer=peer).order_by("id").values_list("seqnum", flat=True)
    )


def counter(peer: str = PEER) -> int:
    return SeqnumCounter.objects.get(peer=peer).next_seqnum


def counter_statements(captured: CaptureQueriesContext) -> int:
    table = SeqnumCounter._meta.db_table
    return sum(1 for query in captured if table in query["sql"])


@pytest.mark.django_db
def test_alone_each_seqnum_is_the_next():
    with transaction.atomic():
        assert [send(), send(), send("world:1")] == [1, 2, 1]
    assert counter() == 3


@pytest.mark.django_db
def test_a_batch_reads_and_writes_each_counter_once():
    with transaction.atomic():
        send()  # the counter exists, at 2
    with CaptureQueriesContext(connection) as captured, transaction.atomic(), numbered_together():
        numbered = [send() for _ in range(20)] + [send("world:1") for _ in range(5)]
    assert numbered == list(range(2, 22)) + list(range(1, 6))
    # Per peer: read and locked once, written once; a peer new to the counter also has
    # its row created. Alone, 25 seqnums would take 50 statements.
    assert counter_statements(captured) == 2 + 3
    assert (counter(), counter("world:1")) == (22, 6)
    with transaction.atomic():
        assert send() == 22  # alone again, after the batch


class Rollback(Exception):
    pass


@pytest.mark.django_db
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    before=st.integers(0, 2),
    steps=st.lists(
        st.sampled_from(["send", "send world", "open", "release", "roll back"]), max_size=40
    ),
)
# The counter's row made, and its lock taken, in a unit then rolled back.
@example(before=0, steps=["open", "send", "roll back", "send"])
@example(before=1, steps=["open", "send", "roll back", "open", "send", "release", "send"])
def test_seqnums_never_repeat_whatever_the_batchs_savepoints_do(before, steps):
    """Units of a batch released or rolled back in any order, the first seqnum of a peer
    taken in any of them: the seqnums that survive are unique, the counter is past
    them, and the next transaction's are new."""
    peers = (PEER, "world:1")
    with transaction.atomic():  # rolled back at the end: each example starts afresh
        for _ in range(before):
            send()
        with transaction.atomic(), numbered_together():
            open_units: list[transaction.Atomic] = []
            for step in steps:
                if step.startswith("send"):
                    send(peers[step == "send world"])
                elif step == "open":
                    unit = transaction.atomic()
                    unit.__enter__()
                    open_units.append(unit)
                elif open_units and step == "release":
                    open_units.pop().__exit__(None, None, None)
                elif open_units:
                    open_units.pop().__exit__(Rollback, Rollback(), None)
            while open_units:
                open_units.pop().__exit__(None, None, None)
        after = [send(peer) for peer in peers]
        for peer, last in zip(peers, after, strict=True):
            seqnums = stored(peer)
            assert len(seqnums) == len(set(seqnums)), seqnums
            assert last == max(seqnums) and counter(peer) == last + 1
        transaction.set_rollback(True)


@pytest.mark.django_db(transaction=True)
def test_a_batch_holds_its_peers_counter_until_it_commits():
    """Another sender to the same peer (the web) waits for the batch's commit, and its
    seqnum and row come after the batch's: the daemon's outbox reads each peer's rows
    in id order and must never find a row behind its cursor."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks: SQLite has one writer at a time anyway")
    with transaction.atomic():
        send()
    taken = threading.Event()
    other: list[int] = []

    def web() -> None:
        try:
            taken.wait(10)
            with transaction.atomic():
                other.append(send())
        finally:
            connection.close()

    thread = threading.Thread(target=web)
    thread.start()
    with transaction.atomic(), numbered_together():
        mine = [send(), send()]
        taken.set()
        # The other sender is blocked on the counter's row: wait until PostgreSQL says
        # so, rather than for a while.
        wait_for_a_lock_wait("the other sender to wait for the counter's lock")
        mine.append(send())
    thread.join(10)
    assert mine == [2, 3, 4] and other == [5]
    rows = list(OutgoingMessage.objects.filter(peer=PEER).order_by("id"))
    assert [row.seqnum for row in rows] == [1, 2, 3, 4, 5]
