"""The store's settings are checked by Django's system checks (the shared ones are
tested in tests/ups/test_settings_checks.py); a bad value stops the fulfilment daemon."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from amazon_ups.amazon.fulfilment.management.commands import daemon as daemon_command
from amazon_ups.amazon.orders import checks as orders_checks
from amazon_ups.common import checks as common_checks


def issues(check_id: str) -> list[checks.CheckMessage]:
    return [message for message in checks.run_checks() if message.id == check_id]


def test_the_defaults_have_no_issues():
    assert [m for m in checks.run_checks() if m.level >= checks.WARNING] == []


def test_the_daemon_refuses_to_start_with_a_bad_value(settings, monkeypatch):
    built = []
    monkeypatch.setattr(daemon_command, "build", lambda: built.append(True))
    settings.WORLD_CREATOR = "amazn"
    with pytest.raises(SystemCheckError) as raised:
        call_command("daemon", skip_checks=False)
    assert common_checks.UNKNOWN_WORLD_CREATOR in str(raised.value)
    assert "WORLD_CREATOR is 'amazn'" in str(raised.value)
    assert built == []


def test_an_unknown_session_cache_is_an_error(settings):
    settings.SESSION_CACHE = "redis"
    [issue] = issues(orders_checks.UNKNOWN_SESSION_CACHE)
    assert "SESSION_CACHE is 'redis'" in issue.msg


@pytest.mark.parametrize(
    ("value", "engine"),
    [("", "cached_db"), ("host", "cached_db"), ("none", "backends.db")],
)
def test_web_hosts_that_share_a_database_can_keep_sessions_there_alone(value, engine):
    """One host: a file cache in front of the database; several: the database alone (a
    host's own cache would keep a session another host logged out)."""
    env = {k: v for k, v in os.environ.items() if k != "SESSION_CACHE"}
    if value:
        env["SESSION_CACHE"] = value
    env["DJANGO_SETTINGS_MODULE"] = "amazon_ups.amazon.settings"
    script = "from django.conf import settings; print(settings.SESSION_ENGINE)"
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().endswith(engine)
