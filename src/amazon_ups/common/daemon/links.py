"""Links: a ``Channel`` plus the socket that carries it, and how to get a new socket.

- ``DialLink`` connects to a peer and reconnects with backoff.
- ``WorldLink`` is a ``DialLink`` that does the world's connect handshake first.
- ``UpsLink`` is Amazon's ``DialLink`` to UPS: TLS if configured, then the link's
  handshake (``protocol.link_auth``), in which both sides prove they hold the secret.
- ``ListenLink`` accepts the peer's connections (UPS from Amazon). A new connection
  is a ``Candidate`` until it has proven itself, read without blocking and closed
  past a deadline; then it replaces the live one, so a restarted peer never waits
  for a dead connection to time out, and a stranger never displaces the real peer.

Live sockets are blocking with a timeout; the daemon only reads after ``select`` says
there is something to read, so reads never wait (a TLS socket is read without
blocking: a readable socket may hold no application data).
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from amazon_ups.common.daemon.endpoint import Endpoint
from amazon_ups.protocol.channel import Channel
from amazon_ups.protocol.framing import FramingError
from amazon_ups.protocol.link_auth import HandshakeFailed, LinkHandshake, Role
from amazon_ups.protocol.session import ResendPolicy
from amazon_ups.protocol.world_connect import ConnectRefused, WorldConnect
from amazon_ups.protocol.world_messages import AnyConnect, AnyConnected

logger = logging.getLogger("amazon_ups.daemon")

RECONNECT = ResendPolicy(first=0.1, factor=2.0, ceiling=5.0)
IO_TIMEOUT = 10.0  # a peer that takes longer to take our bytes is treated as gone
# The Amazon-UPS link: an empty message after this many seconds of our silence.
KEEPALIVE_EVERY = 3.0


class Link(Endpoint):
    """An ``Endpoint`` of the daemon's core, carried by a socket."""

    def __init__(self, name: str, channel: Channel, peer: str | None = None) -> None:
        super().__init__(name, channel, peer)
        self.sock: socket.socket | None = None
        self.retry_at = 0.0
        self._failures = 0
        # Bytes that came with the handshake reply, for the daemon to feed in first.
        self.pending_input = b""
        self.sent_at = 0.0  # when we last sent anything (time.time())

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

    def refused(self, reason: str) -> None:
        self.refusals.append(reason)

    def receive(self) -> bytes | None:
        """What arrived (b"": the peer closed), or None: nothing for us yet."""
        assert self.sock is not None
        if not isinstance(self.sock, ssl.SSLSocket):
            return self.sock.recv(65536)
        self.sock.setblocking(False)
        try:
            return read_available(self.sock)
        finally:
            self.sock.settimeout(IO_TIMEOUT)

    def send(self, frame: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(frame)
        self.sent_at = time.time()

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
        ready = self.handshake(sock, now)
        if ready is None:
            sock.close()
            return False
        self._connected(ready)
        logger.info("%s: connected to %s:%d", self.name, self.host, self.port)
        return True

    def handshake(self, sock: socket.socket, now: float) -> socket.socket | None:
        """The socket to use once the connection is set up, or None: it failed."""
        return sock


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
        connected_type: type[AnyConnected],
        hello: Callable[[], AnyConnect | None],
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

    def handshake(self, sock: socket.socket, now: float) -> socket.socket | None:
        request = self.hello()
        if request is None:
            return None
        handshake = WorldConnect(self.connected_type, request)
        try:
            sock.sendall(handshake.start())
            reply = None
            while reply is None:
                if not (data := sock.recv(65536)):
                    raise ConnectionError("the world closed the connection")
                reply = handshake.receive(data)
        except ConnectRefused as refused:
            self._failed(now, f"world said {refused.result!r}")
            return None
        except (OSError, FramingError) as error:
            self._failed(now, f"handshake: {error}")
            return None
        # Results may follow the reply at once: keep them for the channel.
        self.pending_input = handshake.leftover
        peer = f"world:{reply.worldid}"
        if peer != self.peer:
            self.channel.forget()
            self.cursor = 0
            self.peer = peer
        self.joined(reply.worldid)
        return sock


@dataclass(frozen=True)
class LinkAuth:
    """How a connection of the Amazon-UPS link proves itself (``link_security``)."""

    secret: bytes
    tls: ssl.SSLContext | None = None
    timeout: float = 5.0  # seconds the handshake may take, TLS included
    server_name: str | None = None  # Amazon: the name UPS's certificate must carry


class UpsLink(DialLink):
    """Amazon's link to UPS: TLS if configured, then the link's handshake."""

    keepalive = KEEPALIVE_EVERY

    def __init__(
        self, name: str, channel: Channel, host: str, port: int, peer: str, auth: LinkAuth
    ) -> None:
        super().__init__(name, channel, host, port, peer)
        self.auth = auth

    def handshake(self, sock: socket.socket, now: float) -> socket.socket | None:
        auth = self.auth
        try:
            sock.settimeout(auth.timeout)
            if auth.tls is not None:
                sock = auth.tls.wrap_socket(sock, server_hostname=auth.server_name or self.host)
            handshake = LinkHandshake(Role.AMAZON, auth.secret)
            self.pending_input = handshake_blocking(sock, handshake, auth.timeout)
        except HandshakeFailed as failed:
            self.refused(f"handshake with {self.host}:{self.port} failed: {failed}")
            self._failed(now, f"the link's handshake failed: {failed}")
            sock.close()
            return None
        except OSError as error:  # ssl.SSLError and timeouts included
            self._failed(now, f"handshake: {error}")
            sock.close()
            return None
        return sock


def handshake_blocking(sock: socket.socket, handshake: LinkHandshake, timeout: float) -> bytes:
    """Runs ``handshake`` on a blocking socket within ``timeout`` s; returns the bytes
    that came after it. Raises ``HandshakeFailed``, ``TimeoutError`` or ``OSError``."""
    deadline = time.monotonic() + timeout
    sock.sendall(handshake.start())
    while not handshake.done:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no answer to the link's handshake within {timeout:g} s")
        sock.settimeout(remaining)
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("the peer closed the connection during the handshake")
        try:
            reply = handshake.receive(data)
        except HandshakeFailed as failed:
            if failed.reply:
                sock.sendall(failed.reply)
            raise
        if reply:
            sock.sendall(reply)
    return handshake.leftover


def read_available(sock: socket.socket) -> bytes | None:
    """Everything readable now from a non-blocking socket: None when nothing is (for
    TLS, a record that held no application data), b"" when the peer closed."""
    try:
        data = sock.recv(65536)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return None
    # TLS may hold decrypted bytes that select() cannot see.
    while data and isinstance(sock, ssl.SSLSocket) and (waiting := sock.pending()):
        data += sock.recv(waiting)
    return data


@dataclass(eq=False)
class Candidate:
    """A connection to a ``ListenLink`` that has not proven itself yet."""

    sock: socket.socket
    address: str
    handshake: LinkHandshake
    deadline: float
    tls_done: bool


class ListenLink(Link):
    """The peer connects to us on ``host:port``; the newest connection that proves
    itself wins.

    At most ``max_candidates`` connections wait to prove themselves (the oldest gives
    way to a new one), and at most ``max_per_address`` from one address, so that a
    stranger holding connections open cannot keep the real peer out.
    """

    keepalive = KEEPALIVE_EVERY

    def __init__(
        self,
        name: str,
        channel: Channel,
        host: str,
        port: int,
        peer: str,
        auth: LinkAuth,
        max_candidates: int = 16,
        max_per_address: int = 4,
    ) -> None:
        super().__init__(name, channel, peer)
        self.auth = auth
        self.max_candidates = max_candidates
        self.max_per_address = max_per_address
        self.candidates: list[Candidate] = []
        self.listener = socket.create_server((host, port), reuse_port=False)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        tls = " with TLS" if auth.tls else ""
        logger.info("%s: listening on %s:%d%s", name, host, self.port, tls)

    def accept(self, now: float) -> None:
        """Takes a new connection as a candidate; it speaks only the handshake."""
        try:
            sock, address = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:  # e.g. out of file descriptors: try again next turn
            logger.warning("%s: cannot accept a connection: %s", self.name, error)
            return
        host = address[0]
        from_there = Counter(c.address for c in self.candidates)[host]
        if from_there >= self.max_per_address:
            sock.close()
            self.refused(f"{host}: more than {self.max_per_address} connections proving themselves")
            return
        if len(self.candidates) >= self.max_candidates:
            self._refuse(self.candidates[0], "gave way to a newer connection")
        sock.setblocking(False)
        try:
            if self.auth.tls is not None:
                sock = self.auth.tls.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
        except (OSError, ssl.SSLError) as error:
            sock.close()
            self.refused(f"{host}: {error}")
            return
        self.candidates.append(
            Candidate(
                sock,
                host,
                LinkHandshake(Role.UPS, self.auth.secret),
                deadline=now + self.auth.timeout,
                tls_done=self.auth.tls is None,
            )
        )

    def advance(self, candidate: Candidate) -> bool:
        """``candidate``'s socket is readable: True once it has proven itself and is
        the live connection."""
        if candidate not in self.candidates:
            return False
        try:
            if not candidate.tls_done:
                assert isinstance(candidate.sock, ssl.SSLSocket)  # not done: TLS wrapped it
                candidate.sock.do_handshake()
                candidate.tls_done = True
            data = read_available(candidate.sock)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except OSError as error:
            self._refuse(candidate, str(error))
            return False
        if data is None:
            return False
        if not data:
            self._refuse(candidate, "closed before proving itself")
            return False
        try:
            reply = candidate.handshake.receive(data)
        except HandshakeFailed as failed:
            self._send_quietly(candidate.sock, failed.reply)
            self._refuse(candidate, str(failed))
            return False
        if reply and not self._send_quietly(candidate.sock, reply):
            self._refuse(candidate, "could not answer its handshake")
            return False
        if not candidate.handshake.done:
            return False
        self.candidates.remove(candidate)
        if self.sock is not None:
            logger.info(
                "%s: a new connection from %s replaces the old one", self.name, candidate.address
            )
            self.sock.close()
        candidate.sock.setblocking(True)
        self._connected(candidate.sock)
        self.pending_input = candidate.handshake.leftover
        logger.info("%s: connected from %s, its proof checked", self.name, candidate.address)
        return True

    def expire(self, now: float) -> None:
        for candidate in [c for c in self.candidates if c.deadline <= now]:
            self._refuse(candidate, f"did not prove itself within {self.auth.timeout:g} s")

    def next_deadline(self) -> float | None:
        return min((c.deadline for c in self.candidates), default=None)

    def _refuse(self, candidate: Candidate, reason: str) -> None:
        self.candidates.remove(candidate)
        candidate.sock.close()
        self.refused(f"{candidate.address}: {reason}")

    @staticmethod
    def _send_quietly(sock: socket.socket, data: bytes) -> bool:
        """The handshake's frames are tiny: one non-blocking send takes them, or the
        peer is not reading and is not worth waiting for."""
        if not data:
            return True
        try:
            return sock.send(data) == len(data)
        except (OSError, ssl.SSLError):
            return False

    def close(self) -> None:
        super().close()
        for candidate in self.candidates:
            candidate.sock.close()
        self.candidates.clear()
        self.listener.close()
