import os

from django.core.management.base import BaseCommand

from amazon_ups.amazon.catalog import services as catalog_services
from amazon_ups.amazon.orders import services as orders_services

DEFAULT_PASSWORD = "demo-password-123"


class Command(BaseCommand):
    help = (
        "Load the demo warehouses, products and shopper 'demo' (password from DEMO_PASSWORD). "
        "Running it again changes nothing."
    )

    def handle(self, *args, **options):
        warehouses, products = catalog_services.seed_demo()
        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD
        created = orders_services.ensure_shopper("demo", password)
        self.stdout.write(
            f"demo data: {warehouses} warehouses, {products} products, shopper 'demo' "
            f"({'created' if created else 'already there'})"
        )
