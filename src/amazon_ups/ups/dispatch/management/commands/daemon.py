from django.core.management.base import BaseCommand, CommandError

from amazon_ups.common.daemon.lead import side_lead, stop_on_signals
from amazon_ups.common.exceptions import AlreadyRunning
from amazon_ups.ups.dispatch.daemon import build_daemon


class Command(BaseCommand):
    help = (
        "Run the dispatch daemon: joins (or creates) the world with UPS's trucks and "
        "listens for Amazon on UPS_HOST:UPS_PORT. Stops on SIGTERM or Ctrl-C."
    )

    # Django's default, stated because it matters here: the settings' checks run
    # before the daemon starts, and an error stops it before it connects anywhere.
    requires_system_checks = "__all__"

    def add_arguments(self, parser):
        parser.add_argument("--host", help="address to listen on for Amazon (default UPS_HOST)")
        parser.add_argument("--port", type=int, help="port to listen on (default UPS_PORT)")

    def handle(self, *args, **options):
        stopped = stop_on_signals()
        try:
            # On PostgreSQL, waits on standby while another daemon of this side leads;
            # on SQLite, refuses to start beside one. Before it listens or connects.
            with side_lead("ups", stop=stopped) as lead:
                daemon = build_daemon(options["host"], options["port"])
                daemon.run(lead, stopped)
        except AlreadyRunning as error:
            raise CommandError(str(error)) from error
        if daemon.lost_lead:
            raise CommandError(
                "another ups daemon took the lead (this one lost its database connection); "
                "start this one again to stand by"
            )
