"""The PostgreSQL server the tests use, shared by ``tests/run.py`` and the e2e tests.

``TEST_POSTGRES_URL`` names it: a URL of a user allowed to create databases (by
default ``postgres://postgres@127.0.0.1:5432/postgres``). Every run makes databases
of its own on it, with a random suffix, and drops them afterwards.
"""

from __future__ import annotations

import os
import socket
import urllib.parse

SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def answers() -> bool:
    """Whether a server listens at the URL's host and port (not whether it lets us in)."""
    parts = urllib.parse.urlsplit(SERVER_URL)
    try:
        socket.create_connection((parts.hostname or "localhost", parts.port or 5432), 3).close()
    except OSError:
        return False
    return True


def database_url(name: str) -> str:
    """The URL of database ``name`` on the server."""
    return urllib.parse.urlsplit(SERVER_URL)._replace(path=f"/{name}").geturl()


def shown() -> str:
    """The server's URL without its password, fit to print."""
    parts = urllib.parse.urlsplit(SERVER_URL)
    if parts.password is None:
        return SERVER_URL
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


def problem() -> str | None:
    """Why the tests cannot use the server (log in, say), or None when they can."""
    import psycopg

    try:
        psycopg.connect(SERVER_URL, connect_timeout=10).close()
    except psycopg.Error as error:
        return " ".join(str(error).split())
    return None


def create(name: str) -> None:
    import psycopg

    with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')


def drop(name: str) -> bool:
    """Drop database ``name`` if it exists, even with sessions still open on it;
    returns whether it existed."""
    import psycopg

    with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=10) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return found is not None
