"""``ListenLink``: the peer connects to us (UPS's link for Amazon).

A new connection is a ``Candidate`` until it has proven itself (TLS if configured, then
the link's handshake, ``protocol.link_auth``), read without blocking and closed past a
deadline; then it replaces the live one, so a restarted peer never waits for a dead
connection to time out, and a stranger never displaces the real peer.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections import Counter
from dataclasses import dataclass

from amazon_ups.common.daemon.links import (
    KEEPALIVE_EVERY,
    SILENT_AFTER,
    Link,
    LinkAuth,
    read_available,
)
from amazon_ups.protocol.channel import Channel
from amazon_ups.protocol.link_auth import HandshakeFailed, LinkHandshake, Role

logger = logging.getLogger(__name__)


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
    silent_after = SILENT_AFTER

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
