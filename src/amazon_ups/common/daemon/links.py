"""Links: a ``Channel`` plus the socket that carries it, and how to get a new socket.

- ``DialLink`` connects to a peer and reconnects with backoff. Nothing of it blocks:
  the connect is non-blocking and the attempt (``Dialing``) goes on as ``select`` says
  its socket is ready, TLS and the handshake fed the bytes as they come, until it is up
  or its deadline passes. (Only resolving the host's name may wait.) Given several
  addresses (the hosts of a side's daemons, one of them active), it tries them in turn
  and stays with the one that answered; backoff only after a whole round failed.
- ``WorldLink`` is a ``DialLink`` that does the world's connect handshake first
  (``protocol.world_connect``).
- ``UpsLink`` is Amazon's ``DialLink`` to UPS: TLS if configured, then the link's
  handshake (``protocol.link_auth``), in which both sides prove they hold the secret.
- ``ListenLink`` (``listen_link.py``) accepts the peer's connections (UPS from Amazon).

Live sockets are blocking with a timeout; the daemon only reads after ``select`` says
there is something to read, so reads never wait (a TLS socket is read without
blocking: a readable socket may hold no application data).
"""

from __future__ import annotations

import contextlib
import datetime
import enum
import errno
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from amazon_ups.common.daemon.addresses import Address, shown
from amazon_ups.common.daemon.endpoint import Endpoint
from amazon_ups.protocol.channel import Channel
from amazon_ups.protocol.framing import FramingError
from amazon_ups.protocol.link_auth import HandshakeFailed, LinkHandshake, Role
from amazon_ups.protocol.session import ResendPolicy
from amazon_ups.protocol.world_connect import ConnectRefused, WorldConnect
from amazon_ups.protocol.world_messages import AnyConnect, AnyConnected

logger = logging.getLogger(__name__)

RECONNECT = ResendPolicy(first=0.1, factor=2.0, ceiling=5.0)
IO_TIMEOUT = 10.0  # a peer that takes longer to take our bytes is treated as gone
# The Amazon-UPS link: an empty message after this many seconds of our silence.
KEEPALIVE_EVERY = 3.0
# ...and a connection whose peer has been silent this long is taken for dead (a host
# gone or cut off shows nothing else: TCP would go on re-sending for many minutes).
SILENT_AFTER = 4 * KEEPALIVE_EVERY
# A connect to one of several addresses is given up after this many seconds, for the
# next one: a host that is gone must not hold up the one that is there.
FAILOVER_CONNECT_TIMEOUT = 3.0


class Link(Endpoint):
    """An ``Endpoint`` of the daemon's core, carried by a socket."""

    def __init__(self, name: str, channel: Channel, peer: str | None = None) -> None:
        super().__init__(name, channel, peer)
        self.sock: socket.socket | None = None
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

    def next_deadline(self) -> float | None:
        """When the link has something to do without new input (None: never)."""
        return None

    def expire(self, now: float) -> None:
        """Gives up what waited past its deadline."""

    def _connected(self, sock: socket.socket) -> None:
        sock.settimeout(IO_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self.sock = sock
        self._failures = 0
        self.keeps_alive = False
        self.channel.reset()

    def _failed(self, now: float, reason: str) -> None:
        self._failures += 1
        self.retry_at = now + RECONNECT.delay(self._failures)
        if self._failures in (1, 10) or self._failures % 100 == 0:
            logger.warning("%s: cannot connect (%s); retrying", self.name, reason)

    def refused(self, reason: str) -> None:
        self.refusals.append(reason)

    def silence_deadline(self) -> float | None:
        """When the connection is to be taken for dead if the peer says nothing more
        (None: not watched). Watched once the peer has shown it keeps the link alive
        (an empty message came), or while something we sent waits for its ack: a live
        peer of the protocol answers one or the other within ``silent_after``."""
        if self.sock is None or self.silent_after is None:
            return None
        if not (self.keeps_alive or self.channel.session.outbox):
            return None
        return self.heard_at + self.silent_after

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


class DialFailed(Exception):
    """A connection attempt that went wrong: ``reason`` for the log; ``refusal`` (the
    peer could not prove itself) for operators; ``reply``, a last frame to send."""

    def __init__(self, reason: str, refusal: str | None = None, reply: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.refusal = refusal
        self.reply = reply


class Stage(enum.Enum):
    CONNECT = "connect"  # TCP: wait until the socket is writable
    TLS = "tls"  # the TLS handshake, without blocking
    HANDSHAKE = "handshake"  # the protocol's own handshake, as bytes come


@dataclass(eq=False)
class Dialing:
    """A ``DialLink``'s connection that is not up yet: nothing waits on it; the daemon's
    ``select`` says when it can go further, and it is given up at ``deadline``."""

    sock: socket.socket
    addresses: list[tuple[socket.AddressFamily, tuple[Any, ...]]]  # the ones left to try
    deadline: float
    stage: Stage = Stage.CONNECT
    outgoing: bytes = b""  # handshake bytes the socket has not taken yet
    tls_wants_write: bool = False

    def wants(self) -> tuple[bool, bool]:
        """(read, write): what ``select`` should wait for on ``sock``."""
        if self.stage is Stage.CONNECT:
            return False, True
        if self.stage is Stage.TLS:
            return not self.tls_wants_write, self.tls_wants_write
        return True, bool(self.outgoing)


class DialLink(Link):
    """We connect to the peer at one of ``addresses``, without blocking: ``connect``
    starts an attempt, ``advance`` takes it further each time its socket is ready (TCP
    connect, TLS, then the handshake of ``begin``/``answer``), ``expire`` gives it up
    past its deadline. A failure moves on to the next address at once; when a whole
    round has failed, the next one waits with backoff. After a failed attempt the
    round goes on from the one that answered last; after a connection is lost, from
    the address after it (``host``, ``port``: the one dialed next)."""

    handshake_timeout = IO_TIMEOUT  # seconds TLS and the handshake may take

    def __init__(
        self, name: str, channel: Channel, addresses: Sequence[Address], peer: str | None = None
    ) -> None:
        super().__init__(name, channel, peer)
        if not addresses:
            raise ValueError(f"{name}: no address to connect to")
        self.addresses = list(addresses)
        self._at = 0  # index in addresses of the one to dial next
        self._round_from = 0  # where the round of tries now going on began
        self._round_errors: list[str] = []  # why the others of this round failed
        # Seconds the TCP connect may take: less when another address may answer.
        self.connect_timeout = IO_TIMEOUT if len(self.addresses) == 1 else FAILOVER_CONNECT_TIMEOUT
        self.dialing: Dialing | None = None

    @property
    def host(self) -> str:
        return self.addresses[self._at][0]

    @property
    def port(self) -> int:
        return self.addresses[self._at][1]

    def _failed(self, now: float, reason: str) -> None:
        """The address dialed failed: the next one at once, or, once every address has
        failed in this round, the one it began with again, with backoff (one log line
        for the round)."""
        self._at = (self._at + 1) % len(self.addresses)
        if self._at != self._round_from:
            self._round_errors.append(reason)
            self.retry_at = now
            return
        reasons, self._round_errors = [*self._round_errors, reason], []
        super()._failed(now, "; ".join(reasons))

    def connect(self, now: float) -> bool:
        """Starts a connection attempt if it is time to; never waits, so never True:
        the connection is up when ``advance`` says so."""
        if self.sock is not None or self.dialing is not None or now < self.retry_at:
            return False
        if not self.ready_to_dial(now):
            return False
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as error:
            self._failed(now, f"{self.host}:{self.port}: {error}")
            return False
        self._dial([(info[0], info[4]) for info in infos], now, "no address")
        return False

    def _dial(
        self,
        addresses: list[tuple[socket.AddressFamily, tuple[Any, ...]]],
        now: float,
        last_error: str,
    ) -> None:
        """A non-blocking connect to the first of ``addresses`` that takes one."""
        while addresses:
            family, address = addresses.pop(0)
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex(address)
            if code in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                self.dialing = Dialing(sock, addresses, deadline=now + self.connect_timeout)
                return
            sock.close()
            last_error = f"[Errno {code}] {os.strerror(code)}"
        self._failed(now, f"{self.host}:{self.port}: {last_error}")

    def next_deadline(self) -> float | None:
        if self.dialing is not None:
            return self.dialing.deadline
        return None if self.sock is not None else self.retry_at

    def advance(self, now: float) -> bool:
        """The attempt's socket is ready: True once the connection is up."""
        attempt = self.dialing
        if attempt is None:
            return False
        try:
            return self._advance(attempt, now)
        except DialFailed as failed:
            if failed.reply:
                with contextlib.suppress(OSError):
                    attempt.sock.send(failed.reply)
            if failed.refusal is not None:
                self.refused(failed.refusal)
            self._give_up(now, failed.reason)
        except (OSError, FramingError) as error:  # ssl.SSLError included
            self._give_up(now, f"handshake: {error}")
        except BaseException:  # e.g. the database, in ``joined``: the turn goes again
            attempt.sock.close()
            self.dialing = None
            raise
        return False

    def _advance(self, attempt: Dialing, now: float) -> bool:
        if attempt.stage is Stage.CONNECT:
            code = attempt.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                attempt.sock.close()
                self.dialing = None
                self._dial(attempt.addresses, now, f"[Errno {code}] {os.strerror(code)}")
                return False
            attempt.sock = self.secure(attempt.sock)
            attempt.deadline = now + self.handshake_timeout
            attempt.stage = Stage.TLS
        if attempt.stage is Stage.TLS:
            if isinstance(attempt.sock, ssl.SSLSocket):
                try:
                    attempt.sock.do_handshake()
                except ssl.SSLWantReadError:
                    attempt.tls_wants_write = False
                    return False
                except ssl.SSLWantWriteError:
                    attempt.tls_wants_write = True
                    return False
            attempt.stage = Stage.HANDSHAKE
            attempt.outgoing = self.begin()
        else:
            data = read_available(attempt.sock)
            if data == b"":
                raise ConnectionError("the peer closed the connection during the handshake")
            if data:
                attempt.outgoing += self.answer(data, now)
        if attempt.outgoing:
            attempt.outgoing = attempt.outgoing[send_available(attempt.sock, attempt.outgoing) :]
        if not self.handshaken() or attempt.outgoing:
            return False
        self.dialing = None
        self._round_errors = []
        self._round_from = self._at  # the next round begins with the one that answered
        self._connected(attempt.sock)
        logger.info("%s: connected to %s", self.name, shown(self.addresses[self._at]))
        return True

    def expire(self, now: float) -> None:
        attempt = self.dialing
        if attempt is not None and now >= attempt.deadline:
            if attempt.stage is Stage.CONNECT:
                self._give_up(now, f"{self.host}:{self.port}: timed out")
            else:
                timeout = self.handshake_timeout
                self._give_up(now, f"handshake: no answer within {timeout:g} s")

    def _give_up(self, now: float, reason: str) -> None:
        if self.dialing is not None:
            self.dialing.sock.close()
            self.dialing = None
        self._failed(now, reason)

    # -- what a subclass adds ------------------------------------------------------------

    def ready_to_dial(self, now: float) -> bool:
        """False: nothing to say to the peer yet (``retry_at`` set for a later look)."""
        return True

    def secure(self, sock: socket.socket) -> socket.socket:
        """The socket to speak on once TCP is up (a TLS one, its handshake not done)."""
        return sock

    def begin(self) -> bytes:
        """The handshake's first bytes to send (b"": none)."""
        return b""

    def answer(self, data: bytes, now: float) -> bytes:
        """The peer's handshake bytes in, at ``now``; bytes to send back. Raises
        ``DialFailed``."""
        return b""

    def handshaken(self) -> bool:
        """True once the handshake is over (``pending_input`` set to what followed)."""
        return True

    def drop(self, reason: str) -> None:
        if self.dialing is not None:  # an attempt made for what no longer holds
            self.dialing.sock.close()
            self.dialing = None
            self.retry_at = time.time() + RECONNECT.first
        if self.sock is not None and len(self.addresses) > 1:
            # The peer that answered is gone: the next round begins with the others (a
            # standby elsewhere may lead now; a host gone would cost its connect
            # timeout first, and one still there refuses at once).
            self._at = self._round_from = (self._at + 1) % len(self.addresses)
        super().drop(reason)

    def close(self) -> None:
        if self.dialing is not None:
            self.dialing.sock.close()
            self.dialing = None
        super().close()


# The fields of AConnect and UConnect that bring our warehouses or trucks.
PLACE_FIELDS = ("initwh", "trucks")


class WorldLink(DialLink):
    """The world's handshake: ``hello()`` gives the AConnect/UConnect to send (None:
    not yet, e.g. the world id is still unknown); ``joined(world_id, now)`` is told
    the world it is connected to, and when (the daemon's time).

    Our world accepts warehouses or trucks brought again, where they already are; the
    official one refuses them ("already exists", world-protocol.md, Connecting 5).
    After such a refusal the link joins that world without them, at once and from
    then on."""

    def __init__(
        self,
        name: str,
        channel: Channel,
        host: str,
        port: int,
        connected_type: type[AnyConnected],
        hello: Callable[[], AnyConnect | None],
        joined: Callable[[int, datetime.datetime], None],
    ) -> None:
        super().__init__(name, channel, [(host, port)])
        self.connected_type = connected_type
        self.hello = hello
        self.joined = joined
        self._handshake: WorldConnect | None = None
        self._places_known_to: int | None = None  # a world that refused them again

    def ready_to_dial(self, now: float) -> bool:
        request = self.hello()
        if request is None:
            self.retry_at = now + RECONNECT.ceiling  # nothing to say yet; look again later
            return False
        if request.HasField("worldid") and request.worldid == self._places_known_to:
            for field in PLACE_FIELDS:
                if field in request.DESCRIPTOR.fields_by_name:
                    request.ClearField(field)
        self._handshake = WorldConnect(self.connected_type, request)
        return True

    def begin(self) -> bytes:
        assert self._handshake is not None
        return self._handshake.start()

    def answer(self, data: bytes, now: float) -> bytes:
        handshake = self._handshake
        assert handshake is not None
        try:
            reply = handshake.receive(data)
        except ConnectRefused as refused:
            request = handshake.request
            brought = any(
                len(getattr(request, field))
                for field in PLACE_FIELDS
                if field in request.DESCRIPTOR.fields_by_name
            )
            if brought and request.HasField("worldid") and "already exists" in refused.result:
                self._places_known_to = request.worldid
                self._failures = 0  # not the world's failure: again at once, without them
                raise DialFailed(f"world said {refused.result!r}; joining without them") from None
            raise DialFailed(f"world said {refused.result!r}") from None
        if reply is None:
            return b""
        # Results may follow the reply at once: keep them for the channel.
        self.pending_input = handshake.leftover
        peer = f"world:{reply.worldid}"
        if peer != self.peer:
            self.channel.forget()
            self.cursor = 0
            self.peer = peer
        self.joined(reply.worldid, datetime.datetime.fromtimestamp(now, datetime.UTC))
        return b""

    def handshaken(self) -> bool:
        return self._handshake is not None and self._handshake.reply is not None


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
    silent_after = SILENT_AFTER

    def __init__(
        self,
        name: str,
        channel: Channel,
        addresses: Sequence[Address],
        peer: str,
        auth: LinkAuth,
    ) -> None:
        super().__init__(name, channel, addresses, peer)
        self.auth = auth
        self.handshake_timeout = auth.timeout
        self._handshake: LinkHandshake | None = None

    def secure(self, sock: socket.socket) -> socket.socket:
        if self.auth.tls is None:
            return sock
        return self.auth.tls.wrap_socket(
            sock,
            server_hostname=self.auth.server_name or self.host,
            do_handshake_on_connect=False,
        )

    def begin(self) -> bytes:
        self._handshake = LinkHandshake(Role.AMAZON, self.auth.secret)
        return self._handshake.start()

    def answer(self, data: bytes, now: float) -> bytes:
        handshake = self._handshake
        assert handshake is not None
        try:
            reply = handshake.receive(data)
        except HandshakeFailed as failed:
            raise DialFailed(
                f"the link's handshake failed: {failed}",
                refusal=f"handshake with {self.host}:{self.port} failed: {failed}",
                reply=failed.reply,
            ) from None
        if handshake.done:
            self.pending_input = handshake.leftover
        return reply

    def handshaken(self) -> bool:
        return self._handshake is not None and self._handshake.done


def send_available(sock: socket.socket, data: bytes) -> int:
    """Sends what a non-blocking ``sock`` takes of ``data`` now; how many bytes."""
    try:
        return sock.send(data)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return 0


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
