"""Bad settings from the environment, through the real command: a number that does not
parse names its variable, and a value the checks refuse stops a daemon before it
connects anywhere."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def amazon_ups(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "AMAZON_UPS_VAR": str(tmp_path), **env}
    environ.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "amazon_ups.cli", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WORLD_UPS_PORT", "abc", "WORLD_UPS_PORT must be a whole number, got 'abc'"),
        ("STUCK_AFTER", "5m", "STUCK_AFTER must be a number, got '5m'"),
        ("LOGIN_COOLOFF_MINUTES", "inf", "LOGIN_COOLOFF_MINUTES must be a number, got 'inf'"),
    ],
)
def test_a_number_that_does_not_parse_is_named(tmp_path, name, value, message):
    done = amazon_ups(tmp_path, "amazon", "check", **{name: value})
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_the_daemon_stops_at_start_on_a_bad_setting(tmp_path):
    # Port 1 on loopback: were the checks skipped, the daemon would fail differently.
    done = amazon_ups(tmp_path, "ups", "daemon", UPS_DISPATCH="smrt", WORLD_UPS_PORT="1")
    assert done.returncode == 1
    assert "(ups_dispatch.E001) UPS_DISPATCH is 'smrt': not a dispatch policy" in done.stderr
    assert "HINT: Set UPS_DISPATCH to one of smart, naive" in done.stderr
