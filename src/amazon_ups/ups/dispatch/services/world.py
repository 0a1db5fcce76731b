"""Which world we are in, and telling Amazon about it."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction

from amazon_ups.common.messaging import services as messaging
from amazon_ups.ups.dispatch import planning, selectors
from amazon_ups.ups.dispatch.services import fleet
from amazon_ups.ups.shipments import world
from amazon_ups.ups.shipments.services import Refused
from amazon_ups.ups.shipper import services as shipper

logger = logging.getLogger(__name__)


def _creator() -> bool:
    return settings.WORLD_CREATOR.lower() != "amazon"


@transaction.atomic
def world_joined(world_id: int, now: datetime) -> None:
    """The world said "connected!" to us in ``world_id`` (at ``now``)."""
    world.world_id_put(world_id)
    starts = planning.truck_starts(settings.UPS_TRUCKS)
    trucks_world = selectors.setting_int(selectors.TRUCKS_WORLD)
    if trucks_world != world_id:
        if trucks_world is not None:
            abandoned = fleet.packages_abandon(
                f"UPS moved from world {trucks_world} to {world_id}", now=now
            )
            logger.warning(
                "moved to world %d: %d packages of world %d abandoned",
                world_id,
                abandoned,
                trucks_world,
            )
        fleet.fleet_reset(starts, now=now)
        messaging.put_setting(selectors.TRUCKS_WORLD, world_id)
    else:
        fleet.fleet_add(starts, now=now)
    # Said once per world: a reconnect to the same world is no news to Amazon.
    if _creator() and selectors.setting_int(selectors.ANNOUNCED_WORLD) != world_id:
        shipper.world_created(world_id)
        messaging.put_setting(selectors.ANNOUNCED_WORLD, world_id)
        logger.info("world %d: told Amazon", world_id)


def world_announced(world_id: int, seqnum: int) -> bool:
    """Amazon created ``world_id``; True if that moves us to another world."""
    if _creator():
        raise Refused(
            f"UPS creates the world here (WORLD_CREATOR=ups); it does not join world {world_id}"
        )
    latest = selectors.setting_int(selectors.WORLD_SEQNUM)
    if latest is not None and seqnum < latest:
        return False  # an older announcement overtaken by a newer one
    messaging.put_setting(selectors.WORLD_SEQNUM, seqnum)
    moved = world.world_id() != world_id
    world.world_id_put(world_id)
    if moved:
        logger.info("Amazon announced world %d", world_id)
    return moved
