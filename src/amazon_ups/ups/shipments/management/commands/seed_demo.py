import os

from django.core.management.base import BaseCommand

from amazon_ups.ups.accounts import services

DEFAULT_PASSWORD = "demo-password-123"


class Command(BaseCommand):
    help = "Create the demo user and its UPS account (idempotent); prints the account number."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD
        account = services.demo_user_ensure("demo", password)
        self.stdout.write(f"demo UPS account: {account.number} (user demo)")
