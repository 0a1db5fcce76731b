"""What each piece of ``amazon-ups up`` costs at rest, and how soon a new order is still
taken in.

    .venv/bin/python benchmarks/idle.py [--seconds S] [--orders N]
        [--database sqlite|postgres|both] [--quick]

For each database kind (SQLite files in the var folder; or fresh PostgreSQL databases on
the server at TEST_POSTGRES_URL, as the end-to-end tests make them):

1. ``amazon-ups up`` (``amazon_ups.testing.system.System``) starts; one order is placed
   over HTTP and waited for until delivered, so that every link is up and every piece
   has done its work once.
2. Rest: nothing is asked of the system for ``--seconds`` (60; 15 with ``--quick``).
   Each piece's CPU over that time (psutil; a web site counts with its workers), as a
   share of one core, next to the goal: every piece under 0.5%.
3. Wake-up: ``--orders`` orders, each placed after 3 s of rest (the daemons are deep in
   their wait by then), and for each the time from its creation (by the web) to the
   Amazon daemon taking it in (its first event after "placed"), both from the Amazon
   database. Goal: at most 50 ms.

Progress goes to stderr, figures to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from amazon_ups.testing.system import System, buy, query, shopper_for, status_of  # noqa: E402
from amazon_ups.testing.waiting import wait_until  # noqa: E402
from benchmarks.common.report import Bar, machine, percentile  # noqa: E402
from benchmarks.common.system import (  # noqa: E402
    CHILDREN,
    as_datetime,
    postgres_or_none,
    postgres_version,
)

GOAL_CPU = 0.005  # share of one core, every piece at rest
GOAL_PICKUP = 0.050  # seconds from an order's creation to the daemon taking it in
REST_BEFORE_ORDER = 3.0  # seconds of rest before each timed order


@dataclass
class Run:
    kind: str
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # piece -> share of one core
    pickups: list[float] = field(default_factory=list)
    problem: str = ""


def pieces(system: System) -> dict[str, list[psutil.Process]]:
    """Each piece's processes: the supervisor, and each child with what it started."""
    assert system.proc is not None
    found = {"supervisor (up)": [psutil.Process(system.proc.pid)]}
    for child, name in CHILDREN.items():
        process = psutil.Process(system.pid(child))
        found[name] = [process, *process.children(recursive=True)]
    return found


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def taken_in_after(database: str, order_id: int) -> float | None:
    """Seconds from the order's creation to its first event after "placed"; None yet."""
    rows = query(
        database,
        "SELECT o.created_at, MIN(e.at) FROM orders_order o "
        "JOIN orders_orderevent e ON e.order_id = o.id AND e.kind != 'placed' "
        f"WHERE o.id = {int(order_id)} GROUP BY o.id, o.created_at",
    )
    if not rows or rows[0][1] is None:
        return None
    created, taken = rows[0]
    return (as_datetime(taken) - as_datetime(created)).total_seconds()


def measure(result: Run, args: argparse.Namespace, var: Path, extra: list[str], db: str) -> None:
    system = System(var, ["--simspeed", "2000", *extra])
    try:
        system.start()
        shopper = shopper_for(system)
        order_path = buy(shopper, 1, 5, 5)
        wait_until(
            lambda: status_of(shopper, order_path) == "delivered", 120, "the warm-up's delivery"
        )
        processes = pieces(system)
        before = {name: cpu_seconds(group) for name, group in processes.items()}
        bar = Bar("at rest", int(args.seconds))
        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < args.seconds:
            bar.show(int(elapsed))
            time.sleep(min(1.0, args.seconds - elapsed))  # a measuring window, not a wait
        result.seconds = time.monotonic() - began
        bar.close(int(args.seconds))
        result.cpu = {
            name: (cpu_seconds(group) - before[name]) / result.seconds
            for name, group in processes.items()
        }
        bar = Bar("orders after rest", args.orders)
        for index in range(args.orders):
            time.sleep(REST_BEFORE_ORDER)  # rest, so the daemon is deep in its wait
            order_id = int(buy(shopper, 1, 5, 5).strip("/").split("/")[-1])
            taken: list[float] = []

            def seen(order_id: int = order_id, taken: list[float] = taken) -> bool:
                value = taken_in_after(db, order_id)
                if value is not None:
                    taken.append(value)
                return value is not None

            wait_until(seen, 30, f"order {order_id} taken in")
            result.pickups.append(taken[-1])
            bar.show(index + 1, force=True)
        bar.close(args.orders)
    finally:
        system.stop()


def run_one(kind: str, args: argparse.Namespace, directory: Path) -> Run:
    result = Run(kind)
    var = directory / kind / "var"
    var.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        if kind == "sqlite":
            print(f"\n== SQLite (files in {var}) ==", flush=True)
            database, extra = str(var / "amazon.sqlite3"), []
        else:
            urls = postgres_or_none(stack, "amazon", "ups")
            if urls is None:
                result.problem = "no PostgreSQL server answers"
                print("\n== PostgreSQL: skipped (no server answers) ==", flush=True)
                return result
            print(f"\n== {postgres_version()} ==", flush=True)
            database = urls["amazon"]
            extra = ["--amazon-db", urls["amazon"], "--ups-db", urls["ups"]]
        try:
            measure(result, args, var, extra, database)
        except Exception as error:
            result.problem = f"{type(error).__name__}: {error}"
    report(result)
    return result


def report(result: Run) -> None:
    if result.problem:
        print(f"   problem: {result.problem}")
    if result.cpu:
        print(f"\n   at rest for {result.seconds:.0f} s: CPU as a share of one core")
        print(f"   {'piece':<20}{'CPU':>8}   goal: under {GOAL_CPU:.1%}")
        for name, share in result.cpu.items():
            mark = "ok" if share < GOAL_CPU else "OVER"
            print(f"   {name:<20}{share:>8.2%}   {mark}")
    if result.pickups:
        p50, worst = percentile(result.pickups, 0.5), max(result.pickups)
        mark = "ok" if worst <= GOAL_PICKUP else "OVER"
        print(
            f"\n   an order placed after {REST_BEFORE_ORDER:.0f} s of rest, taken in by the "
            f"Amazon daemon after: p50 {p50 * 1000:.0f} ms, max {worst * 1000:.0f} ms "
            f"({len(result.pickups)} orders; goal: at most {GOAL_PICKUP * 1000:.0f} ms: {mark})"
        )
    sys.stdout.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, help="seconds at rest (default 60)")
    parser.add_argument("--orders", type=int, default=5, help="orders timed after rest")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres", "both"],
        help="which database kind (default both; --quick sqlite)",
    )
    parser.add_argument("--quick", action="store_true", help="15 s at rest, SQLite only")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 15.0 if args.quick else 60.0
    if args.database is None:
        args.database = "sqlite" if args.quick else "both"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"machine: {machine()}")
    print(
        f"parameters: {args.seconds:g} s at rest, then {args.orders} orders each after "
        f"{REST_BEFORE_ORDER:g} s of rest; databases: {args.database}"
    )
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="idle-bench-") as tmp:
        for kind in kinds:
            run_one(kind, args, Path(tmp))
    print(f"\n(benchmark took {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
