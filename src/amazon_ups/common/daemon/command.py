"""What both ``daemon`` management commands do around their daemon: lead the side (or
stand by for it, or refuse beside another on SQLite) before listening or connecting,
run, stand by again if another daemon took the lead meanwhile, and say why when it
cannot go on."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.management.base import CommandError

from amazon_ups.common.daemon.lead import side_lead, stop_on_signals
from amazon_ups.common.daemon.runner import Daemon
from amazon_ups.common.exceptions import AlreadyRunning

logger = logging.getLogger(__name__)


def run_side(name: str, build: Callable[[], Daemon]) -> None:
    """Run daemon ``name`` (built anew each time it leads) until it is stopped.

    A daemon cut off from the database long enough for a standby to take over (a
    network cut, a server restart) finds the lead taken when it is back: it closes its
    links and stands by in turn, as if just started, rather than leaving its side one
    daemon short until someone starts it again."""
    while True:
        stopped = stop_on_signals()
        try:
            # On PostgreSQL, waits on standby while another daemon of this side leads;
            # on SQLite, refuses to start beside one.
            with side_lead(name, stop=stopped) as lead:
                daemon = build()
                daemon.run(lead, stopped)
        except AlreadyRunning as error:
            raise CommandError(str(error)) from error
        if not daemon.lost_lead:
            return
        logger.warning(
            "%s daemon: another one took the lead while this one had lost its database "
            "connection; standing by",
            name,
        )
