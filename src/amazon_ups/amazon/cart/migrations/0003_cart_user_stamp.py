"""A change of a cart's row (its units) changes its user's stamp (accounts 0003)."""

from django.db import migrations

from amazon_ups.amazon.accounts import stamp_triggers


def create(apps, schema_editor):
    stamp_triggers.create(schema_editor, "cart_cart", "user_id")


def drop(apps, schema_editor):
    stamp_triggers.drop(schema_editor, "cart_cart")


class Migration(migrations.Migration):
    dependencies = [
        ("cart", "0002_cart_units"),
        ("accounts", "0003_user_stamp"),
    ]

    operations = [migrations.RunPython(create, drop)]
