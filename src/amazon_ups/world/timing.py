"""The world's model of time.

All durations are given at the default simspeed of 100 and scale inversely
with it: at simspeed 200 everything takes half as long, at 10000 a hundredth.
Each side has its own simspeed (Amazon's drives purchases, packing and loading;
UPS's drives the trucks), it lasts until changed, and a change affects only
events scheduled after it. Simspeed 0 is taken as 1 (the slowest), since the
world cannot stop time.

Trucks drive along the grid: the distance between two points is
|dx| + |dy| (Manhattan), covered x first, then y.
"""

from __future__ import annotations

DEFAULT_SIMSPEED = 100

SECONDS_PER_GRID_UNIT = 0.1  # trucks cover 10 grid units a second at simspeed 100
PURCHASE_SECONDS = 1.0  # a purchase arrives at the warehouse
PACK_SECONDS = 1.0  # a package is packed
LOAD_SECONDS = 0.5  # a package is put on a truck (loads on one truck queue up)


def scaled(seconds: float, simspeed: int) -> float:
    return seconds * DEFAULT_SIMSPEED / max(simspeed, 1)


def distance(ax: int, ay: int, bx: int, by: int) -> int:
    return abs(bx - ax) + abs(by - ay)


def travel_seconds(ax: int, ay: int, bx: int, by: int, simspeed: int) -> float:
    return scaled(distance(ax, ay, bx, by) * SECONDS_PER_GRID_UNIT, simspeed)


def position_along(ax: int, ay: int, bx: int, by: int, fraction: float) -> tuple[int, int]:
    """Where a truck is after covering ``fraction`` (0..1) of the x-then-y path."""
    fraction = min(1.0, max(0.0, fraction))
    covered = round(distance(ax, ay, bx, by) * fraction)
    dx, dy = bx - ax, by - ay
    if covered <= abs(dx):
        return ax + (covered if dx >= 0 else -covered), ay
    rest = covered - abs(dx)
    return bx, ay + (rest if dy >= 0 else -rest)
