"""Reads for a package's live page (``status.json``): the progress strip, the delivery
estimate (``estimate.py`` does the arithmetic) and the small map, each exact only for
those who ``sees_everything``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from amazon_ups.common.dates import human_datetime
from amazon_ups.ups.shipments import estimate
from amazon_ups.ups.shipments.models import (
    Package,
    PackageStatus,
    Truck,
)
from amazon_ups.ups.shipments.package_lifecycle import CARRIED, NOT_FINAL
from amazon_ups.ups.shipments.package_lifecycle import PackageEventKind as Kind
from amazon_ups.ups.shipments.selectors import (
    AREA_SIZE,
    delivered_place,
    destination_area,
    is_owner,
    package_timeline,
    sees_everything,
)
from amazon_ups.ups.shipments.truck_lifecycle import TruckEventKind
from amazon_ups.world import timing

# The steps of the progress strip: (label, the event kinds that reach it).
PROGRESS = (
    ("Label created", (Kind.CREATED,)),
    ("Picked up", (Kind.LOADED,)),
    ("Out for delivery", (Kind.OUT_FOR_DELIVERY,)),
    ("Delivered", (Kind.DELIVERED,)),
)
# How far each status has come along PROGRESS (index of the last step reached).
_PROGRESS_RANK: dict[str, int] = {
    PackageStatus.CREATED: 0,
    PackageStatus.TRUCK_DISPATCHED: 0,
    PackageStatus.TRUCK_AT_WAREHOUSE: 0,
    PackageStatus.LOADED: 1,
    PackageStatus.OUT_FOR_DELIVERY: 2,
    PackageStatus.DELIVERED: 3,
}


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    reached: bool
    at: datetime | None


def progress_steps(package: Package) -> list[Step]:
    """The strip, with the moment each step was first reached. A step counts as reached
    when a later one is (a package may be delivered before we heard it was out), with a
    moment only if an event of its own says when; a failure is added as a last step."""
    first_at: dict[str, datetime] = {}
    for kind, at in package.events.order_by("at", "id").values_list("kind", "at"):
        first_at.setdefault(kind, at)
    rank = _PROGRESS_RANK.get(package.status, -1)
    if package.status == PackageStatus.FAILED:
        rank = max(
            (i for i, (_, kinds) in enumerate(PROGRESS) if any(k in first_at for k in kinds)),
            default=0,
        )
    steps = []
    for index, (label, kinds) in enumerate(PROGRESS):
        reached = index <= rank
        first = (
            min((first_at[k] for k in kinds if k in first_at), default=None) if reached else None
        )
        steps.append(Step(kinds[0].value, label, reached, first))
    if package.status == PackageStatus.FAILED:
        steps.append(Step("failed", "Cannot be delivered", True, first_at.get(Kind.FAILED)))
    return steps


def simspeed() -> int:
    """UPS's simspeed in the world: what the daemon asks for, else the world's own."""
    return int(settings.WORLD_SIMSPEED or timing.DEFAULT_SIMSPEED)


def _truck_last_seen(truck: Truck) -> tuple[tuple[int, int], datetime] | None:
    """Where and when ``truck`` was last known to be on its current trip: at its latest
    delivery, else where it left from."""
    left = truck.events.filter(kind=TruckEventKind.SENT_TO_DELIVER).order_by("-at", "-id").first()
    if left is None:
        return None
    last = (
        Package.objects.filter(
            truck=truck, status=PackageStatus.DELIVERED, status_changed_at__gte=left.at
        )
        .order_by("-status_changed_at", "-id")
        .first()
    )
    if last is not None:
        return (last.dest_x, last.dest_y), last.status_changed_at
    return (left.x, left.y), left.at


def _route_ahead(truck_id: int) -> QuerySet[Package]:
    """The packages ``truck_id`` is still to deliver, in its route order: the world
    appends each delivery command's stops, in the order given, to the route."""
    return Package.objects.filter(
        truck_id=truck_id, status__in=CARRIED, delivery_seqnum__isnull=False
    ).order_by("delivery_seqnum", "route_position", "id")


def _stops_until(package: Package) -> list[tuple[int, int]]:
    """The truck's stops still to make, in route order, up to and including ``package``'s."""
    assert package.truck_id is not None  # out for delivery: on its truck
    stops = []
    for other in _route_ahead(package.truck_id):
        stops.append((other.dest_x, other.dest_y))
        if other.id == package.id:
            return stops
    return [*stops, (package.dest_x, package.dest_y)]


def delivery_estimate(package: Package, now: datetime) -> estimate.Window | None:
    """When ``package`` should be delivered (``estimate.py``); None once it is delivered
    or cannot be."""
    if package.status not in NOT_FINAL:
        return None
    speed = simspeed()
    truck = package.truck
    if package.status == PackageStatus.OUT_FOR_DELIVERY and truck is not None:
        seen = _truck_last_seen(truck)
        if seen is not None:
            start, since = seen
            stops = _stops_until(package)
            return estimate.on_the_road(
                now=now, simspeed=speed, start=start, since=since, stops=stops
            )
    warehouse = package.warehouse
    on_its_way = truck is not None and package.status == PackageStatus.TRUCK_DISPATCHED
    sent = (
        truck.events.filter(kind=TruckEventKind.SENT_TO_WAREHOUSE).order_by("-at", "-id").first()
        if truck is not None and on_its_way
        else None
    )
    return estimate.before_departure(
        now=now,
        simspeed=speed,
        loading_wait=float(settings.UPS_LOADING_WAIT),
        warehouse=(warehouse.x, warehouse.y),
        destination=(package.dest_x, package.dest_y),
        truck=(sent.x, sent.y) if sent is not None else None,
        truck_since=sent.at if sent is not None else None,
        at_warehouse=package.status != PackageStatus.TRUCK_DISPATCHED,
        loaded=package.status in CARRIED,
    )


def delivered_moment(package: Package) -> datetime | None:
    if package.status != PackageStatus.DELIVERED:
        return None
    return (
        package.events.filter(kind=Kind.DELIVERED)
        .order_by("-at", "-id")
        .values_list("at", flat=True)
        .first()
    )


def _truck_on_the_model(truck: Truck, now: datetime) -> tuple[int, int]:
    """Where the delivering ``truck`` is now on the world's time model: the world tells
    where a truck is only at its stops."""
    seen = _truck_last_seen(truck)
    stops = [(p.dest_x, p.dest_y) for p in _route_ahead(truck.id)]
    if seen is None or not stops:
        return truck.x, truck.y
    start, since = seen
    return estimate.where_now(now=now, simspeed=simspeed(), start=start, since=since, stops=stops)


def package_map(package: Package, *, exact: bool, now: datetime) -> dict:
    """The small map of one package, in the live map's shape (``ups/map.js``): its
    warehouse, its truck while it carries or fetches it, and where it goes: the point
    for its owner and staff, only the area for anyone else. To them the truck is also
    shown where the model says it is on its route; to anyone else where it was last
    seen, since the model would bring it to the door before the delivery is known."""
    warehouse = package.warehouse
    data: dict[str, list[dict[str, Any]]] = {
        "warehouses": [{"id": warehouse.id, "x": warehouse.x, "y": warehouse.y}],
        "trucks": [],
        "packages": [],
        "areas": [],
    }
    truck = package.truck
    # Once delivered, the truck stands at the exact point: a stranger must not see it.
    if truck is not None and package.status in NOT_FINAL:
        x, y = truck.x, truck.y
        if exact and package.status == PackageStatus.OUT_FOR_DELIVERY:
            x, y = _truck_on_the_model(truck, now)
        data["trucks"].append(
            {
                "id": truck.id,
                "x": x,
                "y": y,
                "status": truck.status,
                "label": truck.get_status_display(),
            }
        )
    if exact:
        data["packages"].append(
            {
                "tracking_number": package.tracking_number,
                "x": package.dest_x,
                "y": package.dest_y,
                "status": package.status,
                "truck": package.truck_id,
            }
        )
    else:
        area = destination_area(package)
        data["areas"].append({"x": area.x, "y": area.y, "size": AREA_SIZE})
    return data


def redirect_state(package: Package, user) -> dict | None:
    """For the owner: whether the form is offered, a change waits for the truck, and
    the truck has confirmed the last one (sent while the package was on it)."""
    if not is_owner(package, user):
        return None
    last = (
        package.events.filter(
            kind__in=(
                Kind.REDIRECTED,
                Kind.REDIRECT_CONFIRMED,
                Kind.REDIRECT_TOO_LATE,
                Kind.REDIRECT_FAILED,
            )
        )
        .order_by("-at", "-id")
        .first()
    )
    return {
        "can": package.status in NOT_FINAL,
        "pending": package.redirect_seqnum is not None,
        "confirmed": last is not None and last.kind == Kind.REDIRECT_CONFIRMED,
    }


def _moment(at: datetime | None) -> dict | None:
    return {"at": at.isoformat(), "text": human_datetime(at)} if at is not None else None


def package_live(package: Package, user, now: datetime) -> dict:
    """What the package's page shows, for its script to update it without a reload
    (``status.json``). Exact places only to those who ``sees_everything``."""
    exact = sees_everything(package, user)
    window = delivery_estimate(package, now)
    data = {
        "tracking_number": package.tracking_number,
        "status": package.status,
        "status_label": package.get_status_display(),
        "final": package.status not in NOT_FINAL,
        "failure": package.failure,
        "steps": [
            {
                "status": s.key,
                "label": s.label,
                "reached": s.reached,
                "at": s.at.isoformat() if s.at else None,
                "at_text": human_datetime(s.at),
            }
            for s in progress_steps(package)
        ],
        "estimate": (
            {
                "earliest": window.earliest.isoformat(),
                "latest": window.latest.isoformat(),
                "by": human_datetime(window.latest),
                "text": estimate.describe(window, now),
            }
            if window is not None
            else None
        ),
        "delivered": _moment(delivered_moment(package)),
        "truck": package.truck_id,
        "events": [
            {"kind": e.kind, "what": e.what, "detail": e.detail, "at": _moment(e.at)}
            for e in package_timeline(package, exact=exact)
        ],
        "map": package_map(package, exact=exact, now=now),
        "redirect": redirect_state(package, user),
    }
    if exact:
        data["destination"] = {"x": package.dest_x, "y": package.dest_y}
        data["delivered_place"] = delivered_place(package)
    return data
