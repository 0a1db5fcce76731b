"""Amazon's side of the Amazon-UPS link as bare frames, for tests that need to see every
ack: it sends exactly the containers the test writes (so a repeat is a repeat), never
re-sends by itself, and keeps every ack UPS sends, copies included. It acks what UPS
sends, so that UPS's re-sends do not crowd the link, and keeps each sub-message once.

Synchronous (a blocking socket polled with a deadline), so a test can use the ORM
between reads while the daemon runs in its thread.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from amazon_ups.common.daemon.links import LinkAuth
from amazon_ups.common.daemon.listen_link import ListenLink
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.channel import Channel, SubMessage, numbered_fields
from amazon_ups.protocol.framing import FrameDecoder, MalformedMessage, encode_frame, parse_message
from amazon_ups.protocol.link_auth import LinkHandshake, Role
from amazon_ups.protocol.world_messages import CONNECTED
from tests.support import TEST_LINK_SECRET, handshake_blocking

UPS_FIELDS = numbered_fields(au_pb2.UpsToAmazon)


def amazon_listener() -> ListenLink:
    """UPS's link for Amazon, on a free port of 127.0.0.1, proving itself with the
    tests' secret (``RawAmazon`` connects to it)."""
    return ListenLink(
        "amazon",
        Channel(au_pb2.AmazonToUps, au_pb2.UpsToAmazon),
        "127.0.0.1",
        0,
        "amazon",
        auth=LinkAuth(TEST_LINK_SECRET.encode()),
    )


def join_world(port: int, world_id: int, warehouses: list[tuple[int, int, int]]) -> socket.socket:
    """Amazon's world connection, joined with its warehouses (so UPS's trucks can go
    there); keep it open for the test."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    hello = wa.AConnect(worldid=world_id, isAmazon=True)
    for warehouse_id, x, y in warehouses:
        hello.initwh.add(id=warehouse_id, x=x, y=y)
    sock.sendall(encode_frame(hello.SerializeToString()))
    frames = FrameDecoder()
    while not (bodies := frames.feed(sock.recv(65536))):
        pass
    reply = parse_message(wa.AConnected, bodies[0])
    assert not isinstance(reply, MalformedMessage), reply
    assert reply.result == CONNECTED, reply
    return sock


class RawAmazon:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        handshake = LinkHandshake(Role.AMAZON, TEST_LINK_SECRET.encode())
        leftover = handshake_blocking(self.sock, handshake, timeout=10)
        self.frames = FrameDecoder()
        self.acks: Counter[int] = Counter()  # seqnum -> how many acks of it came
        self.received: dict[int, tuple[str, Message]] = {}  # UPS's seqnum -> (field, message)
        self.sent: dict[int, tuple[str, SubMessage]] = {}  # our seqnum -> (field, message)
        for body in self.frames.feed(leftover):
            self._take(parse_message(au_pb2.UpsToAmazon, body))

    def send(self, **fields: list[SubMessage]) -> None:
        """One AmazonToUps container with these sub-messages (their seqnums already set)."""
        container = au_pb2.AmazonToUps()
        for field, messages in fields.items():
            for message in messages:
                getattr(container, field).append(message)
                self.sent[message.seqnum] = (field, message)
        self.sock.sendall(encode_frame(container.SerializeToString()))

    def resend_unacked(self) -> list[int]:
        """What a conforming Amazon does after an outage: everything not acked, again."""
        waiting = [seqnum for seqnum in self.sent if not self.acks[seqnum]]
        fields: dict[str, list[SubMessage]] = {}
        for seqnum in waiting:
            field, message = self.sent[seqnum]
            fields.setdefault(field, []).append(message)
        self.send(**fields)
        return waiting

    def of(self, field: str, match: Callable[[Any], bool] = lambda m: True) -> list[Any]:
        return [m for f, m in self.received.values() if f == field and match(m)]

    def wait_for(self, condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
        """Read what UPS sends until ``condition()`` holds; fail after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not (value := condition()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what or condition}")
            # Short reads: some conditions look at the database, which no frame announces.
            self.sock.settimeout(min(remaining, 0.05))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise AssertionError("UPS closed the connection")
            for body in self.frames.feed(data):
                self._take(parse_message(au_pb2.UpsToAmazon, body))
        return value

    def _take(self, container: au_pb2.UpsToAmazon | MalformedMessage) -> None:
        assert not isinstance(container, MalformedMessage), container
        self.acks.update(container.acks)
        owed = []
        for field in UPS_FIELDS:
            for message in getattr(container, field):
                self.received.setdefault(message.seqnum, (field, message))
                owed.append(message.seqnum)
        if owed:
            self.sock.sendall(encode_frame(au_pb2.AmazonToUps(acks=owed).SerializeToString()))

    def close(self) -> None:
        self.sock.close()
