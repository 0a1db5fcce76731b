"""One daemon per side and database, on SQLite.

Two daemons of one side on one database would both take the same work and both send
it: the peers would see every message twice, under two seqnums. On SQLite, whose
database is a file on this host, the daemon holds an exclusive lock (``flock``) on a
file beside it for as long as it runs; a second daemon finds it held and refuses to
start, naming the first one's pid. The lock goes with the process, however it ends
(even ``kill -9``), so a crash never leaves a stale lock behind.

PostgreSQL databases are shared by hosts, where a file lock means nothing; there the
side's daemons decide on the database itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from django.db import connection

from amazon_ups.common.exceptions import AlreadyRunning


def lock_path(name: str) -> Path | None:
    """The lock file of daemon ``name`` on this database (None: not a SQLite file)."""
    if connection.vendor != "sqlite":
        return None
    database = str(connection.settings_dict["NAME"])
    if database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{database}.{name}-daemon.lock")


@contextlib.contextmanager
def sole_daemon(name: str) -> Iterator[None]:
    """Within: the only daemon ``name`` on this SQLite database; raises ``AlreadyRunning``
    if another holds it. Elsewhere it does nothing."""
    path = lock_path(name)
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise AlreadyRunning(
                f"another {name} daemon (pid {holder}) is running on this database "
                f"({connection.settings_dict['NAME']}); it holds {path}. Stop it first: "
                "two would send every message twice."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
