"""A second version row (id 2): the catalog's *content*, which the triggers move with
every change to what the pages show except stock. Every sale moves the stock, so pages
kept under the whole version (row 1) were rendered anew after each one; a product page
kept under the content version only reads its stock per request, and the typo
corrector's vocabulary is not rebuilt because something sold.

Row 1 moves as before, on every change (stock included); the triggers of the product,
category, warehouse and user tables now move both rows in the same statement, the
stock's only row 1.
"""

from django.conf import settings
from django.db import migrations

VERSION_TABLE = "catalog_catalogversion"
CONTENT_TABLES = ["catalog_product", "catalog_category", "catalog_warehouse"]
CONTENT = 2


def user_table(apps) -> str:
    return apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table


def sqlite_triggers(apps) -> list[tuple[str, str, str]]:
    """(trigger name, event, table): migration 0005's, but the stock's."""
    triggers = [
        (f"{table}_version_{event.lower()}", event, table)
        for table in CONTENT_TABLES
        for event in ("INSERT", "UPDATE", "DELETE")
    ]
    triggers.append(("auth_user_version_update", "UPDATE OF username", user_table(apps)))
    return triggers


def sqlite_bumps(rows: tuple[int, ...]) -> str:
    return " ".join(
        f"INSERT OR REPLACE INTO {VERSION_TABLE} (id, value) VALUES ({row}, random());"
        for row in rows
    )


def postgres_triggers(apps) -> list[tuple[str, str, str]]:
    """(trigger name, event, table), as migration 0005 made them."""
    events = "INSERT OR UPDATE OR DELETE OR TRUNCATE"
    triggers = [(f"{table}_version", events, table) for table in CONTENT_TABLES]
    triggers.append(("auth_user_version", "UPDATE OF username", user_table(apps)))
    return triggers


def set_triggers(apps, schema_editor, rows: tuple[int, ...]) -> None:
    """The content tables' triggers, moving ``rows``."""
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for name, event, table in sqlite_triggers(apps):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
            schema_editor.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {sqlite_bumps(rows)} END"
            )
    elif vendor == "postgresql":
        function = "catalog_version_bump" if rows == (1,) else "catalog_content_bump"
        for name, event, table in postgres_triggers(apps):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            schema_editor.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # Both rows in one statement, each a value of its own.
        schema_editor.execute(
            "CREATE FUNCTION catalog_content_bump() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN INSERT INTO {VERSION_TABLE} (id, value) "
            "VALUES (1, floor(random() * 9007199254740991)::bigint), "
            f"({CONTENT}, floor(random() * 9007199254740991)::bigint) "
            "ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value; RETURN NULL; END $$"
        )
    set_triggers(apps, schema_editor, (1, CONTENT))
    apps.get_model("catalog", "CatalogVersion").objects.update_or_create(
        id=CONTENT, defaults={"value": 1}
    )


def backward(apps, schema_editor):
    set_triggers(apps, schema_editor, (1,))
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS catalog_content_bump()")
    apps.get_model("catalog", "CatalogVersion").objects.filter(id=CONTENT).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_catalog_version"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(forward, backward)]
