"""How fast the whole system turns orders placed over HTTP into orders delivered, against
what the database alone allows.

    .venv/bin/python benchmarks/end_to_end.py [--orders N] [--database sqlite|postgres|both]
        [--simspeed S] [--trucks T] [--clients C] [--workers W] [--runs R] [--quick]

For each database kind (SQLite files in the var folder; or fresh PostgreSQL databases on
the server at TEST_POSTGRES_URL, default 127.0.0.1:5432, as the end-to-end tests make them):

1. Ceiling: a plain single-row INSERT + COMMIT loop on that database kind, before the
   system starts (a scratch SQLite file in the same var folder with the system's own
   pragmas, or a scratch PostgreSQL database on the same server): the rate at which one
   client can make single-row transactions durable there.
2. ``amazon-ups up`` (``amazon_ups.testing.system.System``) at a high simspeed. C clients (threads,
   each its own ``Browser`` logged in as the demo shopper) place N orders at once, as fast
   as they can: each order is the Buy form's POST and the order page it redirects to,
   for a random product (1-3 units) to a random destination.
3. Every order is waited for in the Amazon database (never through the web, to keep load
   off it) until it is delivered or failed, or until nothing moves for ``--stall`` s.
4. Figures: orders placed per second over HTTP; orders delivered per second (first order
   placed to last delivered, both from the database) next to the ceiling; order-to-delivered
   latency (``orders_orderevent`` 'delivered' at minus ``orders_order.created_at``); the
   orders' statuses over time; sub-messages sent per order (``messaging_outgoingmessage`` in
   both databases); on PostgreSQL, the write transactions per order (transaction ids used).
5. Bottleneck: CPU of every process (psutil, per phase and per order), and for the world and
   the two daemons, each one thread, where their wall time goes: on a CPU, waiting for a
   core (/proc/PID/schedstat), or asleep in which system call (/proc/PID/syscall sampled
   100 times a second: idle in the loop's select, waiting for PostgreSQL's answer, a
   daemon gathering by choice (DAEMON_GATHER_SECONDS), ...). A process whose thread is
   never idle nor gathering is the bottleneck even below 100% CPU.

The summary puts each run's headline figures (with the system's CPU per delivered order:
every process of the system and, on PostgreSQL, the server, not this benchmark's clients)
against the goals. A machine shared with others slows runs in bursts, by a quarter and
more from one run to the next: ``--runs R`` runs each database R times, taking them in
turn so that a slow spell falls on both, and the goals are weighed on their median.

Progress goes to stderr, figures to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``tests`` importable
    sys.path.insert(0, str(ROOT))

from amazon_ups.testing import postgres  # noqa: E402
from amazon_ups.testing.system import Browser, System, query  # noqa: E402
from benchmarks.common.report import Bar, machine, ms, percentile  # noqa: E402
from benchmarks.common.shop import Placing, client, log_in, order_plan  # noqa: E402
from benchmarks.common.system import (  # noqa: E402
    CHILDREN,
    PIPELINE,
    RUNNING,
    WEB,
    as_datetime,
    delivery_times,
    doing,
    outgoing,
    postgres_or_none,
    postgres_version,
    stage_times,
    status_counts,
    stop_leftovers,
)

CEILING_ROWS = 2_000
POLL = 0.25  # seconds between looks at the Amazon database while waiting
SUPERVISOR = "supervisor (amazon-ups up)"
BENCHMARK = "this benchmark (clients, log reader)"
POSTGRES = "PostgreSQL server"


# -- CPU of every process of the system ----------------------------------------------------


def busy_cpu() -> float:
    """CPU seconds the whole machine has spent running something (all cores, all
    processes); guest time is already in user time, steal is another machine's."""
    times = psutil.cpu_times()._asdict()
    return sum(times.get(name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))


@dataclass
class CpuSnapshot:
    at: float
    seconds: dict[str, float]  # role -> CPU seconds used so far
    machine: float


class CpuMeter:
    """CPU seconds per role: each child of ``amazon-ups up`` (a web site with its gunicorn
    workers), the supervisor, this process, the PostgreSQL server, and every other process
    on the machine by name (to tell noise from the system). A process that exits keeps
    counting with the last figure seen for it; one born between two samples counts whole."""

    EVERY = 0.5  # seconds between samples in the loops (phase boundaries always sample)

    def __init__(self, system: System) -> None:
        self.system = system
        self.processes: dict[int, psutil.Process] = {}
        self.roles: dict[int, str] = {}
        self.last: dict[int, float] = {}
        self.taken = 0.0

    def _known(self) -> dict[int, str]:
        found = {os.getpid(): BENCHMARK}
        if self.system.proc is not None:
            found[self.system.proc.pid] = SUPERVISOR
        for child, role in CHILDREN.items():
            try:
                pid = self.system.pid(child)
                found[pid] = role
                if child in WEB:
                    for worker in psutil.Process(pid).children(recursive=True):
                        found[worker.pid] = role
            except (OSError, ValueError, psutil.Error):
                continue
        return found

    def _role(self, process: psutil.Process) -> str:
        name = process.info["name"] or "?"
        if name in ("postgres", "postmaster"):
            return POSTGRES
        if name.startswith("python"):
            words = [w for w in process.info["cmdline"] or [] if not w.startswith("-")]
            name = " ".join(Path(w).name for w in words[:3]) or name
        return f"other: {name[:40]}"

    def maybe_sample(self) -> None:
        if time.monotonic() - self.taken >= self.EVERY:
            self.sample()

    def sample(self) -> CpuSnapshot:
        now = self.taken = time.monotonic()
        known = self._known()
        for process in psutil.process_iter(["name", "cmdline"]):
            if process.pid not in self.processes:
                self.processes[process.pid] = process
                self.roles[process.pid] = known.get(process.pid) or self._role(process)
            elif process.pid in known:  # a gunicorn worker seen before its master's scan
                self.roles[process.pid] = known[process.pid]
        for pid, process in list(self.processes.items()):
            try:
                times = process.cpu_times()
            except psutil.Error:
                del self.processes[pid]  # gone: its last figure stays in self.last
                continue
            self.last[pid] = times.user + times.system
        seconds: dict[str, float] = {}
        for pid, cpu in self.last.items():
            seconds[self.roles[pid]] = seconds.get(self.roles[pid], 0.0) + cpu
        return CpuSnapshot(now, seconds, busy_cpu())


@dataclass
class CpuPhase:
    name: str
    seconds: float
    per_role: dict[str, float]  # CPU seconds in the phase
    machine: float

    @classmethod
    def between(cls, name: str, a: CpuSnapshot, b: CpuSnapshot) -> CpuPhase:
        roles = set(a.seconds) | set(b.seconds)
        per_role = {r: max(0.0, b.seconds.get(r, 0.0) - a.seconds.get(r, 0.0)) for r in roles}
        return cls(name, b.at - a.at, per_role, b.machine - a.machine)

    def load(self, role: str) -> float:
        """Share of one core ``role`` used in this phase."""
        return self.per_role.get(role, 0.0) / self.seconds if self.seconds > 0 else 0.0

    def others(self) -> float:
        """Share of a core used by other processes (or by ones too short-lived to see)."""
        known = sum(v for r, v in self.per_role.items() if not r.startswith("other: "))
        return max(0.0, self.machine - known) / self.seconds if self.seconds > 0 else 0.0

    def top_others(self, count: int = 3) -> list[tuple[str, float]]:
        others = [(r[7:], v) for r, v in self.per_role.items() if r.startswith("other: ")]
        return sorted(others, key=lambda item: item[1], reverse=True)[:count]


WHOLE = "whole run"
TRACED = ("world", "ups-d", "amzn-d")  # single-threaded: /proc/PID/syscall tells it all
DAEMONS = (CHILDREN["ups-d"], CHILDREN["amzn-d"])


class WaitSampler(threading.Thread):
    """Where the world and the two daemons spend their wall time. From
    /proc/PID/schedstat at each phase boundary: time on a CPU and time runnable but
    waiting for one. Sampled 100 times a second: the state of each, and when it sleeps,
    the system call it sleeps in (/proc/PID/syscall)."""

    EVERY = 0.01

    def __init__(self, system: System) -> None:
        super().__init__(daemon=True)
        self.system = system
        self.phase = ""
        self.samples: dict[str, dict[str, Counter[str]]] = {}  # phase -> role -> what
        self.sched: dict[str, dict[str, tuple[float, float]]] = {}  # phase -> role -> times
        self._start: dict[str, tuple[float, float]] = {}
        self._first: dict[str, tuple[float, float]] = {}
        self._done = threading.Event()
        self._pids: dict[str, int] = {}
        self._pids_at = 0.0

    def pids(self) -> dict[str, int]:
        now = time.monotonic()
        if now - self._pids_at > 1.0:  # a restarted child has a new pid
            self._pids_at = now
            pids = {}
            for child in TRACED:
                with contextlib.suppress(OSError, ValueError):
                    pids[CHILDREN[child]] = self.system.pid(child)
            self._pids = pids
        return self._pids

    def _schedstat(self) -> dict[str, tuple[float, float]]:
        times = {}
        for role, pid in self.pids().items():
            with contextlib.suppress(OSError, ValueError):
                on_cpu, waiting, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
                times[role] = (int(on_cpu) / 1e9, int(waiting) / 1e9)
        return times

    def mark(self, phase: str) -> None:
        """End the current phase (if any) and start ``phase`` ("" to stop counting)."""
        now = self._schedstat()
        if self.phase:
            self.sched[self.phase] = self._since(self._start, now)
        if not phase and self._first:
            self.sched[WHOLE] = self._since(self._first, now)
        if phase and not self._first:
            self._first = now
            self.samples[WHOLE] = {}
        self._start = now
        self.phase = phase
        if phase:
            self.samples.setdefault(phase, {})

    @staticmethod
    def _since(
        start: dict[str, tuple[float, float]], now: dict[str, tuple[float, float]]
    ) -> dict[str, tuple[float, float]]:
        # A child restarted in between has counters from zero: count it from there.
        return {
            role: (max(0.0, now[role][0] - then[0]), max(0.0, now[role][1] - then[1]))
            for role, then in start.items()
            if role in now
        }

    def stop(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join()

    def run(self) -> None:
        while not self._done.wait(self.EVERY):  # sampling: nothing to wait on but time
            phase = self.phase
            if not phase:
                continue
            for role, pid in self.pids().items():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    what = doing(pid)
                    if what == "futex" and role in DAEMONS:
                        what = GATHERING
                    self.samples[phase].setdefault(role, Counter())[what] += 1
                    self.samples[WHOLE].setdefault(role, Counter())[what] += 1


# -- 1. the ceiling --------------------------------------------------------------------------


def sqlite_ceiling(path: Path, rows: int) -> float:
    """Single-row INSERT + COMMIT per row, with the system's own pragmas and BEGIN
    IMMEDIATE (common/settings.py): rows per second."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(
            "CREATE TABLE scratch (id INTEGER PRIMARY KEY, body TEXT, at REAL NOT NULL)"
        )
        start = time.perf_counter()
        for n in range(rows):
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT INTO scratch (body, at) VALUES (?, ?)", (f"row {n}", time.time())
            )
            connection.execute("COMMIT")
        seconds = time.perf_counter() - start
        row = connection.execute("SELECT count(*) FROM scratch").fetchone()
        assert row is not None and row[0] == rows
    finally:
        connection.close()
    return rows / seconds


def postgres_ceiling(url: str, rows: int) -> float:
    """Single-row INSERT + COMMIT per row on a scratch database: rows per second."""
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute(
            "CREATE TABLE scratch (id bigserial PRIMARY KEY, body text, at double precision)"
        )
        connection.commit()
        start = time.perf_counter()
        for n in range(rows):
            connection.execute(
                "INSERT INTO scratch (body, at) VALUES (%s, %s)", (f"row {n}", time.time())
            )
            connection.commit()
        seconds = time.perf_counter() - start
        row = connection.execute("SELECT count(*) FROM scratch").fetchone()
        assert row is not None and row[0] == rows
    return rows / seconds


# -- one run ---------------------------------------------------------------------------------


@dataclass
class Run:
    kind: str
    skipped: bool = False
    ceiling: float = 0.0
    placing: Placing | None = None
    placing_seconds: float = 0.0
    placed_in_db: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    delivered_rate: float = 0.0  # first placed -> last delivered
    span: float = 0.0
    latencies: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)  # status -> seconds in it
    finished: bool = False
    problem: str = ""
    cpu: list[CpuPhase] = field(default_factory=list)
    waits: WaitSampler | None = None
    timeline: list[tuple[float, Counter[str]]] = field(default_factory=list)
    xids: int = 0  # write transactions on the PostgreSQL server during the run
    login_seconds: float = 0.0

    def timeline_delivered_at(self, seconds: float) -> int | None:
        """Orders delivered by ``seconds`` after the first was sent (the last look before)."""
        seen = [statuses["delivered"] for at, statuses in self.timeline if at <= seconds]
        return seen[-1] if seen else None

    def phase_seconds(self, phase: str) -> float:
        return next((p.seconds for p in self.cpu if p.name == phase), 0.0)

    def system_cpu(self) -> float:
        """The system's CPU seconds per delivered order over the whole run (this
        benchmark's own clients not counted); nan without figures."""
        orders = self.statuses["delivered"]
        if not self.cpu or not orders:
            return math.nan
        whole = self.cpu[-1]
        return sum(whole.per_role.get(role, 0.0) for role in system_roles(self.kind)) / orders

    outbox: dict[str, list[tuple[str, str, int, int]]] = field(default_factory=dict)
    # Daemon -> (statements, turns that worked), from the line each logs as it stops.
    daemon_work: dict[str, tuple[int, int]] = field(default_factory=dict)
    log_lines: int = 0
    wall: float = 0.0


def run_one(kind: str, args: argparse.Namespace, directory: Path) -> Run:
    result = Run(kind)
    started = time.monotonic()
    var = directory / kind / "var"
    var.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        if kind == "sqlite":
            print(f"\n== SQLite (files in {var}) ==", flush=True)
            result.ceiling = sqlite_ceiling(var / "ceiling.sqlite3", CEILING_ROWS)
            amazon_db, ups_db, extra = str(var / "amazon.sqlite3"), str(var / "ups.sqlite3"), []
        else:
            urls = postgres_or_none(stack, "amazon", "ups", "ceiling")
            if urls is None:
                result.problem = f"no PostgreSQL server answers at {postgres.shown()}"
                result.skipped = True
                print(f"\n== PostgreSQL: skipped ({result.problem}) ==", flush=True)
                return result
            print(f"\n== {postgres_version()}: fresh databases {', '.join(urls.values())} ==")
            sys.stdout.flush()
            result.ceiling = postgres_ceiling(urls["ceiling"], CEILING_ROWS)
            amazon_db, ups_db = urls["amazon"], urls["ups"]
            extra = ["--amazon-db", amazon_db, "--ups-db", ups_db]
        try:
            run_system(result, args, var, extra, amazon_db, ups_db)
        except Exception as error:
            result.problem = result.problem or f"{type(error).__name__}: {error}"
    result.wall = time.monotonic() - started
    report(result, args)
    return result


def next_xid() -> int:
    """The transaction id PostgreSQL gives next: the server's count of write transactions
    (read-only ones take none)."""
    ((xid,),) = query(postgres.SERVER_URL, "SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
    return int(xid)


class Probes:
    """Everything watched while the system works: CPU per process, where the daemons
    wait, and the orders' statuses over time (from the Amazon database)."""

    def __init__(self, system: System, database: str, result: Run) -> None:
        self.meter = CpuMeter(system)
        self.waits = WaitSampler(system)
        self.database = database
        self.result = result
        self.snapshots: list[tuple[str, CpuSnapshot]] = []
        self.origin = 0.0  # when the first order was sent
        self.looked = 0.0
        self.latest: Counter[str] = Counter()
        self.waits.start()

    def phase(self, name: str) -> None:
        """A phase boundary: ``name`` starts ("" at the end)."""
        snapshot = self.meter.sample()
        if self.snapshots:
            previous, start = self.snapshots[-1]
            self.result.cpu.append(CpuPhase.between(previous, start, snapshot))
        self.snapshots.append((name, snapshot))
        self.waits.mark(name)
        if self.result.kind == "postgres":
            if name == "placing":
                self.result.xids = -next_xid()
            elif not name:
                self.result.xids += next_xid()
        if not name:
            self.waits.stop()
            first, last = self.snapshots[0][1], self.snapshots[-1][1]
            self.result.cpu.append(CpuPhase.between(WHOLE, first, last))
            self.result.waits = self.waits

    def statuses(self, every: float = 0.0) -> Counter[str] | None:
        """The orders' statuses, at most every ``every`` s (None when not looked at)."""
        now = time.monotonic()
        if now - self.looked < every:
            return None
        self.looked = now
        statuses = self.latest = status_counts(self.database)
        self.result.timeline.append((now - self.origin, statuses))
        self.meter.maybe_sample()
        return statuses


def run_system(
    result: Run,
    args: argparse.Namespace,
    var: Path,
    extra: list[str],
    amazon_db: str,
    ups_db: str,
) -> None:
    options = [
        *("--simspeed", str(args.simspeed), "--trucks", str(args.trucks)),
        *("--workers", str(args.workers)),  # after the harness's --workers 1: the last counts
        *extra,
    ]
    system = System(var, options)
    probes = None
    try:
        system.start()
        start = time.monotonic()
        shoppers, products = log_in(system, args.clients)
        result.login_seconds = time.monotonic() - start
        probes = Probes(system, amazon_db, result)
        placing = Placing(order_plan(args.orders, products, args.seed))
        result.placing = placing
        place_all(shoppers, placing, probes, result)
        wait_for_deliveries(result, args, probes)
        result.outbox = {"Amazon": outgoing(amazon_db), "UPS": outgoing(ups_db)}
    except Exception as error:
        result.problem = result.problem or f"{type(error).__name__}: {error}"
    finally:
        result.log_lines = len(system.output)
        tail = system.log(60)  # as it was when things went wrong, before the stop's lines
        system.stop()  # first: nothing below may leave the system running
        if left := stop_leftovers(system):
            result.problem = result.problem or f"still running after the stop: {left}"
        if probes is not None:
            probes.waits.stop()
        if not system.said("stopped"):
            result.problem = result.problem or "amazon-ups up did not stop cleanly"
        result.daemon_work = daemon_work(system.output)
        if result.problem or not result.finished:
            print(f"  the system's log (last 60 lines):\n{tail}", file=sys.stderr)


def place_all(shoppers: list[Browser], placing: Placing, probes: Probes, result: Run) -> None:
    threads = [threading.Thread(target=client, args=(s, placing)) for s in shoppers]
    bar = Bar("placing  ", len(placing.orders))
    probes.origin = bar.start = time.monotonic()
    probes.phase("placing")
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        probes.statuses(every=0.5)
        bar.show(
            placing.done(), f"delivered {probes.latest['delivered']}, errors {len(placing.errors)}"
        )
        time.sleep(POLL)  # threads have no joinable-any; look four times a second
    for thread in threads:
        thread.join()
    probes.phase("delivering")
    bar.close(
        placing.done(), f"delivered {probes.latest['delivered']}, errors {len(placing.errors)}"
    )
    assert placing.first_sent is not None and placing.last_done is not None
    result.placing_seconds = placing.last_done - placing.first_sent


def wait_for_deliveries(result: Run, args: argparse.Namespace, probes: Probes) -> None:
    statuses = probes.statuses()
    assert statuses is not None
    result.placed_in_db = total = sum(statuses.values())
    bar = Bar("delivered", total)
    bar.start = probes.origin
    deadline = time.monotonic() + args.timeout
    moved_at, last_seen = time.monotonic(), statuses
    while True:
        statuses = probes.statuses()
        assert statuses is not None
        done = statuses["delivered"] + statuses["failed"]
        bar.show(statuses["delivered"], f"failed {statuses['failed']}" * bool(statuses["failed"]))
        now = time.monotonic()
        if statuses != last_seen:
            moved_at, last_seen = now, statuses
        if done >= total:
            result.finished = True
            break
        if now - moved_at > args.stall:
            result.problem = f"nothing moved for {args.stall:.0f} s"
            break
        if now > deadline:
            result.problem = f"not all delivered after {args.timeout:.0f} s"
            break
        time.sleep(POLL)  # polling the database: nothing pushes a change to us here
    probes.phase("")
    bar.close(statuses["delivered"])
    result.statuses = statuses
    times = delivery_times(probes.database)
    result.latencies = [(delivered - created).total_seconds() for created, delivered in times]
    result.stages = stage_times(probes.database)
    if times:
        ((first,),) = query(probes.database, "SELECT MIN(created_at) FROM orders_order")
        last = max(delivered for _, delivered in times)
        result.span = (last - as_datetime(first)).total_seconds()
        result.delivered_rate = len(times) / result.span if result.span > 0 else 0.0


# -- report ----------------------------------------------------------------------------------


def report(result: Run, args: argparse.Namespace) -> None:
    name = "SQLite" if result.kind == "sqlite" else "PostgreSQL"
    print(f"\n1. Ceiling: plain single-row INSERT + COMMIT on {name}, {CEILING_ROWS:,} rows")
    what = (
        "scratch file in the var folder, WAL, synchronous=NORMAL, BEGIN IMMEDIATE"
        if result.kind == "sqlite"
        else "scratch database on the same server, one connection"
    )
    print(f"   {result.ceiling:>10,.0f} rows/s  ({what})")
    placing = result.placing
    if placing is None:
        print(f"\n   the run did not get as far as placing orders: {result.problem}")
        return
    placed = len(placing.placed)
    print(f"\n2. Placing: {len(placing.orders):,} orders by {args.clients} HTTP clients at once")
    print(f"   ({args.clients} shoppers logged in first, in {result.login_seconds:.1f} s)")
    print(
        f"   {placed:,} placed in {result.placing_seconds:.2f} s: "
        f"{placed / result.placing_seconds:>8,.1f} orders/s over HTTP "
        f"(each a POST and the order page it redirects to)"
    )
    if placing.latencies:
        lat = placing.latencies
        print(
            f"   time per order seen by a client: p50 {ms(percentile(lat, 0.5))}, "
            f"p99 {ms(percentile(lat, 0.99))}, max {ms(max(lat))}"
        )
    print(
        f"   errors: {len(placing.errors)}, retried attempts: {placing.retries}; "
        f"orders in the database: {result.placed_in_db:,}"
    )
    for error in placing.errors[:3]:
        print(f"     e.g. {error}")

    delivered = result.statuses["delivered"]
    print(f"\n3. Delivering (waited for in the Amazon database, every {POLL} s)")
    states = ", ".join(f"{s} {n:,}" for s, n in result.statuses.most_common())
    print(f"   {delivered:,} of {result.placed_in_db:,} delivered ({states})")
    if result.problem:
        print(f"   NOT FINISHED: {result.problem}")
    if result.span:
        print(
            f"   first order placed -> last delivered: {result.span:.2f} s: "
            f"{result.delivered_rate:>8,.1f} orders delivered/s"
        )
    if result.latencies:
        lat = result.latencies
        print(
            "   order-to-delivered latency (delivered event at - order created_at): "
            f"p50 {ms(percentile(lat, 0.5))}, p90 {ms(percentile(lat, 0.9))}, "
            f"p99 {ms(percentile(lat, 0.99))}, max {ms(max(lat))}, min {ms(min(lat))}"
        )
    report_stages(result)
    report_timeline(result)
    report_messages(result, delivered)
    report_daemon_work(result, delivered)
    report_cpu(result)
    report_waits(result)
    report_bottleneck(result)
    if result.xids > 0 and delivered:
        seconds = result.phase_seconds(WHOLE)
        writes = result.xids / seconds if seconds else 0.0
        print(
            "\n   write transactions on the PostgreSQL server while placing and delivering "
            f"(transaction ids used):\n   {result.xids:,} in {seconds:.1f} s, "
            f"{result.xids / delivered:.1f} per order, {writes:,.0f}/s = "
            f"{writes / result.ceiling:.1%} of the ceiling's commit rate"
        )
    if result.delivered_rate and result.ceiling:
        print("\n   side by side")
        print(f"   orders delivered:         {result.delivered_rate:>10,.1f}/s")
        print(f"   ceiling (INSERT+COMMIT):  {result.ceiling:>10,.0f} rows/s")
        ratio = result.delivered_rate / result.ceiling
        print(
            f"   ratio:                    {ratio:>10.2%} of the ceiling "
            f"(the ceiling is {1 / ratio:,.0f}x)"
        )
    print(f"\n   ({name} run took {result.wall:.1f} s, system start and stop included)")
    sys.stdout.flush()


def report_stages(result: Run) -> None:
    """Where the latency goes: the time delivered orders spent in each status."""
    if not any(result.stages.values()):
        return
    print("   time in each status of the delivered orders (until the next they reached):")
    print("   " + f"{'':>12}" + "".join(f"{label:>10}" for label in ("p50", "p90", "mean")))
    for status, seconds in result.stages.items():
        if seconds:
            cells = (percentile(seconds, 0.5), percentile(seconds, 0.9), statistics.mean(seconds))
            print("   " + f"{status:>12}" + "".join(f"{ms(cell):>10}" for cell in cells))


def report_timeline(result: Run, rows: int = 12) -> None:
    """The orders' statuses as the run went, from the Amazon database."""
    if not result.timeline:
        return
    end = result.timeline[-1][0]
    step = end / (rows - 1) if end > 0 else 1.0
    chosen: list[tuple[float, Counter[str]]] = []
    due = 0.0
    for at, statuses in result.timeline:
        if at >= due or (at, statuses) == result.timeline[-1]:
            if chosen and statuses == chosen[-1][1] and at - chosen[-1][0] < step:
                chosen.pop()  # the same counts again just after: keep the later look
            chosen.append((at, statuses))
            due = at + step
    kinds = [*PIPELINE, *(k for k in result.statuses if k not in PIPELINE)]
    print("   orders by status as time went (s since the first order was sent):")
    print("   " + f"{'s':>7}" + "".join(f"{kind:>11}" for kind in kinds))
    for at, statuses in chosen:
        print("   " + f"{at:7.1f}" + "".join(f"{statuses[kind]:>11,}" for kind in kinds))


STOPPED = re.compile(
    r"(?P<name>\w+) daemon stopped: (?P<statements>\d+) statements in (?P<turns>\d+) turns"
)


def daemon_work(lines: list[str]) -> dict[str, tuple[int, int]]:
    """Each daemon's statements and turns that worked, from the line its stop logs."""
    work = {}
    for line in lines:
        if found := STOPPED.search(line):
            work[found["name"]] = (int(found["statements"]), int(found["turns"]))
    return work


def report_daemon_work(result: Run, delivered: int) -> None:
    """Statements per order: what the daemons cost the database, as counted by them (a
    figure the machine's speed does not change, unlike CPU time)."""
    if not result.daemon_work or not delivered:
        return
    parts = [
        f"{name} {statements / delivered:.1f} per order in {turns:,} turns "
        f"({statements / turns if turns else 0:.0f} per turn)"
        for name, (statements, turns) in sorted(result.daemon_work.items())
    ]
    print(f"   SQL statements run by the daemons (start and stop included): {'; '.join(parts)}")


def report_messages(result: Run, delivered: int) -> None:
    if not result.outbox or not delivered:
        return
    print(f"   sub-messages sent per delivered order (messaging_outgoingmessage; {delivered:,}):")
    for side, rows in result.outbox.items():
        peers: dict[str, list[tuple[str, int, int]]] = {}
        for peer, kind, count, acked in rows:
            peers.setdefault(re.sub(r"^world:\d+$", "world", peer), []).append((kind, count, acked))
        for peer, kinds in peers.items():
            total = sum(count for _, count, _ in kinds)
            unacked = total - sum(acked for _, _, acked in kinds)
            parts = ", ".join(f"{kind} {count / delivered:.2f}" for kind, count, _ in kinds)
            print(
                f"     {side} -> {peer:<6} {total / delivered:5.2f} ({parts})"
                f"{f'; {unacked} unacked' if unacked else ''}"
            )
    print(
        f"   lines logged by the system: {result.log_lines:,} "
        f"({result.log_lines / delivered:.1f} per order)"
    )


MIN_PHASE = 1.0  # seconds: below that, CPU shares are mostly the sampling's noise


def cell(phase: CpuPhase, share: float) -> str:
    return f"{'-':>24}" if phase.seconds < MIN_PHASE else f"{share:>24.0%}"


def system_roles(kind: str) -> list[str]:
    """The processes whose CPU is the system's: its pieces, the supervisor and, on
    PostgreSQL, the server (not this benchmark's clients)."""
    return [*CHILDREN.values(), SUPERVISOR, *([POSTGRES] if kind == "postgres" else [])]


def report_cpu(result: Run) -> None:
    if not result.cpu:
        return
    cores = psutil.cpu_count() or 1
    roles = [*system_roles(result.kind), BENCHMARK]
    phases = result.cpu
    header = "".join(f"{p.name + f' ({p.seconds:.1f} s)':>24}" for p in phases)
    print(f"\n4. CPU, in % of one core (machine: {cores} cores)")
    print(f"   {'process':<36}{header}   CPU ms per order")
    orders = result.statuses["delivered"]
    for role in roles:
        cells = "".join(cell(p, p.load(role)) for p in phases)
        per_order = phases[-1].per_role.get(role, 0.0) / orders * 1000 if orders else math.nan
        print(f"   {role:<36}{cells}   {per_order:8.1f}")
    cells = "".join(cell(p, p.others()) for p in phases)
    print(f"   {'other processes':<36}{cells}")
    cells = "".join(cell(p, p.machine / p.seconds if p.seconds else 0.0) for p in phases)
    print(f"   {'whole machine':<36}{cells}")
    if any(p.seconds < MIN_PHASE for p in phases):
        print(f"   (-: a phase shorter than {MIN_PHASE:.0f} s is too short for shares of a core)")
    if noise := phases[-1].top_others():
        seconds = phases[-1].seconds
        named = ", ".join(f"{name} {cpu / seconds:.0%}" for name, cpu in noise)
        print(f"   other processes, the busiest over the whole run: {named}")
    whole = phases[-1]
    system_cpu = result.system_cpu()
    if not math.isnan(system_cpu) and system_cpu:
        print(
            f"   the system's CPU per delivered order: {system_cpu * 1000:.1f} ms, so {cores} "
            f"cores could deliver at most {cores / system_cpu:,.0f} orders/s; "
            + ", ".join(
                f"{role} alone (one core) {orders / whole.per_role[role]:,.0f}/s"
                for role in (CHILDREN["amzn-d"], CHILDREN["ups-d"], CHILDREN["amazon"])
                if whole.per_role.get(role)
            )
        )


# What a sleeping process waits for, by the system call it sleeps in.
MEANING = {
    "select": "idle: its loop waits for work (select)",
    "pselect6": "idle: its loop waits for work (select)",
    "epoll_wait": "idle: its asyncio loop waits for work (epoll_wait)",
    "poll": "waiting for PostgreSQL's answer (psycopg's poll)",
    "fdatasync": "making a commit durable (fdatasync)",
    "fsync": "making a commit durable (fsync)",
    "futex": "a lock (futex)",
    "nanosleep": "sleeping (SQLite waits for the write lock)",
    "clock_nanosleep": "sleeping (SQLite waits for the write lock)",
    "recvfrom": "reading a socket (recvfrom)",
    "sendto": "writing a socket (sendto)",
    "read": "reading (read)",
    "write": "writing (write)",
}
IDLE = ("select", "epoll_wait", "pselect6", "epoll_pwait")
# A daemon's one thread sleeps on a futex only in its gathering wait (runner.Daemon.turn:
# after a working turn it lets more come before the next, DAEMON_GATHER_SECONDS): a wait
# it chose, with work waiting in its sockets, neither idle nor held up.
GATHERING = "gathering"
MEANING[GATHERING] = "gathering: waits by choice to take more in one turn (futex)"
CHOSEN = (*IDLE, GATHERING)


def wall_shares(result: Run, phase: str) -> dict[str, dict[str, float]]:
    """Role -> share of the phase's wall time: "on a CPU" and "waiting for a core"
    (schedstat, exact), and the rest, asleep, split by the system calls sampled."""
    waits, seconds = result.waits, result.phase_seconds(phase)
    if waits is None or seconds <= 0:
        return {}
    shares = {}
    for role, counts in waits.samples.get(phase, {}).items():
        on_cpu, queued = waits.sched.get(phase, {}).get(role, (0.0, 0.0))
        share = {"on a CPU": on_cpu / seconds, "waiting for a core": queued / seconds}
        asleep = {what: n for what, n in counts.items() if what != RUNNING}
        sleeping = max(0.0, 1.0 - share["on a CPU"] - share["waiting for a core"])
        for what, n in asleep.items():
            share[what] = sleeping * n / sum(asleep.values())
        shares[role] = share
    return shares


def occupied(result: Run, phase: str) -> dict[str, float]:
    """Share of the wall time each traced process was neither idle in its loop's wait
    nor gathering by choice."""
    return {
        role: 1.0 - sum(v for what, v in share.items() if what in CHOSEN)
        for role, share in wall_shares(result, phase).items()
    }


def report_waits(result: Run) -> None:
    """Where the world's and the daemons' wall time went, phase by phase."""
    if result.waits is None or not result.waits.samples:
        return
    print(
        "\n5. Where the wall time of the single-threaded processes goes (on a CPU and waiting "
        "for a core:\n   /proc/PID/schedstat; asleep: the system call it sleeps in, "
        f"/proc/PID/syscall sampled every {result.waits.EVERY * 1000:.0f} ms)"
    )
    for phase in (p.name for p in result.cpu if p.name in result.waits.samples):
        print(f"   {phase} ({result.phase_seconds(phase):.1f} s):")
        if result.phase_seconds(phase) < MIN_PHASE:
            print("     too short to tell")
            continue
        busy = occupied(result, phase)
        for role, share in wall_shares(result, phase).items():
            parts = ", ".join(
                f"{MEANING.get(what, what)} {value:.0%}"
                for what, value in sorted(share.items(), key=lambda item: -item[1])
                if value >= 0.01
            )
            print(f"     {role:<14} occupied {busy[role]:4.0%}: {parts}")


def verdict(phase: CpuPhase, cores: int, roles: list[str], result: Run) -> str:
    ranked = sorted(roles, key=phase.load, reverse=True)
    top, second = ranked[0], ranked[1]
    busy = phase.machine / phase.seconds if phase.seconds > 0 else 0.0
    lead = f"{top} at {phase.load(top):.0%} of a core, then {second} at {phase.load(second):.0%}"
    shares = occupied(result, phase.name)
    serial = max(shares, key=shares.__getitem__, default=None)
    if phase.load(top) >= 0.85:
        return f"{top}: its core is saturated ({lead})"
    if serial is not None and shares[serial] >= 0.85:
        return (
            f"{serial}: its one thread is occupied {shares[serial]:.0%} of the time "
            f"({phase.load(serial):.0%} of a core on CPU, the rest waiting as section 5 shows); "
            f"machine {busy:.0%} of {cores} cores"
        )
    if busy >= 0.85 * cores:
        return f"the machine: {busy:.0%} of {cores} cores busy ({lead})"
    return (
        f"neither a process nor the machine is saturated ({lead}; machine {busy:.0%} of "
        f"{cores} cores): work came in slower than it could be done, or waited on round "
        "trips, polls and timers"
    )


def report_bottleneck(result: Run) -> None:
    if len(result.cpu) < 3:
        return
    cores = psutil.cpu_count() or 1
    roles = [*CHILDREN.values(), SUPERVISOR, BENCHMARK, POSTGRES]
    placing, delivering, whole = result.cpu
    print(f"   bottleneck while placing:    {verdict(placing, cores, roles, result)}")
    if delivering.seconds < 0.1 * whole.seconds:
        left = result.placed_in_db - (result.timeline_delivered_at(placing.seconds) or 0)
        print(
            f"   bottleneck while delivering: none to speak of: deliveries kept pace with the "
            f"orders; {left:,} were still on their way when the last was placed, and took "
            f"{delivering.seconds:.1f} s more"
        )
    else:
        print(f"   bottleneck while delivering: {verdict(delivering, cores, roles, result)}")
    print(f"   bottleneck over the whole run: {verdict(whole, cores, roles, result)}")


# The goals (whole-system CPU per delivered order; delivered per second and
# order-to-delivered latency with 500 orders from 50 clients), on both databases.
GOAL_CPU = 0.025
GOAL_RATE = 50.0
GOAL_P50 = 2.0
GOAL_P99 = 5.0


@dataclass(frozen=True)
class Figures:
    """One run's headline figures, or the median of several runs' (each figure's own
    median: a machine shared with others only ever slows a run, in bursts)."""

    placed: float
    delivered: float
    p50: float
    p90: float
    p99: float
    cpu: float  # the system's CPU seconds per delivered order
    ceiling: float

    @classmethod
    def of(cls, run: Run) -> Figures | None:
        if run.placing is None or not run.latencies:
            return None
        lat = run.latencies
        return cls(
            len(run.placing.placed) / max(run.placing_seconds, 1e-9),
            run.delivered_rate,
            percentile(lat, 0.5),
            percentile(lat, 0.9),
            percentile(lat, 0.99),
            run.system_cpu(),
            run.ceiling,
        )

    @classmethod
    def median(cls, many: list[Figures]) -> Figures:
        return cls(*(statistics.median(getattr(f, name) for f in many) for name in FIGURES))

    def row(self, label: str) -> str:
        return (
            f"   {label:<22}{self.placed:>10,.1f}{self.delivered:>13,.1f}{ms(self.p50):>10}"
            f"{ms(self.p90):>10}{ms(self.p99):>10}{self.cpu * 1000:>14.1f}"
            f"{self.ceiling:>16,.0f}"
        )

    def goals(self) -> str:
        met = {
            f"CPU {self.cpu * 1000:.1f} <= {GOAL_CPU * 1000:.0f} ms": self.cpu <= GOAL_CPU,
            f"{self.delivered:.1f} >= {GOAL_RATE:.0f} delivered/s": self.delivered >= GOAL_RATE,
            f"p50 {self.p50:.2f} <= {GOAL_P50:.0f} s": self.p50 <= GOAL_P50,
            f"p99 {self.p99:.2f} <= {GOAL_P99:.0f} s": self.p99 <= GOAL_P99,
        }
        return ", ".join(f"{what} {'ok' if ok else 'MISSED'}" for what, ok in met.items())


FIGURES = ("placed", "delivered", "p50", "p90", "p99", "cpu", "ceiling")


def summary(runs: list[Run], args: argparse.Namespace) -> None:
    """Every run's figures; with several runs of a database, their median too; then each
    database's (median) figures against the goals."""
    print("\nSummary")
    print(
        f"   {'database':<22}{'placed/s':>10}{'delivered/s':>13}{'p50':>10}{'p90':>10}"
        f"{'p99':>10}{'CPU ms/order':>14}{'ceiling rows/s':>16}"
    )
    kinds = list(dict.fromkeys(run.kind for run in runs))
    headline: dict[str, Figures] = {}
    for kind in kinds:
        of_kind = [run for run in runs if run.kind == kind]
        figures = []
        for number, run in enumerate(of_kind, 1):
            label = kind if len(of_kind) == 1 else f"{kind} #{number}"
            found = Figures.of(run)
            if found is None:
                print(f"   {label:<22}  {run.problem or 'no figures'}")
                continue
            problem = "" if run.finished else "  NOT FINISHED: " + run.problem
            print(found.row(label) + problem)
            if run.finished:
                figures.append(found)
        if len(of_kind) > 1 and figures:
            headline[kind] = Figures.median(figures)
            print(headline[kind].row(f"{kind} median of {len(figures)}"))
        elif figures:
            headline[kind] = figures[0]
    if headline:
        print(
            f"   goals (set for 500 orders from 50 clients; these runs: {args.orders:,} "
            f"from {args.clients}):"
        )
        for kind, weighed in headline.items():
            print(f"   {kind:<10} {weighed.goals()}")


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, help="orders to place (default 500; --quick 60)")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres", "both"],
        help="which database kind (default both; --quick sqlite)",
    )
    parser.add_argument("--simspeed", type=int, default=20_000, help="world simspeed")
    parser.add_argument("--trucks", type=int, default=10, help="trucks UPS brings (default 10)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent HTTP clients")
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn workers per web site (default 2)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for products and places")
    parser.add_argument(
        "--stall", type=float, default=60.0, help="give up when nothing moves this long (s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up waiting after this long (s)"
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="runs of each database, taken in turn; the summary shows their median",
    )
    parser.add_argument("--quick", action="store_true", help="60 orders, SQLite only (~20 s)")
    args = parser.parse_args(argv)
    if args.orders is None:
        args.orders = 60 if args.quick else 500
    if args.database is None:
        args.database = "sqlite" if args.quick else "both"
    if args.orders < 1 or args.clients < 1 or args.workers < 1 or args.runs < 1:
        parser.error("need --orders, --clients, --workers and --runs >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"machine: {machine()}")
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    print(
        f"parameters: {args.orders:,} orders by {args.clients} HTTP clients, simspeed "
        f"{args.simspeed:,}, {args.trucks} trucks, {args.workers} web workers per site "
        f"(4 threads each), databases: {', '.join(kinds)}{' (--quick)' if args.quick else ''}"
        + (f", {args.runs} runs of each, in turn" if args.runs > 1 else "")
    )
    sys.stdout.flush()
    runs = []
    with tempfile.TemporaryDirectory(prefix="e2e-bench-") as tmp:
        for number in range(args.runs):
            for kind in kinds:
                if args.runs > 1:
                    print(f"\n-- run {number + 1} of {args.runs} --", flush=True)
                runs.append(run_one(kind, args, Path(tmp) / str(number)))
    summary(runs, args)
    print(f"\n(benchmark took {time.perf_counter() - started:.1f} s)")
    return 0 if all(run.finished or run.skipped for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
