"""A kept PostgreSQL connection is checked before a request's first query
(``CONN_HEALTH_CHECKS``) without a round trip while the server has said nothing
(common/backends/postgresql), and opened again once the server has ended it."""

from __future__ import annotations

import select

import pytest
from django.db import close_old_connections, connection, connections

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's sessions"),
]


@pytest.fixture
def other():
    """A connection of its own, to watch and end the test's."""
    watcher = connections.create_connection("default")
    yield watcher
    watcher.close()


def last_statement(other, pid: int) -> str:
    with other.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0]


def kept_connection(marker: str) -> int:
    """The test's connection, kept as a web process keeps it between requests, with
    ``marker`` its last statement: its server process id."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT '{marker}', pg_backend_pid()")
        return cursor.fetchone()[1]


def wait_until_readable(deadline: float = 10.0) -> None:
    poller = select.poll()
    poller.register(connection.connection.fileno(), select.POLLIN)
    assert poller.poll(deadline * 1000), "the server said nothing"


def test_a_quiet_connection_is_checked_without_asking_the_server(other):
    pid = kept_connection("last words")
    assert connection.is_usable()
    assert last_statement(other, pid) == "SELECT 'last words', pg_backend_pid()"  # not "SELECT 1"


def test_a_connection_the_server_ended_is_opened_again_before_the_next_request(other):
    pid = kept_connection("before the restart")
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_until_readable()
    assert not connection.is_usable()
    close_old_connections()  # as each request starts
    with connection.cursor() as cursor:  # its first query: no error, a new session
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


def test_something_said_unasked_is_read_by_asking(other):
    """A notification (or a notice) is not a goodbye: the round trip reads it, and the
    connection is kept."""
    pid = kept_connection("listening")
    with connection.cursor() as cursor:
        cursor.execute("LISTEN health_check_test")
    with other.cursor() as cursor:
        cursor.execute("NOTIFY health_check_test")
    wait_until_readable()
    assert connection.is_usable()
    assert last_statement(other, pid) == "SELECT 1"
    with connection.cursor() as cursor:
        cursor.execute("UNLISTEN *")
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] == pid
