"""Where an order ships from, and what to buy for it: pure functions, no database.

Distances are Manhattan (|dx| + |dy|) because that is how the world's trucks
drive, so the nearest warehouse by this measure is the quickest to deliver from.

Stock bookkeeping keeps one promise per warehouse and product:
``on_hand + on_order >= demand of the orders waiting there``. A new order may
pack at once only where that still holds after it takes its units; otherwise it
waits at the nearest warehouse, which buys enough to keep the promise. So when
every purchase has arrived, every waiting order fits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

RESTOCK = 10  # least units per purchase, so a run of small orders does not buy one by one


@dataclass(frozen=True)
class Place:
    id: int
    x: int
    y: int


@dataclass(frozen=True)
class Plan:
    warehouse_id: int
    pack_now: bool
    buy: dict[int, int] = field(default_factory=dict)  # product id -> units


def distance(place: Place, x: int, y: int) -> int:
    return abs(place.x - x) + abs(place.y - y)


def plan(
    x: int,
    y: int,
    needs: Mapping[int, int],
    warehouses: Sequence[Place],
    stock: Mapping[tuple[int, int], tuple[int, int]],
    waiting: Mapping[tuple[int, int], int],
) -> Plan | None:
    """``stock``: (warehouse, product) -> (on hand, on order); ``waiting``: (warehouse,
    product) -> units that orders already waiting there need. None: no warehouse."""
    if not warehouses:
        return None
    nearest_first = sorted(warehouses, key=lambda w: (distance(w, x, y), w.id))

    def free(w: Place, product_id: int) -> tuple[int, int]:
        on_hand, on_order = stock.get((w.id, product_id), (0, 0))
        return on_hand, on_hand + on_order - waiting.get((w.id, product_id), 0)

    for w in nearest_first:
        if all(
            on_hand >= count and spare >= count
            for product_id, count in needs.items()
            for on_hand, spare in [free(w, product_id)]
        ):
            return Plan(w.id, pack_now=True)
    nearest = nearest_first[0]
    buy = {}
    for product_id, count in needs.items():
        _, spare = free(nearest, product_id)
        if spare < count:
            buy[product_id] = max(count - spare, RESTOCK)
    return Plan(nearest.id, pack_now=False, buy=buy)


def fits(needs: Mapping[int, int], on_hand: Mapping[int, int]) -> bool:
    """Can a package with ``needs`` be packed from ``on_hand`` (product -> units)?"""
    return all(on_hand.get(product_id, 0) >= count for product_id, count in needs.items())
