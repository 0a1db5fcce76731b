"""``isolation``: which failures are outages (wait and retry everything) and which are
defects (set the one item aside), and ``each_item`` for the daemons' periodic work.
The errors are real ones from the database in use, never made up."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from google.protobuf.message import DecodeError

from amazon_ups.common.daemon import isolation
from amazon_ups.common.daemon.isolation import each_item, is_outage, set_aside_refs
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import DeadLetter, OutgoingMessage, Setting
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_amazon_pb2 as wa

pytestmark = pytest.mark.django_db(transaction=True)


def lose_the_database() -> None:
    """Make the database unusable the way production can: PostgreSQL ends this very
    connection (as a restart does); SQLite finds its disk full."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            cursor.execute("SELECT 1")  # psycopg sees the end of the connection here at the latest
        else:
            cursor.execute("PRAGMA max_page_count = 1")  # never below the current size
    OutgoingMessage.objects.create(peer="p", seqnum=1, field="f", body=b"x" * 1_000_000)


@pytest.fixture
def fresh_connection():
    """The connection ``lose_the_database`` broke is not used again by the test."""
    yield
    connection.close()


def error_of(action) -> Exception:
    try:
        action()
    except Exception as error:
        return error
    raise AssertionError("no error")


def duplicate_key() -> None:
    Setting.objects.create(key="k", value="1")
    Setting.objects.create(key="k", value="2")


def missing_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")


def unbindable_value() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s", [object()])  # type: ignore[list-item]  # unbindable: the point


def test_a_lost_database_is_an_outage(fresh_connection):
    error = error_of(lose_the_database)
    assert isinstance(error, OperationalError)
    assert is_outage(error)


@pytest.mark.parametrize(
    ("defect", "kind"),
    [
        (duplicate_key, IntegrityError),
        # PostgreSQL says ProgrammingError; SQLite, OperationalError with code SQLITE_ERROR.
        (missing_table, DatabaseError),
        (unbindable_value, DatabaseError),
        (lambda: {}["missing"], KeyError),  # type: ignore[index]  # a bug: the point
        (lambda: au_pb2.PickupRequest.FromString(b"\xff\xff"), DecodeError),
    ],
    ids=["integrity", "missing table", "unbindable value", "python bug", "protobuf"],
)
def test_other_failures_are_defects(defect, kind):
    error = error_of(defect)
    assert isinstance(error, kind)
    assert not is_outage(error)


# -- each_item ---------------------------------------------------------------------------------


def item_action(failing: dict[int, object]):
    """Records ``item:<n>`` for each item, then fails as ``failing[n]`` says."""
    ran = []

    def action(n: int) -> None:
        ran.append(n)
        messaging.put_setting(f"item:{n}", "done")
        if failing.get(n) == "integrity":
            Setting.objects.create(key=f"item:{n}", value="again")  # the row exists: refused
        elif failing.get(n) == "bug":
            raise KeyError(n)

    action.ran = ran  # type: ignore[attr-defined]  # what the tests read back
    return action


def ref(n: int) -> str:
    return f"item:{n}"


def set_aside_logs(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "set aside" in r.getMessage()]


def test_one_bad_item_is_rolled_back_and_set_aside_and_the_others_run(caplog):
    action = item_action({2: "integrity", 3: "bug"})
    assert each_item("test work", [1, 2, 3, 4], ref=ref, action=action) == 2

    assert action.ran == [1, 2, 3, 4]
    # Each item is its own transaction: the bad ones left nothing behind.
    assert set(Setting.objects.values_list("key", flat=True)) == {"item:1", "item:4"}
    letters = {letter.ref: letter for letter in DeadLetter.objects.all()}
    assert set(letters) == {"item:2", "item:3"}
    assert letters["item:2"].error_type == "django.db.utils.IntegrityError"
    assert letters["item:3"].error_type == "builtins.KeyError"
    for letter in letters.values():
        assert (letter.kind, letter.what, letter.state) == (
            DeadLetter.Kind.WORK_ITEM,
            "test work",
            DeadLetter.State.OPEN,
        )
        assert "in action" in letter.traceback
    assert len(set_aside_logs(caplog)) == 2
    assert set_aside_refs() == {"item:2", "item:3"}

    # The next passes skip them, silently, until an operator retries them.
    again = item_action({})
    assert each_item("test work", [1, 2, 3, 4], ref=ref, action=again) == 2
    assert again.ran == [1, 4]
    assert len(set_aside_logs(caplog)) == 2


def test_a_retried_item_runs_again_and_a_new_failure_sets_it_aside_anew():
    each_item("test work", [1, 2, 3], ref=ref, action=item_action({2: "bug", 3: "bug"}))
    two, three = DeadLetter.objects.order_by("ref")
    assert messaging.dead_letters_retry([two.id, three.id]) == 2
    # Asked for, not done yet: the daemon takes the request up on its next turn.
    assert set_aside_refs() == {"item:2", "item:3"}
    assert isolation.retry_requested({}) == 2
    assert set_aside_refs() == set()

    fixed = item_action({3: "bug"})  # 2 was fixed, 3 was not
    assert each_item("test work", [1, 2, 3], ref=ref, action=fixed) == 2
    assert fixed.ran == [1, 2, 3]
    assert Setting.objects.filter(key="item:2").exists()
    assert sorted(DeadLetter.objects.values_list("ref", "state")) == [
        ("item:2", DeadLetter.State.RESOLVED),
        ("item:3", DeadLetter.State.OPEN),
        ("item:3", DeadLetter.State.RESOLVED),
    ]


def losing_the_database_at(bad: int) -> tuple[list[int], Callable[[int], None]]:
    """An action that records each item it runs and saves a setting for it, and loses
    the database connection while running item ``bad``; returns (items run, action)."""
    ran: list[int] = []

    def action(n: int) -> None:
        ran.append(n)
        messaging.put_setting(f"item:{n}", "done")
        if n == bad:
            lose_the_database()

    return ran, action


def test_an_outage_is_raised_at_once_and_sets_nothing_aside(fresh_connection):
    ran, action = losing_the_database_at(2)
    with pytest.raises(OperationalError):
        each_item("test work", [1, 2, 3], ref=ref, action=action)
    assert ran == [1, 2]  # 3 waits for the loop's next turn
    connection.close()
    assert list(Setting.objects.values_list("key", flat=True)) == ["item:1"]
    assert not DeadLetter.objects.exists()


def test_a_retried_message_waits_for_a_link_to_its_peer_without_holding_others_up():
    with transaction.atomic():
        old_world = messaging.set_aside_message(
            peer="world:1", field="ready", message=wa.APacked(shipid=3, seqnum=9), error=KeyError(3)
        )
    each_item("test work", [2], ref=ref, action=item_action({2: "bug"}))
    work = DeadLetter.objects.get(kind=DeadLetter.Kind.WORK_ITEM)
    messaging.dead_letters_retry([old_world.id, work.id])

    # This daemon is in world 2 now: nothing can handle world 1's message.
    handled = []
    world_2 = isolation.Receiver(wa.AResponses, lambda field, message: handled.append(message))
    assert isolation.retry_requested({"world:2": world_2}) == 1
    old_world.refresh_from_db()
    work.refresh_from_db()
    assert (old_world.state, work.state) == (DeadLetter.State.RETRY, DeadLetter.State.RESOLVED)
    assert handled == []

    world_1 = isolation.Receiver(wa.AResponses, lambda field, message: handled.append(message))
    assert isolation.retry_requested({"world:1": world_1}) == 1
    assert handled == [wa.APacked(shipid=3, seqnum=9)]
    old_world.refresh_from_db()
    assert old_world.state == DeadLetter.State.RESOLVED


# -- a batch in one transaction: each_item_together, receive_all --------------------------------


def test_a_batch_in_one_transaction_sets_aside_only_its_bad_items(caplog):
    action = item_action({2: "integrity", 3: "bug"})
    assert isolation.each_item_together("test work", [1, 2, 3, 4], ref=ref, action=action) == 2

    # At first all in one go; the defect of 2 rolled that back, and it ran again with a
    # savepoint each.
    assert action.ran == [1, 2, 1, 2, 3, 4]
    # The bad ones left nothing behind, the others stay.
    assert set(Setting.objects.values_list("key", flat=True)) == {"item:1", "item:4"}
    letters = {letter.ref: letter for letter in DeadLetter.objects.all()}
    assert set(letters) == {"item:2", "item:3"}
    assert letters["item:2"].error_type == "django.db.utils.IntegrityError"
    assert letters["item:3"].error_type == "builtins.KeyError"
    assert len(set_aside_logs(caplog)) == 2

    # Set aside: skipped by the next batch, until an operator retries them.
    again = item_action({})
    assert isolation.each_item_together("test work", [1, 2, 3], ref=ref, action=again) == 1
    assert again.ran == [1]


def test_an_outage_in_a_batch_rolls_the_whole_batch_back(fresh_connection):
    ran, action = losing_the_database_at(2)
    with pytest.raises(OperationalError):
        isolation.each_item_together("test work", [1, 2, 3], ref=ref, action=action)
    assert ran == [1, 2]
    connection.close()
    # All of it is still work for the next turn; nothing was set aside.
    assert not Setting.objects.exists()
    assert not DeadLetter.objects.exists()


def packed(shipid: int, seqnum: int) -> tuple[str, wa.APacked]:
    return "ready", wa.APacked(shipid=shipid, seqnum=seqnum)


def test_a_container_is_handled_once_and_a_bad_sub_message_is_set_aside_alone(caplog):
    def handle(field: str, message) -> None:
        messaging.put_setting(f"packed:{message.shipid}", "done")
        if message.shipid == 2:
            raise KeyError(2)

    sent = messaging_sent()
    container = [packed(1, 11), packed(2, 12), packed(3, 13), packed(3, 13)]
    owed = isolation.receive_all("world:1", container, handle, acks=[sent])

    # Every sub-message is owed its ack: the bad one is set aside, the repeat is a repeat.
    assert owed == [11, 12, 13, 13]
    assert set(Setting.objects.values_list("key", flat=True)) == {"packed:1", "packed:3"}
    letter = DeadLetter.objects.get()
    assert (letter.kind, letter.peer, letter.field, letter.seqnum) == (
        DeadLetter.Kind.MESSAGE,
        "world:1",
        "ready",
        12,
    )
    assert wa.APacked.FromString(bytes(letter.body)) == wa.APacked(shipid=2, seqnum=12)
    assert len(set_aside_logs(caplog)) == 1
    assert OutgoingMessage.objects.get(seqnum=sent).acked_at is not None

    # Sent again (the acks were lost): only acked again, nothing handled twice.
    handled = []
    assert isolation.receive_all(
        "world:1", container[:3], lambda f, m: handled.append(m.seqnum)
    ) == [11, 12, 13]
    assert handled == []
    assert messaging.received_before("world:1", [11, 12, 13, 14]) == {11, 12, 13}


def messaging_sent() -> int:
    with transaction.atomic():
        return messaging.send("world:1", "topack", wa.APack(whnum=1, shipid=1)).seqnum


def test_an_outage_in_a_container_records_and_acks_nothing(fresh_connection):
    sent = messaging_sent()

    def handle(field: str, message) -> None:
        messaging.put_setting(f"packed:{message.shipid}", "done")
        if message.shipid == 2:
            lose_the_database()

    with pytest.raises(OperationalError):
        isolation.receive_all("world:1", [packed(1, 11), packed(2, 12)], handle, acks=[sent])
    connection.close()
    assert not Setting.objects.exists()
    assert messaging.received_before("world:1", [11, 12]) == set()
    assert OutgoingMessage.objects.get(seqnum=sent).acked_at is None
    assert not DeadLetter.objects.exists()
