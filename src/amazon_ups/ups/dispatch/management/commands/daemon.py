from django.conf import settings
from django.core.management.base import BaseCommand

from amazon_ups.common.daemon import link_security
from amazon_ups.common.daemon.command import run_side
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
        run_side(
            "ups",
            lambda: build_daemon(options["host"], options["port"]),
            preflight=lambda: link_security.ups_auth(options["host"] or settings.UPS_HOST),
        )
