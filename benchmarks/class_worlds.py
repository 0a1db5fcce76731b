"""A class's worth of worlds: one world process serving many worlds at once, each with
its own Amazon and UPS connection running a steady order flow.

    .venv/bin/python benchmarks/class_worlds.py [--worlds N] [--rate R] [--seconds S] [--quick]

What runs: ``amazon-ups world`` as a real subprocess. In this process, each world gets a
UPS connection (which creates it, with its trucks) and an Amazon connection (which joins
it, with its warehouses), built as ``world_throughput``'s clients are: the whole order
flow (buy, pack, pick up, load, deliver, and queries) drives what they send. Unlike that
benchmark's "as fast as it can", every connection here sends ``--rate`` sub-commands a
second, paced, as a team's Amazon or UPS does during a class.

Figures, for one world alone (the baseline, in the same run) and then for ``--worlds``
at once: each sub-command's time from its send to the world's ack (p50, p99, max), the
world process's CPU, and its memory: RSS when started, with every world open, and after
the run; memory per world is the growth divided by the worlds. Goal: p99 under 50 ms
with 100 worlds. Progress goes to stderr, figures to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.common.report import Bar, machine, percentile  # noqa: E402
from benchmarks.common.world import WorldProcess  # noqa: E402
from benchmarks.world_throughput import Client, Mix, WorldDriver, open_world  # noqa: E402

MiB = 1024 * 1024
GOAL_P99 = 0.050  # seconds, with 100 worlds
TICK = 0.05  # seconds between two rounds of sends
# The world's defaults allow 256 connections per address: a class of 100 teams, each with
# an Amazon and a UPS, all on this machine's loopback, needs 200.
WINDOW = 10_000  # never the limit here: the rate is


@dataclass
class Run:
    worlds: int
    connections: int
    seconds: float
    latencies: list[float]
    world_cpu: float
    rss_started: int
    rss_open: int
    rss_after: int
    errors: list[str]

    def line(self, label: str) -> str:
        values = self.latencies
        p50, p99 = percentile(values, 0.50), percentile(values, 0.99)
        return (
            f"| {label} | {self.worlds} | {self.connections} | {len(values) / self.seconds:,.0f} "
            f"| {p50 * 1000:.1f} | {p99 * 1000:.1f} | {max(values) * 1000:.1f} "
            f"| {self.world_cpu / self.seconds:.0%} "
            f"| {self.rss_started / MiB:.1f} / {self.rss_open / MiB:.1f} "
            f"/ {self.rss_after / MiB:.1f} "
            f"| {(self.rss_open - self.rss_started) / self.worlds / 1024:,.0f} "
            f"/ {(self.rss_after - self.rss_started) / self.worlds / 1024:,.0f} |"
        )


async def steady(clients: list[Client], rate: float, seconds: float, progress: Bar) -> float:
    """Every connection sends ``rate`` sub-commands a second for ``seconds``; returns the
    time the sends took, until every one was acked."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    issued = 0
    while (elapsed := loop.time() - start) < seconds:
        due = int(rate * elapsed) - issued
        if due > 0:
            issued += due
            for client in clients:
                client.quota += due
                client.pump(resend=True)
        progress.show(int(elapsed), f"{sum(c.acked for c in clients):,} acked")
        # Pacing: the next round of sends is a tick away, whatever this one took.
        await asyncio.sleep(max(0.0, start + (int(elapsed / TICK) + 1) * TICK - loop.time()))
    deadline = loop.time() + 30
    while any(c.acked < c.sent for c in clients):
        if loop.time() > deadline:
            raise TimeoutError("the world did not ack every sub-command within 30 s")
        for client in clients:
            client.pump(resend=True)
        await asyncio.sleep(TICK)
    progress.close(int(seconds), f"{sum(c.acked for c in clients):,} acked")
    return loop.time() - start


async def measure(worlds: int, args: argparse.Namespace, directory: Path) -> Run:
    world = WorldProcess(directory, f"class-{worlds}")
    try:
        rss_started = world.rss()
        latencies: list[float] = []
        clients: list[Client] = []
        drivers: list[WorldDriver] = []
        progress = Bar(f"opening {worlds} worlds", worlds)
        for index in range(worlds):
            driver = WorldDriver(seed=index, mix=Mix(buy=0.3, pack=0.2))
            drivers.append(driver)
            clients += await open_world(
                world.ports, driver, args.simspeed, window=WINDOW, batch=1, latencies=latencies
            )
            progress.show(index + 1)
        progress.close(worlds)
        rss_open = world.rss()
        cpu = world.cpu()
        progress = Bar(f"{worlds} worlds, {args.rate:g}/s per connection", int(args.seconds))
        seconds = await steady(clients, args.rate, args.seconds, progress)
        world_cpu = world.cpu() - cpu
        rss_after = world.rss()
        for client in clients:
            client.close()
    finally:
        world.stop()
    errors = [error for driver in drivers for error in driver.errors][:5]
    return Run(
        worlds,
        len(clients),
        seconds,
        latencies,
        world_cpu,
        rss_started,
        rss_open,
        rss_after,
        errors,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=100, help="worlds at once (default 100)")
    parser.add_argument(
        "--rate", type=float, default=20, help="sub-commands a second per connection (default 20)"
    )
    parser.add_argument("--seconds", type=float, help="seconds of steady flow (default 30)")
    parser.add_argument("--simspeed", type=int, default=10_000, help="simspeed of every world")
    parser.add_argument("--quick", action="store_true", help="10 s of flow")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 10.0 if args.quick else 30.0
    if args.worlds < 1 or args.rate <= 0 or args.seconds <= 0:
        parser.error("need --worlds >= 1, --rate > 0 and --seconds > 0")
    return args


async def main_async(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}")
    print(
        f"parameters: {args.worlds} worlds x (UPS + Amazon), {args.rate:g} sub-commands a "
        f"second per connection for {args.seconds:g} s, simspeed {args.simspeed:,}; "
        f"{Mix(buy=0.3, pack=0.2).describe()}, loads and deliveries as the flow calls for them"
    )
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="class-worlds-") as tmp:
        directory = Path(tmp)
        alone = await measure(1, args, directory)
        many = await measure(args.worlds, args, directory)
    print()
    print(
        "| run | worlds | connections | sub-commands/s | p50 ms | p99 ms | max ms "
        "| world CPU (of a core) | world RSS MiB: started / open / after "
        "| KiB per world: open / after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(alone.line("baseline: one world"))
    print(many.line(f"{args.worlds} worlds"))
    p99 = percentile(many.latencies, 0.99)
    verdict = "met" if p99 < GOAL_P99 else "NOT met"
    print(
        f"\ngoal: command-to-ack p99 under {GOAL_P99 * 1000:.0f} ms with {args.worlds} worlds: "
        f"{p99 * 1000:.1f} ms ({verdict}); the baseline's p99 is "
        f"{percentile(alone.latencies, 0.99) * 1000:.1f} ms"
    )
    for run in (alone, many):
        if run.errors:
            print(f"world errors ({run.worlds} worlds), first ones: {run.errors}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    asyncio.run(main_async(args))
    print(f"\n(benchmark took {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
