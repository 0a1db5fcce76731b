import os

from django.core.management.base import BaseCommand

from amazon_ups.amazon.accounts import selectors as accounts_selectors
from amazon_ups.amazon.accounts import services as accounts_services
from amazon_ups.amazon.catalog import services as catalog_services

DEFAULT_PASSWORD = "demo-password-123"
DEFAULT_SELLER_PASSWORD = "seller-password-123"


class Command(BaseCommand):
    help = (
        "Load the demo warehouses, categories and products, the shopper 'demo' (password "
        "from DEMO_PASSWORD) and the seller 'seller' who sells the demo products (password "
        "from DEMO_SELLER_PASSWORD). Running it again changes nothing."
    )

    def handle(self, *args, **options):
        seller_password = os.environ.get("DEMO_SELLER_PASSWORD") or DEFAULT_SELLER_PASSWORD
        seller_created = accounts_services.seller_ensure("seller", seller_password)
        seller = accounts_selectors.user_get("seller")
        warehouses, products = catalog_services.seed_demo(seller=seller)
        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD
        created = accounts_services.shopper_ensure("demo", password)
        self.stdout.write(
            f"demo data: {warehouses} warehouses, {products} products, shopper 'demo' "
            f"({'created' if created else 'already there'})"
        )
        self.stdout.write(
            f"demo seller: user seller, password {seller_password} "
            f"({'created' if seller_created else 'already there'})"
        )
