"""A busy daemon gathers: after a turn that worked in its database, the next waits until
``DAEMON_GATHER_SECONDS`` after that turn's work began, so that what comes meanwhile is
handled together (``runner.Daemon.turn``); an idle one turns as soon as something comes."""

from __future__ import annotations

import contextlib
import datetime
import threading
from collections.abc import Iterator

import pytest
from django.db import connections

from amazon_ups.common.daemon.listen_link import ListenLink
from amazon_ups.common.daemon.runner import Daemon
from amazon_ups.protocol import au_pb2
from amazon_ups.ups.dispatch import services as dispatch
from tests.ups.raw_amazon import RawAmazon, amazon_listener

pytestmark = pytest.mark.django_db(transaction=True)

GATHER = 1.0  # seconds: long, so that what the test sends at once comes within it


def run_closing(daemon: Daemon) -> None:
    try:
        daemon.run()
    finally:
        connections.close_all()


@contextlib.contextmanager
def running(daemon: Daemon, link: ListenLink) -> Iterator[RawAmazon]:
    """``daemon`` serving in a thread; Amazon connected to its ``link``, as raw frames.
    The daemon is stopped at the block's end."""
    thread = threading.Thread(target=run_closing, args=(daemon,))
    thread.start()
    try:
        amazon = RawAmazon(link.port)
        yield amazon
        amazon.close()
    finally:
        daemon.stop()
        thread.join(10)


def test_what_comes_after_a_working_turn_waits_to_be_handled_together(settings):
    settings.DAEMON_GATHER_SECONDS = GATHER
    handled: dict[int, datetime.datetime] = {}  # seqnum -> the time its turn gave it

    def handle(
        link: ListenLink, field: str, check: au_pb2.AccountCheck, now: datetime.datetime
    ) -> None:
        handled[check.seqnum] = now
        dispatch.account_check(check.ups_account)

    link = amazon_listener()
    with running(Daemon("gather-test", links=[link], handle=handle), link) as amazon:
        amazon.send(account_checks=[au_pb2.AccountCheck(seqnum=1, ups_account=5)])
        amazon.wait_for(lambda: amazon.acks[1], what="the first check's ack")
        # Sent at once after the ack, in two messages: both come within the gathering.
        amazon.send(account_checks=[au_pb2.AccountCheck(seqnum=2, ups_account=6)])
        amazon.send(account_checks=[au_pb2.AccountCheck(seqnum=3, ups_account=7)])
        amazon.wait_for(lambda: amazon.acks[2] and amazon.acks[3], what="the others' acks")
    # The first came to an idle daemon and was handled at once; the next two waited for
    # the gathering to end (from the first turn's start: a little less than GATHER after
    # the first was handled), and were handled in one turn.
    assert handled[2] == handled[3]
    assert (handled[2] - handled[1]).total_seconds() >= GATHER * 0.9


def test_the_stop_says_how_many_statements_and_working_turns_the_loop_ran(caplog):
    """What the loop cost its database, as a figure no machine's speed changes: the
    benchmarks read it from this line."""

    def handle(link: ListenLink, field: str, check: au_pb2.AccountCheck, now) -> None:
        dispatch.account_check(check.ups_account)

    link = amazon_listener()
    daemon = Daemon("count-test", links=[link], handle=handle)
    with running(daemon, link) as amazon:
        amazon.send(account_checks=[au_pb2.AccountCheck(seqnum=1, ups_account=5)])
        amazon.wait_for(lambda: amazon.acks[1], what="the check's ack")
    assert daemon.turns_worked >= 1
    assert daemon.statements >= 3  # at least: the receipt's look, its record, the answer
    said = f"count-test daemon stopped: {daemon.statements} statements in "
    assert any(said in record.getMessage() for record in caplog.records), caplog.text
