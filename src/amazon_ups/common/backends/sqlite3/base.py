"""Django's SQLite backend whose write transactions queue for the database host-wide.

SQLite has one writer at a time. A ``BEGIN IMMEDIATE`` that finds the write lock taken
is retried by SQLite's busy handler, which sleeps between tries: 1, 2, 5, 10, 15, 20,
25, 25, 25, 50, 50, 100 ms, then 100 ms each. Under load a writer keeps losing the lock
to ones that came after it while it sleeps, and the cores idle meanwhile.

Here each write transaction first takes an exclusive ``flock`` on a file beside the
database (``<name>.writers``), and lets go of it when the transaction ends: writers on
this host, in every process and thread, wait for each other in the kernel, each woken
the moment the one before it ends, and then find SQLite's own lock free. SQLite's lock
stays what keeps the data safe; the queue only decides who asks next. A writer outside
the queue (a statement run outside a transaction, or another program) still meets
SQLite's busy handler, as before. The kernel lets go of a lock whose process dies.
"""

from __future__ import annotations

import fcntl
from typing import IO

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    _writers: IO[bytes] | None = None

    def _queue_file(self) -> IO[bytes] | None:
        """This connection's handle on the queue's file; None for a database in memory,
        which only this process sees."""
        if self.is_in_memory_db():
            return None
        if self._writers is None:
            # Each connection opens the file itself: flock's locks belong to an open
            # file, so two threads of one process queue as two processes do.
            self._writers = open(f"{self.settings_dict['NAME']}.writers", "ab")  # noqa: SIM115
        return self._writers

    def _start_transaction_under_autocommit(self) -> None:
        queue = self._queue_file()
        if queue is not None:
            fcntl.flock(queue, fcntl.LOCK_EX)
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # Django's, not in its stubs
        except BaseException:
            self._leave_queue()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]  # Django's, not in its stubs
        finally:
            self._leave_queue()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]  # Django's, not in its stubs
        finally:
            self._leave_queue()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]  # Django's, not in its stubs
        finally:
            if self._writers is not None:
                self._writers.close()  # lets go of the lock too
                self._writers = None

    def _leave_queue(self) -> None:
        if self._writers is not None:
            fcntl.flock(self._writers, fcntl.LOCK_UN)
