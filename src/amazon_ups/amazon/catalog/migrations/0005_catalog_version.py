"""The catalog's version (models.CatalogVersion): one row that database triggers give a
new random value whenever a table the catalog's pages show is written, in the writer's
own transaction. Triggers rather than code: the admin, bulk updates, the fulfilment
daemon and the web all write these tables, and none of them can forget.

SQLite has row triggers only; PostgreSQL runs one per statement. Both write the row with
an upsert, so a database emptied by a test's flush gets it back at the next change.
"""

from django.conf import settings
from django.db import migrations, models

TABLES = ["catalog_product", "catalog_stock", "catalog_category", "catalog_warehouse"]
VERSION_TABLE = "catalog_catalogversion"


def user_table(apps) -> str:
    # A seller's name is on their products' pages; logins (last_login) do not count.
    return apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table


def sqlite_triggers(apps) -> list[tuple[str, str, str]]:
    """(trigger name, event, table)."""
    triggers = [
        (f"{table}_version_{event.lower()}", event, table)
        for table in TABLES
        for event in ("INSERT", "UPDATE", "DELETE")
    ]
    triggers.append(("auth_user_version_update", "UPDATE OF username", user_table(apps)))
    return triggers


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for name, event, table in sqlite_triggers(apps):
            schema_editor.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN "
                f"INSERT OR REPLACE INTO {VERSION_TABLE} (id, value) VALUES (1, random()); "
                "END"
            )
    elif vendor == "postgresql":
        schema_editor.execute(
            "CREATE FUNCTION catalog_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN INSERT INTO {VERSION_TABLE} (id, value) "
            "VALUES (1, floor(random() * 9007199254740991)::bigint) "
            "ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value; RETURN NULL; END $$"
        )
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump()"
            )
        schema_editor.execute(
            f"CREATE TRIGGER auth_user_version AFTER UPDATE OF username ON {user_table(apps)} "
            "FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump()"
        )
    apps.get_model("catalog", "CatalogVersion").objects.create(id=1, value=1)


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for name, _event, _table in sqlite_triggers(apps):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_version ON {table}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS auth_user_version ON {user_table(apps)}")
        schema_editor.execute("DROP FUNCTION IF EXISTS catalog_version_bump()")


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_product_search"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CatalogVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create, drop),
    ]
