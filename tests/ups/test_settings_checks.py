"""Settings are checked by Django's system checks: the shared ones (world, link, login
throttling, mail) and the dispatch ones; a bad value stops the dispatch daemon."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from amazon_ups.common import checks as common_checks
from amazon_ups.common.mail import checks as mail_checks
from amazon_ups.ups.dispatch import checks as dispatch_checks
from amazon_ups.ups.dispatch.management.commands import daemon as daemon_command


def issues(check_id: str) -> list[checks.CheckMessage]:
    return [message for message in checks.run_checks() if message.id == check_id]


def test_the_defaults_have_no_issues():
    assert [m for m in checks.run_checks() if m.level >= checks.WARNING] == []


@pytest.mark.parametrize(
    ("name", "value", "check_id", "text"),
    [
        ("WORLD_UPS_PORT", 0, common_checks.PORT_OUT_OF_RANGE, "WORLD_UPS_PORT is 0: not a port"),
        ("WORLD_AMAZON_PORT", 65536, common_checks.PORT_OUT_OF_RANGE, "WORLD_AMAZON_PORT"),
        ("UPS_PORT", -1, common_checks.PORT_OUT_OF_RANGE, "UPS_PORT is -1"),
        ("WORLD_ID", 0, common_checks.NOT_POSITIVE, "WORLD_ID is 0: it must be above 0"),
        ("WORLD_SIMSPEED", -5, common_checks.NOT_POSITIVE, "WORLD_SIMSPEED is -5"),
        ("STUCK_AFTER", 0.0, common_checks.NOT_POSITIVE, "STUCK_AFTER is 0.0"),
        ("AU_LINK_HANDSHAKE_TIMEOUT", -1.0, common_checks.NOT_POSITIVE, "AU_LINK_HANDSHAKE"),
        ("AXES_FAILURE_LIMIT", 0, common_checks.NOT_POSITIVE, "LOGIN_FAILURE_LIMIT"),
        ("AXES_COOLOFF_TIME", timedelta(0), common_checks.NOT_POSITIVE, "LOGIN_COOLOFF_MINUTES"),
        ("WORLD_CREATOR", "upss", common_checks.UNKNOWN_WORLD_CREATOR, "WORLD_CREATOR is 'upss'"),
        ("AU_LINK_SECRET", "too-short", common_checks.SECRET_TOO_SHORT, "9 characters long"),
        ("DAEMON_METRICS_PORT", 70000, common_checks.PORT_OUT_OF_RANGE, "DAEMON_METRICS_PORT"),
        ("METRICS_TOKEN", "short", common_checks.SECRET_TOO_SHORT, "METRICS_TOKEN has 5"),
        ("AU_LINK_TLS_CA", "/no/such/ca.pem", common_checks.TLS_FILE_MISSING, "no such file"),
        ("UPS_ADDRESSES", "ups-1:34567,ups-2", common_checks.BAD_ADDRESSES, "'ups-2' is not"),
        ("EMAIL_PORT", 70000, mail_checks.EMAIL_PORT_OUT_OF_RANGE, "EMAIL_PORT is 70000"),
        ("EMAIL_BACKEND", "no.such.Backend", mail_checks.UNKNOWN_EMAIL_BACKEND, "EMAIL_BACKEND"),
        ("UPS_DISPATCH", "smrt", dispatch_checks.UNKNOWN_DISPATCH, "UPS_DISPATCH is 'smrt'"),
        ("UPS_TRUCKS", 0, dispatch_checks.NOT_POSITIVE, "UPS_TRUCKS is 0"),
        ("UPS_TRUCK_CAPACITY", -1, dispatch_checks.NOT_POSITIVE, "UPS_TRUCK_CAPACITY is -1"),
        ("UPS_TRUCK_SHARE", 0, dispatch_checks.NOT_POSITIVE, "UPS_TRUCK_SHARE is 0"),
        ("UPS_LOADING_WAIT", 0.0, dispatch_checks.NOT_POSITIVE, "UPS_LOADING_WAIT is 0.0"),
    ],
)
def test_a_bad_value_is_an_error_naming_it_with_a_hint(settings, name, value, check_id, text):
    setattr(settings, name, value)
    [issue] = issues(check_id)
    assert issue.level == checks.ERROR
    assert text in issue.msg
    assert issue.hint


@pytest.mark.parametrize("value", [None, 1, 65535])
def test_optional_and_edge_values_pass(settings, value):
    settings.WORLD_ID = value
    settings.UPS_PORT = value or 1
    assert issues(common_checks.NOT_POSITIVE) == issues(common_checks.PORT_OUT_OF_RANGE) == []


def test_world_creator_and_dispatch_are_read_without_case(settings):
    settings.WORLD_CREATOR, settings.UPS_DISPATCH = "Amazon", "NAIVE"
    assert issues(common_checks.UNKNOWN_WORLD_CREATOR) == []
    assert issues(dispatch_checks.UNKNOWN_DISPATCH) == []


def test_the_secret_file_must_be_readable_and_long_enough(settings, tmp_path):
    settings.AU_LINK_SECRET = ""
    settings.AU_LINK_SECRET_FILE = str(tmp_path / "missing")
    [issue] = issues(common_checks.SECRET_FILE_UNREADABLE)
    assert "cannot read" in issue.msg
    short = tmp_path / "short"
    short.write_text("abc\n")
    settings.AU_LINK_SECRET_FILE = str(short)
    [issue] = issues(common_checks.SECRET_TOO_SHORT)
    assert "AU_LINK_SECRET_FILE" in issue.msg and "3 characters" in issue.msg
    short.write_text("x" * 16)
    assert issues(common_checks.SECRET_TOO_SHORT) == []


def test_a_tls_key_without_its_certificate(settings, tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("not checked here")
    settings.AU_LINK_TLS_KEY, settings.AU_LINK_TLS_CERT = str(key), ""
    [issue] = issues(common_checks.TLS_KEY_WITHOUT_CERT)
    assert "AU_LINK_TLS_CERT" in issue.msg
    assert issues(common_checks.TLS_FILE_MISSING) == []


def test_a_truck_share_above_the_capacity_is_a_warning(settings):
    settings.UPS_TRUCK_CAPACITY, settings.UPS_TRUCK_SHARE = 5, 6
    [issue] = issues(dispatch_checks.SHARE_ABOVE_CAPACITY)
    assert issue.level == checks.WARNING


def test_check_reports_every_bad_value_at_once(settings):
    settings.UPS_DISPATCH, settings.UPS_PORT = "smrt", 0
    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    assert dispatch_checks.UNKNOWN_DISPATCH in str(raised.value)
    assert common_checks.PORT_OUT_OF_RANGE in str(raised.value)


def test_the_daemon_refuses_to_start_with_a_bad_value(settings, monkeypatch):
    built = []
    monkeypatch.setattr(daemon_command, "build_daemon", lambda *args: built.append(args))
    settings.UPS_DISPATCH = "smrt"
    with pytest.raises(SystemCheckError, match="UPS_DISPATCH is 'smrt'"):
        call_command("daemon", skip_checks=False)
    assert built == []


@pytest.mark.django_db(transaction=True)  # on PostgreSQL it takes the lead first
def test_the_daemon_starts_when_the_settings_pass(monkeypatch):
    started = []

    class Daemon:
        lost_lead = False
        links: list = []

        def run(self, lead, stopped):
            started.append(True)

    monkeypatch.setattr(daemon_command, "build_daemon", lambda *args: Daemon())
    call_command("daemon", skip_checks=False)
    assert started == [True]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "it is empty"),
        ("127.0.0.1:8001", "it does not start with http:// or https://"),
        ("ftp://ups.example", "it does not start with http:// or https://"),
        ("http://", "it names no host"),
        ("http://ups.example:99999", "it is not a URL"),
        ("https://ups.example/?a=1", "it has a query or a fragment"),
        ("https://ups.example/#top", "it has a query or a fragment"),
    ],
)
@pytest.mark.parametrize("name", ["AMAZON_PUBLIC_URL", "UPS_PUBLIC_URL"])
def test_a_public_url_that_cannot_make_links(settings, name, value, problem):
    setattr(settings, name, value)
    [issue] = issues(common_checks.BAD_PUBLIC_URL)
    assert issue.msg.startswith(f"{name} is {value!r}: {problem}")
    assert name in issue.hint


@pytest.mark.parametrize(
    "value", ["https://ups.example", "http://[::1]:8001/", "https://x.org/ups"]
)
def test_public_urls_that_make_links(settings, value):
    settings.UPS_PUBLIC_URL = settings.AMAZON_PUBLIC_URL = value
    assert issues(common_checks.BAD_PUBLIC_URL) == []
