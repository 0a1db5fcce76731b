"""benchmarks/end_to_end.py's summary: each run's headline figures, with several runs of a
database their median, and the (median) figures against the issue's goals. Runs made
here by hand: the system itself is run by the end-to-end tests."""

from __future__ import annotations

import argparse
import re

import pytest

from benchmarks import end_to_end as e2e
from benchmarks.common.shop import Placing
from benchmarks.common.system import CHILDREN


def run(kind: str, *, delivered_rate: float, p50: float, cpu_ms: float) -> e2e.Run:
    """A finished run of 100 orders: placed in 2 s, latencies up to twice ``p50``, and the
    system's CPU per delivered order ``cpu_ms`` (its daemons, web and, on PostgreSQL,
    the server, with this benchmark's own clients on top, which do not count)."""
    result = e2e.Run(kind, ceiling=1_000.0, finished=True, delivered_rate=delivered_rate)
    result.placing = Placing(orders=[{}] * 100, placed=list(range(100)))
    result.placing_seconds = 2.0
    result.latencies = [p50 * (i + 1) / 50 for i in range(100)]
    result.statuses["delivered"] = 100
    roles = e2e.system_roles(kind)
    share = cpu_ms / 1000 * 100 / len(roles)
    per_role = {role: share for role in roles} | {e2e.BENCHMARK: 5.0}
    result.cpu = [e2e.CpuPhase(e2e.WHOLE, 10.0, per_role, 20.0)]
    return result


def summary(runs: list[e2e.Run], capsys) -> str:
    e2e.summary(runs, argparse.Namespace(orders=100, clients=50))
    return capsys.readouterr().out


def test_the_cpu_per_order_is_the_systems_own_and_counts_the_server_on_postgres_only():
    sqlite = run("sqlite", delivered_rate=60, p50=1, cpu_ms=20)
    postgres = run("postgres", delivered_rate=60, p50=1, cpu_ms=30)
    assert sqlite.system_cpu() == pytest.approx(0.020)
    assert postgres.system_cpu() == pytest.approx(0.030)
    assert e2e.POSTGRES in e2e.system_roles("postgres")
    assert e2e.POSTGRES not in e2e.system_roles("sqlite")
    assert set(CHILDREN.values()) <= set(e2e.system_roles("sqlite"))


def test_several_runs_are_summed_up_by_each_figures_median_and_weighed_against_the_goals(
    capsys,
):
    runs = [
        run("sqlite", delivered_rate=70, p50=1.0, cpu_ms=20),
        run("postgres", delivered_rate=40, p50=2.5, cpu_ms=40),
        run("sqlite", delivered_rate=45, p50=1.2, cpu_ms=30),
        run("postgres", delivered_rate=55, p50=1.8, cpu_ms=27),
        run("sqlite", delivered_rate=60, p50=1.1, cpu_ms=22),
        run("postgres", delivered_rate=52, p50=1.9, cpu_ms=26),
    ]
    out = summary(runs, capsys)
    assert re.search(r"sqlite #3 .* 60\.0 .* 22\.0 ", out), out
    # Each figure's own median, not the middle run's: 60 delivered/s, 1.1 s, 22 ms.
    median = re.search(r"^   sqlite median of 3 +(.*)$", out, re.MULTILINE)
    assert median is not None, out
    _placed, delivered, p50, *_, cpu, _ = median.group(1).replace(",", "").split()
    assert (float(delivered), p50, float(cpu)) == (60.0, "1100", 22.0)
    assert "postgres median of 3" in out
    goals = dict(re.findall(r"^   (sqlite|postgres) +(CPU .*)$", out, re.MULTILINE))
    assert goals["sqlite"].startswith("CPU 22.0 <= 25 ms ok, 60.0 >= 50 delivered/s ok")
    assert goals["postgres"].startswith("CPU 27.0 <= 25 ms MISSED, 52.0 >= 50 delivered/s ok")
    assert "p50 1.90 <= 2 s ok" in goals["postgres"]


def test_a_run_that_did_not_finish_is_shown_but_left_out_of_the_median(capsys):
    stalled = run("sqlite", delivered_rate=5, p50=9.0, cpu_ms=90)
    stalled.finished, stalled.problem = False, "nothing moved for 60 s"
    runs = [run("sqlite", delivered_rate=60, p50=1.0, cpu_ms=20), stalled]
    out = summary(runs, capsys)
    assert "NOT FINISHED: nothing moved for 60 s" in out
    assert re.search(r"sqlite median of 1 .* 60\.0 .* 20\.0 ", out), out
