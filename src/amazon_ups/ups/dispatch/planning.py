"""Dispatch decisions as plain functions: which truck, in which order, where trucks start.

No database and no clock here, so the rules can be tested (and benchmarked)
on their own. Distances are Manhattan: the world drives trucks along the grid,
x first, then y, so |dx| + |dy| is the real length of a trip.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

Point = tuple[int, int]
Place = tuple[int, int, int]  # (id, x, y): a truck or a delivery stop


def distance(a: Point, b: Point) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def nearest(target: Point, places: Iterable[Place]) -> int | None:
    """The id of the place closest to ``target``; ties go to the lowest id, so a
    decision replays the same way."""
    best = min(places, key=lambda p: (distance(target, (p[1], p[2])), p[0]), default=None)
    return None if best is None else best[0]


def route_order(start: Point, stops: Iterable[Place]) -> list[int]:
    """Stop ids in nearest-neighbour order from ``start``.

    Not optimal, but within a small factor of it on grid-like inputs and
    O(n^2), which stays well under a millisecond for the hundreds of stops a
    truck collects at one warehouse.
    """
    left = sorted(stops)
    here = start
    order: list[int] = []
    while left:
        index = min(
            range(len(left)), key=lambda i: (distance(here, (left[i][1], left[i][2])), left[i][0])
        )
        stop_id, x, y = left.pop(index)
        order.append(stop_id)
        here = (x, y)
    return order


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
