"""A ``DialLink`` given several addresses, over real sockets and without Django: it
goes on to the next address at once, backs off only when every one has failed, and
stays with the one that answered."""

from __future__ import annotations

import select
import socket
import time

from amazon_ups.common.daemon.links import DialLink
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol.channel import Channel


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def drive(link: DialLink, deadline: float = 10.0) -> None:
    """Take the link's attempts further until it is up or waits to retry."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        now = time.time()
        link.connect(now)
        if link.up or (link.dialing is None and link.retry_at > now):
            return
        if link.dialing is not None:
            read, write = link.dialing.wants()
            sock = link.dialing.sock
            select.select([sock] if read else [], [sock] if write else [], [], 0.5)
            link.advance(time.time())
    raise AssertionError("the link neither came up nor waited to retry")


def test_a_failed_address_hands_over_to_the_next_and_a_whole_round_backs_off():
    nobody = ("127.0.0.1", free_port())
    there = socket.create_server(("127.0.0.1", 0))
    answering = there.getsockname()
    link = DialLink("ups", Channel(au_pb2.UpsToAmazon, au_pb2.AmazonToUps), [nobody, answering])
    drive(link)
    assert link.up and (link.host, link.port) == answering

    # The one that answered goes away: the round begins with the other, and goes on to
    # it again at once, not after a backoff.
    there.close()
    link.drop("the peer went away")
    assert (link.host, link.port) == nobody, "after a loss, the others first"
    link.retry_at = 0.0
    drive(link)
    assert not link.up
    assert (link.host, link.port) == nobody, "a round, from where it began"
    assert link.retry_at > time.time(), "both failed: a backoff before the next round"
    link.close()
