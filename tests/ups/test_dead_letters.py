"""The daemon's error policy, on the real dispatch daemon with a real world and a bare
Amazon peer: a sub-message whose handler fails with a defect is set aside (a dead
letter), recorded and acked, and the daemon goes on; a database outage sets nothing
aside and acks nothing; a retry after the fix handles the message.

The failures are real: a trigger in the test database refuses one package row (see
``tests/poison.py``), so ``shipments.services.pickup_request`` runs as in production
and the database rejects its INSERT.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import sqlite3
import threading

import pytest
from django.db import connection, connections

from amazon_ups.common.daemon.isolation import sub_message
from amazon_ups.common.daemon.listen_link import ListenLink
from amazon_ups.common.daemon.runner import Daemon
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import DeadLetter, IncomingMessage, OutgoingMessage
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol.world_messages import Side
from amazon_ups.ups.dispatch import services as dispatch
from amazon_ups.ups.shipments.models import Package
from tests import poison
from tests.ups.raw_amazon import RawAmazon, amazon_listener, join_world

pytestmark = pytest.mark.django_db(transaction=True)

POISONED = 13  # the package whose row the database refuses
WAREHOUSE = (1, 10, 10)


@pytest.fixture
def amazon(world, run_daemon):
    """The daemon running in a world it created, and Amazon connected to it; the
    daemon has nothing left to do (what it sent is acked)."""
    peer = RawAmazon(run_daemon().amazon_port)
    [created] = peer.wait_for(lambda: peer.of("worlds"), what="UPS to announce its world")
    shop = join_world(world.ports[Side.AMAZON], created.world_id, [WAREHOUSE])
    peer.wait_for(
        lambda: not OutgoingMessage.objects.filter(acked_at=None).exists(),
        what="UPS to record Amazon's ack of its world",
    )
    yield peer
    peer.close()
    shop.close()


def execute(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


@pytest.fixture
def triggers():
    """``triggers(statements)`` installs triggers on the package table; ``cure()`` (and
    the end of the test, whatever happens) removes them."""

    class Triggers:
        def __call__(self, make) -> None:
            execute(make(connection.vendor, "shipments_package", f"NEW.id = {POISONED}"))

        def cure(self) -> None:
            execute(poison.cure(connection.vendor, "shipments_package"))

    installed = Triggers()
    yield installed
    installed.cure()


def pickup(seqnum: int, package_id: int) -> au_pb2.PickupRequest:
    return au_pb2.PickupRequest(
        seqnum=seqnum,
        package_id=package_id,
        warehouse=au_pb2.Warehouse(id=WAREHOUSE[0], x=WAREHOUSE[1], y=WAREHOUSE[2]),
        dest_x=package_id,
        dest_y=-package_id,
        items=[au_pb2.Item(product_id=7, description="kettle", count=1)],
    )


def set_aside_logs(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "set aside" in r.getMessage()]


def outage_logs(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "database unavailable" in r.getMessage()]


def set_aside_pickup(amazon: RawAmazon, triggers) -> DeadLetter:
    """Packages 12, 13 (poisoned) and 14 in one container; all acked; 13 set aside."""
    triggers(poison.poison)
    amazon.send(pickups=[pickup(1, 12), pickup(2, POISONED), pickup(3, 14)])
    amazon.wait_for(lambda: all(amazon.acks[s] for s in (1, 2, 3)), what="acks of 1, 2, 3")
    return DeadLetter.objects.get()


def test_a_message_that_breaks_its_handler_is_set_aside_acked_and_the_rest_goes_on(
    amazon, triggers, caplog
):
    letter = set_aside_pickup(amazon, triggers)

    # The messages around it were handled: their packages exist and get a truck.
    assert set(Package.objects.values_list("id", flat=True)) == {12, 14}
    amazon.wait_for(
        lambda: {m.package_id for m in amazon.of("arrived")} == {12, 14},
        what="trucks for packages 12 and 14",
    )
    # The broken one is kept whole, with what went wrong, and recorded as received.
    assert (letter.kind, letter.peer, letter.field, letter.seqnum) == (
        DeadLetter.Kind.MESSAGE,
        "amazon",
        "pickups",
        2,
    )
    assert sub_message(au_pb2.AmazonToUps, "pickups", bytes(letter.body)) == pickup(2, POISONED)
    assert "package_id: 13" in letter.content
    assert letter.error_type == "django.db.utils.IntegrityError"
    assert poison.POISON_TEXT in letter.error
    assert "pickup_request" in letter.traceback and "IntegrityError" in letter.traceback
    assert letter.state == DeadLetter.State.OPEN
    received = IncomingMessage.objects.filter(peer="amazon", field="pickups")
    assert sorted(received.values_list("seqnum", flat=True)) == [1, 2, 3]
    assert len(set_aside_logs(caplog)) == 1

    # Amazon did not see the ack (lost) and sends the container again: only acked.
    amazon.send(pickups=[pickup(1, 12), pickup(2, POISONED), pickup(3, 14)])
    amazon.wait_for(lambda: amazon.acks[2] == 2, what="the repeat to be acked")
    assert DeadLetter.objects.get().attempts == 1
    assert Package.objects.count() == 2
    assert len(set_aside_logs(caplog)) == 1  # logged once, not on every re-send
    assert amazon.of("errors") == []


def test_after_the_fix_a_retry_handles_the_message_and_resolves_it(amazon, triggers):
    letter = set_aside_pickup(amazon, triggers)

    # Retried before the fix: it fails again, keeps the new error, and stays open.
    assert messaging.dead_letters_retry([letter.id]) == 1
    amazon.wait_for(
        lambda: DeadLetter.objects.filter(attempts=2, state=DeadLetter.State.OPEN).exists(),
        what="the retry to fail again",
    )
    assert not Package.objects.filter(id=POISONED).exists()

    triggers.cure()
    assert messaging.dead_letters_retry([letter.id]) == 1
    amazon.wait_for(
        lambda: DeadLetter.objects.filter(state=DeadLetter.State.RESOLVED).exists(),
        what="the retry to succeed",
    )
    amazon.wait_for(
        lambda: amazon.of("arrived", lambda m: m.package_id == POISONED),
        what="a truck for the retried package",
    )
    package = Package.objects.get(id=POISONED)
    assert (package.dest_x, package.dest_y, package.request_seqnum) == (13, -13, 2)
    assert DeadLetter.objects.get().resolved_at is not None
    assert IncomingMessage.objects.filter(peer="amazon", seqnum=2).count() == 1


@contextlib.contextmanager
def database_outage(triggers):
    """While inside, writing package 13's row finds the database gone: on PostgreSQL
    the write cuts its own connection; on SQLite another writer holds the lock (and the
    daemon's busy timeout is short, so it gives up at once)."""
    if connection.vendor == "postgresql":
        triggers(poison.outage)
        try:
            yield
        finally:
            triggers.cure()
        return
    # Nothing else writes meanwhile (the daemon is idle), so the write the daemon finds
    # locked is the one of the container sent inside.
    locker = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        locker.execute("ROLLBACK")
        locker.close()


@pytest.fixture
def short_busy_timeout():
    """SQLite: the daemon's connection (made in its thread from these settings) waits at
    most 0.2 s for a lock, not 30 s."""
    if connection.vendor != "sqlite":
        yield
        return
    options = connections["default"].settings_dict["OPTIONS"]
    saved = options["timeout"]
    options["timeout"] = 0.2
    yield
    options["timeout"] = saved


def test_a_database_outage_sets_nothing_aside_and_acks_nothing(
    short_busy_timeout, amazon, triggers, caplog
):
    with database_outage(triggers):
        amazon.send(pickups=[pickup(1, 12), pickup(2, POISONED), pickup(3, 14)])
        amazon.wait_for(
            lambda: outage_logs(caplog) or set_aside_logs(caplog),
            what="the daemon to meet the outage",
        )
        assert not set_aside_logs(caplog)
    # A message sent after the outage, and acked: the acks of anything handled before
    # it have left by then.
    amazon.send(account_checks=[au_pb2.AccountCheck(seqnum=10, ups_account=5)])
    amazon.wait_for(lambda: amazon.acks[10], what="the ack of a message after the outage")
    assert not amazon.acks[2] and not amazon.acks[3]
    assert not IncomingMessage.objects.filter(peer="amazon", seqnum__in=[2, 3]).exists()
    assert not DeadLetter.objects.exists()
    assert not set_aside_logs(caplog)

    # Amazon sends again what was not acked, and it is handled like any message.
    assert {2, 3} <= set(amazon.resend_unacked())
    amazon.wait_for(lambda: all(amazon.acks[s] for s in (1, 2, 3)), what="acks of 1, 2, 3")
    assert set(Package.objects.values_list("id", flat=True)) == {12, POISONED, 14}
    assert not DeadLetter.objects.exists()


def test_a_tick_that_keeps_failing_is_logged_once_and_messages_still_flow(caplog):
    """The app's tick fails on every turn (a bug in it): the turn goes on, so the link
    still acks and answers, and the log holds the failure once, not on every turn."""
    turns = []

    def tick(now: datetime.datetime) -> None:
        turns.append(now)
        raise ZeroDivisionError("a bug in the tick")

    link = amazon_listener()

    def handle(
        link: ListenLink, field: str, check: au_pb2.AccountCheck, now: datetime.datetime
    ) -> None:
        dispatch.account_check(check.ups_account)

    daemon = Daemon("tick-test", links=[link], handle=handle, tick=tick)
    thread = threading.Thread(target=run_closing, args=(daemon,))
    thread.start()
    try:
        amazon = RawAmazon(link.port)
        amazon.send(account_checks=[au_pb2.AccountCheck(seqnum=1, ups_account=5)])
        amazon.wait_for(lambda: amazon.acks[1] and amazon.of("accounts"), what="the answer")
        amazon.wait_for(lambda: len(turns) >= 3, what="three turns")  # 2 s apart on PostgreSQL
        amazon.close()
    finally:
        daemon.stop()
        thread.join(10)
    failures = [r for r in caplog.records if "the tick failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info[0] is ZeroDivisionError


def run_closing(daemon: Daemon) -> None:
    try:
        daemon.run()
    finally:
        connections.close_all()
