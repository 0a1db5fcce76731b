"""What the operators' page shows, as Prometheus metrics (``/operator/metrics``).

Everything here is read from the database when Prometheus scrapes, so every web
process of a site, on any host, answers the same and nothing is kept in a process:

- ``amazon_ups_objects{what, status}``: orders (the store), packages and trucks (the
  carrier) in each state (each site's ``OPERATOR_COUNTS``);
- ``amazon_ups_unacked_messages{peer}`` and ``amazon_ups_unacked_oldest_age_seconds{peer}``:
  our messages waiting for an ack, and how long the oldest has waited;
- ``amazon_ups_link_connected{peer}``, ``amazon_ups_link_heard_age_seconds{peer}`` and
  ``amazon_ups_link_silent{peer}``: each link as its daemon last recorded it, how long
  ago its peer last said anything, and whether that is silence (``link_health``);
- ``amazon_ups_link_refused_total{peer}``: connections refused for lack of proof;
- ``amazon_ups_dead_letters{state}``: what was set aside for an operator;
- ``amazon_ups_emails_waiting``: emails not sent yet, still being tried;
  ``amazon_ups_emails_given_up``: those no longer tried;
- ``amazon_ups_daemon_processes{name, role}``: daemon processes active, on standby, or
  gone (silent too long), on PostgreSQL (``common/daemon/lead.py``).

A daemon's own figures (re-sends, its links as it sees them) are on its own endpoint
(``common/daemon/metrics.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from amazon_ups.common.mail import selectors as mail_selectors
from amazon_ups.common.messaging import selectors
from amazon_ups.common.messaging.models import DeadLetter

PREFIX = "amazon_ups"


class DatabaseCollector(Collector):
    """Collects the figures above from the database, once per scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        objects = GaugeMetricFamily(
            f"{PREFIX}_objects",
            "Orders, packages or trucks in each state",
            labels=["what", "status"],
        )
        for group in import_string(settings.OPERATOR_COUNTS)():
            for state in group["states"]:
                objects.add_metric([group["what"], state["state"]], state["count"])
        yield objects

        unacked = GaugeMetricFamily(
            f"{PREFIX}_unacked_messages", "Our messages waiting for the peer's ack", labels=["peer"]
        )
        oldest_age = GaugeMetricFamily(
            f"{PREFIX}_unacked_oldest_age_seconds",
            "How long the oldest message waiting for the peer's ack has waited",
            labels=["peer"],
        )
        oldest = {}
        for row in selectors.unacked_by_peer():
            oldest[row["peer"]] = row["oldest"]
            unacked.add_metric([row["peer"]], row["count"])
            oldest_age.add_metric([row["peer"]], (now - row["oldest"]).total_seconds())
        yield unacked
        yield oldest_age

        connected = GaugeMetricFamily(
            f"{PREFIX}_link_connected", "1 if the daemon's link to the peer is up", labels=["peer"]
        )
        heard_age = GaugeMetricFamily(
            f"{PREFIX}_link_heard_age_seconds",
            "Seconds since the peer last said anything (or the link last changed)",
            labels=["peer"],
        )
        silent = GaugeMetricFamily(
            f"{PREFIX}_link_silent",
            "1 if a connected peer has said nothing for too long",
            labels=["peer"],
        )
        refused = CounterMetricFamily(
            f"{PREFIX}_link_refused",
            "Connections refused because they could not prove who they are",
            labels=["peer"],
        )
        for link in selectors.link_states():
            health = selectors.link_health(link, oldest.get(link.peer), now)
            connected.add_metric([link.peer], int(link.connected))
            heard_age.add_metric([link.peer], health["quiet_seconds"])
            silent.add_metric([link.peer], int(health["silent"]))
            refused.add_metric([link.peer], link.refused)
        yield from (connected, heard_age, silent, refused)

        letters = GaugeMetricFamily(
            f"{PREFIX}_dead_letters", "Dead letters in each state", labels=["state"]
        )
        by_state = selectors.dead_letters_by_state()
        for state, _label in DeadLetter.State.choices:
            letters.add_metric([state], by_state.get(state, 0))
        yield letters

        yield GaugeMetricFamily(
            f"{PREFIX}_emails_waiting",
            "Emails not sent yet, still being tried",
            value=mail_selectors.waiting_count(),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_emails_given_up",
            "Emails not sent after every try, for an operator to look at",
            value=mail_selectors.given_up_count(),
        )

        daemons = GaugeMetricFamily(
            f"{PREFIX}_daemon_processes",
            "Daemon processes of this site by role (gone: silent too long)",
            labels=["name", "role"],
        )
        roles: dict[tuple[str, str], int] = {}
        for process in selectors.daemon_processes(now):
            role = "gone" if process["gone"] else process["role"]
            roles[(process["name"], role)] = roles.get((process["name"], role), 0) + 1
        for (name, role), count in sorted(roles.items()):
            daemons.add_metric([name, role], count)
        yield daemons


def database_registry() -> CollectorRegistry:
    """A registry of the database's figures alone (no process metrics: a site's web
    processes are many, and which one answers a scrape is chance)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return registry
