"""On SQLite, one daemon per side and database (common/daemon/sole.py): a second one
refuses to start, saying which process holds the database, and a killed daemon leaves
nothing behind that stops the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from amazon_ups.testing.waiting import wait_until


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "amazon_ups.cli", *args]


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    # No world answers on this port: the daemon keeps trying, which is all it needs here.
    environ.update(
        AMAZON_UPS_VAR=str(tmp_path / "var"), WORLD_AMAZON_PORT="9", WORLD_HOST="127.0.0.1"
    )
    subprocess.run(cli("amazon", "migrate", "-v", "0"), env=environ, check=True)
    return environ


def holder(lock: Path) -> str:
    return lock.read_text().strip() if lock.exists() else ""


def test_a_second_daemon_on_the_same_sqlite_database_refuses_to_start(tmp_path, env):
    lock = tmp_path / "var" / "amazon.sqlite3.amazon-daemon.lock"
    first = subprocess.Popen(cli("amazon", "daemon"), env=env, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: holder(lock) == str(first.pid), 60, "the first daemon's lock")
        second = subprocess.run(
            cli("amazon", "daemon"), env=env, capture_output=True, text=True, timeout=60
        )
        assert second.returncode != 0
        assert f"another amazon daemon (pid {first.pid}) is running" in second.stderr
        assert first.poll() is None  # the first one goes on
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    # Killed, it left its lock file but not its lock: the next daemon starts.
    third = subprocess.Popen(cli("amazon", "daemon"), env=env, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: holder(lock) == str(third.pid), 60, "the next daemon's lock")
    finally:
        third.terminate()
        assert third.wait(timeout=30) == 0
