"""How soon a side is served again when the host of its active daemon is cut off the
network for good, while orders keep coming; and that every order is still delivered
exactly once.

    .venv/bin/python benchmarks/host_loss.py [--rounds N] [--quick] [--rate R] [--keep]
        [--trace]

Needs root, ``ip netns`` and PostgreSQL's server programs, as ``tests/e2e/test_hosts.py``
(it says why and exits 0 where they are missing).

1. The system is deployed on eight hosts as the test does it
   (``amazon_ups.testing.deployment``): a PostgreSQL server of its own on ``db``, the
   world, each side's web, two daemons per side (one leads, one stands by).
2. The demo shopper places orders through the store's Buy form at ``--rate`` (2 a
   second) from start to end.
3. Rounds, UPS and Amazon in turn (``--rounds`` per side, 5; ``--quick`` 1): the host
   of the side's ACTIVE daemon is cut off (its link to the switch taken down: nothing in
   or out) and stays cut while the measures below are taken, all from the moment of the
   cut (same clock everywhere: the hosts are namespaces of one machine):

   - lead: the standby's ``DaemonProcess`` row says active (its ``role_since``,
     written by the standby as it takes the lock);
   - world hears: the new leader's first connect frame reaches the world, as the world
     logs it (``ups connect from ADDR refused`` while it still holds the lost leader's
     connection, or ``world N: ups connected from ADDR``), seen from outside the side;
   - world link: the new leader's ``LinkState`` of the world says connected (written
     after the cut);
   - Amazon-UPS link: both companies' ``LinkState`` of each other say connected (both
     written after the cut);
   - first delivery: the first order that Amazon records delivered after the cut (its
     ``delivered`` event): orders resume.

   Then the link is restored and the round waits until the cut daemon stands by again
   (one active and one standby per side) and every link is up, before the next one.
4. The orders stop; every order placed must be delivered exactly once on both sides
   and in the world's journal (the test's checks). Exit 1 if not.

Per side: p50 and max of each measure, next to the goal. The issue's goal for failover
is 2 s from the leader's loss to the standby's first message, for ``kill -9`` (the
operating system closes the lost leader's connections at once). A host cut off closes
nothing: the lock is released only when PostgreSQL ends the lost session, about
``DEAD_PEER_AFTER`` (10 s, ``common/settings.py``) after the cut, and a standby polls
every 0.5 s: about 10.5 s is the floor here, and a takeover (the lead, or the world
hearing the new leader) later than 12 s after the cut is marked SLOW. Progress to
stderr, figures to stdout. ``--keep`` keeps the logs (they are kept anyway when a check
fails); ``--trace`` adds ``trace.log`` to them: the database sessions that wait for a
lock or hold a transaction, four times a second.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from amazon_ups.testing import hosts as hosts_module  # noqa: E402
from amazon_ups.testing import pg_server  # noqa: E402
from amazon_ups.testing.deployment import (  # noqa: E402
    HOSTS,
    SIMSPEED,
    TRUCKS,
    Deployment,
    delivered_exactly_once,
    world_delivered_each,
)
from amazon_ups.testing.hosts import Hosts  # noqa: E402
from amazon_ups.testing.waiting import wait_until  # noqa: E402
from benchmarks.common.report import machine, percentile  # noqa: E402
from benchmarks.common.shop import Placing, Retry, client, order_plan  # noqa: E402

SIDES = ("ups", "amazon")
PEER = {"ups": "amazon", "amazon": "ups"}
DEAD_PEER_AFTER = 10.0  # common/settings.py: a cut-off session ends this long after the cut
STANDBY_POLL = 0.5  # a standby tries the lock this often
KILL_GOAL = 2.0  # the issue's: the leader's loss (kill -9) to the standby's first message
SLOW_AFTER = 12.0  # a takeover this much over the floor (~10.5 s) is worth a look: SLOW
MEASURE_FOR = 120.0  # seconds a round waits for its measures before giving up on them
LOOK_EVERY = 0.05
MEASURES = {
    "lead": "standby's row says active",
    "world_hears": "world hears the new leader",
    "world_link": "new leader linked to world",
    "peer_link": "Amazon-UPS link up again",
    "delivery": "first order delivered",
}
# The world's log: "2026-11-29 19:00:15,229 INFO amazon_ups.world.link: ups connect from
# 10.213.5.16:40022 refused: ..." or "... world 3: ups connected from 10.213.5.16:40022".
WORLD_CONTACT = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ [\w.]+: "
    r"(?:(?P<side1>amazon|ups) connect from (?P<addr1>[\d.]+):\d+ refused"
    r"|world \d+: (?P<side2>amazon|ups) connected from (?P<addr2>[\d.]+):\d+)"
)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def stamp(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment).strftime("%H:%M:%S.%f")[:-3]


@dataclass
class Round:
    side: str
    cut: str  # the host cut off
    cut_at: float = 0.0  # Unix time, right after the link went down
    new_leader: str | None = None
    seen: dict[str, float] = field(default_factory=dict)  # measure -> seconds after the cut
    standby_again: float | None = None  # seconds from the restore to two daemons again
    notes: list[str] = field(default_factory=list)


class Watcher:
    """Reads both databases (a connection each, from the root namespace, which no cut
    touches) and the world's log."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.connections = {
            side: psycopg.connect(deployment.urls[side], autocommit=True, connect_timeout=10)
            for side in SIDES
        }
        self.world_log = deployment.logs / "world.log"

    def close(self) -> None:
        for connection in self.connections.values():
            with contextlib.suppress(Exception):
                connection.close()

    def rows(self, side: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.connections[side].execute(sql, params).fetchall()

    def led_since(self, side: str, host: str, after: float) -> float | None:
        """When ``host``'s daemon took the lead, if its row says it leads since ``after``."""
        process = self.deployment.daemons[host]
        rows = self.rows(
            side,
            "SELECT role_since FROM messaging_daemonprocess "
            "WHERE name = %s AND pid = %s AND role = 'active'",
            side,
            process.pid,
        )
        if rows and rows[0][0].timestamp() > after:
            return float(rows[0][0].timestamp())
        return None

    def linked_since(self, side: str, peer: str, after: float) -> float | None:
        """When ``side`` recorded its link to ``peer`` (``world``: its world's) connected,
        if that was after ``after`` and it still says so."""
        pattern = "world%" if peer == "world" else peer
        rows = self.rows(
            side,
            "SELECT connected, changed_at FROM messaging_linkstate WHERE peer LIKE %s",
            pattern,
        )
        if len(rows) == 1 and rows[0][0] and rows[0][1].timestamp() > after:
            return float(rows[0][1].timestamp())
        return None

    def all_linked(self) -> bool:
        """Every daemon link says connected: the world's on both sides, and each
        company's of the other."""
        for side in SIDES:
            for peer in ("world%", PEER[side]):
                rows = self.rows(
                    side, "SELECT connected FROM messaging_linkstate WHERE peer LIKE %s", peer
                )
                if len(rows) != 1 or not rows[0][0]:
                    return False
        return True

    def first_delivery(self, after: float) -> float | None:
        moment = datetime.datetime.fromtimestamp(after, tz=datetime.UTC)
        rows = self.rows(
            "amazon",
            "SELECT MIN(at) FROM orders_orderevent WHERE status = 'delivered' AND at > %s",
            moment,
        )
        return float(rows[0][0].timestamp()) if rows and rows[0][0] is not None else None

    def world_contact(self, side: str, address: str, after: float) -> float | None:
        """When the world first logged a connect frame of ``side`` from ``address``
        (accepted or refused) after ``after``."""
        with contextlib.suppress(OSError):
            for line in self.world_log.read_text(errors="replace").splitlines():
                match = WORLD_CONTACT.match(line)
                if not match:
                    continue
                who = match["side1"] or match["side2"]
                where = match["addr1"] or match["addr2"]
                if who != side or where != address:
                    continue
                moment = datetime.datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                # The log's stamps are in milliseconds: a line of the same millisecond
                # as the cut counts.
                if moment >= after - 0.001:
                    return moment
        return None


class Tracer(threading.Thread):
    """``--trace``: every ``every`` seconds, the database sessions that wait for a lock,
    hold a transaction open or have run one statement for over a second, with who
    blocks them (``pg_blocking_pids``), appended to ``trace.log`` among the logs: what
    a slow takeover waited for."""

    SQL = (
        "SELECT pid, client_addr, datname, state, wait_event_type, wait_event, "
        "pg_blocking_pids(pid), now() - xact_start, now() - state_change, "
        "left(regexp_replace(query, '\\s+', ' ', 'g'), 160) "
        "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid != pg_backend_pid() "
        "AND (wait_event_type = 'Lock' OR state = 'idle in transaction' "
        "OR (state = 'active' AND now() - state_change > interval '1 second') "
        "OR cardinality(pg_blocking_pids(pid)) > 0)"
    )

    def __init__(self, url: str, path: Path, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.url, self.path, self.every = url, path, every
        self.stopped = threading.Event()

    def run(self) -> None:
        with self.path.open("a") as out:
            try:
                connection = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
                while not self.stopped.wait(self.every):
                    rows = connection.execute(self.SQL).fetchall()
                    now = stamp(time.time())
                    for row in rows:
                        out.write(f"{now} " + " | ".join(str(value) for value in row) + "\n")
                    out.flush()
            except Exception as error:  # the server stopped, at the end: say so, and end
                out.write(f"{stamp(time.time())} trace ends: {type(error).__name__}: {error}\n")


def one_round(deployment: Deployment, watcher: Watcher, side: str, number: str) -> Round:
    leader = deployment.wait_for_one_leader(side, 90)
    standby = next(h for h in deployment.roles(side) if h != leader)
    result = Round(side, leader)
    deployment.hosts.cut_link(leader)
    result.cut_at = cut_at = time.time()
    log(f"{number}: cut {leader} (the {side} leader) off at {stamp(cut_at)}; {standby} stands by")
    deadline = time.monotonic() + MEASURE_FOR
    try:
        while len(result.seen) < len(MEASURES) and time.monotonic() < deadline:
            found: dict[str, float | None] = {}
            if "lead" not in result.seen:
                found["lead"] = watcher.led_since(side, standby, cut_at)
            if "world_hears" not in result.seen:
                address = deployment.address(standby)
                found["world_hears"] = watcher.world_contact(side, address, cut_at)
            if "world_link" not in result.seen:
                found["world_link"] = watcher.linked_since(side, "world", cut_at)
            if "peer_link" not in result.seen:
                mine = watcher.linked_since(side, PEER[side], cut_at)
                theirs = watcher.linked_since(PEER[side], side, cut_at)
                found["peer_link"] = max(mine, theirs) if mine and theirs else None
            if "delivery" not in result.seen:
                found["delivery"] = watcher.first_delivery(cut_at)
            for measure, moment in found.items():
                if moment is not None:
                    result.seen[measure] = moment - cut_at
                    log(f"    +{moment - cut_at:6.2f} s  {MEASURES[measure]}")
            time.sleep(LOOK_EVERY)  # polling the databases and the log: nothing announces it
        result.new_leader = deployment.leader(side)
        for measure in MEASURES:
            if measure not in result.seen:
                result.notes.append(f"{MEASURES[measure]}: not seen within {MEASURE_FOR:.0f} s")
        lead = result.seen.get("lead")
        if lead is not None and lead > SLOW_AFTER:
            result.notes.append(f"the standby led {lead:.1f} s after the cut (> {SLOW_AFTER} s)")
    finally:
        deployment.hosts.restore_link(leader)
    restored = time.monotonic()
    log(f"    restored {leader}'s link after {time.time() - cut_at:.1f} s")
    process = deployment.daemons[leader]
    if process.poll() is not None:  # it should stand by in the same process
        result.notes.append(f"{leader}'s daemon exited ({process.returncode}); started again")
        deployment.start_daemon(leader)

    def two_again() -> bool:
        roles = deployment.roles(side)
        return roles.get(leader) == "standby" and sorted(roles.values()) == ["active", "standby"]

    try:
        wait_until(two_again, 90, f"{leader} to stand by again", every=0.1)
        result.standby_again = time.monotonic() - restored
        wait_until(watcher.all_linked, 90, "every link up again", every=0.1)
    except AssertionError as error:
        result.notes.append(str(error))
        raise
    finally:
        for note in result.notes:
            log(f"    NOTE: {note}")
    log(
        f"    {leader} stands by again {result.standby_again:.1f} s after the restore; "
        f"{deployment.leader(side)} leads {side}"
    )
    return result


def report(rounds: list[Round]) -> None:
    print(
        f"\nfrom the cut of the active daemon's host (kept cut while measuring), per side; "
        f"goal for failover (issue): {KILL_GOAL:g} s from the leader's loss to the standby's "
        f"first message, for kill -9. A host cut off has a floor of about "
        f"{DEAD_PEER_AFTER + STANDBY_POLL:g} s: PostgreSQL ends the lost session "
        f"{DEAD_PEER_AFTER:g} s after the cut (DEAD_PEER_*), the standby polls every "
        f"{STANDBY_POLL:g} s."
    )
    for side in SIDES:
        mine = [r for r in rounds if r.side == side]
        if not mine:
            continue
        print(f"\n  {side} ({len(mine)} cuts)")
        print(f"    {'measure':<34}{'p50':>9}{'max':>9}{'seen':>7}")
        for measure, label in MEASURES.items():
            values = [r.seen[measure] for r in mine if measure in r.seen]
            if not values:
                print(f"    {label:<34}{'-':>9}{'-':>9}{0:>4}/{len(mine)}")
                continue
            p50, worst = percentile(values, 0.5), max(values)
            mark = ""
            if measure in ("lead", "world_hears"):
                verdict = "ok" if worst <= SLOW_AFTER else "SLOW"
                mark = f"  (cut: floor ~{DEAD_PEER_AFTER + STANDBY_POLL:g} s, {verdict})"
            print(f"    {label:<34}{p50:>8.2f}s{worst:>8.2f}s{len(values):>4}/{len(mine)}{mark}")
        again = [r.standby_again for r in mine if r.standby_again is not None]
        if again:
            print(
                f"    (the cut daemon stood by again {percentile(again, 0.5):.1f} s (p50), "
                f"{max(again):.1f} s (max) after its link was restored)"
            )
    notes = [f"{r.side} cut of {r.cut}: {note}" for r in rounds for note in r.notes]
    if notes:
        print("\n  notes:")
        for note in notes:
            print(f"    {note}")
    sys.stdout.flush()


def place_orders(deployment: Deployment, rate: float) -> tuple[Placing, threading.Thread]:
    shopper = deployment.shopper()
    products = sorted(set(re.findall(r'name="product" value="(\d+)"', shopper.get("/"))), key=int)
    assert products, "no Buy form on the catalog page"
    placing = Placing(order_plan(100_000, products, seed=7), rate=rate)
    thread = threading.Thread(
        target=client, args=(shopper, placing, Retry(attempts=3, within=60)), daemon=True
    )
    thread.start()
    return placing, thread


def check(deployment: Deployment, placing: Placing, folder: Path) -> list[str]:
    """Every order delivered exactly once; the problems found (none: all is well)."""
    problems: list[str] = []
    orders = sorted(deployment.statuses())
    missing = set(placing.placed) - set(orders)
    if missing:
        problems.append(f"orders the store showed but no longer has: {sorted(missing)[:10]}")
    log(f"waiting for the {len(orders)} orders to be delivered...")
    try:
        deployment.wait_delivered(orders, 300, "every order to be delivered")
        world_id = delivered_exactly_once(deployment, orders)
    except AssertionError as error:
        problems.append(f"exactly once: {str(error)[:2000]}")
        world_id = None
    deployment.save_postgres_log()
    deployment.stop()
    if world_id is not None:
        try:
            world_delivered_each(folder, world_id, orders)
        except AssertionError as error:
            problems.append(f"the world's journal: {str(error)[:2000]}")
    print(
        f"\n{len(orders)} orders ({len(placing.placed)} placed by the shopper, "
        f"{len(placing.errors)} given up by it, {placing.retries} retries): "
        + ("each delivered exactly once (both sides and the world)" if not problems else "")
    )
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return problems


def run(args: argparse.Namespace, hosts: Hosts, folder: Path) -> list[str]:
    deployment = Deployment(hosts, folder)
    watcher: Watcher | None = None
    placing: Placing | None = None
    started = time.monotonic()
    try:
        deployment.start()
        log(f"{time.monotonic() - started:6.1f} s: everything up on {len(HOSTS)} hosts")
        watcher = Watcher(deployment)
        if args.trace:
            tracer = Tracer(deployment.urls["amazon"], deployment.logs / "trace.log")
            tracer.start()
        placing, thread = place_orders(deployment, args.rate)
        wait_until(
            lambda: watcher is not None and watcher.first_delivery(0.0) is not None,
            120,
            "the first order to be delivered",
        )
        log(f"{time.monotonic() - started:6.1f} s: orders flow at {args.rate:g}/s")
        rounds: list[Round] = []
        total = args.rounds * len(SIDES)
        for index in range(total):
            side = SIDES[index % len(SIDES)]
            rounds.append(one_round(deployment, watcher, side, f"cut {index + 1}/{total}"))
            log(f"{time.monotonic() - started:6.1f} s: {len(placing.placed)} orders placed")
        placing.stop.set()
        thread.join(60)
        report(rounds)
        return check(deployment, placing, folder)
    except BaseException:
        if placing is not None:
            placing.stop.set()
        deployment.show_logs(40)
        raise
    finally:
        if watcher is not None:
            watcher.close()
        deployment.stop()  # again after ``check``: then it finds nothing left to stop


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, help="cuts per side (default 5; --quick 1)")
    parser.add_argument("--quick", action="store_true", help="one cut per side")
    parser.add_argument("--rate", type=float, default=2.0, help="orders a second (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the logs, and say where")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="log the database sessions that wait or hold a transaction (logs/trace.log)",
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.rounds < 1 or args.rate <= 0:
        parser.error("--rounds and --rate must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"machine: {machine()}")
    if reason := hosts_module.unavailable() or pg_server.unavailable():
        print(f"skipped: {reason}")
        return 0
    print(
        f"parameters: {args.rounds} cuts per side ({', '.join(SIDES)} in turn), orders at "
        f"{args.rate:g}/s, {len(HOSTS)} hosts, world simspeed {SIMSPEED}, {TRUCKS} trucks"
    )
    # SIGTERM ends the run as Ctrl-C does: the hosts and the server are taken down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="host-loss-"))
    problems = ["did not finish"]
    try:
        with Hosts(HOSTS) as hosts:
            problems = run(args, hosts, folder)
    finally:
        if problems or args.keep:
            print(f"\nlogs kept in {folder / 'logs'}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"\n(benchmark took {time.perf_counter() - started:.1f} s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
