"""The whole system deployed over hosts (``hosts.Hosts``), as it would be in production:
each piece on a machine of its own, one PostgreSQL server of our own for both companies
(``pg_server``) on the ``db`` host, and two daemons per side (one leads, one stands by).

    with Hosts(HOSTS) as hosts:
        deployment = Deployment(hosts, folder)
        try:
            deployment.start()              # every piece up, one leader per side
            shopper = deployment.shopper()  # the demo shopper, logged in to the store
            ...
            world_id = delivered_exactly_once(deployment, orders)
        finally:
            deployment.stop()
        world_delivered_each(folder, world_id, orders)  # the world's journal agrees

Used by ``tests/e2e/test_hosts.py`` and ``benchmarks/host_loss.py``.
"""

from __future__ import annotations

import functools
import os
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from amazon_ups.testing import pg_server
from amazon_ups.testing.hosts import Hosts
from amazon_ups.testing.system import DEMO, Browser, query
from amazon_ups.testing.waiting import wait_until
from amazon_ups.world.journal import Journal

HOSTS = ["db", "world", "amazon-web", "amazon-d1", "amazon-d2", "ups-web", "ups-d1", "ups-d2"]
WORLD_UPS_PORT, WORLD_AMAZON_PORT, AU_PORT, WEB_PORT = 12345, 23456, 34567, 8000
SIMSPEED = "1000"
TRUCKS = "4"
ME = [sys.executable, "-m", "amazon_ups.cli"]


class Deployment:
    """The pieces on their hosts, their logs in ``logs``, and what the test reads."""

    def __init__(self, hosts: Hosts, tmp: Path) -> None:
        self.hosts = hosts
        self.tmp = tmp
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.postgres = pg_server.PostgresServer(
            hosts["db"].address,
            str(hosts.subnet),
            wrap=lambda argv: hosts.command("db", argv),
        )
        self.secret = secrets.token_urlsafe(32)
        self.urls: dict[str, str] = {}
        self.daemons: dict[str, subprocess.Popen] = {}  # "ups-d1" -> its process

    def address(self, host: str) -> str:
        return self.hosts[host].address

    def env(self, project: str, host: str, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "AU_LINK_SECRET_FILE")
            and not k.startswith(("UPS_", "WORLD_"))
        }
        var = self.tmp / "var" / host
        var.mkdir(mode=0o700, parents=True, exist_ok=True)
        return {
            **env,
            "PYTHONUNBUFFERED": "1",
            "AMAZON_UPS_VAR": str(var),
            "DATABASE_URL": self.urls[project],
            "WORLD_HOST": self.address("world"),
            "WORLD_UPS_PORT": str(WORLD_UPS_PORT),
            "WORLD_AMAZON_PORT": str(WORLD_AMAZON_PORT),
            "WORLD_SIMSPEED": SIMSPEED,
            "UPS_PORT": str(AU_PORT),
            "UPS_TRUCKS": TRUCKS,
            "AU_LINK_SECRET": self.secret,
            "DJANGO_ALLOWED_HOSTS": f"{self.address(f'{project}-web')},localhost",
            "AMAZON_PUBLIC_URL": f"http://{self.address('amazon-web')}:{WEB_PORT}",
            "UPS_PUBLIC_URL": f"http://{self.address('ups-web')}:{WEB_PORT}",
            **extra,
        }

    def daemon_env(self, host: str) -> dict[str, str]:
        if host.startswith("ups"):
            return self.env("ups", host, UPS_HOST=self.address(host))
        # Every UPS daemon's host: only the one that leads listens.
        ups = [f"{self.address(h)}:{AU_PORT}" for h in ("ups-d1", "ups-d2")]
        return self.env("amazon", host, UPS_ADDRESSES=",".join(ups))

    # -- starting -----------------------------------------------------------------------

    def start(self) -> None:
        self.postgres.start()
        self.urls = self.postgres.create("amazon", "ups")
        for project in ("ups", "amazon"):
            for command in (["migrate", "--no-input", "-v", "0"], ["seed_demo"]):
                self.hosts.run(
                    f"{project}-web", [*ME, project, *command], self.env(project, f"{project}-web")
                )
        log = self.logs / "world.log"
        world_args = ["--host", self.address("world"), "--ups-port", str(WORLD_UPS_PORT)]
        world_args += ["--amazon-port", str(WORLD_AMAZON_PORT)]
        world_args += ["--state", str(self.tmp / "world.sqlite3")]
        self.hosts.popen("world", [*ME, "world", *world_args], os.environ.copy(), log)
        wait_until(lambda: "world ready" in log.read_text(), 60, "the world to listen")
        for host in ("ups-d1", "ups-d2", "amazon-d1", "amazon-d2"):
            self.start_daemon(host)
        for project in ("amazon", "ups"):
            host = f"{project}-web"
            argv = [*ME, project, "web", "--host", self.address(host), "--port", str(WEB_PORT)]
            self.hosts.popen(
                host, [*argv, "--workers", "1"], self.env(project, host), self.logs / f"{host}.log"
            )
        for project in ("amazon", "ups"):
            wait_until(functools.partial(self.healthy, project), 60, f"{project}'s web site")
        for side in ("amazon", "ups"):
            self.wait_for_one_leader(side)

    def start_daemon(self, host: str) -> subprocess.Popen:
        project = "ups" if host.startswith("ups") else "amazon"
        process = self.hosts.popen(
            host, [*ME, project, "daemon"], self.daemon_env(host), self.logs / f"{host}.log"
        )
        self.daemons[host] = process
        return process

    def healthy(self, project: str) -> bool:
        url = f"http://{self.address(f'{project}-web')}:{WEB_PORT}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    # -- what the daemons say about themselves --------------------------------------------

    def roles(self, side: str) -> dict[str, str]:
        """Each running daemon host of ``side`` and its process's role, by its row."""
        sql = f"SELECT pid, role FROM messaging_daemonprocess WHERE name = '{side}'"
        rows = dict(query(self.urls[side], sql))
        return {
            host: rows.get(process.pid, "unknown")
            for host, process in self.daemons.items()
            if host.startswith(side) and process.poll() is None
        }

    def leader(self, side: str) -> str | None:
        leaders = [host for host, role in self.roles(side).items() if role == "active"]
        return leaders[0] if len(leaders) == 1 else None

    def led_by_another(self, side: str, host: str) -> bool:
        return self.leader(side) not in (None, host)

    def wait_for_one_leader(self, side: str, timeout: float = 60) -> str:
        def settled() -> str | None:
            roles = self.roles(side)
            ok = sorted(roles.values()) == ["active", "standby"]
            return self.leader(side) if ok else None

        return wait_until(settled, timeout, f"one {side} daemon leading, one on standby")

    def kill(self, host: str) -> None:
        process = self.daemons[host]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    # -- orders -------------------------------------------------------------------------

    def shopper(self) -> Browser:
        shopper = Browser(f"http://{self.address('amazon-web')}:{WEB_PORT}", "amazon_csrftoken")
        shopper.get("/accounts/login/")
        status, url, _ = shopper.post("/accounts/login/", DEMO)
        assert status == 200 and "/accounts/login/" not in url, "the demo shopper cannot log in"
        return shopper

    def statuses(self) -> dict[int, str]:
        return dict(query(self.urls["amazon"], "SELECT id, status FROM orders_order"))

    def unacked_between_companies(self) -> int:
        """Messages of the Amazon-UPS link that wait for the peer's ack, both ways."""
        sql = (
            "SELECT COUNT(*) FROM messaging_outgoingmessage WHERE peer = '{}' AND acked_at IS NULL"
        )
        return sum(
            query(self.urls[side], sql.format(peer))[0][0]
            for side, peer in (("amazon", "ups"), ("ups", "amazon"))
        )

    def wait_delivered(self, orders: list[int], timeout: float, what: str) -> None:
        def done() -> bool:
            statuses = self.statuses()
            return all(statuses.get(order) == "delivered" for order in orders)

        wait_until(done, timeout, what, every=0.2)

    def save_postgres_log(self) -> None:
        """The server's log, copied among the others (``stop`` deletes its folder)."""
        if self.postgres.log.exists():
            (self.logs / "postgres.log").write_bytes(self.postgres.log.read_bytes())

    def show_logs(self, last: int = 80) -> None:
        self.save_postgres_log()
        for log in sorted(self.logs.iterdir()):
            lines = log.read_text(errors="replace").splitlines()
            print(f"\n===== {log.name} (last {min(last, len(lines))} of {len(lines)} lines)")
            print("\n".join(lines[-last:]))
        if self.urls:
            try:
                print("\n===== orders:", Counter(self.statuses().values()))
            except Exception as error:  # the logs above matter more than this
                print("\n===== orders: cannot be read:", error)

    def stop(self) -> None:
        self.hosts.stop_processes()
        self.postgres.stop()


def order_id(path: str) -> int:
    """The order's id, from its page's path (``/orders/12/``)."""
    return int(path.strip("/").split("/")[-1])


def delivered_exactly_once(deployment: Deployment, orders: list[int]) -> int:
    """Every order delivered once, one package each, on both sides; the world's id.
    Raises ``AssertionError`` saying what is wrong."""
    amazon, ups = deployment.urls["amazon"], deployment.urls["ups"]
    assert deployment.statuses() == {order: "delivered" for order in orders}
    delivered_events = query(
        amazon,
        "SELECT order_id, COUNT(*) FROM orders_orderevent WHERE status = 'delivered' "
        "GROUP BY order_id",
    )
    assert dict(delivered_events) == {order: 1 for order in orders}
    packages = query(ups, "SELECT id, status FROM shipments_package")
    assert dict(packages) == {order: "delivered" for order in orders}
    deliveries = query(
        ups,
        "SELECT package_id, COUNT(*) FROM shipments_packageevent WHERE kind = 'delivered' "
        "GROUP BY package_id",
    )
    assert dict(deliveries) == {order: 1 for order in orders}
    # Nothing set aside, and nothing left unacked between the companies.
    for url in (amazon, ups):
        assert query(url, "SELECT kind, what, peer, field, ref FROM messaging_deadletter") == []
    wait_until(
        lambda: deployment.unacked_between_companies() == 0,
        30,
        "every message between Amazon and UPS to be acked",
    )
    [(world_id,)] = query(amazon, "SELECT value FROM messaging_setting WHERE key = 'world_id'")
    return int(world_id)


def world_delivered_each(folder: Path, world_id: int, orders: list[int]) -> None:
    """The world (stopped: its journal is read here) made one package per order and
    delivered each. Raises ``AssertionError`` otherwise."""
    journal = Journal(folder / "world.sqlite3")
    try:
        world = journal.load().worlds[world_id]
    finally:
        journal.close()
    assert sorted(world.packages) == sorted(orders)
    assert {p.status for p in world.packages.values()} == {"DELIVERED"}
