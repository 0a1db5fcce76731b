"""When a package should arrive, from the world's model of time (``world/timing.py``).

Pure: no database and no clock (``now`` is passed in), so the figures can be tested
exactly. ``live.delivery_estimate`` gathers what these functions need.

Trucks drive the grid at ``SECONDS_PER_GRID_UNIT`` scaled by UPS's simspeed, x then y,
and stop nowhere but at their stops, in the order dispatch sent them (``go_deliver``).
Once the truck is out, its trip is known: from where it was last seen (leaving the
warehouse, or at its latest delivery) through the stops before this package's, the
arrival is nearly exact. Before it leaves, the window is wider: the loading and the
other stops on the way are not known yet.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from amazon_ups.world import timing

Point = tuple[int, int]

# Real seconds for what the model leaves out: a daemon's turn, messages both ways.
SLACK_SECONDS = 2.0


@dataclass(frozen=True)
class Window:
    """The package should be delivered between ``earliest`` and ``latest``."""

    earliest: datetime
    latest: datetime


def _drive(points: list[Point], simspeed: int) -> float:
    return sum(
        timing.travel_seconds(*a, *b, simspeed=simspeed) for a, b in itertools.pairwise(points)
    )


def on_the_road(
    *, now: datetime, simspeed: int, start: Point, since: datetime, stops: list[Point]
) -> Window:
    """The truck was at ``start`` at ``since`` and drives to ``stops`` in order; the last
    one is the package's. A truck late on the model is due any moment, not in the past."""
    arrival = since + timedelta(seconds=_drive([start, *stops], simspeed))
    earliest = max(arrival, now)
    return Window(earliest, earliest + timedelta(seconds=SLACK_SECONDS))


def where_now(
    *, now: datetime, simspeed: int, start: Point, since: datetime, stops: list[Point]
) -> Point:
    """Where the truck that was at ``start`` at ``since`` is on the model at ``now``,
    driving to ``stops`` in order (x then y on each leg); at the last stop once there."""
    left = (now - since).total_seconds()
    for a, b in itertools.pairwise([start, *stops]):
        leg = _drive([a, b], simspeed)
        if left < leg:
            return timing.position_along(*a, *b, fraction=max(left, 0) / leg)
        left -= leg
    return stops[-1] if stops else start


def before_departure(
    *,
    now: datetime,
    simspeed: int,
    loading_wait: float,
    warehouse: Point,
    destination: Point,
    truck: Point | None = None,
    truck_since: datetime | None = None,
    at_warehouse: bool = False,
    loaded: bool = False,
) -> Window:
    """The package still waits at ``warehouse``: for a truck (which left ``truck`` at
    ``truck_since``, if one is on its way), to be packed and loaded (unless ``loaded``).

    Earliest: the truck's arrival, the load, then straight to the destination. Latest
    adds the packing, the truck's wait for other loads (``loading_wait``, real seconds)
    and as much driving again for the other stops before this one."""
    ready = now
    if truck is not None and truck_since is not None and not at_warehouse:
        ready = max(now, truck_since + timedelta(seconds=_drive([truck, warehouse], simspeed)))
    load = 0.0 if loaded else timing.scaled(timing.LOAD_SECONDS, simspeed)
    pack = 0.0 if loaded else timing.scaled(timing.PACK_SECONDS, simspeed)
    drive = _drive([warehouse, destination], simspeed)
    earliest = ready + timedelta(seconds=load + drive)
    latest = ready + timedelta(seconds=pack + load + loading_wait + 2 * drive + SLACK_SECONDS)
    return Window(earliest, latest)


def _amount(seconds: float) -> tuple[int, str]:
    if seconds < 90:
        return max(1, round(seconds)), "second"
    if seconds < 90 * 60:
        return round(seconds / 60), "minute"
    return round(seconds / 3600), "hour"


def _words(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def describe(window: Window, now: datetime) -> str:
    """``window`` from ``now``, as a person says it: "in about 12 seconds", "in 5 to 40
    seconds", "in 30 seconds to 2 minutes", "any moment now"."""
    soon = (window.earliest - now).total_seconds()
    late = (window.latest - now).total_seconds()
    if late < 1:
        return "any moment now"
    low, low_unit = _amount(max(soon, 0))
    high, high_unit = _amount(late)
    if soon < 1:
        return f"within {_words(high, high_unit)}"
    if (low, low_unit) == (high, high_unit):
        return f"in about {_words(high, high_unit)}"
    if low_unit == high_unit:
        return f"in {low} to {_words(high, high_unit)}"
    return f"in {_words(low, low_unit)} to {_words(high, high_unit)}"
