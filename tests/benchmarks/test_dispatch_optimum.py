"""benchmarks/dispatch_optimum.py: the world's rules played on a plan, and OR-Tools'
plans for bursts small enough to solve by hand.

The solver runs in its own venv (.venv-ortools, made on first use: OR-Tools cannot share
ours, see the module), through the same JSON pipe benchmarks/dispatch.py uses. Figures
at the world's default timing: 0.1 s a grid unit, 0.5 s a load, packed 1 s after the
order."""

from __future__ import annotations

import pytest

from benchmarks import dispatch_optimum as optimum
from benchmarks.dispatch_optimum import DELIVER, PICKUP, Job, Problem

W = (0, 0)  # the one warehouse


def problem(jobs, trucks, capacity) -> Problem:
    return Problem(tuple(Job(*job) for job in jobs), tuple(trucks), capacity)


# Two packages at W, north to (0, 100) and (0, 105); truck 1 at W, truck 2 three units
# south of it, capacity 2.
# - Fastest: truck 1 loads the far one (0.5 s) and is there at 0.5 + 10.5 = 11.0; truck 2
#   reaches W at 0.3, loads the other by 0.8 and is at (0, 100) at 10.8. Nothing is
#   faster: the far one is there at 11.0 at best (loaded alone, by the truck at W).
#   Distance 105 + 3 + 100 = 208.
# - Shortest: truck 1 takes both, 105 units; by 1.0 + 10.0 + 0.5 = 11.5 s.
TWO_TRUCKS = problem([(1, W, (0, 100), 0.0), (2, W, (0, 105), 0.0)], [(1, 0, 0), (2, 0, -3)], 2)
# The same packages, one truck at W that carries one at a time: load, 100 out, 100 back,
# load, 105 out: 0.5 + 10 + 10 + 0.5 + 10.5 = 31.5 s and 305 units (the far one first:
# 32.0 s, 310 units).
ONE_AT_A_TIME = problem([(1, W, (0, 100), 0.0), (2, W, (0, 105), 0.0)], [(1, 0, 0)], 1)
# One truck at W; package 1 to (0, 100) ready at once, package 2 to (0, -100) only ready
# at 25 s. Fastest: out and back with package 1 (20.5 s), wait, load by 25.5, south by
# 35.5 s; 300 units. Waiting for both costs 20 s more, the same distance. Were the ready
# time ignored: both loaded by 1.0, done by 31.0.
LATE_PACKAGE = problem([(1, W, (0, 100), 0.0), (2, W, (0, -100), 25.0)], [(1, 0, 0)], 2)


def test_evaluate_plays_the_world_rules():
    routes = {1: [(PICKUP, 1), (DELIVER, 1), (PICKUP, 2), (DELIVER, 2)]}
    figures = optimum.evaluate(LATE_PACKAGE, routes)
    assert figures.makespan == pytest.approx(35.5)
    assert figures.distance == 300
    assert figures.trips == 2
    assert figures.delivered_at == pytest.approx({1: 10.5, 2: 35.5})
    both = {1: [(PICKUP, 1), (PICKUP, 2), (DELIVER, 2), (DELIVER, 1)]}  # loads queue up
    assert optimum.evaluate(LATE_PACKAGE, both).delivered_at == pytest.approx({2: 35.5, 1: 55.5})


@pytest.mark.parametrize(
    ("routes", "error"),
    [
        ({1: [(DELIVER, 1), (PICKUP, 1), (PICKUP, 2), (DELIVER, 2)]}, "delivered"),
        ({1: [(PICKUP, 1), (PICKUP, 2), (DELIVER, 1), (DELIVER, 2)]}, "carries 2"),
        ({1: [(PICKUP, 1), (DELIVER, 1)]}, "never delivered"),
        ({1: [(PICKUP, 1), (DELIVER, 1), (PICKUP, 2)]}, "aboard"),
        ({1: [(PICKUP, 1), (DELIVER, 1), (PICKUP, 1), (DELIVER, 1)]}, "twice"),
        ({2: [(PICKUP, 1), (DELIVER, 1)]}, "truck 2"),
    ],
)
def test_evaluate_refuses_what_is_not_a_plan(routes, error):
    with pytest.raises(ValueError, match=error):
        optimum.evaluate(ONE_AT_A_TIME, routes)


def test_a_burst_takes_the_world_timing_at_its_simspeed():
    orders = [(7, W, (5, 5), 101.0), (8, (3, 4), (0, 9), 103.5)]
    problem = optimum.burst(orders, [(1, 0, 0)], capacity=3, simspeed=200)
    assert [job.ready for job in problem.jobs] == [0.5, 3.0]  # packing: 1 s at 100
    assert problem.seconds_per_unit == pytest.approx(0.05)
    assert problem.load_seconds == pytest.approx(0.25)
    assert problem.jobs[1] == Job(8, (3, 4), (0, 9), 3.0)


def test_the_seed_is_a_plan():
    jobs = [(n, (60 * (n % 2), 0), (n * 7 % 50, -(n * 13) % 40), n * 0.3) for n in range(1, 30)]
    tight = problem(jobs, [(1, 0, 0), (2, 10, 10), (3, -20, 5)], 4)
    figures = optimum.evaluate(tight, optimum.seed(tight))
    assert len(figures.delivered_at) == 29


@pytest.fixture(scope="module")
def solved():
    """Each tiny problem solved for both objectives, in the solver's venv."""
    return {
        name: optimum.solve_elsewhere(case, optimum.OBJECTIVES, seconds=1.0)
        for name, case in {
            "two trucks": TWO_TRUCKS,
            "one at a time": ONE_AT_A_TIME,
            "late package": LATE_PACKAGE,
        }.items()
    }


@pytest.mark.parametrize(
    ("name", "makespan", "makespan_distance", "distance"),
    [
        ("two trucks", 11.0, 208, 105),
        ("one at a time", 31.5, 305, 305),
        ("late package", 35.5, 300, 300),
    ],
)
def test_the_solver_finds_the_hand_worked_optimum(
    solved, name, makespan, makespan_distance, distance
):
    fastest, shortest = solved[name]["makespan"], solved[name]["distance"]
    # solve_elsewhere played each plan again here, by the world's rules (evaluate
    # raises on anything that is not a plan): these figures are the plan's, not the
    # solver's word.
    assert fastest.figures.makespan == pytest.approx(makespan)
    assert fastest.figures.distance == makespan_distance  # the least at that time
    assert shortest.figures.distance == distance
    case = {"two trucks": TWO_TRUCKS, "one at a time": ONE_AT_A_TIME}.get(name, LATE_PACKAGE)
    for solution in (fastest, shortest):
        ready = {job.id: job.ready for job in case.jobs}
        for truck, stops in solution.routes.items():
            aboard = 0
            for kind, _ in stops:
                aboard += 1 if kind == PICKUP else -1
                assert 0 <= aboard <= case.capacity, (truck, stops)
        picked = [
            job for stops in solution.routes.values() for kind, job in stops if kind == PICKUP
        ]
        assert sorted(picked) == sorted(ready)


def test_two_trucks_split_the_burst_only_when_time_counts(solved):
    fastest = solved["two trucks"]["makespan"].routes
    assert fastest[1] == [(PICKUP, 2), (DELIVER, 2)]
    assert fastest[2] == [(PICKUP, 1), (DELIVER, 1)]
    shortest = solved["two trucks"]["distance"].routes
    assert shortest[2] == []
    assert shortest[1][-1] == (DELIVER, 2)
