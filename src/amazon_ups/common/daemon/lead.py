"""Which daemon of a side runs, when several are started: one leads, the others wait.

Any number of daemon processes of one side may run against one PostgreSQL database, on
this host or others. One leads: it holds the side's links (the world, and UPS's
listener for Amazon) and does all the work; the others are on standby and take over
within ``STANDBY_POLL`` of the leader's end, carrying on from the database.

- **The lead is a lock on the connection that does the work**: a session-level
  advisory lock (``pg_try_advisory_lock``) taken on the daemon's own Django connection.
  PostgreSQL releases it when that session ends, however the process ends (``kill -9``,
  a crash, its host cut off once the server drops the connection), and a standby's
  next try takes it.
- **A daemon that lost the lead commits nothing**: every statement of the daemon's
  thread goes through ``Lead.fence``, which refuses one on any other connection than
  the one the lock was taken on (raising ``LostLead``, an outage: the turn is rolled
  back and nothing is acked). Django reconnects by itself after an outage; the loop
  then takes the lead again on the new connection before any work, or, if a standby
  took it meanwhile, closes its links (``Daemon.run`` returns) and stands by in turn
  (``command.run_side``).
- Operators see each process, active or on standby, in ``DaemonProcess`` rows
  (``/operator/`` and the metrics).

On SQLite (one host, one file) there is no standby: a second daemon refuses to start
(``sole.py``).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from amazon_ups.common.daemon.sole import sole_daemon
from amazon_ups.common.messaging.models import DaemonProcess

logger = logging.getLogger(__name__)

# Seconds between a standby's tries for the lead: at most this long after the leader's
# session ended, a standby leads.
STANDBY_POLL = 0.5
# Seconds between a standby's "still here" for the operators, and the leader's.
STANDBY_SEEN_EVERY = 5.0
ACTIVE_SEEN_EVERY = 30.0
# How long the row of a process not heard from is kept (stopped, or killed on standby).
GONE_KEPT = datetime.timedelta(days=1)


class LostLead(OperationalError):
    """This daemon's connection is not the one that holds the lead (the database
    connection was lost and made again): nothing may run on it until the lead is taken
    again. An outage: the turn is rolled back, and nothing of it is acked."""


def lead_key(name: str) -> int:
    """The advisory lock's key for daemon ``name``: a stable signed 64-bit number."""
    digest = hashlib.sha256(f"amazon_ups:daemon:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Lead:
    """Daemon ``name``'s hold on its side, on the thread's default connection."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = lead_key(name)
        self._held_on: object | None = None  # the DB-API connection the lock is on
        self._taking = False
        self._seen = float("-inf")

    def take(self) -> bool:
        """Try to take the lead on the current connection (made if need be); True if
        this daemon leads now. Raises an outage if the database cannot be reached."""
        self._taking = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
                row = cursor.fetchone()
        finally:
            self._taking = False
        self._held_on = connection.connection if row and row[0] else None
        return self._held_on is not None

    def still_here(self, now: float) -> None:
        """Tell the operators the leader is alive, at most every ``ACTIVE_SEEN_EVERY``
        (and forget the rows of processes long gone, a killed standby's among them)."""
        if now >= self._seen + ACTIVE_SEEN_EVERY:
            self._seen = now
            _record(self.name, DaemonProcess.Role.ACTIVE, changed=False)
            _forget_the_long_gone(self.name)

    @property
    def held(self) -> bool:
        """Whether this thread's connection is still the one the lead was taken on."""
        return self._held_on is not None and connection.connection is self._held_on

    def fence(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict
    ) -> Any:
        """A ``connection.execute_wrapper``: refuses every statement on a connection
        that does not hold the lead."""
        if not self._taking and context["connection"].connection is not self._held_on:
            raise LostLead(f"the {self.name} daemon's connection does not hold the lead")
        return execute(sql, params, many, context)


def _record(name: str, role: DaemonProcess.Role, *, changed: bool) -> None:
    now = timezone.now()
    defaults: dict[str, object] = {"role": role, "seen_at": now}
    if changed:
        defaults["role_since"] = now
    with transaction.atomic():
        DaemonProcess.objects.update_or_create(
            name=name,
            host=socket.gethostname(),
            pid=os.getpid(),
            defaults=defaults,
            create_defaults={**defaults, "role_since": now},
        )


def _forget_the_gone(name: str) -> None:
    """Just after taking the lead: any other process of ``name`` still called active
    ended without a word (it held the lock until then); and the rows of processes not
    heard from for a day are deleted, so that the operators' list shows what runs."""
    DaemonProcess.objects.filter(name=name, role=DaemonProcess.Role.ACTIVE).exclude(
        host=socket.gethostname(), pid=os.getpid()
    ).update(role=DaemonProcess.Role.STOPPED, role_since=timezone.now())
    _forget_the_long_gone(name)


def _forget_the_long_gone(name: str) -> None:
    """Deletes the rows of ``name``'s processes not heard from for ``GONE_KEPT``."""
    DaemonProcess.objects.filter(name=name, seen_at__lt=timezone.now() - GONE_KEPT).delete()


@contextlib.contextmanager
def side_lead(name: str, stop: threading.Event | None = None) -> Iterator[Lead | None]:
    """Within: this process leads daemon ``name``'s side. On PostgreSQL it waits on
    standby until it can take the lead (or until ``stop`` is set: then the block is
    skipped, by raising ``SystemExit(0)``), and the block runs fenced (``Lead.fence``).
    On SQLite, ``sole_daemon``: a second one refuses to start. Yields the lead (None
    on SQLite)."""
    if connection.vendor != "postgresql":
        with sole_daemon(name):
            yield None
        return
    stop = stop or threading.Event()
    lead = Lead(name)
    seen = float("-inf")
    standby = False
    while not lead.take():
        now = timezone.now().timestamp()
        if now >= seen + STANDBY_SEEN_EVERY:
            if not standby:
                logger.info("%s daemon: on standby (another one leads)", name)
            _record(name, DaemonProcess.Role.STANDBY, changed=not standby)
            seen, standby = now, True
        if stop.wait(STANDBY_POLL):
            _record(name, DaemonProcess.Role.STOPPED, changed=True)
            raise SystemExit(0)
    logger.info("%s daemon: leads%s", name, " (took over from standby)" if standby else "")
    with connection.execute_wrapper(lead.fence):
        _record(name, DaemonProcess.Role.ACTIVE, changed=True)
        _forget_the_gone(name)
        lead._seen = timezone.now().timestamp()
        try:
            yield lead
        finally:
            if lead.held:
                with contextlib.suppress(OperationalError):
                    _record(name, DaemonProcess.Role.STOPPED, changed=True)
    if lead.held:  # ends the lead now rather than when the connection closes
        with contextlib.suppress(OperationalError), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lead.key])


def stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set (in the main thread), for a standby to end its
    wait; the daemon puts its own handlers in place once it leads."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
    return stop
