"""Database triggers that make our real code fail on one row, without touching the code.

``poison`` makes every write of the rows matching ``condition`` fail as a constraint
violation would (IntegrityError in Django): a defect, the kind of failure a daemon sets
aside. ``outage`` (PostgreSQL only) makes such a write cut its own connection, as a
database restart would (OperationalError): an outage, which a daemon waits out. Each
returns the SQL statements to run; ``cure`` returns the ones that remove them.
``condition`` reads the row as ``NEW``, e.g. ``"NEW.id = 13"``.
"""

from __future__ import annotations

POISON_TEXT = "poison: a test trigger refuses this row"
EVENTS = ("INSERT", "UPDATE")


def poison(vendor: str, table: str, condition: str) -> list[str]:
    if vendor == "sqlite":
        return [
            f"CREATE TRIGGER poison_{table}_{event.lower()} BEFORE {event} ON {table} "
            f"WHEN {condition} BEGIN SELECT RAISE(ABORT, '{POISON_TEXT}'); END"
            for event in EVENTS
        ]
    # check_violation is class 23, which psycopg and Django map to IntegrityError.
    return _plpgsql(
        table, condition, f"RAISE EXCEPTION '{POISON_TEXT}' USING ERRCODE = 'check_violation'"
    )


def outage(vendor: str, table: str, condition: str) -> list[str]:
    if vendor != "postgresql":
        raise ValueError("only PostgreSQL can lose a connection from inside a trigger")
    # The server ends this very connection ("terminating connection due to
    # administrator command"), as when it is restarted under a running daemon.
    return _plpgsql(table, condition, "PERFORM pg_terminate_backend(pg_backend_pid())")


def cure(vendor: str, table: str) -> list[str]:
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS poison_{table}_{event.lower()}" for event in EVENTS]
    return [
        f"DROP TRIGGER IF EXISTS poison_{table} ON {table}",
        f"DROP FUNCTION IF EXISTS poison_{table}()",
    ]


def _plpgsql(table: str, condition: str, statement: str) -> list[str]:
    return [
        f"CREATE FUNCTION poison_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN IF {condition} THEN {statement}; END IF; RETURN NEW; END $$",
        f"CREATE TRIGGER poison_{table} BEFORE {' OR '.join(EVENTS)} ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION poison_{table}()",
    ]
