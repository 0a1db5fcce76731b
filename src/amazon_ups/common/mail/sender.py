"""The daemon's mail thread: sends queued emails beside the protocol loop, so a slow
SMTP server never holds up messages to the world or the peer.

It looks at the queue when the daemon pokes it (after the daemon's loop has looked in
the database: that is when a handler or the web may have queued an email), at most
every ``min_gap`` seconds, and every ``interval`` seconds besides, for emails whose
retry falls due."""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connection

from amazon_ups.common.daemon import isolation
from amazon_ups.common.mail import services

logger = logging.getLogger(__name__)


class MailSender(threading.Thread):
    def __init__(self, interval: float = 5.0, min_gap: float = 1.0) -> None:
        super().__init__(name="mail-sender", daemon=True)
        self.interval = interval
        self.min_gap = min(min_gap, interval)
        self._stop_event = threading.Event()
        self._poked = threading.Event()
        self._failures = isolation.FailureLog("mail: sending")

    def stop(self) -> None:
        self._stop_event.set()
        self._poked.set()

    def poke(self) -> None:
        """Look at the queue now (from another thread; costs nothing if it is busy)."""
        self._poked.set()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                try:
                    # Batch after batch until the queue is empty, then wait.
                    while services.send_pending() and not self._stop_event.is_set():
                        pass
                    self._failures.succeeded()
                except Exception as error:
                    # Not one email's failure (send_pending retries those row by row) but
                    # the queue's: wait an outage out; log a defect once, and keep trying.
                    if isolation.is_outage(error):
                        logger.warning("mail: database unavailable (%s); retrying", error)
                        close_old_connections()
                    else:
                        self._failures.failed(error)
                self._poked.wait(self.interval)
                self._poked.clear()
                # Under load the daemon pokes after every look: emails are sent in
                # batches at most this often, not in a small write transaction each
                # (on SQLite each would wait for the one write lock the loop needs).
                self._stop_event.wait(self.min_gap)
        finally:
            connection.close()
