"""The web wakes its daemon after a commit (common/daemon/wakeup.py): a NOTIFY on
PostgreSQL, a datagram to the daemon's socket on SQLite; the same test on both."""

from __future__ import annotations

import select
import stat

import pytest
from django.db import connection, transaction

from amazon_ups.common.daemon.wakeup import RETRY, Waker, channel_of, notify
from amazon_ups.common.messaging import services as messaging
from amazon_ups.testing.waiting import wait_until

CHANNEL = "amazon_ups_wakeup_test"


def readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


@pytest.mark.django_db(transaction=True)
def test_a_commit_that_notifies_wakes_the_daemon_and_a_rollback_does_not(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    waker = Waker(CHANNEL)
    try:
        fd = waker.fileno()
        assert fd is not None and waker.can_wake
        with pytest.raises(RuntimeError), transaction.atomic():
            transaction.on_commit(lambda: notify(CHANNEL))
            raise RuntimeError("rolled back: no wake-up")
        assert not readable(fd)
        with transaction.atomic():
            transaction.on_commit(lambda: notify(CHANNEL))
        wait_until(lambda: readable(fd), 5, "the wake-up")
        assert waker.drain() == set()  # new work, nothing more said
        assert not readable(fd)
    finally:
        waker.close()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's wake-up socket")
def test_the_socket_is_private_and_gone_when_the_daemon_stops(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    path = tmp_path / "run" / f"{CHANNEL}.wake"
    path.parent.mkdir()
    path.write_text("left by a daemon killed with SIGKILL")
    waker = Waker(CHANNEL)
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
    waker.close()
    assert not path.exists()
    notify(CHANNEL)  # nobody listens: nothing happens, no error


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's wake-up socket")
def test_a_var_folder_too_deep_for_a_socket_path_still_wakes(settings, tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    settings.VAR_DIR = deep
    waker = Waker(CHANNEL)
    try:
        fd = waker.fileno()
        assert fd is not None and not (deep / "run").exists()  # Linux's abstract namespace
        notify(CHANNEL)
        wait_until(lambda: readable(fd), 5, "the wake-up")
    finally:
        waker.close()


@pytest.mark.django_db(transaction=True)
def test_an_operators_retry_wakes_the_daemon(settings, tmp_path):
    """The daemon looks for dead letters to retry when a wake-up says a retry was asked
    (or by its safety look): a retry asked for on the operators' page wakes it so once it
    commits, and an order placed meanwhile does not hide it."""
    settings.VAR_DIR = tmp_path
    waker = Waker(channel_of(settings.PROJECT))
    try:
        fd = waker.fileno()
        assert fd is not None
        with transaction.atomic():
            letter = messaging.set_aside_work(what="a test", ref="1", error=ValueError("x"))
        assert not readable(fd)
        with transaction.atomic():
            assert messaging.dead_letters_retry([letter.id]) == 1
        with transaction.atomic():
            transaction.on_commit(lambda: notify(channel_of(settings.PROJECT)))
        wait_until(lambda: readable(fd), 5, "the wake-up")
        assert waker.drain() == {RETRY}
    finally:
        waker.close()
