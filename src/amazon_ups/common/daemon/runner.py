"""The daemon loop shared by Amazon's fulfilment and UPS's dispatch: the shell around
``core.DaemonCore`` that owns the sockets.

One thread, one ``select``: the links' sockets, the listener, the wake-up socket.
Each turn it (re)connects links, hands what arrived to the core, then sends what the
core's ``step`` returns. What a message does, acks, re-sends and the outbox are the
core's (see its docstring); this module only moves bytes and keeps time.

Failures follow ``isolation``: a database outage makes the loop try the whole turn
again with backoff (nothing it could not save is acked); a defect elsewhere in a turn
is logged once and the turn goes again.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from amazon_ups.common.daemon import isolation
from amazon_ups.common.daemon.core import (
    SAFETY_LOOK_EVERY,
    AroundContainer,
    DaemonCore,
    Endpoint,
    Handler,
    Tick,
)
from amazon_ups.common.daemon.lead import Lead
from amazon_ups.common.daemon.links import DialLink, Link
from amazon_ups.common.daemon.listen_link import Candidate, ListenLink
from amazon_ups.common.daemon.wakeup import POLL_INTERVAL, RETRY, Waker, channel_of
from amazon_ups.common.mail.sender import MailSender
from amazon_ups.protocol.framing import FramingError
from amazon_ups.protocol.session import ResendPolicy

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class _Dial:
    """In ``select``'s results: ``link``'s connection attempt can go further."""

    link: DialLink


class Daemon:
    def __init__(
        self,
        name: str,
        links: list[Link],
        handle: Handler,
        tick: Tick | None = None,
        on_connect: Callable[[Endpoint], None] | None = None,
        around_container: AroundContainer | None = None,
    ) -> None:
        self.name = name
        self.links = links
        self.core = DaemonCore(name, links, handle, tick, on_connect, around_container)
        self._stop = threading.Event()
        # stop() writes a byte here, so a loop asleep in select stops at once (a
        # signal alone would not end the wait: select resumes after the handler).
        self._stop_reader, self._stop_writer = socket.socketpair()
        self._stop_reader.setblocking(False)
        self._stop_writer.setblocking(False)
        self._waker: Waker | None = None
        self._turn_failures = isolation.FailureLog(f"{name}: a turn of the loop")
        self.lead: Lead | None = None
        self.lost_lead = False
        # After a turn that worked in the database, the next waits until this long after
        # its start (settings.DAEMON_GATHER_SECONDS), gathering what comes meanwhile.
        self.gather = settings.DAEMON_GATHER_SECONDS
        self._gathering_until = 0.0
        self._work_began = 0.0
        # What the loop cost the database, for the line its stop logs: the statements
        # it ran and the turns that worked there (a figure as the machine's speed is not).
        self.statements = 0
        self.turns_worked = 0

    def stop(self, *_args: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):  # already woken (full), or closed
            self._stop_writer.send(b"x")

    def run(self, lead: Lead | None = None, stopped: threading.Event | None = None) -> None:
        """Serve until stopped, or until ``lead`` (PostgreSQL, several daemons of this
        side) is lost to another daemon: then ``lost_lead`` is set. ``stopped``: set by
        a signal that came before this daemon's own handlers were in place."""
        self.lead = lead
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        if stopped is not None and stopped.is_set():
            self.stop()
        logger.info("%s daemon started", self.name)
        # What the process holds by now (Django, the apps, the protobuf modules: a few
        # hundred thousand objects) lives as long as it does: taken out of the
        # collector's sight, a full collection no longer walks it all (two of about
        # 100 ms each per daemon in the end-to-end benchmark's 18 s under load).
        gc.freeze()
        mail = MailSender()
        mail.start()
        self.core.after_look = mail.poke
        try:
            with connection.execute_wrapper(self._counted):
                self._loop()
        finally:
            mail.stop()
            mail.join(timeout=10)
        logger.info(
            "%s daemon stopped: %d statements in %d turns that worked",
            self.name,
            self.statements,
            self.turns_worked,
        )

    def _counted(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict
    ) -> Any:
        self.statements += 1
        return execute(sql, params, many, context)

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if self.lead is not None and not self.lead.held:
                    # A new connection (after an outage): lead on it before any work.
                    if not self.lead.take():
                        logger.error(
                            "%s: another daemon took the lead; closing the links", self.name
                        )
                        self.lost_lead = True
                        break
                    self.core.wake()
                if self.lead is not None:
                    self.lead.still_here(time.time())
                if self._waker is None:
                    self._waker = Waker(channel_of(self.name))
                    self.core.wake()  # a wake-up sent while there was no listener is lost
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
        self._stop_reader.close()
        self._stop_writer.close()

    def _reset_database(self) -> None:
        if self._waker is not None:
            with contextlib.suppress(DatabaseError):
                self._waker.close()
            self._waker = None
        close_old_connections()

    # -- one turn of the loop ----------------------------------------------------

    def turn(self) -> None:
        """One turn; after one that worked in the database, the next waits until
        ``gather`` seconds after its start: what comes meanwhile (messages, a new order's
        wake-up) waits in the sockets, to be handled together. A turn costs much the same
        for one order as for ten (its transaction, each batch's reads and writes), and a
        daemon that turned as soon as anything came turned more often, on less, the
        faster it got: under load its cost per order did not fall. A stop ends the wait."""
        # A span of the process's own clock: a wall clock set back (NTP, an operator)
        # must not hold the daemon for as long as it was set back.
        remaining = self._gathering_until - time.monotonic()
        if remaining > 0:
            self._stop.wait(remaining)
            if self._stop.is_set():
                return
        worked = self.core.worked
        self._turn()
        if self.core.worked != worked:
            self.turns_worked += 1
        if self.gather > 0 and self.core.worked != worked:
            # From when its work began (its wait for input over): an idle daemon turns
            # as soon as something comes, a busy one at most once per ``gather``.
            self._gathering_until = self._work_began + self.gather

    def _turn(self) -> None:
        now = time.time()
        for link in self.links:
            if link.connect(now):
                self._connected(link)
        ready = self._wait(now)
        self._work_began = time.monotonic()
        if self._stop.is_set():
            return
        later: list[_Accept | _Prove | _Dial] = []
        for item in ready:
            if isinstance(item, _Accept | _Prove | _Dial):
                later.append(item)
            elif isinstance(item, Link):
                self._read(item)
            else:
                assert self._waker is not None
                self.core.wake(retries=RETRY in self._waker.drain())
        # After the reads: a new connection replaces the old one, whose bytes come first.
        now = time.time()
        for item in later:
            if isinstance(item, _Accept):
                item.link.accept(now)
            elif isinstance(item, _Dial):
                if item.link.advance(now):
                    self._connected(item.link)
            elif item.link.advance(item.candidate):
                self._connected(item.link)
        for link in self.links:
            link.expire(now)
            if (silent := link.silence_deadline()) is not None and now >= silent:
                self._drop(link, f"nothing heard for {link.silent_after:g} s")
            self.core.record_refusals(link, now)
            self.core.record_heard(link, now)
        for endpoint, frame in self.core.step(time.time()):
            assert isinstance(endpoint, Link)
            try:
                endpoint.send(frame)
            except OSError as error:
                self._drop(endpoint, f"send failed: {error}")

    def _wait(self, now: float) -> list[object]:
        """What is ready: readable links, listeners and candidates, and connection
        attempts that can go further; waits until the earliest deadline at most."""
        assert self._waker is not None
        # The core's: re-sends, acks and keep-alives falling due.
        self.core.look_every = SAFETY_LOOK_EVERY if self._waker.can_wake else POLL_INTERVAL
        deadlines = [self.core.next_deadline()]
        watched: dict[int, object] = {}
        writable: dict[int, object] = {}
        for link in self.links:
            if isinstance(link, ListenLink):
                # A readable listener means a new connection; a readable socket, data.
                watched[link.listener.fileno()] = _Accept(link)
                for candidate in link.candidates:
                    watched[candidate.sock.fileno()] = _Prove(link, candidate)
            if isinstance(link, DialLink) and link.dialing is not None:
                read, write = link.dialing.wants()
                dial_fd = link.dialing.sock.fileno()
                if read:
                    watched[dial_fd] = _Dial(link)
                if write:
                    writable[dial_fd] = _Dial(link)
            if (deadline := link.next_deadline()) is not None:
                deadlines.append(deadline)
            if (silent := link.silence_deadline()) is not None:
                deadlines.append(silent)
            if link.up:
                assert link.sock is not None  # up: connected
                watched[link.sock.fileno()] = link
        if (fd := self._waker.fileno()) is not None:
            watched[fd] = self._waker
        watched[self._stop_reader.fileno()] = self._stop_reader
        timeout = max(0.0, min(deadlines) - now)
        readable, can_write, _ = select.select(list(watched), list(writable), [], timeout)
        ready = [watched[fd] for fd in readable]
        # An attempt both readable and writable goes once.
        ready += [writable[fd] for fd in can_write if fd not in readable]
        return ready

    # -- links ---------------------------------------------------------------------

    def _connected(self, link: Link) -> None:
        link.heard_at = time.time()  # its handshake
        self.core.connected(link)
        if link.pending_input:
            data, link.pending_input = link.pending_input, b""
            self._feed(link, data)

    def _drop(self, link: Link, reason: str) -> None:
        link.drop(reason)
        self.core.dropped(link, reason)

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
        self._feed(link, data)
        # What the peer said while that was handled is not read yet: its silence counts
        # from now, not from before a long turn (after a failover, UPS handled Amazon's
        # backlog for 20 s in one turn and then dropped Amazon as silent).
        link.heard_at = time.time()

    def _feed(self, link: Link, data: bytes) -> None:
        try:
            self.core.received(link, data, time.time())
        except FramingError as error:
            self._drop(link, f"bad framing: {error}")
