"""Reads of the daemon's bookkeeping: which world we are in."""

from __future__ import annotations

from amazon_ups.common.messaging import selectors as messaging

WORLD_ID = "world_id"  # the world we use (joined, or announced by Amazon)
WORLD_SEQNUM = "world_seqnum"  # seqnum of the WorldCreated that named it, when Amazon did
TRUCKS_WORLD = "trucks_world"  # the world our trucks were brought into
ANNOUNCED_WORLD = "announced_world"  # the world we last told Amazon of


def world_id() -> int | None:
    value = messaging.setting(WORLD_ID)
    return int(value) if value is not None else None


def world_peer() -> str | None:
    """The messaging peer of our world, ``world:<id>``: what the world link calls it."""
    current = world_id()
    return None if current is None else f"world:{current}"


def setting_int(key: str) -> int | None:
    value = messaging.setting(key)
    return int(value) if value is not None else None
