"""The silence of the Amazon-UPS link's peer (``links.Link.silence_deadline``) is the
peer's, not the daemon's own: a turn that takes longer than the silence allowed, busy
with what the peer sent, does not drop a peer that kept talking meanwhile."""

from __future__ import annotations

import datetime
import logging
import threading
import time

import pytest
from django.db import connections

from amazon_ups.common.daemon.listen_link import ListenLink
from amazon_ups.common.daemon.runner import Daemon
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol.framing import encode_frame
from amazon_ups.ups.dispatch import services as dispatch
from tests.ups.raw_amazon import RawAmazon, amazon_listener

pytestmark = pytest.mark.django_db(transaction=True)

SILENT_AFTER = 0.5  # seconds: the link's, made short
LONG_TURN = 1.5  # seconds a message takes to handle: longer than that


def run_closing(daemon: Daemon) -> None:
    try:
        daemon.run()
    finally:
        connections.close_all()


def test_a_turn_longer_than_the_silence_allowed_does_not_drop_the_peer(caplog):
    """UPS handling Amazon's backlog after a failover took 20 s in one turn
    (benchmarks/failover.py, 6 orders/s on 2 CPUs); the link, which had heard Amazon
    just before, was then dropped as silent for 12 s, and Amazon had to connect and
    prove itself again while UPS was still busy."""
    caplog.set_level(logging.WARNING)
    link = amazon_listener()
    link.silent_after = SILENT_AFTER

    def handle(
        link: ListenLink, field: str, check: au_pb2.AccountCheck, now: datetime.datetime
    ) -> None:
        time.sleep(LONG_TURN)  # the work itself is long: not a wait for anything
        dispatch.account_check(check.ups_account)

    daemon = Daemon("silence-test", links=[link], handle=handle)
    thread = threading.Thread(target=run_closing, args=(daemon,))
    thread.start()
    try:
        amazon = RawAmazon(link.port)
        amazon.sock.sendall(encode_frame(b""))  # it keeps the link alive: silence watched
        amazon.send(account_checks=[au_pb2.AccountCheck(seqnum=1, ups_account=5)])
        # The ack leaves in the turn that handled the check, unless the link was dropped.
        amazon.wait_for(lambda: amazon.acks[1], 10, "the ack, on the same connection")
        amazon.close()
    finally:
        daemon.stop()
        thread.join(10)
    assert not [r for r in caplog.records if "nothing heard" in r.getMessage()]
