"""The best plan known for a burst of packages, solved offline with OR-Tools' routing
solver: what ``benchmarks/dispatch.py`` measures our dispatch against.

The burst is a vehicle routing problem with pickups and deliveries: every package is a
pickup at its warehouse (not before it is packed) and a delivery at its destination, on
the same truck, pickup first; trucks start where the world puts them, carry at most
``capacity`` packages at once and need not come back (open routes). The solver knows
every order in advance (it is offline), so its figures are a target, not a policy.

The timing is the world's own (``world/timing.py``, ``world/commands.py``), at the
simspeed given:
- a truck covers one grid unit in ``SECONDS_PER_GRID_UNIT`` (scaled), along the grid:
  Manhattan distance;
- a package can be loaded once it is packed: ``PACK_SECONDS`` after it was ordered;
- loading one package takes ``LOAD_SECONDS``, and the loads on one truck queue up; a
  truck leaves once its loads are done;
- a package is delivered the moment its truck reaches its destination (no time there).

The world also lets a truck that is out delivering turn to a warehouse for more (the
rest of its round waits), so a route may mix pickups and deliveries in any order.

Two objectives, solved one after the other on the same model:
- ``makespan``: the time from the first order to the last delivery (the global span of
  the time dimension), the total of the trucks' route times and then distance breaking
  ties;
- ``distance``: the total distance the trucks drive (the arc cost), nothing else.

Each solve starts from a plan built here (``seed``: each warehouse's packages in
truckloads, each truckload to the truck that can finish it first, delivered in nearest
neighbour + 2-opt order), so a large burst has a plan at once and the solver's time goes
to improving it (guided local search). Figures are recomputed from the routes by
``evaluate``, the world's rules played step by step, which also checks the plan.

Times inside the solver are whole milliseconds; the world's durations at simspeed 100
(0.1 s a unit, 0.5 s a load) are whole milliseconds, so only order times are rounded
(up, to the next millisecond).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # run by solve_elsewhere in the solver's own venv
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from amazon_ups.ups.dispatch import planning  # noqa: E402  (pure: no Django, no protobuf)
from amazon_ups.world import timing  # noqa: E402

Point = tuple[int, int]
PICKUP, DELIVER = "pickup", "deliver"
OBJECTIVES = ("makespan", "distance")
MS = 1000  # solver time units per second
SCRATCH_MAX = 400  # packages: the most for which plans are sought from scratch


@dataclass(frozen=True)
class Job:
    """One package: picked up at ``pickup`` no earlier than ``ready`` (seconds from the
    first order), delivered at ``dropoff``."""

    id: int
    pickup: Point
    dropoff: Point
    ready: float


@dataclass(frozen=True)
class Problem:
    jobs: tuple[Job, ...]
    trucks: tuple[tuple[int, int, int], ...]  # (id, x, y) where each starts, at time 0
    capacity: int
    seconds_per_unit: float = timing.SECONDS_PER_GRID_UNIT
    load_seconds: float = timing.LOAD_SECONDS


def burst(
    orders: Sequence[tuple[int, Point, Point, float]],
    trucks: Sequence[tuple[int, int, int]],
    capacity: int,
    simspeed: int = timing.DEFAULT_SIMSPEED,
) -> Problem:
    """The problem of ``orders`` ((package id, warehouse, destination, order time)) with
    the world's timing at ``simspeed``; time 0 is the first order."""
    first = min((ordered for *_, ordered in orders), default=0.0)
    pack = timing.scaled(timing.PACK_SECONDS, simspeed)
    jobs = tuple(
        Job(package_id, warehouse, dest, ordered - first + pack)
        for package_id, warehouse, dest, ordered in orders
    )
    return Problem(
        jobs,
        tuple(trucks),
        capacity,
        seconds_per_unit=timing.scaled(timing.SECONDS_PER_GRID_UNIT, simspeed),
        load_seconds=timing.scaled(timing.LOAD_SECONDS, simspeed),
    )


Stop = tuple[str, int]  # (PICKUP or DELIVER, job id)
Routes = dict[int, list[Stop]]  # truck id -> its stops in order


@dataclass
class Figures:
    makespan: float  # seconds from the first order (time 0) to the last delivery
    distance: int  # grid units driven, all trucks
    trips: int  # times a truck went to a warehouse (consecutive pickups there: one)
    delivered_at: dict[int, float]  # job id -> when


def evaluate(problem: Problem, routes: Routes) -> Figures:
    """Play ``routes`` by the world's rules; raises ``ValueError`` if the plan is not one
    (a package missed or carried twice, delivered before it is on the truck, picked up
    by one truck and delivered by another, more than ``capacity`` aboard)."""
    jobs = {job.id: job for job in problem.jobs}
    starts = {truck_id: (x, y) for truck_id, x, y in problem.trucks}
    picked: dict[int, int] = {}
    delivered_at: dict[int, float] = {}
    distance = trips = 0
    for truck_id, stops in routes.items():
        if truck_id not in starts:
            raise ValueError(f"truck {truck_id} is not in the problem")
        here, now, aboard, last = starts[truck_id], 0.0, set(), None
        for kind, job_id in stops:
            job = jobs.get(job_id)
            if job is None:
                raise ValueError(f"package {job_id} is not in the problem")
            there = job.pickup if kind == PICKUP else job.dropoff
            leg = planning.distance(here, there)
            distance += leg
            now += leg * problem.seconds_per_unit
            here = there
            if kind == PICKUP:
                if job_id in picked:
                    raise ValueError(f"package {job_id} picked up twice")
                picked[job_id] = truck_id
                aboard.add(job_id)
                if len(aboard) > problem.capacity:
                    raise ValueError(f"truck {truck_id} carries {len(aboard)} packages")
                if last != (PICKUP, there):
                    trips += 1
                now = max(now, job.ready) + problem.load_seconds  # loads queue up
            elif kind == DELIVER:
                if job_id not in aboard:
                    raise ValueError(f"package {job_id} delivered by truck {truck_id} unloaded")
                aboard.remove(job_id)
                delivered_at[job_id] = now
            else:
                raise ValueError(f"stop {kind!r} is neither {PICKUP} nor {DELIVER}")
            last = (kind, there)
        if aboard:
            raise ValueError(f"truck {truck_id} ends with packages {sorted(aboard)} aboard")
    missing = set(jobs) - set(delivered_at)
    if missing:
        raise ValueError(f"{len(missing)} packages never delivered, e.g. {min(missing)}")
    return Figures(max(delivered_at.values(), default=0.0), distance, trips, delivered_at)


# -- a first plan: truckloads, each to the truck that finishes it first -----------------


def seed(problem: Problem, sweep: bool = False) -> Routes:
    """A plan like our dispatch's, made knowing every order: each warehouse's packages,
    oldest first, in truckloads of at most ``capacity`` split evenly enough to keep every
    truck busy; truckloads in order of when they are ready, each to the truck that would
    deliver it soonest, delivered in nearest neighbour + 2-opt order.

    ``sweep``: a warehouse's truckloads are not its packages in order but sectors of
    their destinations around it (the sweep heuristic), so that each truck delivers in
    one part of the map."""
    by_warehouse: dict[Point, list[Job]] = defaultdict(list)
    for job in sorted(problem.jobs, key=lambda j: (j.ready, j.id)):
        by_warehouse[job.pickup].append(job)
    trucks = max(len(problem.trucks), 1)
    loads: list[list[Job]] = []
    total = len(problem.jobs)
    for jobs in by_warehouse.values():
        # This warehouse's share of the trucks, then loads of at most capacity.
        share = max(1, round(trucks * len(jobs) / max(total, 1)))
        count = max(share, math.ceil(len(jobs) / problem.capacity))
        size = math.ceil(len(jobs) / count)
        if sweep:
            wx, wy = jobs[0].pickup
            jobs = sorted(
                jobs, key=lambda j: (math.atan2(j.dropoff[1] - wy, j.dropoff[0] - wx), j.id)
            )
        loads.extend(jobs[i : i + size] for i in range(0, len(jobs), size))
    loads.sort(key=lambda load: (max(j.ready for j in load), min(j.id for j in load)))
    state = {truck_id: ((x, y), 0.0) for truck_id, x, y in problem.trucks}
    routes: Routes = {truck_id: [] for truck_id, _, _ in problem.trucks}
    for load in loads:
        warehouse = load[0].pickup
        order = planning.route_order(warehouse, [(j.id, *j.dropoff) for j in load])
        dropoffs = {j.id: j.dropoff for j in load}
        best = None
        for truck_id, (here, now) in state.items():
            t = now + planning.distance(here, warehouse) * problem.seconds_per_unit
            for job in load:
                t = max(t, job.ready) + problem.load_seconds
            spot = warehouse
            for job_id in order:
                t += planning.distance(spot, dropoffs[job_id]) * problem.seconds_per_unit
                spot = dropoffs[job_id]
            if best is None or (t, truck_id) < best[:2]:
                best = (t, truck_id, spot)
        assert best is not None
        finish, truck_id, spot = best
        state[truck_id] = (spot, finish)
        routes[truck_id].extend((PICKUP, j.id) for j in sorted(load, key=lambda j: j.ready))
        routes[truck_id].extend((DELIVER, job_id) for job_id in order)
    return routes


# -- the solver ---------------------------------------------------------------------------


@dataclass
class Solution:
    objective: str
    routes: Routes
    figures: Figures
    seed: Figures  # the plan the search started from
    seconds: float  # wall time the search took
    rounds: list[str]  # what each solver call did, for the curious


@dataclass
class _Layout:
    """The solver's nodes: 0..T-1 the trucks' starts, T the open routes' shared end
    (reached from anywhere for nothing), then each job's pickup and delivery; and the
    matrices between them (grid units; milliseconds, the load included at a pickup)."""

    problem: Problem
    points: list[Point] = field(default_factory=list)
    nodes: dict[Stop, int] = field(default_factory=dict)
    stops: dict[int, Stop] = field(default_factory=dict)
    distances: list[list[int]] = field(default_factory=list)
    durations: list[list[int]] = field(default_factory=list)

    @property
    def end(self) -> int:
        return len(self.problem.trucks)


def _layout(problem: Problem) -> _Layout:
    layout = _Layout(problem)
    layout.points = [(x, y) for _, x, y in problem.trucks]
    layout.points.append((0, 0))  # the end: its place does not count
    for job in problem.jobs:
        for kind, point in ((PICKUP, job.pickup), (DELIVER, job.dropoff)):
            layout.nodes[kind, job.id] = len(layout.points)
            layout.stops[len(layout.points)] = (kind, job.id)
            layout.points.append(point)
    xs = [x for x, _ in layout.points]
    ys = [y for _, y in layout.points]
    unit_ms = _ms(problem.seconds_per_unit)
    load_ms = _ms(problem.load_seconds)
    for i, (x, y) in enumerate(layout.points):
        row = [abs(x - xj) + abs(y - yj) for xj, yj in zip(xs, ys, strict=True)]
        row[layout.end] = 0
        service = load_ms if layout.stops.get(i, ("",))[0] == PICKUP else 0
        layout.distances.append(row)
        layout.durations.append([service + d * unit_ms for d in row])
    return layout


def _ms(seconds: float) -> int:
    return math.ceil(round(seconds * MS, 6))


def _search(
    layout: _Layout,
    seconds: float,
    cap: int | None,
    start: Routes | None,
    note: Callable[[int], None],
    first_only: bool = False,
) -> tuple[Routes | None, str]:
    """One solver call: the least distance, every delivery done by ``cap`` ms (if
    given), from the plan ``start`` (else from OR-Tools' own first plan, parallel
    cheapest insertion), guided local search for ``seconds`` (or that first plan only,
    if ``first_only``)."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2  # a dev dependency

    problem = layout.problem
    trucks = len(problem.trucks)
    manager = pywrapcp.RoutingIndexManager(
        len(layout.points), trucks, list(range(trucks)), [layout.end] * trucks
    )
    routing = pywrapcp.RoutingModel(manager)
    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(layout.distances))
    latest = max((job.ready for job in problem.jobs), default=0.0)
    horizon = cap if cap is not None else _ms(latest) + sum(map(max, layout.durations)) + 1
    # Slack: a truck may wait at a warehouse for a package to be packed.
    routing.AddDimension(
        routing.RegisterTransitMatrix(layout.durations), horizon, horizon, True, "time"
    )
    clock = routing.GetDimensionOrDie("time")
    demands = [0] * len(layout.points)
    for (kind, _), node in layout.nodes.items():
        demands[node] = 1 if kind == PICKUP else -1
    routing.AddDimensionWithVehicleCapacity(
        routing.RegisterUnaryTransitVector(demands), 0, [problem.capacity] * trucks, True, "load"
    )
    solver = routing.solver()
    for job in problem.jobs:
        pickup = manager.NodeToIndex(layout.nodes[PICKUP, job.id])
        delivery = manager.NodeToIndex(layout.nodes[DELIVER, job.id])
        routing.AddPickupAndDelivery(pickup, delivery)
        solver.Add(routing.VehicleVar(pickup) == routing.VehicleVar(delivery))
        solver.Add(clock.CumulVar(pickup) <= clock.CumulVar(delivery))
        clock.CumulVar(pickup).SetMin(_ms(job.ready))  # packed by then

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(max(1, round(seconds * MS)))
    if first_only:
        params.solution_limit = 1
    ids = [truck_id for truck_id, _, _ in problem.trucks]
    initial = None
    if start is not None:
        initial = routing.ReadAssignmentFromRoutes(
            [[manager.NodeToIndex(layout.nodes[stop]) for stop in start[t]] for t in ids], True
        )
        if initial is None:
            raise RuntimeError("OR-Tools refused the plan it was to start from")
    routing.AddAtSolutionCallback(lambda: note(routing.CostVar().Max()))
    if initial is None:
        assignment = routing.SolveWithParameters(params)
    else:
        assignment = routing.SolveFromAssignmentWithParameters(initial, params)
    status = routing_enums_pb2.RoutingSearchStatus.Value.Name(routing.status())
    if assignment is None:
        return None, status
    routes: Routes = {}
    for vehicle, truck_id in enumerate(ids):
        index = assignment.Value(routing.NextVar(routing.Start(vehicle)))
        stops: list[Stop] = []
        while not routing.IsEnd(index):
            stops.append(layout.stops[manager.IndexToNode(index)])
            index = assignment.Value(routing.NextVar(index))
        routes[truck_id] = stops
    return routes, status


def solve(
    problem: Problem,
    objective: str,
    seconds: float,
    progress: Callable[[str], None] | None = None,
    start: Routes | None = None,
) -> Solution:
    """The best plan OR-Tools finds for ``objective`` within about ``seconds``.

    ``distance``: one search for the least total distance, from ``seed`` or from
    ``start`` if that is shorter (``main`` gives it the fastest plan found).

    ``makespan``: a plan with every delivery done by a deadline, for ever earlier
    deadlines, each found from scratch by cheapest insertion: 10% under the best plan
    so far (at first the seed), the step halved each time none is found, for 70% of
    the time; then, for the rest, the least distance by the best deadline met. Past
    ``SCRATCH_MAX`` packages only the latter: the seed's time is kept.

    A global span cost on the time dimension (the makespan itself as the objective) was
    tried first and left the seed unimproved after 20 s on 200 packages: almost no
    single move shortens the longest route, so the search has no slope, and each move
    costs a scheduling LP. A deadline is a bound the search propagates cheaply
    (about a million moves a second here)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective is one of {OBJECTIVES}, not {objective!r}")
    started = time.monotonic()
    layout = _layout(problem)
    rounds: list[str] = []
    key = (
        (lambda f: (f.makespan, f.distance))
        if objective == "makespan"
        else (lambda f: (f.distance, f.makespan))
    )
    first = min(
        (seed(problem, sweep) for sweep in (False, True)), key=lambda r: key(evaluate(problem, r))
    )
    best_routes, best = first, evaluate(problem, first)
    seed_figures = best
    deadline = started + seconds

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    def note_for(label: str) -> Callable[[int], None]:
        found, least, shown = 0, None, 0.0

        def note(cost: int) -> None:
            nonlocal found, least, shown
            found += 1
            least = cost if least is None else min(least, cost)
            now = time.monotonic()
            if progress is not None and now - shown >= 0.2:
                shown = now
                progress(
                    f"{objective}: {now - started:5.1f}/{seconds:g} s, {label}: "
                    f"{found} plans, least distance {least:,}"
                )

        return note

    def better(figures: Figures) -> bool:
        return key(figures) < key(best)

    if objective == "distance":
        origin = "the seed"
        if start is not None:
            given = evaluate(problem, start)
            if better(given):
                best_routes, best, origin = start, given, "the plan given"
        label = f"from {origin}"
        routes, status = _search(layout, left(), None, best_routes, note_for(label))
        if routes is not None:
            figures = evaluate(problem, routes)
            if better(figures):
                best_routes, best = routes, figures
        rounds.append(f"least distance {label}: {status}, {best.distance:,}")
    else:
        step = 0.10
        # From scratch, cheapest insertion takes minutes on 2,000 stops (and overruns
        # its time limit): past SCRATCH_MAX packages, only the seed is improved.
        scratch = len(problem.jobs) <= SCRATCH_MAX
        while scratch and left() > seconds * 0.3 and step >= 0.002:
            cap = _ms(best.makespan * (1 - step))
            label = f"by {cap / MS:.1f} s"
            routes, status = _search(
                layout, left() - seconds * 0.3, cap, None, note_for(label), first_only=True
            )
            if routes is not None and better(found := evaluate(problem, routes)):
                best_routes, best = routes, found
                rounds.append(f"{label}: {status}, {best.makespan:.1f} s")
            else:
                step /= 2
                rounds.append(f"{label}: {status}, none found")
        # The rest of the time: the least distance by the best time found.
        cap = _ms(best.makespan)
        label = f"by {cap / MS:.1f} s, shorter"
        routes, status = _search(layout, left(), cap, best_routes, note_for(label))
        if routes is not None:
            figures = evaluate(problem, routes)
            if better(figures):
                best_routes, best = routes, figures
        rounds.append(f"{label}: {status}, {best.distance:,}")
    return Solution(objective, best_routes, best, seed_figures, time.monotonic() - started, rounds)


def stderr_progress(line: str) -> None:
    sys.stderr.write(f"\r  OR-Tools {line:<90}")
    sys.stderr.flush()


# -- OR-Tools in a venv of its own ----------------------------------------------------------
#
# OR-Tools 9.15 requires protobuf < 6.34 and the project pins protobuf 7.36.2 (its
# generated modules need it): pip cannot install both in one environment. The solver
# runs in .venv-ortools (made on first use from ortools-requirements.txt), fed the
# problem as JSON on stdin, answering JSON on stdout; its progress goes to stderr.

VENV = ROOT / ".venv-ortools"
REQUIREMENTS = Path(__file__).with_name("ortools-requirements.txt")


def solver_python() -> Path:
    """The venv's Python, the venv made (or brought up to date) first; a minute or so."""
    python = VENV / "bin" / "python"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = VENV / ".installed"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    sys.stderr.write(f"  making {VENV.name} for OR-Tools (about a minute, once)...\n")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python


def _problem_json(problem: Problem) -> dict:
    return dataclasses.asdict(problem)


def _problem_from(data: dict) -> Problem:
    jobs = tuple(
        Job(j["id"], tuple(j["pickup"]), tuple(j["dropoff"]), j["ready"]) for j in data["jobs"]
    )
    trucks = tuple(tuple(t) for t in data["trucks"])
    return Problem(jobs, trucks, data["capacity"], data["seconds_per_unit"], data["load_seconds"])


def _figures_json(figures: Figures) -> dict:
    return {
        "makespan": figures.makespan,
        "distance": figures.distance,
        "trips": figures.trips,
        "delivered_at": list(figures.delivered_at.items()),
    }


def _figures_from(data: dict) -> Figures:
    delivered_at = {job_id: at for job_id, at in data["delivered_at"]}
    return Figures(data["makespan"], data["distance"], data["trips"], delivered_at)


def _solution_json(solution: Solution) -> dict:
    return {
        "objective": solution.objective,
        "routes": [[truck, stops] for truck, stops in solution.routes.items()],
        "figures": _figures_json(solution.figures),
        "seed": _figures_json(solution.seed),
        "seconds": solution.seconds,
        "rounds": solution.rounds,
    }


def _solution_from(data: dict) -> Solution:
    return Solution(
        data["objective"],
        {truck: [(kind, job) for kind, job in stops] for truck, stops in data["routes"]},
        _figures_from(data["figures"]),
        _figures_from(data["seed"]),
        data["seconds"],
        data["rounds"],
    )


def solve_elsewhere(
    problem: Problem, objectives: Sequence[str], seconds: float
) -> dict[str, Solution]:
    """``solve`` for each objective, in the solver's venv (``seconds`` each); its
    progress shows on this process's stderr. The plans are checked here again."""
    request: dict[str, object] = {
        "problem": _problem_json(problem),
        "objectives": list(objectives),
        "seconds": seconds,
    }
    answer = subprocess.run(
        [str(solver_python()), str(Path(__file__).resolve())],
        input=json.dumps(request),
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    solutions = {name: _solution_from(data) for name, data in json.loads(answer.stdout).items()}
    for solution in solutions.values():
        solution.figures = evaluate(problem, solution.routes)  # not the other side's word
    return solutions


def main() -> int:
    text = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    if not text.strip():  # run alone (``./dev bench`` runs every script): nothing to do
        print("dispatch_optimum.py is run by dispatch.py (a problem as JSON on stdin)")
        return 0
    request = json.loads(text)
    problem = _problem_from(request["problem"])
    answer = {}
    fastest = None  # the shortest search starts from it if it is shorter than the seed
    for objective in request["objectives"]:
        solution = solve(problem, objective, request["seconds"], stderr_progress, fastest)
        sys.stderr.write("\n")
        if objective == "makespan":
            fastest = solution.routes
        answer[objective] = _solution_json(solution)
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
