"""The store's settings are checked by Django's system checks (the shared ones are
tested in tests/ups/test_settings_checks.py); a bad value stops the fulfilment daemon."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from amazon_ups.amazon.fulfilment.management.commands import daemon as daemon_command
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
