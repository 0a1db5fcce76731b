"""Links: a ``Channel`` plus the socket that carries it, and how to get a new socket.

- ``DialLink`` connects to a peer (Amazon to UPS) and reconnects with backoff.
- ``WorldLink`` is a ``DialLink`` that does the world's connect handshake first.
- ``ListenLink`` accepts the peer's connections (UPS from Amazon); the newest
  connection replaces the old one, so a restarted peer never waits for a dead
  connection to time out.

Sockets are blocking with a timeout; the daemon only reads after ``select`` says
there is something to read, so reads never wait.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

from google.protobuf.message import Message

from amazon_ups.common.daemon.channel import Channel
from amazon_ups.protocol.framing import FrameDecoder, MalformedMessage, encode_frame, parse_message
from amazon_ups.protocol.session import ResendPolicy
from amazon_ups.protocol.world_messages import CONNECTED

logger = logging.getLogger("amazon_ups.daemon")

RECONNECT = ResendPolicy(first=0.1, factor=2.0, ceiling=5.0)
IO_TIMEOUT = 10.0  # a peer that takes longer to take our bytes is treated as gone


class Link:
    def __init__(self, name: str, channel: Channel, peer: str | None = None) -> None:
        self.name = name  # for logs: "world", "ups", "amazon"
        self.peer = peer  # the messaging peer key; None until known (a world not joined yet)
        self.channel = channel
        self.sock: socket.socket | None = None
        self.cursor = 0  # id of the last outgoing row loaded into the channel
        self.retry_at = 0.0
        self._failures = 0
        # Bytes that came with the handshake reply, for the daemon to feed in first.
        self.pending_input = b""

    @property
    def up(self) -> bool:
        return self.sock is not None

    def selectable(self) -> socket.socket | None:
        return self.sock

    def connect(self, now: float) -> bool:
        """Try to (re)connect if it is time to; True when a new connection is up."""
        return False

    def _connected(self, sock: socket.socket) -> None:
        sock.settimeout(IO_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self.sock = sock
        self._failures = 0
        self.channel.reset()

    def _failed(self, now: float, reason: str) -> None:
        self._failures += 1
        self.retry_at = now + RECONNECT.delay(self._failures)
        if self._failures in (1, 10) or self._failures % 100 == 0:
            logger.warning("%s: cannot connect (%s); retrying", self.name, reason)

    def receive(self) -> bytes:
        assert self.sock is not None
        return self.sock.recv(65536)

    def send(self, frame: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(frame)

    def drop(self, reason: str) -> None:
        if self.sock is not None:
            logger.warning("%s: connection lost (%s)", self.name, reason)
            self.sock.close()
            self.sock = None
            self.retry_at = time.time() + RECONNECT.first

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class DialLink(Link):
    """We connect to the peer at ``host:port``."""

    def __init__(
        self, name: str, channel: Channel, host: str, port: int, peer: str | None = None
    ) -> None:
        super().__init__(name, channel, peer)
        self.host, self.port = host, port

    def connect(self, now: float) -> bool:
        if self.sock is not None or now < self.retry_at:
            return False
        try:
            sock = socket.create_connection((self.host, self.port), timeout=IO_TIMEOUT)
        except OSError as error:
            self._failed(now, f"{self.host}:{self.port}: {error}")
            return False
        if not self.handshake(sock, now):
            sock.close()
            return False
        self._connected(sock)
        logger.info("%s: connected to %s:%d", self.name, self.host, self.port)
        return True

    def handshake(self, sock: socket.socket, now: float) -> bool:
        return True


class WorldLink(DialLink):
    """The world's handshake: ``hello()`` gives the AConnect/UConnect to send (None:
    not yet, e.g. the world id is still unknown); ``joined(world_id)`` is told
    the world it is connected to."""

    def __init__(
        self,
        name: str,
        channel: Channel,
        host: str,
        port: int,
        connected_type: type[Message],
        hello: Callable[[], Message | None],
        joined: Callable[[int], None],
    ) -> None:
        super().__init__(name, channel, host, port)
        self.connected_type = connected_type
        self.hello = hello
        self.joined = joined

    def connect(self, now: float) -> bool:
        if self.sock is None and now >= self.retry_at and self.hello() is None:
            self.retry_at = now + RECONNECT.ceiling  # nothing to say yet; look again later
            return False
        return super().connect(now)

    def handshake(self, sock: socket.socket, now: float) -> bool:
        request = self.hello()
        if request is None:
            return False
        try:
            sock.sendall(encode_frame(request.SerializeToString()))
            reply = self._read_reply(sock)
        except OSError as error:
            self._failed(now, f"handshake: {error}")
            return False
        if isinstance(reply, MalformedMessage):
            self._failed(now, f"bad reply: {reply}")
            return False
        if reply.result != CONNECTED:
            self._failed(now, f"world said {reply.result!r}")
            return False
        peer = f"world:{reply.worldid}"
        if peer != self.peer:
            self.channel.forget()
            self.cursor = 0
            self.peer = peer
        self.joined(reply.worldid)
        return True

    def _read_reply(self, sock: socket.socket) -> Message | MalformedMessage:
        frames = FrameDecoder()
        while True:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the world closed the connection")
            if bodies := frames.feed(data):
                # Results may follow the reply at once: keep them for the channel.
                self.pending_input = b"".join(encode_frame(b) for b in bodies[1:])
                return parse_message(self.connected_type, bodies[0])


class ListenLink(Link):
    """The peer connects to us on ``host:port``; the newest connection wins."""

    def __init__(self, name: str, channel: Channel, host: str, port: int, peer: str) -> None:
        super().__init__(name, channel, peer)
        self.listener = socket.create_server((host, port), reuse_port=False)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        logger.info("%s: listening on %s:%d", name, host, self.port)

    def accept(self) -> None:
        try:
            sock, address = self.listener.accept()
        except BlockingIOError:
            return
        if self.sock is not None:
            logger.info("%s: a new connection from %s replaces the old one", self.name, address)
            self.sock.close()
        self._connected(sock)
        logger.info("%s: connected from %s:%d", self.name, address[0], address[1])

    def close(self) -> None:
        super().close()
        self.listener.close()
