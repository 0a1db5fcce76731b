from django.core.management.base import BaseCommand

from amazon_ups.amazon.fulfilment.daemon import build, preflight
from amazon_ups.common.daemon.command import run_side


class Command(BaseCommand):
    help = "Run the fulfilment daemon: orders to the world and UPS, until SIGTERM/Ctrl-C."

    # Django's default, stated because it matters here: the settings' checks run
    # before the daemon starts, and an error stops it before it connects anywhere.
    requires_system_checks = "__all__"

    def handle(self, *args, **options):
        run_side("amazon", lambda: build().daemon, preflight=preflight)
