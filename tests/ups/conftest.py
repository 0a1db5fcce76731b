from __future__ import annotations

import os
import tempfile
import threading

import pytest
from django.utils import timezone

from amazon_ups.protocol.world_messages import Side
from amazon_ups.ups.dispatch import services as dispatch
from tests.support import FAST
from tests.ups.helpers import make_user

# Keep the secret key and mail files of test runs out of the project's var/ (this
# takes effect when the settings are imported after this file, as with ./dev test).
os.environ.setdefault("AMAZON_UPS_VAR", tempfile.mkdtemp(prefix="ups-test-var-"))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """SQLite tests use a file, not Django's shared in-memory database: the daemon
    runs in a thread of its own, and a file gives both threads SQLite's ordinary
    locking (with its busy timeout) instead of shared-cache table locks."""
    from django.conf import settings

    default = settings.DATABASES["default"]
    if default["ENGINE"].endswith("sqlite3"):
        path = tmp_path_factory.mktemp("db") / "ups-test.sqlite3"
        default.setdefault("TEST", {})["NAME"] = str(path)


@pytest.fixture
def world_settings(settings):
    """Settings as the daemon reads them, with UPS creating the world."""
    settings.WORLD_CREATOR = "ups"
    settings.WORLD_ID = None
    settings.WORLD_SIMSPEED = None
    settings.UPS_TRUCKS = 3
    return settings


@pytest.fixture
def world(world_process, world_settings):
    """A world simulator in a process of its own, the daemon's settings pointing at it."""
    process = world_process()
    world_settings.WORLD_HOST = "127.0.0.1"
    world_settings.WORLD_UPS_PORT = process.ports[Side.UPS]
    world_settings.WORLD_SIMSPEED = FAST
    return process


class RunningDaemon:
    """The dispatch daemon in a thread of its own."""

    def __init__(self, daemon) -> None:
        from django.db import connections

        def run() -> None:
            try:
                daemon.run()
            finally:
                connections.close_all()

        self.daemon = daemon
        self.amazon_port = daemon.links[1].port
        self.thread = threading.Thread(target=run, name="ups-daemon", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop it and wait until it has closed its connections."""
        self.daemon.stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the daemon did not stop"


@pytest.fixture
def run_daemon():
    """``run_daemon()`` starts the dispatch daemon (its Amazon port a free one) in a
    thread; every daemon started is stopped after the test."""
    from amazon_ups.ups.dispatch.daemon import build_daemon

    started: list[RunningDaemon] = []

    def start() -> RunningDaemon:
        started.append(RunningDaemon(build_daemon("127.0.0.1", 0)))
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fleet():
    """World 1 with trucks 1 at (0, 0) and 2 at (100, 0)."""
    from amazon_ups.common.messaging import services as messaging

    messaging.put_setting("world_id", 1)
    dispatch.fleet_reset([(1, 0, 0), (2, 100, 0)], now=timezone.now())


@pytest.fixture
def alice(django_user_model):
    return make_user(django_user_model, "alice")


@pytest.fixture
def bob(django_user_model):
    return make_user(django_user_model, "bob")
