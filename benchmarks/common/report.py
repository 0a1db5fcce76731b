"""What every benchmark prints: the machine it ran on, a progress bar on stderr, and
percentiles of durations."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sqlite3
import sys
import time
from pathlib import Path

import django
import psutil


def cpus() -> str:
    """How many CPUs, how many this process may use, and their model."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{os.cpu_count()} CPUs ({usable} usable), {model}"


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{cpus()}, {memory:.0f} GiB; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"Django {django.get_version()}; SQLite {sqlite3.sqlite_version}; "
        f"CPU reference {cpu_reference_ms():.1f} ms"
    )


def _reference_work() -> int:
    # What our processes mostly do: calls, attribute and dict look-ups, small strings.
    class Row:
        __slots__ = ("id", "name")

        def __init__(self, id: int, name: str) -> None:
            self.id, self.name = id, name

    seen: dict[str, int] = {}
    for i in range(40_000):
        row = Row(i, f"row-{i % 500}")
        seen[row.name] = seen.get(row.name, 0) + row.id
    return len(seen)


def cpu_reference_ms(rounds: int = 7) -> float:
    """CPU ms of a fixed piece of pure-Python work, the least disturbed of ``rounds``.

    The cloud machines these benchmarks run on differ from day to day by up to 2x in
    speed; absolute figures (CPU ms per order, per request) of runs on different days
    compare only through this figure: a run whose reference is twice as large ran on a
    machine twice as slow."""
    best = math.inf
    for _ in range(rounds):
        start = time.process_time()
        _reference_work()
        best = min(best, time.process_time() - start)
    return best * 1000


class Bar:
    """One line on stderr, rewritten in place: done/total, elapsed, rate."""

    WIDTH = 30

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = max(total, 1)
        self.start = time.monotonic()
        self.shown = 0.0

    def show(self, done: int, extra: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.shown < 0.2:
            return
        self.shown = now
        elapsed = now - self.start
        filled = min(self.WIDTH, self.WIDTH * done // self.total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        rate = done / elapsed if elapsed > 0 else 0.0
        line = (
            f"  {self.label} [{bar}] {done}/{self.total}  {elapsed:6.1f} s  {rate:7.1f}/s"
            f"{'  ' + extra if extra else ''}"
        )
        sys.stderr.write(f"\r{line:<100}")
        sys.stderr.flush()

    def close(self, done: int, extra: str = "") -> None:
        self.show(done, extra, force=True)
        sys.stderr.write("\n")
        sys.stderr.flush()


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of them at or below."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(fraction * len(ordered)))) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"
