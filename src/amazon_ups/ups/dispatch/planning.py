"""Dispatch decisions as plain functions: which truck, in which order, where trucks start.

No database and no clock here, so the rules can be tested (and benchmarked)
on their own. Distances are Manhattan: the world drives trucks along the grid,
x first, then y, so |dx| + |dy| is the real length of a trip.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

Point = tuple[int, int]
Place = tuple[int, int, int]  # (id, x, y): a truck or a delivery stop

# A 2-opt pass is O(n^2); past this many stops the route keeps its nearest-neighbour
# order improved by a bounded number of passes only (a truck rarely carries that many).
TWO_OPT_MAX_PASSES = 50
# Or-opt moves runs of up to this many consecutive stops (longer runs are 2-opt's work).
OR_OPT_LONGEST = 3
# ``gather_among`` weighs whole trips only up to this many packages (about 50 ms).
GATHER_AMONG_MAX = 150
# A load takes as long as driving this many grid units (the world's: 0.5 s to load, 0.1 s
# a unit); ``share_out`` weighs a truck's finish with it.
LOAD_UNITS = 5
# ``share_out`` tries loads of up to SHARE_STEPS steps of SHARE_STEP of what the truck
# was given more or fewer.
SHARE_STEPS = 2
SHARE_STEP = 0.1
# ``share_out`` weighs about this many windows of each size, then refines around the best.
SHARE_WINDOWS = 30
# ... and weighs the best few of them again with the routes the trucks will drive.
SHARE_FINALISTS = 5
# (up to this many packages: past it, routes of 50 stops cost tens of ms each).
SHARE_FULL_MAX = 80


@dataclass(frozen=True)
class Policy:
    """How trucks are given work.

    ``capacity``: the most packages one truck is given per trip.
    ``share``: while some truck is free, a truck going to a warehouse takes at most
    this many before the next free truck is sent there too, so a burst is spread
    over idle trucks; once none is free, trucks take up to ``capacity``.
    ``nearest``: the free truck closest to the warehouse goes (else the free truck
    with the lowest id, the naive baseline's "first free truck").
    ``improve_routes``: 2-opt on top of the nearest-neighbour route.
    ``gather``: when more packages wait at a warehouse than a truck takes, it takes the
    oldest and those bound the same way from the warehouse (``gather``: a sector), not
    the oldest ones, so that each trip covers one part of the map; and a truck arriving
    at a warehouse shares the packages out again with the trucks still coming there
    (``services.trucks.regather``, ``share_out``): each a part of the map, in sizes
    that let them finish about together.
    """

    capacity: int = 50
    share: int = 10
    nearest: bool = True
    improve_routes: bool = True
    gather: bool = True


# One truck per package, the first free truck, no route work: what dispatch does
# without any cleverness; benchmarks/dispatch.py compares against it.
NAIVE = Policy(capacity=1, share=1, nearest=False, improve_routes=False, gather=False)


# What UPS_DISPATCH may name; the system checks refuse anything else.
POLICY_NAMES = ("smart", "naive")


def policy(name: str, capacity: int, share: int) -> Policy:
    """The policy a setting names: ``"naive"``, or ``"smart"`` for the real one."""
    if name.lower() == "naive":
        return NAIVE
    capacity = max(1, capacity)
    return Policy(capacity=capacity, share=min(max(1, share), capacity))


def distance(a: Point, b: Point) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def nearest(target: Point, places: Iterable[Place]) -> int | None:
    """The id of the place closest to ``target``; ties go to the lowest id, so a
    decision replays the same way."""
    best = min(places, key=lambda p: (distance(target, (p[1], p[2])), p[0]), default=None)
    return None if best is None else best[0]


def choose_truck(target: Point, free: Iterable[Place], rule: Policy) -> int | None:
    """The free truck that goes to ``target``, as ``rule`` says; None if none is free."""
    if rule.nearest:
        return nearest(target, free)
    return min((truck_id for truck_id, _, _ in free), default=None)


def gather(waiting: Sequence[Place], size: int, origin: Point) -> list[int]:
    """Which of ``waiting`` ((id, destination x, y), oldest first) one truck leaving
    ``origin`` takes when it can take ``size``: the oldest, so that none waits for ever,
    and the others in the narrowest sector (seen from ``origin``) around it, so that the
    trip covers one part of the map and what is left stays in one part too (the sweep
    heuristic). Oldest first."""
    if size >= len(waiting):
        return [place_id for place_id, _, _ in waiting]
    if size <= 0:
        return []
    ox, oy = origin
    angles = [math.atan2(y - oy, x - ox) for _, x, y in waiting]
    ring = sorted(range(len(waiting)), key=lambda i: (angles[i], i))
    count = len(ring)
    oldest = ring.index(0)

    def span(first: int) -> float:
        a, b = angles[ring[first % count]], angles[ring[(first + size - 1) % count]]
        return (b - a) % (2 * math.pi)

    # Of the windows of ``size`` neighbours in angle that hold the oldest, the narrowest.
    first = min(range(oldest - size + 1, oldest + 1), key=lambda f: (span(f), -f))
    chosen = sorted(ring[(first + k) % count] for k in range(size))
    return [waiting[i][0] for i in chosen]


def gather_among(
    waiting: Sequence[Place], size: int, others: Sequence[int], origin: Point
) -> list[int]:
    """Like ``gather``, when what is left goes to other trucks leaving ``origin`` too, as
    many as ``others`` says each takes: of the windows of ``size`` neighbours in angle
    that hold the oldest, the one for which this trip and the others' trips, cut from
    what is left in angle order, are shortest in all (nearest-neighbour routes), rather
    than the narrowest. The narrowest window can leave the others' sectors ragged: it
    is the best for this truck, not for the trucks after it. Oldest first.

    Past ``GATHER_AMONG_MAX`` packages (or with no others) it is ``gather``: the
    trips' lengths cost O(n^2) for each of ``size`` windows."""
    if size >= len(waiting) or size <= 0 or not others or len(waiting) > GATHER_AMONG_MAX:
        return gather(waiting, size, origin)
    ox, oy = origin
    angles = [math.atan2(y - oy, x - ox) for _, x, y in waiting]
    ring = sorted(range(len(waiting)), key=lambda i: (angles[i], i))
    count = len(ring)
    oldest = ring.index(0)

    def trip(indices: Sequence[int]) -> int:
        return route_length(origin, nearest_neighbour(origin, [waiting[i] for i in indices]))

    def cost(first: int) -> int:
        own = [ring[(first + k) % count] for k in range(size)]
        rest = [ring[(first + size + k) % count] for k in range(count - size)]
        total, at = trip(own), 0
        for n, share in enumerate(others):
            # The last truck takes whatever the others leave (their counts are what they
            # were given: they may add up to more or less than what is left).
            part = rest[at:] if n == len(others) - 1 else rest[at : at + max(share, 0)]
            if part:
                total += trip(part)
            at += max(share, 0)
        return total

    first = min(range(oldest - size + 1, oldest + 1), key=lambda f: (cost(f), -f))
    chosen = sorted(ring[(first + k) % count] for k in range(size))
    return [waiting[i][0] for i in chosen]


def share_out(
    waiting: Sequence[Place],
    origin: Point,
    own: int,
    others: Sequence[tuple[int, int]],
    capacity: int,
    later: int = 0,
) -> list[int]:
    """Which of ``waiting`` ((id, destination x, y), oldest first) the truck standing at
    ``origin`` takes, when every one of them is given to it or to the trucks coming
    there, ``others`` ((how far each still is, in grid units; how many it was given)):
    it was given ``own``.

    Each truck's finish is estimated as its drive there, its loads (``LOAD_UNITS``
    each) and its trip; this truck's load is a window of neighbours in angle seen from
    the warehouse (the others' are cut from the rest in angle order, in proportion to
    what they were given), of about ``own`` packages (``SHARE_STEPS`` more or fewer, at
    most ``capacity``), the one for which the last truck finishes first (plus the mean
    trip: a much shorter drive is worth a little later finish), then the trucks drive
    least. Since all of them have a truck, none is left waiting: the oldest need not be
    in this one. Oldest first.

    ``later`` of them have no truck yet (every truck going there was full and none was
    free): what this truck and those coming leave goes out later, in truckloads of at
    most ``capacity`` cut from the rest like the others' loads, on trucks not known
    yet; their trips count in the drive, not in the finish (when they start is not
    known). So in a burst this truck takes one part of all that wait there, not of
    the few loads given so far, and leaves the later loads compact too (a burst of
    1,000 packages: 392.2 -> 291.7 s to deliver all, 23,693 -> 18,149 units). This
    truck then takes no fewer than it was given, unless the trucks coming have room
    for the rest (it would leave more waiting than it found), and the oldest is left
    for later only when no window takes it or leaves it to a truck coming (a
    package waiting is not passed over for ever).

    Past ``GATHER_AMONG_MAX`` packages it is ``gather_among``: each window costs
    O(n^2)."""
    total = len(waiting)
    later = min(max(later, 0), max(total - own, 0))
    if later:
        loads = math.ceil(later / max(capacity, 1))
        # None: a truck not known yet, whose finish is not weighed.
        everyone: list[tuple[int | None, int]] = [*others]
        everyone += [(None, later // loads + (n < later % loads)) for n in range(loads)]
    else:
        everyone = [*others]
    if not everyone or own <= 0 or total <= own or total > GATHER_AMONG_MAX:
        return gather_among(waiting, own, [count for _, count in everyone], origin)
    ox, oy = origin
    angles = [math.atan2(y - oy, x - ox) for _, x, y in waiting]
    ring = sorted(range(total), key=lambda i: (angles[i], i))
    given = sum(max(count, 0) for _, count in everyone) or 1

    def quick_trip(indices: Sequence[int]) -> int:
        return route_length(origin, nearest_neighbour(origin, [waiting[i] for i in indices]))

    def full_trip(indices: Sequence[int]) -> int:
        stops = {waiting[i][0]: waiting[i] for i in indices}
        order = route_order(origin, stops.values())
        return route_length(origin, [stops[stop_id] for stop_id in order])

    def cost(first: int, size: int, trip: Callable[[Sequence[int]], int]) -> tuple[int, int]:
        """The last truck's finish plus the trucks' mean trip (a much shorter drive is
        worth a little later finish), then the total trip."""
        mine = [ring[(first + k) % total] for k in range(size)]
        rest = [ring[(first + size + k) % total] for k in range(total - size)]
        length = trip(mine)
        last = LOAD_UNITS * size + length
        at = 0
        for n, (away, count) in enumerate(everyone):
            take = len(rest) - at if n == len(everyone) - 1 else round(len(rest) * count / given)
            part = rest[at : at + take]
            at += take
            if part:
                part_length = trip(part)
                length += part_length
                if away is not None:
                    last = max(last, away + LOAD_UNITS * len(part) + part_length)
        return last + length // (len(everyone) + 1), length

    step = max(1, round(own * SHARE_STEP))
    # What it gives back goes to the trucks coming, as far as they have room: it takes
    # no fewer than the rest, lest packages it was given wait for a truck not known yet.
    room = sum(max(capacity - max(count, 0), 0) for _, count in others)
    fewest = max(own - room, 1)
    sizes = sorted(
        {
            min(max(own + k * step, fewest), capacity, total - 1)
            for k in range(-SHARE_STEPS, SHARE_STEPS + 1)
        }
    )
    # Ties go to a window that holds the oldest (the one ``gather`` takes), then the
    # first in angle, so that a decision replays the same way.
    oldest = ring.index(0)
    # The parts cut for later come after the trucks' in angle: a window that leaves the
    # oldest in one of them comes after every one that does not.
    carried = sum(max(count, 0) for _, count in others)

    def key(
        first: int, size: int, trip: Callable[[Sequence[int]], int] = quick_trip
    ) -> tuple[bool, tuple[int, int], bool, int, int]:
        behind = (oldest - first) % total
        for_later = later > 0 and behind >= size + round((total - size) * carried / given)
        return for_later, cost(first, size, trip), behind >= size, first, size

    # Every ``stride``-th window by nearest-neighbour trips first, then the ones between
    # around the best of them (neighbouring windows differ by one package, and so do
    # their costs, mostly); the best few of all those weighed again with the routes the
    # trucks will drive (``route_order``), which nearest neighbour misjudges, unless
    # there are many.
    stride = max(1, total // SHARE_WINDOWS)
    weighed = [key(f, n) for n in sizes for f in range(0, total, stride)]
    *_, first, size = min(weighed)
    if stride > 1:
        weighed += [key(f % total, size) for f in range(first - stride + 1, first + stride)]
    if total <= SHARE_FULL_MAX:
        finalists = sorted(set(weighed))[:SHARE_FINALISTS]
        *_, first, size = min(key(f, n, full_trip) for *_, f, n in finalists)
    chosen = sorted(ring[(first + k) % total] for k in range(size))
    return [waiting[i][0] for i in chosen]


def route_length(start: Point, stops: Sequence[Place]) -> int:
    """Length of the trip from ``start`` through ``stops`` in the given order."""
    path = [start, *((x, y) for _, x, y in stops)]
    return sum(distance(a, b) for a, b in itertools.pairwise(path))


def nearest_neighbour(start: Point, stops: Iterable[Place]) -> list[Place]:
    """Stops in nearest-neighbour order from ``start`` (ties: lowest id)."""
    left = sorted(stops)
    x, y = start
    order: list[Place] = []
    while left:
        # min by (distance, id), the distance written out (not ``distance``: a call per
        # stop was most of the time of this and of the searches below, which the
        # daemon runs for every truck sent out).
        index = min(
            range(len(left)), key=lambda i: (abs(x - left[i][1]) + abs(y - left[i][2]), left[i][0])
        )
        stop = left.pop(index)
        order.append(stop)
        x, y = stop[1], stop[2]
    return order


def two_opt(start: Point, route: Sequence[Place], max_passes: int = TWO_OPT_MAX_PASSES):
    """``route`` improved by 2-opt: reverse any stretch whose reversal shortens the trip,
    until no reversal does (or ``max_passes`` passes). The trip is open: it starts at
    ``start`` and ends at the last stop, so reversing a tail only costs its first edge.
    Never longer than ``route``."""
    route = list(route)
    # xs[i + 1], ys[i + 1] is route[i]; distances written out, as in nearest_neighbour.
    xs = [start[0], *(x for _, x, _ in route)]
    ys = [start[1], *(y for _, _, y in route)]
    n = len(route)
    for _ in range(max_passes):
        improved = False
        for i in range(1, n):  # reverse points[i .. j], 1 <= i < j <= n
            ax, ay = xs[i - 1], ys[i - 1]
            bx, by = xs[i], ys[i]
            before_ab = abs(ax - bx) + abs(ay - by)
            for j in range(i + 1, n + 1):
                cx, cy = xs[j], ys[j]
                if j < n:
                    dx, dy = xs[j + 1], ys[j + 1]
                    delta = (
                        abs(ax - cx)
                        + abs(ay - cy)
                        + abs(bx - dx)
                        + abs(by - dy)
                        - before_ab
                        - abs(cx - dx)
                        - abs(cy - dy)
                    )
                else:
                    delta = abs(ax - cx) + abs(ay - cy) - before_ab
                if delta < 0:
                    xs[i : j + 1] = xs[i : j + 1][::-1]
                    ys[i : j + 1] = ys[i : j + 1][::-1]
                    route[i - 1 : j] = route[i - 1 : j][::-1]
                    bx, by = xs[i], ys[i]
                    before_ab = abs(ax - bx) + abs(ay - by)
                    improved = True
        if not improved:
            break
    return route


def or_opt(
    start: Point,
    route: Sequence[Place],
    longest: int = OR_OPT_LONGEST,
    max_passes: int = TWO_OPT_MAX_PASSES,
) -> list[Place]:
    """``route`` improved by or-opt: move any run of up to ``longest`` consecutive stops
    (either way round) to wherever it shortens the trip, until no move does (or
    ``max_passes`` passes). It mends what 2-opt cannot: a stop or two picked up on the
    wrong side of the route, which no single reversal puts right. The trip is open, as
    in ``two_opt``. Never longer than ``route``. (Distances written out, as in
    ``nearest_neighbour``.)"""
    route = list(route)
    sx, sy = start
    for _ in range(max_passes):
        improved = False
        for size in range(1, longest + 1):
            i = 0
            while i + size <= len(route):
                bx, by = (sx, sy) if i == 0 else (route[i - 1][1], route[i - 1][2])
                fx, fy = route[i][1], route[i][2]
                lx, ly = route[i + size - 1][1], route[i + size - 1][2]
                # What taking the run out saves (the trip closes up behind it).
                saved = abs(bx - fx) + abs(by - fy)
                if i + size < len(route):
                    ax, ay = route[i + size][1], route[i + size][2]
                    saved += abs(lx - ax) + abs(ly - ay) - abs(bx - ax) - abs(by - ay)
                run = route[i : i + size]
                rest = route[:i] + route[i + size :]
                # Where the run may go: between xs[j], ys[j] (the start, or rest[j - 1])
                # and rest[j] (none after the last).
                xs = [sx, *(stop[1] for stop in rest)]
                ys = [sy, *(stop[2] for stop in rest)]
                m = len(rest)
                best: tuple[int, bool] | None = None  # (where, reversed)
                limit = saved  # a move must save more than this: the best cost so far
                for j in range(m + 1):
                    if j == i:
                        continue  # where it was
                    cx, cy = xs[j], ys[j]
                    if j < m:
                        dx, dy = xs[j + 1], ys[j + 1]
                        closed = abs(cx - dx) + abs(cy - dy)
                        cost = abs(cx - fx) + abs(cy - fy) + abs(lx - dx) + abs(ly - dy) - closed
                        if cost < limit:
                            limit, best = cost, (j, False)
                        cost = abs(cx - lx) + abs(cy - ly) + abs(fx - dx) + abs(fy - dy) - closed
                        if cost < limit:
                            limit, best = cost, (j, True)
                    else:
                        cost = abs(cx - fx) + abs(cy - fy)
                        if cost < limit:
                            limit, best = cost, (j, False)
                        cost = abs(cx - lx) + abs(cy - ly)
                        if cost < limit:
                            limit, best = cost, (j, True)
                if best is None:
                    i += 1
                    continue
                j, flipped = best
                route = rest[:j] + (run[::-1] if flipped else run) + rest[j:]
                improved = True
                i += 1
        if not improved:
            break
    return route


def route_order(start: Point, stops: Iterable[Place], improve: bool = True) -> list[int]:
    """Stop ids in a short delivery order from ``start``: nearest neighbour, then 2-opt
    and or-opt in turn until neither shortens it.

    Nearest neighbour alone is within a small factor of optimal on grid-like
    inputs; 2-opt removes its detours (7-10% shorter on random stops), or-opt the
    stops left on the wrong side (about 2% more). Each is O(n^2) per pass: some ms
    for the 50 stops of a full truckload.
    """
    order = nearest_neighbour(start, stops)
    if improve:
        length = route_length(start, order)
        for _ in range(TWO_OPT_MAX_PASSES):
            order = or_opt(start, two_opt(start, order))
            shorter = route_length(start, order)
            if shorter >= length:
                break
            length = shorter
    return [stop_id for stop_id, _, _ in order]


def truck_starts(count: int, spacing: int = 20) -> list[Place]:
    """Trucks 1..count on a square grid centred on the origin, ``spacing`` apart, so
    that wherever the warehouses are, some truck starts near each of them."""
    if count <= 0:
        return []
    side = math.ceil(math.sqrt(count))
    offset = (side - 1) * spacing // 2
    return [
        (n + 1, (n % side) * spacing - offset, (n // side) * spacing - offset) for n in range(count)
    ]
