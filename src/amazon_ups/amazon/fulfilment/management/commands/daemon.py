from django.core.management.base import BaseCommand, CommandError

from amazon_ups.amazon.fulfilment.daemon import build
from amazon_ups.common.daemon.lead import side_lead, stop_on_signals
from amazon_ups.common.exceptions import AlreadyRunning


class Command(BaseCommand):
    help = "Run the fulfilment daemon: orders to the world and UPS, until SIGTERM/Ctrl-C."

    # Django's default, stated because it matters here: the settings' checks run
    # before the daemon starts, and an error stops it before it connects anywhere.
    requires_system_checks = "__all__"

    def handle(self, *args, **options):
        stopped = stop_on_signals()
        try:
            # On PostgreSQL, waits on standby while another daemon of this side leads;
            # on SQLite, refuses to start beside one. Before it listens or connects.
            with side_lead("amazon", stop=stopped) as lead:
                daemon = build().daemon
                daemon.run(lead, stopped)
        except AlreadyRunning as error:
            raise CommandError(str(error)) from error
        if daemon.lost_lead:
            raise CommandError(
                "another amazon daemon took the lead (this one lost its database connection); "
                "start this one again to stand by"
            )
