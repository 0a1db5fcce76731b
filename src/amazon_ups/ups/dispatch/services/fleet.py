"""Our trucks in a world, and what is left behind when we move to another world."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from amazon_ups.ups.dispatch import planning
from amazon_ups.ups.shipments.models import Package, Truck
from amazon_ups.ups.shipments.package_lifecycle import NOT_FINAL
from amazon_ups.ups.shipments.services.base import fail
from amazon_ups.ups.shipments.truck_lifecycle import TruckEventKind, truck_move


def fleet_reset(starts: Iterable[planning.Place], *, now: datetime) -> None:
    """Our trucks as brought into a new world: idle at their start places, with nothing
    asked of the world about them."""
    starts = list(starts)
    for truck_id, x, y in starts:
        truck, _ = Truck.objects.get_or_create(id=truck_id, defaults={"x": x, "y": y})
        truck.x, truck.y = x, y
        truck.warehouse = None
        truck.loading_deadline = None
        truck.report_seqnum = truck.query_seqnum = None
        truck.needs_query = False
        truck_move(truck, TruckEventKind.BROUGHT, note=f"at ({x}, {y})", now=now)
    Truck.objects.exclude(id__in=[truck_id for truck_id, _, _ in starts]).delete()


def fleet_add(starts: Iterable[planning.Place], *, now: datetime) -> None:
    """Trucks brought into the current world for the first time (UPS_TRUCKS grew)."""
    for truck_id, x, y in starts:
        truck, created = Truck.objects.get_or_create(id=truck_id, defaults={"x": x, "y": y})
        if created:
            truck_move(truck, TruckEventKind.BROUGHT, note=f"at ({x}, {y})", now=now)


def packages_abandon(reason: str, *, now: datetime) -> int:
    """We moved to another world: packages of the old one will never be delivered."""
    return sum(
        fail(package, reason, now=now)
        for package in Package.objects.select_for_update().filter(status__in=NOT_FINAL)
    )
