"""How a daemon starts, through the real command on SQLite: what it would refuse only
once leading it refuses at once, and a port still held by the daemon that led before
is waited for rather than fatal."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile

import pytest

from amazon_ups.testing.waiting import wait_until


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "amazon_ups.cli", *args]


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    # No world answers on this port: the daemon keeps trying, which is all it needs here.
    environ.update(AMAZON_UPS_VAR=str(tmp_path / "var"), WORLD_UPS_PORT="9", WORLD_HOST="127.0.0.1")
    environ.pop("AU_LINK_SECRET", None)
    environ.pop("AU_LINK_SECRET_FILE", None)
    subprocess.run(cli("ups", "migrate", "-v", "0"), env=environ, check=True)
    return environ


def test_a_daemon_that_could_not_listen_as_set_says_so_before_standing_by(env):
    env["UPS_HOST"] = "192.0.2.10"  # TEST-NET-1: beyond loopback, and no secret
    done = subprocess.run(cli("ups", "daemon"), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "refusing to listen on '192.0.2.10' without a secret" in done.stderr
    assert "Traceback" not in done.stderr


def test_amazon_with_a_bad_ups_address_says_so_before_standing_by(env):
    env["UPS_ADDRESSES"] = "ups-1:34567,ups-2"
    done = subprocess.run(
        cli("amazon", "daemon"), env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "UPS_ADDRESSES" in done.stderr and "'ups-2' is not host:port" in done.stderr
    assert "Traceback" not in done.stderr


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_port_still_held_is_waited_for(env):
    """As when the daemon that led before, on this host, has not yet closed it."""
    held = socket.create_server(("127.0.0.1", 0))
    port = held.getsockname()[1]
    env["UPS_PORT"] = str(port)
    with tempfile.TemporaryFile() as log:
        daemon = subprocess.Popen(cli("ups", "daemon"), env=env, stderr=log)

        def logged() -> str:
            log.seek(0)
            return log.read().decode()

        try:
            wait_until(lambda: "waiting for the daemon that led before" in logged(), 60)
            assert daemon.poll() is None
            held.close()
            wait_until(lambda: "listening on 127.0.0.1" in logged(), 30, "the daemon to listen")
            assert listening(port)
        finally:
            held.close()
            daemon.terminate()
            assert daemon.wait(timeout=30) == 0, logged()
