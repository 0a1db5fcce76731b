"""Soak: many orders through a faulty world while every piece is killed again and again;
no order may be lost, delivered twice, or wait for ever.

    .venv/bin/python benchmarks/soak.py [--orders N] [--database sqlite|postgres|both]
        [--flakiness P] [--drop-responses p] [--duplicate-responses p]
        [--reorder-responses p] [--delay-responses p] [--max-delay S] [--seed N]
        [--no-kills] [--kill-every S] [--kill-after S] [--stall S] [--quick] [--var DIR]

For each database kind (SQLite files in the run's var folder; or fresh PostgreSQL
databases on 127.0.0.1:5432, as the end-to-end tests make them, dropped after):

1. ``amazon-ups up`` (``amazon_ups.testing.system.System``) with the world's faults: it drops
   ``--flakiness`` % of the commands it gets, and drops, duplicates, reorders and delays
   some of its results and acks (``--drop-responses`` ... ``--max-delay``), all seeded.
2. C clients (threads, each its own ``Browser`` logged in as the demo shopper) place N
   orders over HTTP at R orders/s: random products, quantities and destinations from
   ``--seed``. Few trucks (3) at a high simspeed, so that packages always wait for a
   truck to come free and each truck is sent off again the moment it is: the hardest
   case for dispatch when commands are lost and arrive late. A POST that fails (the
   store was killed under it) is posted again with the same form token once the store
   answers again, so a form posted twice is one order; each order is counted by its token
   and the order page it led to.
3. Kills (unless ``--no-kills``): from the first order on, every ``--kill-every`` s a
   piece chosen at random (world, UPS daemon, Amazon daemon, UPS web, Amazon web; each once
   per round of five, in a seeded order) is killed with SIGKILL, with every process it
   started, and the supervisor starts it again; until ``--kill-after`` s after the last
   order was placed, or sooner once no order is in flight. Then the drain: nothing is
   killed any more.
4. Every order is waited for in the Amazon database until it is delivered or failed;
   ``--stall`` s without any order changing status ends the wait (so a stuck run ends too).
5. The system is stopped and checked, from both databases and from the world's own journal:
   every order counted once (tokens, pages, rows), delivered exactly once on both sides
   and in the world, and the stock conserved (Amazon's books = the world's shelves,
   nothing on order, bought = packed + on the shelves).
6. Figures: orders placed / delivered / failed / stuck, kills per piece, last kill ->
   last delivery, order-to-delivered p50/p99, the wall time, the faults and the seed, the
   checks' verdicts; every stuck order with its state on both sides and in the world, the
   messages about it still unanswered and its last log lines; one summary line per database.

Progress goes to stderr, figures to stdout. The run's var folder (databases, the world's
state, and ``up.log``: every piece's log, as the supervisor printed it) is kept; its path
is printed. The exit status is non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``tests`` importable
    sys.path.insert(0, str(ROOT))

from amazon_ups.cli import add_fault_arguments  # noqa: E402
from amazon_ups.protocol import world_amazon_pb2 as wa  # noqa: E402
from amazon_ups.protocol.world_messages import Side  # noqa: E402
from amazon_ups.supervisor import wait_for_port, world_fault_options  # noqa: E402
from amazon_ups.testing import postgres  # noqa: E402
from amazon_ups.testing.system import System, query  # noqa: E402
from amazon_ups.world.engine import WorldEngine  # noqa: E402
from amazon_ups.world.journal import Journal  # noqa: E402
from amazon_ups.world.model import World  # noqa: E402
from benchmarks.common.report import Bar, machine, ms, percentile  # noqa: E402
from benchmarks.common.shop import Placing, Retry, client, log_in, order_plan  # noqa: E402
from benchmarks.common.system import (  # noqa: E402
    CHILDREN,
    PIPELINE,
    as_datetime,
    delivery_times,
    doing,
    postgres_or_none,
    postgres_version,
    status_counts,
    stop_leftovers,
)

POLL = 0.5  # seconds between looks at the Amazon database
FINAL = ("delivered", "failed")
IN_FLIGHT = tuple(s for s in PIPELINE if s != "delivered")
DETAILED = 3  # stuck orders shown in full per kind
LOG_LINES = 8  # log lines shown per stuck order
TRUCK_LINES = 10  # lines of its truck's moves shown per stuck order
STACK_LINES = 25  # frames of a piece's main thread shown when the wait ended early
TRACED = ("world", "ups-d", "amzn-d")  # single-threaded loops: their stacks tell where they are
UNACKED = "SELECT count(*) FROM messaging_outgoingmessage WHERE acked_at IS NULL"
FAULTS = {  # the world's faults unless told otherwise
    "flakiness": 50,
    "drop_responses": 0.1,
    "duplicate_responses": 0.1,
    "reorder_responses": 0.1,
    "delay_responses": 0.1,
    "max_delay": 0.5,
    "seed": 1,
}
STOCK_CHECKS = ("books = shelves", "nothing on order", "bought = packed + shelves")


# -- kills -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    at: datetime  # UTC, to compare with the databases' times
    offset: float  # seconds since the first order was sent
    piece: str
    pid: int


class Killer(threading.Thread):
    """Every ``every`` s, kill -9 one piece with all its processes; the supervisor starts
    it again. Pieces are taken in rounds of five in a seeded random order, so each piece
    dies as often as the others; a piece that is down (not started again yet) when its
    turn comes waits for its next turn in that round."""

    def __init__(self, system: System, every: float, seed: int, origin: float) -> None:
        super().__init__(name="killer", daemon=True)
        self.system = system
        self.every = every
        self.origin = origin
        self.chooser = random.Random(f"{seed}:kills")
        self.round: list[str] = []
        self.kills: list[Kill] = []
        self.missed = 0  # turns when every piece left in the round was down
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every):  # the kill schedule: a kill every ``every`` s
            self.kill_one()

    def kill_one(self) -> None:
        if not self.round:
            self.round = self.chooser.sample(list(CHILDREN), len(CHILDREN))
        for index, piece in enumerate(self.round):
            pid = self.system.kill_group(piece)
            if pid is not None:
                del self.round[index]
                now = time.monotonic()
                self.kills.append(Kill(datetime.now(UTC), now - self.origin, piece, pid))
                return
        self.missed += 1

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join()


# -- one run ---------------------------------------------------------------------------------


@dataclass
class Check:
    short: str  # for the summary line
    name: str
    ok: bool
    detail: str


@dataclass
class Stuck:
    """An order that did not end delivered, and everything known about it."""

    order_id: int
    kind: str  # its state on the three sides, e.g. "Amazon loading / UPS loaded / world LOADED"
    lines: list[str]  # the facts, one per line
    open_messages: list[str]  # what is still waiting for an answer
    waits: str  # who waits for what, read from its state on the three sides


@dataclass
class Soak:
    kind: str
    var: Path
    log: Path
    skipped: bool = False
    problem: str = ""
    amazon_db: str = ""
    ups_db: str = ""
    placing: Placing | None = None
    kills: list[Kill] = field(default_factory=list)
    missed_kills: int = 0
    kills_until: float = 0.0  # seconds after the first order when the kills stopped
    placing_seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    ended: str = ""  # why the wait ended
    finished: bool = False  # every order ended (delivered or failed)
    latencies: list[float] = field(default_factory=list)
    last_delivery: datetime | None = None
    checks: list[Check] = field(default_factory=list)
    stuck: list[Stuck] = field(default_factory=list)
    exits: Counter[tuple[str, str]] = field(default_factory=Counter)  # (piece, exit code)
    trouble: dict[str, Counter[str]] = field(default_factory=dict)  # piece -> warnings
    unacked: list[str] = field(default_factory=list)
    settle_seconds: float = 0.0  # waited, after every order ended, for the last acks
    at_stall: list[str] = field(default_factory=list)  # what each piece did when the wait ended
    fleet: list[str] = field(default_factory=list)  # UPS's trucks, when orders were stuck
    # piece -> why its turns failed on the database (the whole turn is retried) -> how often
    turns_failed: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    errors: Counter[str] = field(default_factory=Counter)  # piece -> ERROR lines and tracebacks
    # piece -> streaks of failed turns: (first, last, turns)
    wedged: dict[str, list[tuple[datetime, datetime, int]]] = field(default_factory=dict)
    worlds: list[int] = field(default_factory=list)  # every world in the world's journal
    world_ids: dict[str, int | None] = field(default_factory=dict)  # the one each side uses
    wall: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.skipped and not self.problem and all(c.ok for c in self.checks)


def run_one(kind: str, args: argparse.Namespace, root: Path) -> Soak:
    started = time.monotonic()
    var = root / kind / "var"
    var.mkdir(parents=True)
    result = Soak(kind, var, var / "up.log")
    with contextlib.ExitStack() as stack:
        if kind == "sqlite":
            print(f"\n== soak on SQLite (var folder {var}) ==", flush=True)
            result.amazon_db, result.ups_db = str(var / "amazon.sqlite3"), str(var / "ups.sqlite3")
            extra: list[str] = []
        else:
            urls = postgres_or_none(stack, "amazon", "ups")
            if urls is None:
                result.skipped = True
                result.problem = f"no PostgreSQL server answers at {postgres.shown()}"
                print(f"\n== soak on PostgreSQL: SKIPPED ({result.problem}) ==", flush=True)
                return result
            print(f"\n== soak on {postgres_version()}: fresh databases, dropped after ==")
            print(f"   {urls['amazon']}, {urls['ups']}; var folder {var}", flush=True)
            result.amazon_db, result.ups_db = urls["amazon"], urls["ups"]
            extra = ["--amazon-db", result.amazon_db, "--ups-db", result.ups_db]
        print(f"   every piece's log: {result.log}", flush=True)
        try:
            run_system(result, args, extra)
        except Exception as error:
            result.problem = result.problem or f"{type(error).__name__}: {error}"
        result.wall = time.monotonic() - started
    report(result, args)
    return result


def run_system(result: Soak, args: argparse.Namespace, extra: list[str]) -> None:
    options = [
        *("--simspeed", str(args.simspeed), "--trucks", str(args.trucks)),
        *("--workers", str(args.workers)),  # after the harness's --workers 1: the last counts
        *world_fault_options(args),
        *extra,
    ]
    system = System(result.var, options, log_file=result.log)
    killer: Killer | None = None
    world: World | None = None
    try:
        system.start()
        shoppers, products = log_in(system, args.clients)
        placing = Placing(order_plan(args.orders, products, args.seed), rate=args.rate)
        result.placing = placing
        retry = Retry(attempts=1, within=args.retry_for, before=store_back(system, placing))
        threads = [
            threading.Thread(target=client, args=(shopper, placing, retry), daemon=True)
            for shopper in shoppers
        ]
        origin = time.monotonic()
        for thread in threads:
            thread.start()
        if not args.no_kills:
            killer = Killer(system, args.kill_every, args.seed, origin)
            killer.start()
        watch(result, args, placing, threads, killer, origin)
        placing.stop.set()
        for thread in threads:
            thread.join()
        if not result.finished:
            result.at_stall = pieces_now(system, result)
    finally:
        if killer is not None:
            killer.stop()
            result.kills, result.missed_kills = killer.kills, killer.missed
        system.stop()  # first: nothing below may leave the system running
        if left := stop_leftovers(system):
            result.problem = result.problem or f"still running after the stop: {left}"
        if not system.said("stopped"):
            result.problem = result.problem or "amazon-ups up did not stop cleanly"
        read_log(result, system.output)
    if (result.var / "world.sqlite3").exists():
        journal = Journal(result.var / "world.sqlite3")
        try:
            engine = journal.load()
        finally:
            journal.close()
        world = world_of(result, engine)
    result.unacked = unacked_messages(result, world)
    result.checks = checks(result, world)
    result.stuck = diagnose(result, world, system.output)
    if result.stuck:
        result.fleet = fleet(result, world)
    times = delivery_times(result.amazon_db)
    result.latencies = [(delivered - created).total_seconds() for created, delivered in times]
    if times:
        result.last_delivery = utc(max(delivered for _, delivered in times))


def store_back(system: System, placing: Placing) -> Callable[[int, str], None]:
    """Before a Buy is posted again: wait until the store listens again (it was killed and
    is being started again), and after an error page, back off a little."""

    def before(attempt: int, problem: str) -> None:
        # Polling the port (with a deadline): nothing else tells us the store is back.
        deadline = time.monotonic() + 120
        wait_for_port("127.0.0.1", system.ports["amazon"], deadline, placing.stop)
        if problem.startswith("HTTP"):
            placing.stop.wait(min(2.0, 0.1 * 2**attempt))  # back-off after an error page

    return before


def watch(
    result: Soak,
    args: argparse.Namespace,
    placing: Placing,
    threads: list[threading.Thread],
    killer: Killer | None,
    origin: float,
) -> None:
    """Until every order ended, or nothing moved for ``--stall`` s: the progress line,
    and the phases (placing; killing after the last order; the drain, without kills)."""
    phase = "placing"
    bar = Bar(f"{phase:<8}", len(placing.orders))
    bar.start = origin
    statuses: Counter[str] = Counter()
    last, moved_at, placed_at = None, time.monotonic(), 0.0
    while True:
        with contextlib.suppress(Exception):  # a busy database: look again next time
            statuses = status_counts(result.amazon_db)
        now = time.monotonic()
        if statuses != last:
            last, moved_at = statuses, now
        placing_now = any(thread.is_alive() for thread in threads)
        if phase == "placing" and not placing_now:
            placed_at = now
            result.placing_seconds = now - origin
            phase = "killing" if killer is not None else "draining"
        in_db = sum(statuses.values())
        ended = sum(statuses[s] for s in FINAL)
        # Kills stop after --kill-after s, or sooner once no order is left in flight.
        if phase == "killing" and (now - placed_at >= args.kill_after or ended >= in_db):
            assert killer is not None
            killer.stop()
            result.kills_until = now - origin
            phase = "draining"
        if phase != bar.label.strip():
            bar.close(statuses["delivered"], progress(statuses, placing, killer))
            bar = Bar(f"{phase:<8}", len(placing.orders))
            bar.start = origin
        bar.show(statuses["delivered"], progress(statuses, placing, killer))
        if phase == "draining" and ended >= in_db:
            result.finished, result.ended = True, "every order ended"
            break
        if now - moved_at > args.stall:
            result.ended = f"no order changed status for {args.stall:.0f} s (stalled)"
            break
        if now - origin > args.timeout:
            result.ended = f"not every order ended within {args.timeout:.0f} s"
            break
        time.sleep(POLL)  # polling the database: nothing pushes a change to us here
    if killer is not None and killer.is_alive():
        killer.stop()
        result.kills_until = time.monotonic() - origin
    if not result.placing_seconds:
        result.placing_seconds = time.monotonic() - origin
    bar.close(statuses["delivered"], progress(statuses, placing, killer))
    result.statuses = statuses
    if result.finished:
        settle(result, args)


def settle(result: Soak, args: argparse.Namespace) -> None:
    """Every order ended: wait up to ``--settle`` s for both sides' messages to be acked
    (the last ones may still be re-sent through the faults), so the end state is quiet."""
    start = time.monotonic()
    left = -1
    while time.monotonic() - start < args.settle:
        with contextlib.suppress(Exception):  # a busy database: look again next time
            left = sum(query(db, UNACKED)[0][0] for db in (result.amazon_db, result.ups_db))
        sys.stderr.write(f"\r  settling: {left} messages not acked yet  ")
        if left == 0:
            break
        time.sleep(POLL)  # polling the databases: nothing pushes a change to us here
    result.settle_seconds = time.monotonic() - start
    sys.stderr.write("\n")


def progress(statuses: Counter[str], placing: Placing, killer: Killer | None) -> str:
    in_db = sum(statuses.values())
    flying = in_db - statuses["delivered"] - statuses["failed"]
    flight = " ".join(f"{s} {statuses[s]}" for s in IN_FLIGHT if statuses[s])
    return (
        f"placed {in_db}/{len(placing.orders)} (pages {len(placing.pages)}), "
        f"failed {statuses['failed']}, in flight {flying}"
        f"{' (' + flight + ')' if flight else ''}, kills {len(killer.kills) if killer else 0}"
    )


def pieces_now(system: System, result: Soak) -> list[str]:
    """The wait ended with orders in flight: before anything is stopped, what each piece
    is doing (the system call its main thread sleeps in, its CPU over half a second, and
    with py-spy installed, the Python stacks of the world and the daemons), the daemons'
    links as they recorded them, and on PostgreSQL the sessions of both databases."""
    lines = []
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    for piece in CHILDREN:
        try:
            pid = system.pid(piece)
            process = psutil.Process(pid)
            cpu = process.cpu_percent(interval=0.5)
            lines.append(f"{piece} (pid {pid}): main thread {doing(pid)}, CPU {cpu:.0f}%")
        except (OSError, ValueError, psutil.Error) as error:
            lines.append(f"{piece}: not running ({type(error).__name__})")
            continue
        if spy and piece in TRACED:
            dump = subprocess.run(
                [spy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=60
            )
            lines += [f"    {line}" for line in main_stack(dump.stdout or dump.stderr)]
    if not spy:
        lines.append("(install py-spy to see the Python stacks of the world and the daemons)")
    for side, database in (("Amazon", result.amazon_db), ("UPS", result.ups_db)):
        with contextlib.suppress(Exception):
            for peer, connected, detail, changed in query(
                database, "SELECT peer, connected, detail, changed_at FROM messaging_linkstate"
            ):
                state = "up" if connected else "DOWN"
                lines.append(f"{side}'s link to {peer}: {state} since {clock(changed)} ({detail})")
    if result.kind == "postgres":
        names = ", ".join(f"'{url.rsplit('/', 1)[1]}'" for url in (result.amazon_db, result.ups_db))
        with contextlib.suppress(Exception):
            for row in query(
                postgres.SERVER_URL,
                "SELECT datname, pid, state, wait_event_type, wait_event, "
                "now() - xact_start, pg_blocking_pids(pid), left(query, 120) "
                f"FROM pg_stat_activity WHERE datname IN ({names}) ORDER BY datname, pid",
            ):
                database, pid, state, wait_type, wait, age, blockers, sql = row
                lines.append(
                    f"PostgreSQL {database} pid {pid}: {state}, waits {wait_type}/{wait}, "
                    f"transaction open {age}, blocked by {blockers}: {' '.join(sql.split())}"
                )
    return lines


def main_stack(dump: str) -> list[str]:
    """The main thread's innermost frames from ``py-spy dump``: one line when it is idle
    (waiting in its loop's select), more when it is busy or blocked elsewhere."""
    lines = dump.splitlines()
    start = next((i for i, line in enumerate(lines) if '"MainThread"' in line), None)
    if start is None:
        return lines[:STACK_LINES]
    frames = []
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        frames.append(line.strip())
    if "(idle)" in lines[start]:
        return ["main thread idle in " + " < ".join(frames[:4])]
    return [lines[start].strip(), *(f"  {frame}" for frame in frames[:STACK_LINES])]


# -- the log ---------------------------------------------------------------------------------

EXITED = re.compile(r"^\s*up \| (\S+) exited \((-?\d+|None)\); restarting")
LINE = re.compile(r"^\s*(\S+) \| (.*)$")
# The daemon loop's words when a turn failed on a database error (it retries the turn).
DATABASE_FAILED = re.compile(r": database unavailable \((.*)\); retrying$")
# Reasons a turn may fail on a healthy system: the database is busy or away for a moment.
TRANSIENT = re.compile(r"locked|busy|connect|connection|closed|terminat|shutdown|timeout", re.I)
ERROR = re.compile(r" (ERROR|CRITICAL) |\[(ERROR|CRITICAL)\]|Traceback")
TROUBLE = re.compile(
    r" (WARNING|ERROR|CRITICAL) |\[(WARNING|ERROR|CRITICAL)\]|Traceback"
    r"|^\w+(\.\w+)*(Error|Exception)\b"
)


def read_log(result: Soak, output: list[str]) -> None:
    """Exits seen by the supervisor (ours are -9), and each piece's warnings and errors,
    numbers replaced by N so that alike lines count together."""
    trouble: dict[str, Counter[str]] = defaultdict(Counter)
    failures: dict[str, list[datetime]] = defaultdict(list)
    for line in output:
        if match := EXITED.match(line):
            result.exits[match[1], match[2]] += 1
            continue
        match = LINE.match(line)
        if not match or match[1] not in CHILDREN:
            continue
        piece, text = match[1], match[2]
        if failed := DATABASE_FAILED.search(text):
            result.turns_failed[piece][failed[1]] += 1
            if at := stamp(text):
                failures[piece].append(at)
        if ERROR.search(text):
            result.errors[piece] += 1
        if TROUBLE.search(text):
            text = re.sub(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ", r"\1 ", text)
            trouble[piece][re.sub(r"\d+", "N", text)[:160]] += 1
    result.trouble = dict(trouble)
    for piece, times in failures.items():
        result.wedged[piece] = streaks(times)


def wedged_seconds(found: list[tuple[datetime, datetime, int]]) -> float:
    return sum((last - first).total_seconds() for first, last, _ in found)


def streaks(times: list[datetime]) -> list[tuple[datetime, datetime, int]]:
    """Failed turns in a row, as (first, last, turns): the loop retries after 0.5 s,
    doubling up to 10 s, and starts again from 0.5 s after a turn that completed, so a wait
    shorter than the one before means a turn completed in between. Meanwhile the daemon
    sent nothing, not even acks."""
    found: list[tuple[datetime, datetime, int]] = []
    wait = 0.0
    for at in times:
        gap = (at - found[-1][1]).total_seconds() if found else 0.0
        if found and gap <= 11.0 and gap >= 0.75 * wait:
            first, _, count = found[-1]
            found[-1] = (first, at, count + 1)
            wait = gap
        else:
            found.append((at, at, 1))
            wait = 0.0
    return found


# -- the world -------------------------------------------------------------------------------


def world_of(result: Soak, engine: WorldEngine) -> World | None:
    """The world Amazon uses (the checks compare it with UPS's)."""
    result.worlds = sorted(engine.worlds)
    for side, database in (("amazon", result.amazon_db), ("ups", result.ups_db)):
        rows = query(database, "SELECT value FROM messaging_setting WHERE key = 'world_id'")
        result.world_ids[side] = int(rows[0][0]) if rows else None
    amazon = result.world_ids["amazon"]
    return engine.worlds.get(amazon) if amazon is not None else None


# -- checks ----------------------------------------------------------------------------------


def checks(result: Soak, world: World | None) -> list[Check]:
    assert result.placing is not None
    amazon, ups = result.amazon_db, result.ups_db
    done: list[Check] = []
    orders = {
        token: (order_id, status)
        for order_id, token, status in query(amazon, "SELECT id, token, status FROM orders_order")
    }
    done.append(check_tokens(result.placing, orders))
    ids = {order_id for order_id, _ in orders.values()}

    # Amazon: one 'delivered' event per order.
    events = dict(
        query(
            amazon,
            "SELECT order_id, count(*) FROM orders_orderevent WHERE status = 'delivered' "
            "GROUP BY order_id",
        )
    )
    statuses = Counter(status for _, status in orders.values())
    twice = sorted(i for i, n in events.items() if n > 1)
    never = sorted(ids - set(events))
    done.append(
        Check(
            "Amazon delivered once",
            "Amazon: every order delivered, one 'delivered' OrderEvent each",
            not twice and not never and statuses["delivered"] == len(ids),
            f"{len(ids) - len(never)}/{len(ids)} have one; "
            + (f"none for {len(never)} ({ids_text(never)}); " if never else "")
            + (f"several for {ids_text(twice)}; " if twice else "")
            + "statuses: "
            + ", ".join(f"{s} {n}" for s, n in statuses.most_common()),
        )
    )

    # UPS: one package per order, one 'delivered' PackageEvent each.
    packages = dict(query(ups, "SELECT id, status FROM shipments_package"))
    deliveries = dict(
        query(
            ups,
            "SELECT package_id, count(*) FROM shipments_packageevent WHERE kind = 'delivered' "
            "GROUP BY package_id",
        )
    )
    missing, extra = sorted(ids - set(packages)), sorted(set(packages) - ids)
    twice = sorted(i for i, n in deliveries.items() if n > 1)
    never = sorted(set(packages) - set(deliveries))
    done.append(
        Check(
            "UPS delivered once",
            "UPS: a package per order, one 'delivered' PackageEvent each",
            not (missing or extra or twice or never),
            f"{len(packages)} packages for {len(ids)} orders, "
            f"{len(packages) - len(never)} delivered once"
            + (f"; no package for {ids_text(missing)}" if missing else "")
            + (f"; packages of no order: {ids_text(extra)}" if extra else "")
            + (f"; not delivered: {ids_text(never)}" if never else "")
            + (f"; delivered several times: {ids_text(twice)}" if twice else "")
            + "; statuses: "
            + ", ".join(f"{s} {n}" for s, n in Counter(packages.values()).most_common()),
        )
    )

    # The world: as many packages as orders, every one DELIVERED.
    if world is None:
        done.append(
            Check(
                "world delivered",
                "world: a package per order, each DELIVERED",
                False,
                "no world found",
            )
        )
    else:
        shipped = set(world.packages)
        same_world = result.world_ids.get("ups") == world.id
        states = Counter(p.status.value for p in world.packages.values())
        done.append(
            Check(
                "world delivered",
                "world: a package per order, each DELIVERED",
                shipped == ids and set(states) <= {"DELIVERED"} and same_world,
                f"world {world.id} (UPS uses world {result.world_ids.get('ups')}; worlds in the "
                f"journal: {result.worlds}): {len(shipped)} packages for {len(ids)} orders; "
                + ", ".join(f"{s} {n}" for s, n in states.most_common())
                + (
                    f"; orders without one: {ids_text(sorted(ids - shipped))}"
                    if ids - shipped
                    else ""
                )
                + (f"; of no order: {ids_text(sorted(shipped - ids))}" if shipped - ids else ""),
            )
        )
    done.extend(check_stock(result, world))
    bugs = {
        piece: {reason: n for reason, n in reasons.items() if not TRANSIENT.search(reason)}
        for piece, reasons in result.turns_failed.items()
    }
    bugs = {piece: reasons for piece, reasons in bugs.items() if reasons}
    done.append(
        Check(
            "daemon turns",
            "no daemon turn failed on a database error other than the database being busy or "
            "unreachable (the loop retries the whole turn: a bad write wedges it)",
            not bugs,
            "none"
            if not bugs
            else "; ".join(
                f"{piece}: " + ", ".join(f"{n}x {reason}" for reason, n in reasons.items())
                for piece, reasons in bugs.items()
            ),
        )
    )
    set_aside = {
        side: query(
            database,
            "SELECT kind, peer, field, ref, error_type FROM messaging_deadletter "
            "ORDER BY id LIMIT 5",
        )
        for side, database in (("Amazon", amazon), ("UPS", ups))
    }
    done.append(
        Check(
            "nothing set aside",
            "no message or work item set aside as a dead letter (a defect)",
            not any(set_aside.values()),
            "none"
            if not any(set_aside.values())
            else "; ".join(f"{side}: {rows}" for side, rows in set_aside.items() if rows),
        )
    )
    done.append(
        Check(
            "every message acked",
            "every message acked in the end, on every link (the world's results too)",
            not result.unacked and world is not None,
            (
                f"waited {result.settle_seconds:.1f} s after the last order ended; "
                + ("still unacked: " + "; ".join(result.unacked) if result.unacked else "none left")
            ),
        )
    )
    return done


def check_tokens(placing: Placing, orders: dict[str, tuple[int, str]]) -> Check:
    """Each order counted once: the clients' pages, the plan's tokens and the rows agree."""
    planned = {order["token"] for order in placing.orders}
    wrong = [t for t, page in placing.pages.items() if orders.get(t, (None,))[0] != page]
    pages = Counter(placing.pages.values())
    shared = sorted(page for page, n in pages.items() if n > 1)
    extra = sorted(orders[t][0] for t in set(orders) - planned)
    unseen = sorted(orders[t][0] for t in (set(orders) & planned) - set(placing.pages))
    unplaced = planned - set(orders)
    ok = not (wrong or shared or extra or unplaced)
    return Check(
        "orders counted once",
        "orders counted by form token: one row per form, each page its token's order",
        ok,
        f"{len(planned)} forms, {len(orders)} orders in the database, {len(placing.pages)} "
        f"order pages seen ({placing.retries} POSTs retried)"
        + (f"; pages showing another order than their token's: {len(wrong)}" if wrong else "")
        + (f"; one order behind several forms: {ids_text(shared)}" if shared else "")
        + (f"; orders of no form: {ids_text(extra)}" if extra else "")
        + (f"; placed, but the client never saw the page: {ids_text(unseen)}" if unseen else "")
        + (f"; never placed (the client gave up): {len(unplaced)}" if unplaced else ""),
    )


def check_stock(result: Soak, world: World | None) -> list[Check]:
    """Amazon's books against the world's shelves, and bought = packed + on the shelves."""
    amazon = result.amazon_db
    books = {
        (warehouse, product): (on_hand, on_order)
        for warehouse, product, on_hand, on_order in query(
            amazon, "SELECT warehouse_id, product_id, on_hand, on_order FROM catalog_stock"
        )
    }
    on_order = {key: n for key, (_, n) in books.items() if n}
    shelves: Counter[tuple[int, int]] = Counter()
    packed: Counter[tuple[int, int]] = Counter()
    bought: Counter[tuple[int, int]] = Counter()
    unacked_buys = 0
    if world is not None:
        for warehouse in world.warehouses.values():
            for product, count in warehouse.stock.items():
                shelves[warehouse.id, product] += count
        # What the world packed: the lines of the orders it has a package for.
        lines = query(amazon, "SELECT order_id, product_id, count FROM orders_orderline")
        for order_id, product, count in lines:
            if package := world.packages.get(order_id):
                packed[package.warehouse, product] += count
        # What it sold us: every purchase it acked (it runs each seqnum once).
        for body, acked in query(
            amazon,
            "SELECT body, acked_at FROM messaging_outgoingmessage "
            f"WHERE peer = 'world:{world.id}' AND field = 'buy'",
        ):
            if acked is None:
                unacked_buys += 1
                continue
            purchase = wa.APurchaseMore.FromString(bytes(body))
            for thing in purchase.things:
                bought[purchase.whnum, thing.id] += thing.count
    hand = {key: n for key, (n, _) in books.items() if n or key in shelves}
    shelf = {key: n for key, n in shelves.items() if n or key in hand}
    differ = sorted(key for key in set(hand) | set(shelf) if hand.get(key, 0) != shelf.get(key, 0))
    keys = set(bought) | set(packed) | set(shelves)
    unbalanced = sorted(k for k in keys if bought[k] != packed[k] + shelves[k])
    return [
        Check(
            "books = shelves",
            "stock: Amazon's on_hand per warehouse and product = the world's shelves",
            world is not None and not differ,
            f"{len(shelf)} (warehouse, product) pairs, {sum(shelf.values())} units on the shelves"
            + "".join(
                f"; {w}/{p}: books {hand.get((w, p), 0)}, shelves {shelf.get((w, p), 0)}"
                for w, p in differ[:8]
            ),
        ),
        Check(
            "nothing on order",
            "stock: nothing on order at the end",
            not on_order,
            "none"
            if not on_order
            else ", ".join(f"{w}/{p}: {n}" for (w, p), n in on_order.items()),
        ),
        Check(
            "bought = packed + shelves",
            "stock: bought = packed + on the shelves (per warehouse and product)",
            world is not None and not unbalanced and not unacked_buys,
            f"bought {sum(bought.values())} units in acked purchases, packed "
            f"{sum(packed.values())}, on the shelves {sum(shelves.values())}"
            + (f"; {unacked_buys} purchases never acked" if unacked_buys else "")
            + "".join(
                f"; {w}/{p}: bought {bought[w, p]}, packed {packed[w, p]}, shelves {shelves[w, p]}"
                for w, p in unbalanced[:8]
            ),
        ),
    ]


def ids_text(ids: list[int], most: int = 12) -> str:
    shown = ", ".join(map(str, ids[:most]))
    return f"{shown}, ... ({len(ids)})" if len(ids) > most else shown


# -- stuck orders ----------------------------------------------------------------------------


def diagnose(result: Soak, world: World | None, output: list[str]) -> list[Stuck]:
    """Every order that did not end delivered: its state in Amazon's and UPS's databases
    and in the world, the messages about it still waiting for an answer, its last lines
    in the log."""
    amazon, ups = result.amazon_db, result.ups_db
    rows = query(
        amazon,
        "SELECT id, status, warehouse_id, truck_id, loading_truck_id, failure "
        "FROM orders_order WHERE status != 'delivered' ORDER BY id",
    )
    if not rows:
        return []
    ids = [row[0] for row in rows]
    packages = {
        row[0]: row
        for row in query(
            ups,
            "SELECT id, status, truck_id, announced, delivery_seqnum, redirect_seqnum, "
            "pickup_refusals, failure FROM shipments_package "
            f"WHERE id IN ({', '.join(map(str, ids))})",
        )
    }
    trucks = {
        row[0]: row
        for row in query(
            ups, "SELECT id, status, warehouse_id, loading_deadline FROM shipments_truck"
        )
    }
    received = {
        side: {
            (peer, seqnum)
            for peer, seqnum in query(db, "SELECT peer, seqnum FROM messaging_incomingmessage")
        }
        for side, db in (("amazon", amazon), ("ups", ups))
    }
    trucks_of = {row[2] for row in packages.values() if row[2] is not None}
    mentions, truck_lines, ran = read_mentions(output, set(ids), trucks_of)
    stuck = []
    for order_id, status, warehouse, truck, loading_truck, failure in rows:
        since = None
        package = packages.get(order_id)
        in_world = world.packages.get(order_id) if world else None
        kind = (
            f"Amazon {status} / UPS {package[1] if package else 'no package'} / world "
            f"{in_world.status.value if in_world else 'no package'}"
        )
        lines = [
            f"Amazon: {status}, warehouse {warehouse}, truck {truck}, loading truck "
            f"{loading_truck}{', failure: ' + failure if failure else ''}"
        ]
        for at, event, note in query(
            amazon,
            f"SELECT at, status, note FROM orders_orderevent WHERE order_id = {order_id} "
            "ORDER BY at, id",
        )[-5:]:
            lines.append(f"  event {clock(at)} {event}{': ' + note if note else ''}")
        open_messages: list[str] = []
        lines += outbox_lines(
            amazon,
            "Amazon",
            f"ref = 'order:{order_id}'",
            world,
            received["ups"],
            open_messages,
            ran,
        )
        if package:
            _, ups_status, ups_truck, announced, delivery, redirect, refusals, ups_failure = package
            lines.append(
                f"UPS: {ups_status}, truck {ups_truck}, announced {bool(announced)}, "
                f"delivery seqnum {delivery}, redirect seqnum {redirect}, pickup refusals "
                f"{refusals}{', failure: ' + ups_failure if ups_failure else ''}"
            )
            if ups_truck in trucks:
                _, truck_status, truck_warehouse, deadline = trucks[ups_truck]
                lines.append(
                    f"  UPS's truck {ups_truck}: {truck_status}, warehouse {truck_warehouse}, "
                    f"loading deadline {clock(deadline) if deadline else None}"
                )
            events = query(
                ups,
                f"SELECT at, kind, note FROM shipments_packageevent WHERE package_id = {order_id} "
                "ORDER BY at, id",
            )[-5:]
            for at, event, note in events:
                lines.append(f"  event {clock(at)} {event}{': ' + note if note else ''}")
            # Since it was given that truck: what the truck did in the world from then on.
            given = [at for at, _, note in events if note == f"truck {ups_truck}"]
            since = utc(as_datetime(given[0] if given else events[-1][0])) if events else None
            # Its messages, and its truck's still unanswered when it got that truck.
            refs = f"ref = 'package:{order_id}'"
            if ups_truck is not None and since is not None:
                then = since.strftime("%Y-%m-%d %H:%M:%S.%f")
                if ups.startswith("postgres"):
                    then += "+00:00"
                late = f"acked_at IS NULL OR acked_at >= '{then}'"
                refs += f" OR (ref = 'truck:{ups_truck}' AND ({late}))"
            lines += outbox_lines(
                ups, "UPS", refs, world, received["amazon"], open_messages, ran, last=12
            )
        else:
            lines.append("UPS: no package")
        if world is not None:
            lines += world_lines(world, order_id, in_world, open_messages)
        lines += [f"  log: {line}" for line in mentions.get(order_id, [])[-LOG_LINES:]]
        if package and package[2] is not None and since is not None:
            moves = [line for at, line in truck_lines[package[2]] if at >= since]
            lines += [f"  truck {package[2]} since then: {line}" for line in moves[:TRUCK_LINES]]
        events = query(
            amazon,
            f"SELECT note FROM orders_orderevent WHERE order_id = {order_id} ORDER BY at, id",
        )
        waits = waiting_for(status, events[-1][0] if events else "", package, world, in_world)
        stuck.append(Stuck(order_id, kind, lines, open_messages, waits))
    return stuck


def fleet(result: Soak, world: World | None) -> list[str]:
    """UPS's trucks as UPS and the world see them, with the packages UPS still has on
    each (a truck holding packages not yet sent out is not free for a pickup)."""
    held: dict[int, Counter[str]] = defaultdict(Counter)
    for truck, status, unsent, count in query(
        result.ups_db,
        "SELECT truck_id, status, delivery_seqnum IS NULL, count(*) FROM shipments_package "
        "WHERE truck_id IS NOT NULL AND status NOT IN ('delivered', 'failed') GROUP BY 1, 2, 3",
    ):
        what = f"{status}{' (no UGoDeliver sent)' if status == 'loaded' and unsent else ''}"
        held[truck][what] += count
    lines = []
    for truck, status, warehouse in query(
        result.ups_db, "SELECT id, status, warehouse_id FROM shipments_truck ORDER BY id"
    ):
        there = world.trucks.get(truck) if world is not None else None
        seen = f"{there.status.value}, {len(there.route)} stops to make" if there else "unknown"
        packages = ", ".join(f"{n} {what}" for what, n in held[truck].items()) or "none"
        lines.append(
            f"truck {truck}: UPS says {status} (warehouse {warehouse}), the world {seen}; "
            f"its packages not delivered: {packages}"
        )
    return lines


AMAZON_WAITS = {
    "placed": "stock from the world (APurchaseMore arriving), or to be taken in",
    "packing": "the world's APacked",
    "packed": "UPS's TruckArrived",
    "loading": "the world's ALoaded",
    "loaded": "UPS's OutForDelivery and Delivered",
    "delivering": "UPS's Delivered",
    "failed": "nothing (it failed)",
}


def waiting_for(
    status: str, last_note: str, package: tuple | None, world: World | None, in_world: Any
) -> str:
    """Who waits for what, by the order's state on the three sides."""
    amazon = AMAZON_WAITS.get(status, status)
    if status == "loading" and "refused" in last_note:
        amazon = "a new TruckArrived from UPS (the world refused its load)"
    if package is None:
        ups = "nothing: it never got the PickupRequest"
    else:
        _, ups_status, truck, _, delivery, _, _, _ = package
        ups = {
            "created": "a free truck (it sends the UGoPickup itself)",
            "truck dispatched": f"the world's UFinished ARRIVE WAREHOUSE of truck {truck}",
            "truck at warehouse": f"Amazon's PackageLoaded (truck {truck})",
            "loaded": f"the world's ack of its UGoDeliver #{delivery}"
            if delivery is not None
            else f"itself: it never sent a UGoDeliver for it (truck {truck})",
            "out for delivery": "the world's UDeliveryMade",
            "failed": "nothing (it failed)",
        }.get(ups_status, ups_status)
    if world is None or in_world is None:
        there = "no package in the world"
    else:
        there = f"package {in_world.status.value}"
        if in_world.truck is not None and (truck := world.trucks.get(in_world.truck)):
            on_route = any(stop.packageid == in_world.shipid for stop in truck.route)
            there += (
                f" on truck {truck.id}, which is {truck.status.value}"
                f"{'' if on_route else ' and has no stop for it'}"
            )
    return f"Amazon waits for {amazon}; UPS waits for {ups}; the world: {there}"


def outbox_lines(
    database: str,
    side: str,
    where: str,
    world: World | None,
    peer_received: set[tuple[str, int]],
    open_messages: list[str],
    ran: dict[tuple[str, int], str],
    last: int = 10,
) -> list[str]:
    """The messages ``side`` sent about it: when, acked or not (when), and whether the
    peer has it (for the world: when it ran it, by its log)."""
    lines = []
    me = "amazon" if side == "Amazon" else "ups"
    for peer, kind, seqnum, created, acked in query(
        database,
        "SELECT peer, field, seqnum, created_at, acked_at FROM messaging_outgoingmessage "
        f"WHERE {where} ORDER BY id",
    )[-last:]:
        if peer.startswith("world:") and world is not None:
            got = seqnum in world.sessions[Side(me)].received
            when = f" at {ran[me, seqnum]}" if (me, seqnum) in ran else ""
            has = f"the world {'ran it' + when if got else 'never got it'}"
        else:
            got = (me, seqnum) in peer_received
            has = f"{peer} {'recorded it' if got else 'has no record of it'}"
        state = f"acked {clock(acked)}" if acked is not None else "NOT ACKED"
        lines.append(f"  {side} -> {peer} {kind} #{seqnum}: sent {clock(created)}, {state}, {has}")
        if acked is None:
            open_messages.append(f"{side} -> {peer} {kind} #{seqnum} not acked ({has})")
    return lines


def world_lines(world: World, order_id: int, package: Any, open_messages: list[str]) -> list[str]:
    if package is None:
        return [f"world {world.id}: no package {order_id}"]
    lines = [
        f"world {world.id}: package {package.status.value} at warehouse {package.warehouse}, "
        f"truck {package.truck}"
    ]
    if package.truck is not None and (truck := world.trucks.get(package.truck)):
        stops = [stop.packageid for stop in truck.route]
        lines.append(
            f"  world's truck {truck.id}: {truck.status.value}, warehouse {truck.warehouse}, "
            f"loads in progress {truck.loads_in_progress}, route {len(stops)} stops"
            f"{' (this package among them)' if order_id in stops else ''}"
        )
    for side in Side:
        for item in world.sessions[side].outbox.items():
            about = {getattr(item, name, None) for name in ("shipid", "packageid")}
            truck = getattr(item, "truckid", None)
            if order_id in about or (
                truck is not None and truck == package.truck and side is Side.UPS
            ):
                text = f"world -> {side.value} {type(item).__name__} #{item.seqnum} not acked"
                lines.append(f"  {text}")
                open_messages.append(text)
    return lines


MENTION = re.compile(r"(?:shipid|packageid|package_id): (\d+)\b|(?:order|package)[ :](\d+)\b")


TRUCK = re.compile(r"truckid: (\d+)\b")
REPLAY = "amazon_ups.world.replay"  # the logger of a restarted world's journal replay
STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")
# The world's log line for each command it runs, e.g.
# "12:00:01,234 INFO amazon_ups.world: world 1: ups -> pickups UGoPickup(... seqnum: 23)"
RAN = re.compile(
    r"(\d\d:\d\d:\d\d),(\d{3}) INFO amazon_ups\.world: world \d+: (amazon|ups) -> "
    r".*seqnum: (\d+)\)$"
)


def read_mentions(
    output: list[str], ids: set[int], trucks: set[int]
) -> tuple[dict[int, list[str]], dict[int, list[tuple[datetime, str]]], dict[tuple[str, int], str]]:
    """From the log: the lines naming each order (package), the lines naming each truck,
    and when the world ran each command it got, by (side, seqnum)."""
    orders: dict[int, list[str]] = defaultdict(list)
    by_truck: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    ran: dict[tuple[str, int], str] = {}
    for line in output:
        if REPLAY in line:
            continue  # a restarted world replaying its journal: old news, logged again
        if match := RAN.search(line):
            ran[match[3], int(match[4])] = f"{match[1]}.{match[2]}"
        for match in MENTION.finditer(line):
            number = int(match[1] or match[2])
            if number in ids:
                orders[number].append(line.strip()[:300])
                break
        # The world's lines about a truck's moves: UPS's commands and their results.
        match = TRUCK.search(line)
        if match and int(match[1]) in trucks and ": ups " in line and (at := stamp(line)):
            by_truck[int(match[1])].append((at, line.strip()[:300]))
    return orders, by_truck, ran


def stamp(line: str) -> datetime | None:
    """When a piece logged ``line``: it logs local time, the databases hold UTC."""
    found = STAMP.search(line)
    return datetime.fromisoformat(f"{found[1]}.{found[2]}").astimezone(UTC) if found else None


def clock(value: Any) -> str:
    return as_datetime(value).strftime("%H:%M:%S.%f")[:-3]


def unacked_messages(result: Soak, world: World | None) -> list[str]:
    """Messages still waiting for an ack at the end, on every link."""
    found = []
    for side, database in (("Amazon", result.amazon_db), ("UPS", result.ups_db)):
        for peer, kind, count in query(
            database,
            "SELECT peer, field, count(*) FROM messaging_outgoingmessage "
            "WHERE acked_at IS NULL GROUP BY peer, field ORDER BY peer, field",
        ):
            found.append(f"{side} -> {peer} {kind}: {count}")
    if world is not None:
        for side in Side:
            kinds = Counter(type(item).__name__ for item in world.sessions[side].outbox.items())
            found += [f"world -> {side.value} {kind}: {n}" for kind, n in kinds.items()]
    return found


# -- report ----------------------------------------------------------------------------------


def utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def report(result: Soak, args: argparse.Namespace) -> None:
    if result.skipped:
        return
    placing = result.placing
    if placing is None:
        print(f"\n   the run did not get as far as placing orders: {result.problem}")
        print(f"   every piece's log: {result.log}")
        return
    print(f"\n   faults: {faults_text(args)}")
    print(f"   kills: {kills_text(args)}")

    print(
        f"\n1. Placing: {len(placing.orders):,} orders by {args.clients} clients at {args.rate:g}/s"
    )
    print(
        f"   {len(placing.pages):,} order pages seen in {result.placing_seconds:.1f} s; "
        f"{placing.retries} POSTs posted again (same token); gave up on {len(placing.gave_up)}"
    )
    for error in placing.errors[:3]:
        print(f"     e.g. {error}")

    print(
        "\n2. Kills (SIGKILL of a piece and every process it started; the supervisor restarts it)"
    )
    if args.no_kills:
        print("   none (--no-kills: faults alone)")
    else:
        counts = Counter(kill.piece for kill in result.kills)
        print(
            f"   {len(result.kills)} kills in {result.kills_until:.1f} s (the last "
            f"{result.kills[-1].offset if result.kills else 0:.1f} s after the first order): "
            + ", ".join(f"{piece} {counts[piece]}" for piece in CHILDREN)
            + (
                f"; {result.missed_kills} turns found every piece left in the round down"
                if result.missed_kills
                else ""
            )
        )
    other = {key: n for key, n in result.exits.items() if key[1] != "-9"}
    ours = sum(n for key, n in result.exits.items() if key[1] == "-9")
    print(
        f"   exits the supervisor saw: {ours} by SIGKILL"
        + (
            "; others (crashes, not ours): "
            + ", ".join(f"{piece} exit {code} x{n}" for (piece, code), n in sorted(other.items()))
            if other
            else "; no other exit"
        )
    )

    print("\n3. Delivering (waited for in the Amazon database)")
    statuses = result.statuses
    in_db = sum(statuses.values())
    stuck = in_db - statuses["delivered"] - statuses["failed"]
    print(
        f"   {in_db:,} orders: delivered {statuses['delivered']:,}, failed {statuses['failed']}, "
        f"stuck {stuck}; the wait ended: {result.ended or result.problem}"
    )
    if result.kills and result.last_delivery:
        print(f"   {recovery(result)}")
    if result.latencies:
        lat = result.latencies
        print(
            "   order-to-delivered (delivered event at - order created_at): "
            f"p50 {ms(percentile(lat, 0.5))}, p90 {ms(percentile(lat, 0.9))}, "
            f"p99 {ms(percentile(lat, 0.99))}, max {ms(max(lat))}"
        )

    print("\n4. Checks (from both databases and from the world's journal, after the stop)")
    for check in result.checks:
        print(f"   {'PASS' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    if result.problem:
        print(f"   FAIL  the run: {result.problem}")

    for piece, found in result.wedged.items():
        first, last, turns = max(found, key=lambda streak: streak[1] - streak[0])
        print(
            f"   {piece}: {sum(n for _, _, n in found)} turns failed on the database in "
            f"{len(found)} streaks of retries, together at least {wedged_seconds(found):.1f} s "
            f"without a turn completing (nothing sent, not even acks); the longest {turns} turns, "
            f"{clock(first)} -> {clock(last)}"
        )
    if result.trouble:
        print("\n5. Warnings and errors in the pieces' logs (numbers as N), the most frequent")
        for piece in CHILDREN:
            if counts := result.trouble.get(piece):
                print(f"   {piece}: {sum(counts.values())} lines")
                for text, n in counts.most_common(5):
                    print(f"     {n:>6} x {text}")
    if result.at_stall:
        print("\n   The pieces when the wait ended, before the stop:")
        for line in result.at_stall:
            print(f"     {line}")
    report_stuck(result)
    print(f"\n   the run took {result.wall:.1f} s; every piece's log: {result.log}")
    print(summary_line(result, args))
    sys.stdout.flush()


def report_stuck(result: Soak) -> None:
    if not result.stuck:
        return
    kinds: dict[str, list[Stuck]] = defaultdict(list)
    for one in result.stuck:
        kinds[one.kind].append(one)
    print(f"\n6. Orders not delivered: {len(result.stuck)}, by their state on the three sides")
    print("   UPS's trucks at the end:")
    for line in result.fleet:
        print(f"     {line}")
    for kind, ones in sorted(kinds.items(), key=lambda item: -len(item[1])):
        print(f"\n   {len(ones)} x {kind}: {ids_text([o.order_id for o in ones], 30)}")
        for waits, n in Counter(re.sub(r"\d+", "N", o.waits) for o in ones).most_common(3):
            print(f"   {n} x {waits}")
        waiting = Counter(re.sub(r"#\d+", "#N", m) for o in ones for m in o.open_messages)
        if waiting:
            print(
                "   messages about them still unanswered: "
                + "; ".join(f"{m} (x{n})" for m, n in waiting.most_common(6))
            )
        else:
            print("   no message about them is waiting for an answer: nobody will move them")
        for one in ones[:DETAILED]:
            print(f"   -- order {one.order_id}")
            for line in one.lines:
                print(f"     {line}")


def recovery(result: Soak) -> str:
    """How long orders still took to be delivered after the last kill."""
    assert result.last_delivery is not None and result.kills
    gap = (result.last_delivery - result.kills[-1].at).total_seconds()
    if gap >= 0:
        return f"last kill -> last delivery {gap:.1f} s"
    return f"last kill -> last delivery: none after it (the last came {-gap:.1f} s before)"


def faults_text(args: argparse.Namespace) -> str:
    return (
        f"the world drops {args.flakiness}% of incoming commands; of its responses drops "
        f"{args.drop_responses:.0%}, duplicates {args.duplicate_responses:.0%}, reorders "
        f"{args.reorder_responses:.0%}, delays {args.delay_responses:.0%} (up to "
        f"{args.max_delay:g} s); seed {args.seed}"
    )


def kills_text(args: argparse.Namespace) -> str:
    if args.no_kills:
        return "none (--no-kills)"
    return (
        f"a piece every {args.kill_every:g} s, from the first order to {args.kill_after:g} s "
        "after the last was placed (or until no order is in flight, if sooner)"
    )


def summary_line(result: Soak, args: argparse.Namespace) -> str:
    name = f"soak {result.kind}"
    if result.skipped:
        return f"{name}: SKIPPED: {result.problem}"
    statuses = result.statuses
    planned = len(result.placing.orders) if result.placing else args.orders
    stuck = sum(statuses.values()) - statuses["delivered"] - statuses["failed"]
    failed = [check.short for check in result.checks if not check.ok]
    stock = all(c.ok for c in result.checks if c.short in STOCK_CHECKS) and result.checks
    if result.ok:
        parts = [f"{statuses['delivered']}/{planned} delivered exactly once, stock conserved"]
    else:
        parts = [
            f"FAILED: {statuses['delivered']}/{planned} delivered, {statuses['failed']} failed, "
            f"{stuck} stuck, stock {'conserved' if stock else 'NOT conserved'}"
        ]
        if failed:
            parts.append("checks failed: " + ", ".join(failed))
        if result.problem:
            parts.append(result.problem)
    counts = Counter(kill.piece for kill in result.kills)
    parts.append(
        "no kills" if args.no_kills else "kills " + ", ".join(f"{p} {counts[p]}" for p in CHILDREN)
    )
    if result.kills and result.last_delivery:
        parts.append(recovery(result))
    if result.latencies:
        lat = result.latencies
        parts.append(f"p50 {percentile(lat, 0.5):.1f} s p99 {percentile(lat, 0.99):.1f} s")
    for piece, reasons in result.turns_failed.items():
        reason, count = reasons.most_common(1)[0]
        parts.append(
            f"{piece}: {sum(reasons.values())} turns failed on the database ({count}x {reason})"
        )
    if result.errors:
        parts.append("ERROR lines " + ", ".join(f"{p} {n}" for p, n in result.errors.items()))
    parts.append(f"wall {result.wall:.0f} s")
    return f"{name}: " + "; ".join(parts)


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Faults unless told otherwise: "
        + " ".join(f"--{name.replace('_', '-')} {value}" for name, value in FAULTS.items())
        + " (the seed also chooses the orders and the kills).",
    )
    parser.add_argument("--orders", type=int, help="orders to place (default 1000; --quick 60)")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres", "both"],
        help="which database kind (default both; --quick sqlite)",
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument(
        "--rate", type=float, help="orders placed per second (default 10; --quick 4)"
    )
    parser.add_argument(
        "--simspeed", type=int, default=20_000, help="world simspeed (default 20000)"
    )
    parser.add_argument(
        "--trucks",
        type=int,
        default=3,
        help="trucks UPS brings (default 3: work always waits for a truck to come free)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per web site")
    # The world's own fault options (amazon-ups up passes them on), with a soak's defaults;
    # --seed seeds the orders and the kills too.
    add_fault_arguments(parser, passed_on=True)
    parser.set_defaults(**FAULTS)
    kills = parser.add_argument_group("kills")
    kills.add_argument("--no-kills", action="store_true", help="faults alone: kill nothing")
    kills.add_argument(
        "--kill-every", type=float, help="seconds between kills (default 5; --quick 2)"
    )
    kills.add_argument(
        "--kill-after",
        type=float,
        help="keep killing this long after the last order was placed, then drain "
        "(default 30 s; --quick 10)",
    )
    parser.add_argument(
        "--stall",
        type=float,
        help="end the wait when no order changed status this long (default 180 s; --quick 60)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="end the wait after this long at most (s)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="after every order ended, wait this long at most for the last acks (s, default 60)",
    )
    parser.add_argument(
        "--retry-for",
        type=float,
        default=300.0,
        help="how long a client keeps posting one order again (s, default 300)",
    )
    parser.add_argument(
        "--var", help="folder for the runs (kept; default a new soak-* folder in the temp dir)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="60 orders, SQLite, kills every 2 s (under a minute)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "orders": (1000, 60),
        "database": ("both", "sqlite"),
        "rate": (10.0, 4.0),
        "kill_every": (5.0, 2.0),
        "kill_after": (30.0, 10.0),
        "stall": (180.0, 60.0),
    }
    for name, (normal, fast) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, fast if quick else normal)
    if args.orders < 1 or args.clients < 1 or args.rate <= 0 or args.kill_every <= 0:
        parser.error("need --orders, --clients >= 1 and --rate, --kill-every > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    root = Path(args.var) if args.var else Path(tempfile.mkdtemp(prefix="soak-"))
    root.mkdir(parents=True, exist_ok=True)
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    print(f"machine: {machine()}")
    print(
        f"parameters: {args.orders:,} orders by {args.clients} HTTP clients at {args.rate:g}/s, "
        f"simspeed {args.simspeed:,}, {args.trucks} trucks, {args.workers} web workers per site; "
        f"databases: {', '.join(kinds)}{' (--quick)' if args.quick else ''}; runs kept in {root}"
    )
    print(f"faults: {faults_text(args)}")
    print(f"kills: {kills_text(args)}; stall deadline {args.stall:g} s", flush=True)
    runs = [run_one(kind, args, root) for kind in kinds]
    print(f"\nSummary ({time.monotonic() - started:.0f} s in all; runs kept in {root})")
    for run in runs:
        print(summary_line(run, args))
    # A skipped run (no PostgreSQL server) fails no check: it says so, and counts as passed.
    return 1 if any(not run.skipped and not run.ok for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
