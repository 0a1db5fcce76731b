"""Metrics for Prometheus: the site's figures from the database (``/operator/metrics``,
common/messaging/metrics.py), to staff or to a scraper with the token only, and a
daemon's own figures over HTTP (common/daemon/metrics.py)."""

from __future__ import annotations

import datetime
import urllib.request

import pytest
from django.db import transaction
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from amazon_ups.common.daemon import metrics as daemon_metrics
from amazon_ups.common.daemon.endpoint import Endpoint
from amazon_ups.common.mail.models import MAX_ATTEMPTS, OutgoingEmail
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import DaemonProcess
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol.channel import AU_LIMITS, Channel
from amazon_ups.ups.shipments.services import AMAZON
from tests.ups.helpers import pickup

pytestmark = pytest.mark.django_db

URL = "/operator/metrics"
TOKEN = "a-scraper-token-of-32-characters"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user("op", password="op-password-123", is_staff=True)


def test_only_staff_or_a_scraper_with_the_token_reads_the_metrics(
    client, settings, operator, alice
):
    settings.METRICS_TOKEN = TOKEN
    assert client.get(URL).status_code == 401  # anyone
    assert client.get(URL, HTTP_AUTHORIZATION="Bearer not-the-token").status_code == 401
    client.force_login(alice.user)  # a customer
    assert client.get(URL).status_code == 401
    client.logout()

    scraper = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert scraper.status_code == 200
    assert scraper["Content-Type"].startswith("text/plain; version=")
    client.force_login(operator)
    assert client.get(URL).status_code == 200


def test_without_a_token_no_bearer_gets_in(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get(URL, HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_the_metrics_say_what_the_database_holds(client, fleet, operator):
    with transaction.atomic():
        pickup(5)
        pickup(6)
        messaging.send(AMAZON, "accounts", au_pb2.AccountStatus(ups_account=1, exists=True))
        messaging.set_link_state(AMAZON, True, "connected", keepalive=3.0)
        messaging.record_refusals(AMAZON, 2, "no proof")
        messaging.set_aside_work(what="a test", ref="9", error=ValueError("broken"))
        mail = {"to": "a@example.com", "subject": "s", "body": "b"}
        OutgoingEmail.objects.create(ref="trying", attempts=MAX_ATTEMPTS - 1, **mail)
        OutgoingEmail.objects.create(ref="given-up", attempts=MAX_ATTEMPTS, **mail)
    client.force_login(operator)

    figures = samples(client.get(URL).content.decode())

    def value(name: str, **labels: str) -> float:
        return figures[(name, tuple(sorted(labels.items())))]

    def total(what: str) -> float:
        return sum(
            v
            for (name, labels), v in figures.items()
            if name == "amazon_ups_objects" and ("what", what) in labels
        )

    assert total("packages") == 2 and total("trucks") == 2
    assert value("amazon_ups_objects", what="packages", status="delivered") == 0
    assert value("amazon_ups_unacked_messages", peer=AMAZON) >= 1
    assert value("amazon_ups_unacked_oldest_age_seconds", peer=AMAZON) >= 0
    assert value("amazon_ups_link_connected", peer=AMAZON) == 1
    assert value("amazon_ups_link_silent", peer=AMAZON) == 0
    assert value("amazon_ups_link_refused_total", peer=AMAZON) == 2
    assert value("amazon_ups_dead_letters", state="open") == 1
    assert value("amazon_ups_dead_letters", state="resolved") == 0
    assert value("amazon_ups_emails_waiting") == 1
    assert value("amazon_ups_emails_given_up") == 1


def test_a_daemon_serves_its_own_figures_over_http_on_standby_and_leading():
    """What only the process knows: whether it leads, its links as its loop sees them,
    and re-sends."""
    channel = Channel(au_pb2.AmazonToUps, au_pb2.UpsToAmazon, limits=AU_LIMITS)
    amazon = Endpoint("amazon", channel, AMAZON)
    amazon.heard_at = 1.0
    channel.send(au_pb2.AccountStatus(ups_account=1, exists=True))
    assert channel.poll(0.0) is not None  # sent
    assert channel.poll(3600.0) is not None  # and again: no ack came
    process = daemon_metrics.DaemonCollector("ups")
    server = daemon_metrics.serve(process, "127.0.0.1", 0)

    def scraped() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            return samples(response.read().decode())

    try:
        on_standby = scraped()
        process.leads([amazon])
        figures = scraped()
    finally:
        server.shutdown()
        server.server_close()
    [active] = [key for key in on_standby if key[0] == "amazon_ups_daemon_active"]
    assert on_standby[active] == 0 and dict(active[1])["daemon"] == "ups"
    assert not [key for key in on_standby if key[0] == "amazon_ups_daemon_link_up"]
    link = (("daemon", "ups"), ("peer", AMAZON))
    assert figures[("amazon_ups_daemon_link_up", link)] == 1
    assert figures[("amazon_ups_daemon_resent_total", link)] == 1
    assert figures[("amazon_ups_daemon_in_flight", link)] == 1
    assert figures[("amazon_ups_daemon_link_heard_age_seconds", link)] > 0
    assert figures[active] == 1
    assert any(name == "process_cpu_seconds_total" for name, _ in figures)


def test_operators_see_the_active_daemon_and_the_standbys(client, operator):
    """From the rows each daemon keeps (common/daemon/lead.py): one active, one standby
    that reports, one standby silent too long (killed without a word)."""
    now = timezone.now()
    for pid, role, seen in [(1, "active", 5), (2, "standby", 2), (3, "standby", 60)]:
        at = now - datetime.timedelta(seconds=seen)
        DaemonProcess.objects.create(
            name="ups", host="ups-1", pid=pid, role=role, role_since=at, seen_at=at
        )
    DaemonProcess.objects.create(
        name="ups", host="ups-2", pid=4, role="stopped", role_since=now, seen_at=now
    )
    client.force_login(operator)

    daemons = client.get("/operator/status.json").json()["daemons"]
    assert [(d["pid"], d["role"], d["gone"]) for d in daemons] == [
        (1, "active", False),
        (2, "standby", False),
        (3, "standby", True),
    ]
    page = client.get("/operator/").content.decode()
    assert page.count('data-role="standby"') == 2 and 'data-gone="true"' in page

    figures = samples(client.get(URL).content.decode())
    roles = {
        dict(labels)["role"]: value
        for (name, labels), value in figures.items()
        if name == "amazon_ups_daemon_processes"
    }
    assert roles == {"active": 1, "standby": 1, "gone": 1}
