"""Which world UPS is in: a setting the dispatch daemon keeps (``dispatch.services.world``)
and every part of the carrier reads (a redirect commands the truck in it)."""

from __future__ import annotations

from amazon_ups.common.messaging import selectors as messaging

WORLD_ID = "world_id"  # the world we use (joined, or announced by Amazon)


def world_id() -> int | None:
    value = messaging.setting(WORLD_ID)
    return int(value) if value is not None else None


def world_peer() -> str | None:
    """The messaging peer of our world, ``world:<id>``: what the world link calls it."""
    current = world_id()
    return None if current is None else f"world:{current}"
