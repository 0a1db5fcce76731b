"""The daemon loop shared by Amazon's fulfilment and UPS's dispatch.

One thread, one ``select``: the links' sockets, the listener, the wake-up
socket. Each turn it (re)connects links, reads what arrived, runs the app's
``tick`` (new work written by the web), then sends what is due. Every
received sub-message is handled in its own transaction that also records its
seqnum (``messaging.first_receipt``); only after that commits is it acked, so
an ack always means "done and saved". Sub-messages the handlers send are rows
written in the same transactions; the loop loads them from the database and
re-sends them until acked. Nothing is kept only in memory.

Failures follow ``isolation``: a database outage makes the loop try the whole turn
again with backoff (nothing it could not save is acked); a defect in one received
sub-message sets that message aside as a dead letter and acks it, and a defect in the
``tick`` is logged once while the rest of the turn goes on. Each turn also takes up
the dead letters an operator asked to retry.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, close_old_connections, transaction
from google.protobuf.message import Message

from amazon_ups.common.daemon import isolation
from amazon_ups.common.daemon.channel import Pending
from amazon_ups.common.daemon.links import Candidate, Link, ListenLink
from amazon_ups.common.daemon.wakeup import Waker
from amazon_ups.common.mail.sender import MailSender
from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.common.messaging import services as messaging
from amazon_ups.protocol.framing import FramingError, MalformedMessage, encode_frame
from amazon_ups.protocol.session import ResendPolicy

logger = logging.getLogger("amazon_ups.daemon")

Handler = Callable[[Link, str, Message], None]

DATABASE_RETRY = ResendPolicy(first=0.5, factor=2.0, ceiling=10.0)


@dataclass(frozen=True)
class _Accept:
    """In ``select``'s results: ``link``'s listener has a connection to accept."""

    link: ListenLink


@dataclass(frozen=True)
class _Prove:
    """In ``select``'s results: a connection still proving itself has sent bytes."""

    link: ListenLink
    candidate: Candidate


# A stranger's refused connections are recorded for operators at most this often.
REFUSALS_RECORDED_EVERY = 1.0
# When a peer was last heard is recorded for operators at most this often.
HEARD_RECORDED_EVERY = 1.0


class Daemon:
    def __init__(
        self,
        name: str,
        links: list[Link],
        handle: Handler,
        tick: Callable[[], None] = lambda: None,
        on_connect: Callable[[Link], None] = lambda link: None,
    ) -> None:
        self.name = name
        self.links = links
        self.handle = handle
        self.tick = tick
        self.on_connect = on_connect
        self._stop = threading.Event()
        self._waker: Waker | None = None
        self._refusals_recorded: dict[str, float] = {}
        self._heard_recorded: dict[str, float] = {}
        self._tick_failures = isolation.FailureLog(f"{name}: the tick")
        self._turn_failures = isolation.FailureLog(f"{name}: a turn of the loop")

    def stop(self, *_args: object) -> None:
        self._stop.set()

    def run(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        logger.info("%s daemon started", self.name)
        mail = MailSender()
        mail.start()
        try:
            self._loop()
        finally:
            mail.stop()
            mail.join(timeout=10)
        logger.info("%s daemon stopped", self.name)

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if self._waker is None:
                    self._waker = Waker(f"amazon_ups_{self.name}")
                self.turn()
                failures = 0
                self._turn_failures.succeeded()
            except Exception as error:
                failures += 1
                if isolation.is_outage(error):
                    logger.warning("%s: database unavailable (%s); retrying", self.name, error)
                    self._reset_database()
                else:
                    # A defect outside any one message or work item (those are set
                    # aside): the turn goes again, with backoff, and is logged once.
                    self._turn_failures.failed(error)
                self._stop.wait(DATABASE_RETRY.delay(failures))
        for link in self.links:
            link.close()
        if self._waker is not None:
            self._waker.close()

    def _reset_database(self) -> None:
        if self._waker is not None:
            with contextlib.suppress(DatabaseError):
                self._waker.close()
            self._waker = None
        close_old_connections()

    # -- one turn of the loop ----------------------------------------------------

    def turn(self) -> None:
        now = time.time()
        for link in self.links:
            if link.connect(now):
                self._connected(link)
        readable = self._wait(now)
        later: list[_Accept | _Prove] = []
        for item in readable:
            if isinstance(item, _Accept | _Prove):
                later.append(item)
            elif isinstance(item, Link):
                self._read(item)
            else:
                assert self._waker is not None
                self._waker.drain()
        # After the reads: a new connection replaces the old one, whose bytes come first.
        now = time.time()
        for item in later:
            if isinstance(item, _Accept):
                item.link.accept(now)
            elif item.link.advance(item.candidate):
                self._connected(item.link)
        for link in self.links:
            if isinstance(link, ListenLink):
                link.expire(now)
            self._record_refusals(link, now)
            self._record_heard(link, now)
        isolation.retry_requested(self._receivers())
        self._tick()
        now = time.time()
        for link in self.links:
            self._load_outbox(link)
            self._flush(link, now)

    def _tick(self) -> None:
        try:
            self.tick()
        except Exception as error:
            if isolation.is_outage(error):
                raise
            # The tick's work is still in the database: the next turn tries again, and
            # meanwhile acks and messages keep going out.
            self._tick_failures.failed(error)
        else:
            self._tick_failures.succeeded()

    def _receivers(self) -> dict[str, isolation.Receiver]:
        """For retried dead letters: each known peer's container type and handler."""
        return {
            link.peer: isolation.Receiver(
                link.channel.incoming, functools.partial(self.handle, link)
            )
            for link in self.links
            if link.peer is not None
        }

    def _wait(self, now: float) -> list[object]:
        assert self._waker is not None
        deadlines = [now + self._waker.poll_interval]
        watched: dict[int, object] = {}
        for link in self.links:
            if isinstance(link, ListenLink):
                # A readable listener means a new connection; a readable socket, data.
                watched[link.listener.fileno()] = _Accept(link)
                for candidate in link.candidates:
                    watched[candidate.sock.fileno()] = _Prove(link, candidate)
                deadlines.append(link.next_deadline() or float("inf"))
            if link.up:
                watched[link.sock.fileno()] = link
                deadlines.append(link.channel.next_deadline() or float("inf"))
                if link.keepalive is not None:
                    deadlines.append(link.sent_at + link.keepalive)
            elif not isinstance(link, ListenLink):  # a listener needs no retry timer
                deadlines.append(link.retry_at)
        if (fd := self._waker.fileno()) is not None:
            watched[fd] = self._waker
        timeout = max(0.0, min(deadlines) - now)
        ready, _, _ = select.select(list(watched), [], [], timeout)
        return [watched[fd] for fd in ready]

    # -- links ---------------------------------------------------------------------

    def _connected(self, link: Link) -> None:
        link.heard_at = time.time()  # its handshake
        self._record_state(link, True, "connected")
        self.on_connect(link)
        if link.pending_input:
            data, link.pending_input = link.pending_input, b""
            self._absorb(link, data)

    def _drop(self, link: Link, reason: str) -> None:
        link.drop(reason)
        self._record_state(link, False, reason)

    def _record_state(self, link: Link, connected: bool, detail: str) -> None:
        with transaction.atomic():
            messaging.set_link_state(
                link.peer or link.name, connected, detail, keepalive=link.keepalive
            )

    def _record_heard(self, link: Link, now: float) -> None:
        """When the peer was last heard, for the operators' page: a peer whose socket is
        open but that says nothing (frozen, or its loop stuck) shows as silent there."""
        key = link.peer or link.name
        if link.heard_at <= self._heard_recorded.get(key, 0.0):
            return
        if now < self._heard_recorded.get(key, 0.0) + HEARD_RECORDED_EVERY:
            return
        self._heard_recorded[key] = link.heard_at
        with transaction.atomic():
            messaging.record_heard(key, link.heard_at)

    def _record_refusals(self, link: Link, now: float) -> None:
        """Connections that could not prove themselves, for the operators' page; logged
        and written in batches, so a stranger's flood costs a write a second at most."""
        if not link.refusals or now < self._refusals_recorded.get(link.name, 0.0):
            return
        refusals, link.refusals = link.refusals, []
        self._refusals_recorded[link.name] = now + REFUSALS_RECORDED_EVERY
        more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
        logger.warning("%s: refused: %s%s", link.name, refusals[-1], more)
        with transaction.atomic():
            messaging.record_refusals(link.peer or link.name, len(refusals), refusals[-1])

    def _read(self, link: Link) -> None:
        if not link.up:  # dropped earlier in this turn (e.g. by a handler's on_commit)
            return
        try:
            data = link.receive()
        except OSError as error:
            self._drop(link, str(error))
            return
        if data is None:  # e.g. a TLS record with nothing for us
            return
        if not data:
            self._drop(link, "closed by the peer")
            return
        link.heard_at = time.time()
        self._absorb(link, data)

    def _absorb(self, link: Link, data: bytes) -> None:
        try:
            containers = link.channel.feed(data)
        except FramingError as error:
            self._drop(link, f"bad framing: {error}")
            return
        for container in containers:
            if isinstance(container, MalformedMessage):
                logger.warning("%s: malformed message ignored: %s", link.name, container)
                continue
            self._receive(link, container)

    def _receive(self, link: Link, container: Message) -> None:
        assert link.peer is not None
        if container.acks:
            with transaction.atomic():
                messaging.acknowledge(link.peer, container.acks)
            link.channel.acked(list(container.acks))
        for field in link.channel.incoming_fields:
            for message in getattr(container, field):
                # Returns once the message is handled or set aside; raises on an outage,
                # leaving it and the rest of the container unacked for the peer to re-send.
                handle = functools.partial(self.handle, link, field, message)
                isolation.receive_once(link.peer, field, message, handle)
                link.channel.owe_ack(message.seqnum)

    def _load_outbox(self, link: Link) -> None:
        if link.peer is None:
            return
        rows = messaging_selectors.unacked(link.peer, after_id=link.cursor)
        if rows:
            link.channel.load([Pending(r.seqnum, r.field, bytes(r.body)) for r in rows])
            link.cursor = rows[-1].id

    def _flush(self, link: Link, now: float) -> None:
        if not link.up:
            return
        frame = link.channel.poll(now)
        if frame is None:
            if link.keepalive is None or now < link.sent_at + link.keepalive:
                return
            frame = encode_frame(b"")  # an empty message: we are still here
        try:
            link.send(frame)
        except OSError as error:
            self._drop(link, f"send failed: {error}")
