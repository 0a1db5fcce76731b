"""Reads of the daemon's bookkeeping (which world we are in: ``shipments.world``) and of
its configuration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q

from amazon_ups.common.messaging import selectors as messaging
from amazon_ups.ups.dispatch import planning
from amazon_ups.ups.shipments.models import Truck
from amazon_ups.ups.shipments.truck_lifecycle import AT_WAREHOUSE

WORLD_SEQNUM = "world_seqnum"  # seqnum of the WorldCreated that named it, when Amazon did
TRUCKS_WORLD = "trucks_world"  # the world our trucks were brought into
ANNOUNCED_WORLD = "announced_world"  # the world we last told Amazon of


@dataclass(frozen=True)
class TrucksAtTickEnd:
    # When the first truck waiting at a warehouse leaves with what it has, if any.
    first_departure: datetime | None
    # Whether some truck is in doubt with no query of ours about it out
    # (``reports.trucks_to_query`` says which may be asked now).
    in_doubt: bool


def trucks_at_tick_end() -> TrucksAtTickEnd:
    """What the daemon's tick asks of the trucks last, in one read (a fleet is a few
    rows)."""
    found = Truck.objects.aggregate(
        first=Min(
            "loading_deadline",
            filter=Q(status__in=AT_WAREHOUSE, loading_deadline__isnull=False),
        ),
        in_doubt=Count("id", filter=Q(needs_query=True, query_seqnum=None)),
    )
    return TrucksAtTickEnd(found["first"], bool(found["in_doubt"]))


def setting_int(key: str) -> int | None:
    value = messaging.setting(key)
    return int(value) if value is not None else None


def policy() -> planning.Policy:
    """The dispatch policy in force (``planning.Policy``): ``UPS_DISPATCH=naive`` is the
    benchmark's baseline; ``UPS_TRUCK_CAPACITY`` caps the packages one truck takes per
    trip, ``UPS_TRUCK_SHARE`` how many it takes while another truck is free."""
    return planning.policy(
        settings.UPS_DISPATCH, int(settings.UPS_TRUCK_CAPACITY), int(settings.UPS_TRUCK_SHARE)
    )


def loading_wait() -> timedelta:
    """How long a truck with some packages on board waits at the warehouse for the next
    load before it leaves with what it has (``UPS_LOADING_WAIT``, seconds)."""
    return timedelta(seconds=float(settings.UPS_LOADING_WAIT))
