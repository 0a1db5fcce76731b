"""Reads of packages, trucks and warehouses, for the web pages and the map."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from amazon_ups.common import dwell
from amazon_ups.ups.shipments.models import (
    Package,
    PackageEvent,
    PackageItem,
    PackageStatus,
    Truck,
    TruckEvent,
    TruckStatus,
    Warehouse,
)
from amazon_ups.ups.shipments.package_lifecycle import MACHINE, NOT_FINAL
from amazon_ups.ups.shipments.package_lifecycle import PackageEventKind as Kind

# Side of the square a stranger is told a place within: a street's worth of the grid,
# not a door.
AREA_SIZE = 10
# Statuses a recipient calls "on its way".
IN_TRANSIT = NOT_FINAL
# How many packages the operator's map shows at most (the newest).
MAP_STAFF_PACKAGES = 500


def package_by_tracking_number(number: str) -> Package | None:
    """The package with this tracking number (its compact form, ``tracking.parse``)."""
    return (
        Package.objects.select_related("warehouse", "truck", "account")
        .filter(tracking_number=number)
        .first()
    )


def is_owner(package: Package, user) -> bool:
    """Whether ``user`` holds the UPS account the package was sent to."""
    return (
        user.is_authenticated and package.account is not None and package.account.user_id == user.pk
    )


def sees_everything(package: Package, user) -> bool:
    """Its owner and staff see the contents and exact places; anyone else with the
    number sees the status and areas only."""
    return is_owner(package, user) or (user.is_authenticated and user.is_staff)


def packages_of_user(
    user, *, status: str = "", state: str = "", number: str | None = None
) -> QuerySet[Package]:
    packages = Package.objects.select_related("warehouse").filter(account__user=user)
    if status:
        packages = packages.filter(status=status)
    if state == "in_transit":
        packages = packages.filter(status__in=IN_TRANSIT)
    elif state == "delivered":
        packages = packages.filter(status=PackageStatus.DELIVERED)
    if number is not None:
        packages = packages.filter(tracking_number=number)
    return packages.order_by("-created_at", "-id")


def statuses_of_user(user, numbers: list[str]) -> dict[str, dict]:
    """Tracking number -> status, of ``user``'s packages among ``numbers`` (compact)."""
    rows = Package.objects.filter(account__user=user, tracking_number__in=numbers)
    return {
        p.tracking_number: {"status": p.status, "status_label": p.get_status_display()}
        for p in rows.only("tracking_number", "status")
    }


def package_events(package: Package) -> QuerySet[PackageEvent]:
    return package.events.order_by("at", "id")


def package_items(package: Package) -> QuerySet[PackageItem]:
    return package.items.order_by("id")


# -- the timeline, in a recipient's words ---------------------------------------------


@dataclass(frozen=True)
class Area:
    """The square of the grid a place lies in, AREA_SIZE on a side."""

    x: int
    y: int

    @classmethod
    def of(cls, x: int, y: int) -> Area:
        return cls(x - x % AREA_SIZE, y - y % AREA_SIZE)

    def __str__(self) -> str:
        last = AREA_SIZE - 1
        return f"the area x {self.x} to {self.x + last}, y {self.y} to {self.y + last}"


@dataclass(frozen=True)
class TimelineEntry:
    kind: str
    what: str
    at: datetime
    place: tuple[int, int] | None
    detail: str = ""


def _wording(event: PackageEvent, package: Package, exact: bool = True) -> tuple[str, str]:
    """What the event says, in a recipient's words. Not ``exact``: a delivery point is
    only its area, and no note is shown (they name trucks and places)."""
    warehouse = f"warehouse {package.warehouse_id}"
    place = ""
    if event.x is not None and event.y is not None:  # an event has both, or neither
        place = f"({event.x}, {event.y})" if exact else f"in {Area.of(event.x, event.y)}"
    # The warehouse's place is no secret: the public map shows every warehouse.
    at_warehouse = f"({event.x}, {event.y})" if event.x is not None else ""
    note = event.note if exact else ""
    delivered_at = f"at {place}" if exact else place
    words: dict[str, tuple[str, str]] = {
        PackageStatus.CREATED: ("Label created", "the store is preparing it"),
        PackageStatus.TRUCK_DISPATCHED: ("A truck is on its way to pick it up", ""),
        PackageStatus.TRUCK_AT_WAREHOUSE: (f"Truck at {warehouse}", "waiting to be loaded"),
        PackageStatus.LOADED: (f"Picked up at {warehouse} {at_warehouse}".strip(), ""),
        PackageStatus.OUT_FOR_DELIVERY: ("Out for delivery", ""),
        PackageStatus.DELIVERED: (f"Delivered {delivered_at}".strip(), ""),
        PackageStatus.FAILED: ("Cannot be delivered", note),
        Kind.REDIRECTED: (
            f"New delivery address: {place}" if exact else f"New delivery address {place}",
            note,
        ),
        Kind.REDIRECT_CONFIRMED: (
            f"The truck has confirmed the new address {place}".strip()
            if exact
            else "The truck has confirmed the new address",
            "",
        ),
        Kind.REDIRECT_TOO_LATE: (
            f"Change of address to {place} came too late"
            if exact
            else "A change of address came too late",
            "the truck delivered before it got the new address",
        ),
        Kind.REDIRECT_FAILED: (
            f"Change of address to {place} not accepted by the truck"
            if exact
            else "A change of address was not accepted by the truck",
            "the package goes to the address it had",
        ),
        Kind.PICKUP_REFUSED: ("Pickup delayed", "another truck is being sent"),
        Kind.DELIVERY_REFUSED: ("Delivery delayed", "the truck leaves again shortly"),
        Kind.DELIVERY_RESENT: ("Delivery delayed", "the truck was sent out again"),
        Kind.LEFT_BEHIND: (
            "Not ready when its truck left",
            "the next truck to the warehouse takes it",
        ),
        Kind.LOAD_REFUSED: ("Pickup delayed", "its truck had left; another truck is coming"),
        Kind.TRUCK_REASSIGNED: ("Pickup delayed", "another truck is coming for it"),
        Kind.STUCK: ("Delayed", "taking longer than usual; we are looking into it"),
    }
    return words.get(event.kind, (event.kind.capitalize(), note))


def package_timeline(package: Package, *, exact: bool = True) -> list[TimelineEntry]:
    """The package's history; not ``exact`` for a stranger: no exact place in it."""
    entries = []
    for event in package_events(package):
        what, detail = _wording(event, package, exact)
        place: tuple[int, int] | None = None
        if exact and event.x is not None and event.y is not None:  # both, or neither
            place = (event.x, event.y)
        entries.append(TimelineEntry(event.kind, what, event.at, place, detail))
    return entries


def destination_area(package: Package) -> Area:
    return Area.of(package.dest_x, package.dest_y)


def redirect_too_late(package: Package) -> TimelineEntry | None:
    """The last lost redirect of a delivered package, to tell its owner plainly."""
    if package.status != PackageStatus.DELIVERED:
        return None
    event = package.events.filter(kind=Kind.REDIRECT_TOO_LATE).order_by("-at", "-id").first()
    if event is None:
        return None
    what, detail = _wording(event, package)
    assert event.x is not None and event.y is not None  # recorded with the place asked for
    return TimelineEntry(event.kind, what, event.at, (event.x, event.y), detail)


def delivered_place(package: Package) -> tuple[int, int] | None:
    event = package.events.filter(kind=Kind.DELIVERED).order_by("-at", "-id").first()
    if event is None or event.x is None or event.y is None:  # an event has both, or neither
        return None
    return (event.x, event.y)


# -- what waits far too long, for operators ------------------------------------------------

# What a package in each waiting state waits for, in an operator's words (keyed by
# status, which a model's field holds as a plain str).
WAITING_FOR: dict[str, str] = {
    PackageStatus.CREATED: "a free truck",
    PackageStatus.TRUCK_DISPATCHED: "its truck to arrive at the warehouse",
    PackageStatus.TRUCK_AT_WAREHOUSE: "Amazon to load it",
    PackageStatus.LOADED: "its truck to leave",
    PackageStatus.OUT_FOR_DELIVERY: "the world to deliver it",
}
MOVING = (TruckStatus.TRAVELING, TruckStatus.DELIVERING, TruckStatus.LOADING)


def stuck_for_operators(limit: int = 50) -> dict:
    """For ``/operator/`` (settings.OPERATOR_STUCK): packages in one waiting state, and
    trucks on the road, for longer than STUCK_AFTER, the longest waiting first."""
    now = timezone.now()
    before = now - timedelta(seconds=settings.STUCK_AFTER)
    packages = Package.objects.filter(status__in=NOT_FINAL, status_changed_at__lt=before)
    trucks = Truck.objects.filter(status__in=MOVING, status_changed_at__lt=before)
    items: list[dict[str, Any]] = [
        {
            "what": f"package {package.id}, truck {package.truck_id or '-'}",
            "status": package.status,
            "waiting_for": WAITING_FOR.get(package.status, ""),
            "waiting_seconds": round((now - package.status_changed_at).total_seconds(), 1),
        }
        for package in packages.order_by("status_changed_at")[:limit]
    ] + [
        {
            "what": f"truck {truck.id}",
            "status": truck.status,
            "waiting_for": "the world to report it (it has been asked)",
            "waiting_seconds": round((now - truck.status_changed_at).total_seconds(), 1),
        }
        for truck in trucks.order_by("status_changed_at")[:limit]
    ]
    items.sort(key=lambda item: -item["waiting_seconds"])
    return {"count": packages.count() + trucks.count(), "items": items[:limit]}


# -- trucks and the map ----------------------------------------------------------------


def truck_ids() -> set[int]:
    return set(Truck.objects.values_list("id", flat=True))


def map_data(user) -> dict:
    """What the live map draws. Anyone sees the trucks and warehouses (the carrier's
    fleet is no secret, and no package can be told from them); a signed-in user also
    sees where their own packages go; staff see every package (the newest ones)."""
    role = "staff" if user.is_staff else ("user" if user.is_authenticated else "anonymous")
    data = {
        "role": role,
        "warehouses": [{"id": w.id, "x": w.x, "y": w.y} for w in Warehouse.objects.order_by("id")],
        "trucks": [
            {
                "id": t.id,
                "x": t.x,
                "y": t.y,
                "status": t.status,
                "label": t.get_status_display(),
            }
            for t in Truck.objects.order_by("id")
        ],
        "packages": [],
    }
    if role == "anonymous":
        return data
    packages = Package.objects.order_by("-id")
    if role == "user":
        packages = packages.filter(account__user=user)
    else:
        packages = packages.filter(Q(status__in=IN_TRANSIT) | Q(account__user=user))
    data["packages"] = [
        {
            "tracking_number": p.tracking_number,
            "x": p.dest_x,
            "y": p.dest_y,
            "status": p.status,
            "truck": p.truck_id,
        }
        for p in packages[:MAP_STAFF_PACKAGES]
    ]
    return data


# -- the operators' dashboard -----------------------------------------------------------

# "Usual" is learnt from the histories of this many newest packages and trucks' events.
RECENT_FOR_USUAL = 500


def _package_histories(package_ids: list[int]) -> list[list[tuple[datetime, str]]]:
    """Each package's (moment, state after) from its creation on; a package's events
    record their kind only, and the table says where each leads."""
    created = dict(Package.objects.filter(id__in=package_ids).values_list("id", "created_at"))
    histories = {pid: [(at, MACHINE.initial)] for pid, at in created.items()}
    events = PackageEvent.objects.filter(package_id__in=package_ids).order_by(
        "package_id", "at", "id"
    )
    for package_id, at, kind in events.values_list("package_id", "at", "kind"):
        history = histories[package_id]
        # Kinds outside the table (the package's creation) leave the state as it is.
        state = history[-1][1]
        history.append((at, MACHINE.target(state, kind) if kind in MACHINE.moves else state))
    return list(histories.values())


def counts_for_operators() -> list[dict]:
    """Packages and trucks by state (settings.OPERATOR_COUNTS: the dashboard's counts,
    and metrics)."""
    return [
        {
            "what": "packages",
            "states": dwell.counts_by_state(Package.objects, PackageStatus.choices),
        },
        {"what": "trucks", "states": dwell.counts_by_state(Truck.objects, TruckStatus.choices)},
    ]


def dashboard_for_operators(limit: int = 50) -> dict:
    """For ``/operator/`` (settings.OPERATOR_DASHBOARD): packages and trucks by state,
    and those in a waiting state much longer than usual (``common.dwell``), the longest
    first."""
    now = timezone.now()
    recent = list(Package.objects.order_by("-id").values_list("id", flat=True)[:RECENT_FOR_USUAL])
    package_usual = dwell.limits(_package_histories(recent), NOT_FINAL)
    truck_histories: dict[int, list] = {}
    truck_events = TruckEvent.objects.order_by("-id")[: RECENT_FOR_USUAL * 4]
    for truck_id, at, status in sorted(
        truck_events.values_list("truck_id", "at", "status"), key=lambda row: (row[0], row[1])
    ):
        truck_histories.setdefault(truck_id, []).append((at, status))
    truck_usual = dwell.limits(truck_histories.values(), MOVING)
    packages = Package.objects.filter(dwell.slower_than_usual(package_usual, now))
    trucks = Truck.objects.filter(dwell.slower_than_usual(truck_usual, now))
    items = [
        dwell.slow_row(
            package,
            f"package {package.id}, truck {package.truck_id or '-'}",
            reverse("shipments:detail", args=[package.tracking_number]),
            WAITING_FOR.get(package.status, ""),
            package_usual,
            now,
        )
        for package in packages.order_by("status_changed_at")[:limit]
    ] + [
        dwell.slow_row(
            truck,
            f"truck {truck.id}",
            reverse("admin:shipments_truck_change", args=[truck.id]),
            "the world to report it",
            truck_usual,
            now,
        )
        for truck in trucks.order_by("status_changed_at")[:limit]
    ]
    items.sort(key=lambda item: -item["waiting_seconds"])
    return {
        "counts": counts_for_operators(),
        "usual": {**package_usual, **{f"truck {s}": v for s, v in truck_usual.items()}},
        "slow": {"count": packages.count() + trucks.count(), "items": items[:limit]},
    }
