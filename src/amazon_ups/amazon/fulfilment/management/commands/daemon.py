from django.core.management.base import BaseCommand

from amazon_ups.amazon.fulfilment.daemon import build


class Command(BaseCommand):
    help = "Run the fulfilment daemon: orders to the world and UPS, until SIGTERM/Ctrl-C."

    def handle(self, *args, **options):
        build().run()
