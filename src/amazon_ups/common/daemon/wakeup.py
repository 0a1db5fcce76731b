"""Waking a daemon when the web has written work for it.

The web never talks to a daemon over a socket and never waits for one: it
commits its change and calls ``notify``. On PostgreSQL that is a NOTIFY,
delivered when the transaction commits, and the daemon LISTENs on a connection
of its own whose socket sits in its ``select``. On SQLite there is no such
thing: the daemon looks for work every ``POLL_INTERVAL`` instead.
"""

from __future__ import annotations

import logging

from django.db import connection, connections

logger = logging.getLogger("amazon_ups.daemon")

POLL_INTERVAL = 0.1  # seconds between looks for new work when nothing can wake us
# Even with NOTIFY, look now and then: a notification sent while the listening
# connection was being re-made (the database restarted) is lost.
SAFETY_INTERVAL = 2.0


def notify(channel: str) -> None:
    """Wake the daemon listening on ``channel`` once the current transaction commits."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [channel])


class Waker:
    """The daemon's side: a socket to select on (PostgreSQL), or None (poll)."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._db = None
        if connection.vendor == "postgresql":
            self._db = connections.create_connection("default")
            self._db.ensure_connection()
            raw = self._db.connection
            raw.autocommit = True
            raw.execute(f'LISTEN "{channel}"')
            logger.info("listening for wake-ups on %s", channel)

    def fileno(self) -> int | None:
        return self._db.connection.fileno() if self._db is not None else None

    @property
    def poll_interval(self) -> float:
        """How long the daemon may sleep without looking for work."""
        return SAFETY_INTERVAL if self._db is not None else POLL_INTERVAL

    def drain(self) -> None:
        if self._db is not None:
            for _ in self._db.connection.notifies(timeout=0):
                pass

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
