"""When an order would arrive: a pure function of where it ships from and to, whether
the warehouse holds the units, the world's simspeed and the usual handling times.

The world's own time model (``world.timing``) gives purchase, packing, loading and
driving times at a simspeed; UPS's truck has to reach the warehouse too (it drives
while the package is packed, so the longer of the two counts) and waits a few seconds
for other loads before it leaves. Those two are UPS's, not the world's, so they are
typical figures here, not promises.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

from amazon_ups.world import timing

# A truck usually starts this far from the warehouse (grid units): UPS sends its nearest.
TYPICAL_PICKUP_DISTANCE = 50
# Seconds a truck waits for more loads before it leaves (UPS_LOADING_WAIT's default);
# real seconds, not scaled by simspeed.
TYPICAL_TRUCK_WAIT = 5.0


@dataclass(frozen=True)
class Place:
    id: int
    name: str
    x: int
    y: int


@dataclass(frozen=True)
class Estimate:
    seconds: int  # from now, rounded up
    at: datetime.datetime
    warehouse_name: str
    distance: int

    @property
    def text(self) -> str:
        """``about 20 seconds``, ``about 3 minutes``, ``about 2 hours``."""
        if self.seconds < 120:
            return f"about {self.seconds} seconds"
        if self.seconds < 2 * 3600:
            return f"about {math.ceil(self.seconds / 60)} minutes"
        return f"about {math.ceil(self.seconds / 3600)} hours"


def estimate(
    *,
    now: datetime.datetime,
    warehouse: Place,
    dest: tuple[int, int],
    in_stock: bool,
    simspeed: int,
) -> Estimate:
    """``in_stock``: the warehouse holds what the order needs; otherwise the units are
    bought first."""
    wx, wy = warehouse.x, warehouse.y
    x, y = dest
    handling = timing.PACK_SECONDS + (0 if in_stock else timing.PURCHASE_SECONDS)
    pickup = TYPICAL_PICKUP_DISTANCE * timing.SECONDS_PER_GRID_UNIT
    # The truck drives to the warehouse while the package is bought and packed.
    ready = max(timing.scaled(handling, simspeed), timing.scaled(pickup, simspeed))
    loaded = ready + timing.scaled(timing.LOAD_SECONDS, simspeed) + TYPICAL_TRUCK_WAIT
    total = loaded + timing.travel_seconds(wx, wy, x, y, simspeed)
    seconds = math.ceil(total)
    return Estimate(
        seconds=seconds,
        at=now + datetime.timedelta(seconds=seconds),
        warehouse_name=warehouse.name,
        distance=timing.distance(wx, wy, x, y),
    )


def ships_from(
    warehouses: list[Place], dest: tuple[int, int], stocked: set[int]
) -> tuple[Place, bool] | None:
    """The warehouse an order would ship from, as the fulfilment daemon chooses it: the
    nearest whose id is in ``stocked`` (holds the units), else the nearest (which buys
    them); and whether it holds them. None: no warehouse at all."""
    if not warehouses:
        return None
    x, y = dest
    by_distance = sorted(warehouses, key=lambda w: (timing.distance(w.x, w.y, x, y), w.id))
    for warehouse in by_distance:
        if warehouse.id in stocked:
            return warehouse, True
    return by_distance[0], False
