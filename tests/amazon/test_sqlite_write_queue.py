"""SQLite's writers queue for the database host-wide (common/backends/sqlite3): a write
transaction that finds another under way waits in the kernel for it to end, instead of
meeting SQLite's busy handler, which sleeps between tries. Real connections on a real
file, in real threads (flock's locks belong to each connection's open file, so threads
queue as processes do); SQLite's own busy timeout is 0 here, so any overlap the queue
failed to prevent would be an immediate "database is locked"."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django.db.utils import ConnectionHandler

from amazon_ups.common import settings as settings_module
from amazon_ups.testing.waiting import wait_until

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's write queue; the PostgreSQL pass has none"
)

OURS = "amazon_ups.common.backends.sqlite3"
DJANGOS = "django.db.backends.sqlite3"


def connection_to(path: Path | str, engine: str = OURS):
    """A connection of its own to the database at ``path``, for the calling thread,
    with the site's options but no busy timeout."""
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": engine,
                "NAME": str(path),
                "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 0},
            }
        }
    )
    return handler.create_connection("default")


@contextlib.contextmanager
def transaction_on(db):
    """What ``transaction.atomic`` does for an outermost block, on ``db``."""
    db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    else:
        db.commit()
    finally:
        db.set_autocommit(True)


def insert(db, value: int) -> None:
    with db.cursor() as cursor:
        cursor.execute("INSERT INTO note (value) VALUES (%s)", [value])


def values(path: Path) -> list[int]:
    db = connection_to(path)
    try:
        with db.cursor() as cursor:
            cursor.execute("SELECT value FROM note ORDER BY id")
            return [row[0] for row in cursor.fetchall()]
    finally:
        db.close()


@pytest.fixture(autouse=True)
def connections_of_our_own(django_db_blocker):
    """These tests' connections are their own, to files of their own: not the test
    database, which pytest-django guards."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def database(tmp_path) -> Path:
    path = tmp_path / "store.sqlite3"
    db = connection_to(path)
    with db.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, value INTEGER)")
    db.close()
    return path


def queued_on(path: Path) -> bool:
    """Whether a lock on the queue's file is waited for (the kernel lists each waiter
    in /proc/locks, marked ``->``, by the file's device and inode)."""
    inode = os.stat(f"{path}.writers").st_ino
    lines = Path("/proc/locks").read_text().splitlines()
    return any("->" in line and line.split()[-3].endswith(f":{inode}") for line in lines)


def held(path: Path) -> bool:
    """Whether some connection is in the queue's file's lock now."""
    with open(f"{path}.writers", "ab") as queue:
        try:
            fcntl.flock(queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(queue, fcntl.LOCK_UN)
        return False


def second_writer(path: Path, engine: str, outcome: dict) -> threading.Thread:
    """A thread that writes 2 in a transaction of its own, and says how it went."""

    def write() -> None:
        db = connection_to(path, engine)
        try:
            with transaction_on(db):
                insert(db, 2)
            outcome["done"] = True
        except OperationalError as error:
            outcome["error"] = str(error)
        finally:
            db.close()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="the kernel's list of locks")
def test_a_writer_waits_in_the_queue_for_the_transaction_under_way(database):
    first = connection_to(database)
    outcome: dict = {}
    with transaction_on(first):
        insert(first, 1)
        writer = second_writer(database, OURS, outcome)
        wait_until(lambda: queued_on(database), 10, "the second writer waiting in the queue")
        assert writer.is_alive() and outcome == {}
    writer.join(10)
    first.close()
    assert outcome == {"done": True}
    assert values(database) == [1, 2]


def test_without_the_queue_the_same_writer_meets_a_locked_database(database):
    """The control: Django's own backend, the same two transactions."""
    first = connection_to(database, DJANGOS)
    outcome: dict = {}
    with transaction_on(first):
        insert(first, 1)
        second_writer(database, DJANGOS, outcome).join(10)
    first.close()
    assert "database is locked" in outcome["error"]
    assert values(database) == [1]


def test_many_writers_in_many_threads_all_get_through(database):
    """Eight threads, 25 transactions each, every one reading the count and writing
    it back plus one: with no busy timeout, only a queue lets them all through, and
    one at a time (no increment is lost)."""
    errors: list[str] = []

    def work() -> None:
        db = connection_to(database)
        try:
            for _ in range(25):
                with transaction_on(db), db.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM note")
                    insert(db, cursor.fetchone()[0] + 1)
        except OperationalError as error:
            errors.append(str(error))
        finally:
            db.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert values(database) == list(range(1, 201))


def test_the_queue_is_left_however_a_transaction_ends(database):
    db = connection_to(database)
    with transaction_on(db):
        insert(db, 1)
        assert held(database)
    assert not held(database)

    with pytest.raises(ZeroDivisionError), transaction_on(db):
        insert(db, 2)
        assert held(database)
        1 / 0  # noqa: B018
    assert not held(database)

    db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    insert(db, 3)
    assert held(database)
    db.close()  # a connection closed mid-transaction (a request that died)
    assert not held(database)
    assert values(database) == [1]


def test_a_database_in_memory_has_no_queue(tmp_path, monkeypatch):
    """Only its own process sees it: nothing to queue with, and no file is made."""
    monkeypatch.chdir(tmp_path)
    db = connection_to(":memory:")
    with transaction_on(db), db.cursor() as cursor:
        cursor.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, value INTEGER)")
    db.close()
    assert list(tmp_path.iterdir()) == []


def test_each_site_on_sqlite_gets_the_queue_and_keeps_its_connections(monkeypatch):
    """The queue, and connections kept between a web thread's requests (opening the file
    and setting its pragmas cost as much as a page), without a DATABASE_URL or with a
    SQLite one, for both sites."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    amazon = settings_module.databases("amazon")["default"]
    monkeypatch.setenv("DATABASE_URL", "sqlite:////tmp/elsewhere.sqlite3")
    ups = settings_module.databases("ups")["default"]
    for default in (amazon, ups):
        assert default["ENGINE"] == OURS
        assert default["CONN_MAX_AGE"] == 60
