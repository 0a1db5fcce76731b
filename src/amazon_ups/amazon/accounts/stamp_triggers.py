"""The triggers that change a user's ``UserStamp`` (models.py) whenever a row of theirs
that the web keeps changes: their ``auth_user`` row, their profile. Used by the
migration that creates them (0003); another table would be given them by its own.

SQLite and PostgreSQL both run them per row, in the writer's transaction, upserting the
stamp of the row's user (before and after an update) with a new random value; on
PostgreSQL a TRUNCATE (which fires no row trigger) gives every stamp a new value."""

from __future__ import annotations

STAMP_TABLE = "accounts_userstamp"
_PG_RANDOM = "floor(random() * 9007199254740991)::bigint"


def _pg_upsert(row: str, key: str) -> str:
    return (
        f"INSERT INTO {STAMP_TABLE} (user_id, value) VALUES ({row}.{key}, {_PG_RANDOM}) "
        "ON CONFLICT (user_id) DO UPDATE SET value = EXCLUDED.value;"
    )


def create_functions(schema_editor) -> None:
    """PostgreSQL's trigger functions (once, before any ``create``)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for key in ("id", "user_id"):
        schema_editor.execute(
            f"CREATE FUNCTION user_stamp_bump_{key}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF TG_OP <> 'INSERT' THEN {_pg_upsert('OLD', key)} END IF; "
            f"IF TG_OP <> 'DELETE' THEN {_pg_upsert('NEW', key)} END IF; RETURN NULL; END $$"
        )
    schema_editor.execute(
        "CREATE FUNCTION user_stamp_bump_all() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN UPDATE {STAMP_TABLE} SET value = {_PG_RANDOM}; RETURN NULL; END $$"
    )


def drop_functions(schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in ("user_stamp_bump_id", "user_stamp_bump_user_id", "user_stamp_bump_all"):
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()")


def create(schema_editor, table: str, key: str) -> None:
    """Triggers on ``table``, whose column ``key`` is the user's id."""
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        upsert = (
            f"INSERT OR REPLACE INTO {STAMP_TABLE} (user_id, value) VALUES ({{}}.{key}, random());"
        )
        rows = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}
        for event, which in rows.items():
            body = " ".join(upsert.format(row) for row in which)
            schema_editor.execute(
                f"CREATE TRIGGER {table}_stamp_{event.lower()} AFTER {event} ON {table} "
                f"BEGIN {body} END"
            )
    elif vendor == "postgresql":
        schema_editor.execute(
            f"CREATE TRIGGER {table}_stamp AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION user_stamp_bump_{key}()"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {table}_stamp_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION user_stamp_bump_all()"
        )
    else:
        raise NotImplementedError(f"no user stamps for the {vendor} database")


def drop(schema_editor, table: str) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for event in ("insert", "update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_stamp_{event}")
    elif vendor == "postgresql":
        for name in (f"{table}_stamp", f"{table}_stamp_truncate"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
