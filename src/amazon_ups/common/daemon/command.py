"""What both ``daemon`` management commands do around their daemon: lead the side (or
stand by for it, or refuse beside another on SQLite) before listening or connecting,
run, and say why when it cannot go on."""

from __future__ import annotations

from collections.abc import Callable

from django.core.management.base import CommandError

from amazon_ups.common.daemon.lead import side_lead, stop_on_signals
from amazon_ups.common.daemon.runner import Daemon
from amazon_ups.common.exceptions import AlreadyRunning


def run_side(name: str, build: Callable[[], Daemon]) -> None:
    """Run daemon ``name`` (built by ``build`` once it leads) until it is stopped."""
    stopped = stop_on_signals()
    try:
        # On PostgreSQL, waits on standby while another daemon of this side leads; on
        # SQLite, refuses to start beside one.
        with side_lead(name, stop=stopped) as lead:
            daemon = build()
            daemon.run(lead, stopped)
    except AlreadyRunning as error:
        raise CommandError(str(error)) from error
    if daemon.lost_lead:
        raise CommandError(
            f"another {name} daemon took the lead (this one lost its database connection); "
            "start this one again to stand by"
        )
