"""Waking a daemon when the web has written work for it.

The web never talks to a daemon over a connection and never waits for one: it commits
its change and calls ``notify``. On PostgreSQL that is a NOTIFY, delivered when the
transaction commits, and the daemon LISTENs on a connection of its own whose socket
sits in its ``select``. On SQLite the daemon binds a Unix datagram socket in the var
folder (``var/run/<channel>.wake``, 0600) and the web sends it one byte after its
commit. Either way the daemon sleeps until there is something to do, and also looks
now and then (the core's ``SAFETY_LOOK_EVERY``): a wake-up sent while its listener was
being made again (the database restarted, the daemon restarting) is lost, and the work
waits in the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection, connections

logger = logging.getLogger(__name__)

# Seconds between looks for new work when no wake-up can reach the daemon (a platform
# without Unix sockets): the web's work then waits this long at most.
POLL_INTERVAL = 0.1
# A Unix socket's path must fit in sockaddr_un (108 bytes on Linux, 104 elsewhere).
_MAX_SOCKET_PATH = 100
# What a wake-up says, when it is more than "new work" (an order placed, a restock...):
# an operator asked for dead letters to be retried. The daemon looks for those only then
# (and by its safety look), not at every order the web wakes it for.
RETRY = "retry"
# A wake-up that says nothing more, as a datagram (PostgreSQL's NOTIFY has an empty payload).
_PLAIN = b"!"


def channel_of(daemon: str) -> str:
    """The wake-up channel of the daemon named ``daemon`` ("amazon", "ups")."""
    return f"amazon_ups_{daemon}"


def _address(channel: str) -> str | bytes | None:
    """Where the daemon of ``channel`` listens on this machine: a path in the var folder,
    or (a var folder too deep for a socket path) a name in Linux's abstract namespace
    made from that path; None where there are no Unix sockets."""
    if not hasattr(socket, "AF_UNIX"):
        return None
    path = Path(settings.VAR_DIR) / "run" / f"{channel}.wake"
    if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
        return str(path)
    if sys.platform.startswith("linux"):
        digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:32]
        return b"\0amazon-ups-wake-" + digest.encode()
    return None


def notify(channel: str, says: str = "") -> None:
    """Wake the daemon listening on ``channel``: on PostgreSQL once the current
    transaction commits; on SQLite now (call it from ``transaction.on_commit``).
    ``says``: what more it tells (``RETRY``), or nothing."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [channel, says])
        return
    address = _address(channel)
    if address is None:
        return
    with (
        contextlib.suppress(OSError),  # no daemon listening, or already woken: fine
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
    ):
        sock.setblocking(False)
        sock.sendto(says.encode() or _PLAIN, address)


class Waker:
    """The daemon's side: a socket to select on, or None (then it polls)."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._db = None
        self._sock: socket.socket | None = None
        self._path: str | None = None
        if connection.vendor == "postgresql":
            self._db = connections.create_connection("default")
            self._db.ensure_connection()
            raw = self._db.connection
            raw.autocommit = True
            raw.execute(f'LISTEN "{channel}"')
            logger.info("listening for wake-ups on %s", channel)
        else:
            self._bind(_address(channel))

    def _bind(self, address: str | bytes | None) -> None:
        if address is None:
            logger.info("no wake-up socket here: looking for work every %s s", POLL_INTERVAL)
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if isinstance(address, str):
                Path(address).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(address)  # left by a daemon that was killed
                sock.bind(address)
                os.chmod(address, 0o600)
                self._path = address
            else:
                sock.bind(address)
        except OSError as error:
            sock.close()
            logger.warning(
                "cannot listen for wake-ups (%s): looking for work every %s s",
                error,
                POLL_INTERVAL,
            )
            return
        sock.setblocking(False)
        self._sock = sock
        logger.info("listening for wake-ups on %s", address)

    def fileno(self) -> int | None:
        if self._db is not None:
            return self._db.connection.fileno()
        return self._sock.fileno() if self._sock is not None else None

    @property
    def can_wake(self) -> bool:
        """Whether the web can wake the daemon (if not, the daemon must poll)."""
        return self.fileno() is not None

    def drain(self) -> set[str]:
        """Take the wake-ups waiting; returns what more they told (``RETRY``), if any."""
        said: set[str] = set()
        if self._db is not None:
            for note in self._db.connection.notifies(timeout=0):
                said.add(note.payload)
        elif self._sock is not None:
            with contextlib.suppress(BlockingIOError, InterruptedError):
                while data := self._sock.recv(64):
                    said.add(data.decode(errors="replace"))
        said -= {"", _PLAIN.decode()}
        return said

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            if self._path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._path)
