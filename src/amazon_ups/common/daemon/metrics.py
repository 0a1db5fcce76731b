"""A daemon's own figures for Prometheus, served on ``DAEMON_METRICS_HOST:PORT``.

What only the running process knows, read from it at each scrape (the database's
figures, the same whichever process answers, are on the sites' ``/operator/metrics``):

- ``amazon_ups_daemon_active{daemon, host, pid}``: 1 while this daemon holds its
  side's links (the one that runs), 0 on standby (a standby serves its figures too, so
  that Prometheus sees every process, and the links' appear once it leads);
- ``amazon_ups_daemon_link_up{daemon, peer}`` and
  ``amazon_ups_daemon_link_heard_age_seconds{daemon, peer}``: each link as the loop sees
  it, and how long ago bytes last came on it;
- ``amazon_ups_daemon_resent_total{daemon, peer}``: sub-messages sent again for want of
  an ack (a peer that drops or is slow to ack shows here first);
- ``amazon_ups_daemon_in_flight{daemon, peer}``: sub-messages sent and not acked yet;
- the process's CPU, memory and open files (``prometheus_client``'s own collectors).

The endpoint has no authentication of its own: it listens on loopback unless told
otherwise; expose it only on a network the operators trust.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import PROCESS_COLLECTOR, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from amazon_ups.common.daemon.endpoint import Endpoint

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

logger = logging.getLogger(__name__)

PREFIX = "amazon_ups_daemon"


class DaemonCollector(Collector):
    """The figures of daemon ``name`` in this process: its links while it leads
    (``endpoints``, set by ``command.run_side``), none on standby."""

    def __init__(self, name: str, endpoints: Sequence[Endpoint] = ()) -> None:
        self.name = name
        self.endpoints: Sequence[Endpoint] = endpoints
        self.active = bool(endpoints)

    def leads(self, endpoints: Sequence[Endpoint]) -> None:
        self.endpoints, self.active = endpoints, True

    def stands_by(self) -> None:
        self.endpoints, self.active = (), False

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        active = GaugeMetricFamily(
            f"{PREFIX}_active",
            "1 while this daemon holds its side's links",
            labels=["daemon", "host", "pid"],
        )
        active.add_metric([self.name, socket.gethostname(), str(os.getpid())], int(self.active))
        yield active
        labels = ["daemon", "peer"]
        up = GaugeMetricFamily(f"{PREFIX}_link_up", "1 if the link is up", labels=labels)
        heard = GaugeMetricFamily(
            f"{PREFIX}_link_heard_age_seconds",
            "Seconds since bytes last came on the link (none yet: absent)",
            labels=labels,
        )
        resent = CounterMetricFamily(
            f"{PREFIX}_resent", "Sub-messages sent again for want of an ack", labels=labels
        )
        in_flight = GaugeMetricFamily(
            f"{PREFIX}_in_flight", "Sub-messages sent and not acked yet", labels=labels
        )
        for endpoint in self.endpoints:
            key = [self.name, endpoint.peer or endpoint.name]
            up.add_metric(key, int(endpoint.up))
            if endpoint.heard_at:
                heard.add_metric(key, max(0.0, now - endpoint.heard_at))
            resent.add_metric(key, endpoint.channel.resent)
            in_flight.add_metric(key, len(endpoint.channel.session.outbox))
        yield from (up, heard, resent, in_flight)


def registry_of(collector: DaemonCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    registry.register(PROCESS_COLLECTOR)
    return registry


def serve(collector: DaemonCollector, host: str, port: int) -> WSGIServer:
    """Serve the daemon's figures over HTTP from a thread of their own; returns the
    server (``shutdown()`` it when the process stops)."""
    server, _thread = start_http_server(port, addr=host, registry=registry_of(collector))
    logger.info("%s: metrics on http://%s:%d/metrics", collector.name, host, server.server_port)
    return server
