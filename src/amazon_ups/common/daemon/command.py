"""What both ``daemon`` management commands do around their daemon: check what can be
checked before standing by, lead the side (or stand by for it, or refuse beside another
on SQLite) before listening or connecting, run, stand by again if another daemon took
the lead meanwhile, wait out the database, and say why when it cannot go on."""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
from collections.abc import Callable, Iterator

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.db import close_old_connections

from amazon_ups.common.daemon.isolation import is_outage
from amazon_ups.common.daemon.lead import side_lead, stop_on_signals
from amazon_ups.common.daemon.metrics import DaemonCollector, serve
from amazon_ups.common.daemon.runner import DATABASE_RETRY, Daemon
from amazon_ups.common.exceptions import AlreadyRunning

logger = logging.getLogger(__name__)

# Seconds between tries to listen on a port the daemon that led before still holds.
PORT_RETRY = 0.5


def run_side(
    name: str, build: Callable[[], Daemon], preflight: Callable[[], object] | None = None
) -> None:
    """Run daemon ``name`` (built anew each time it leads) until it is stopped.

    ``preflight`` checks, before standing by, what ``build`` would refuse only once
    leading (the link's secret and TLS files): a standby that cannot lead says so at
    once, not when its side needs it. The database may be down at start, or while on
    standby: that is waited out, as the leading daemon waits it out. A daemon cut off
    from the database long enough for a standby to take over finds the lead taken when
    it is back: it closes its links and stands by in turn, rather than leaving its side
    one daemon short until someone starts it again."""
    if preflight is not None:
        try:
            preflight()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error
    figures = DaemonCollector(name)
    with _served(figures):
        _lead_or_stand_by(name, build, figures)


@contextlib.contextmanager
def _served(figures: DaemonCollector) -> Iterator[None]:
    """The process's figures on ``DAEMON_METRICS_HOST:PORT`` (if set), standby or not."""
    if settings.DAEMON_METRICS_PORT is None:
        yield
        return
    server = serve(figures, settings.DAEMON_METRICS_HOST, settings.DAEMON_METRICS_PORT)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def _lead_or_stand_by(name: str, build: Callable[[], Daemon], figures: DaemonCollector) -> None:
    failures = 0
    while True:
        stopped = stop_on_signals()
        try:
            # On PostgreSQL, waits on standby while another daemon of this side leads;
            # on SQLite, refuses to start beside one.
            with side_lead(name, stop=stopped) as lead:
                daemon = _built(name, build, stopped)
                if daemon is None:
                    return
                failures = 0
                figures.leads(daemon.links)
                try:
                    daemon.run(lead, stopped)
                finally:
                    figures.stands_by()
        except AlreadyRunning as error:
            raise CommandError(str(error)) from error
        except Exception as error:
            if not is_outage(error):
                raise
            failures += 1
            if failures == 1 or failures % 30 == 0:
                logger.warning("%s daemon: database unavailable (%s); retrying", name, error)
            close_old_connections()
            if stopped.wait(DATABASE_RETRY.delay(failures)):
                return
            continue
        if not daemon.lost_lead:
            return
        logger.warning(
            "%s daemon: another one took the lead while this one had lost its database "
            "connection; standing by",
            name,
        )


def _built(name: str, build: Callable[[], Daemon], stopped: threading.Event) -> Daemon | None:
    """``build()``, again while its port is still held by the daemon that led before
    (on this host: it closes it as soon as it sees it lost the lead); None if stopped
    meanwhile."""
    waited = False
    while True:
        try:
            return build()
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            if not waited:
                logger.warning(
                    "%s daemon: %s; waiting for the daemon that led before to let it go",
                    name,
                    error,
                )
                waited = True
        if stopped.wait(PORT_RETRY):
            return None
