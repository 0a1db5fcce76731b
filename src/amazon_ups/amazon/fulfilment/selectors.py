"""Reads the fulfilment daemon needs: which world we are in and whether orders may go."""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings

from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.common.messaging.models import OutgoingMessage

# Settings rows (messaging.Setting) the daemon keeps across restarts.
WORLD = "world_id"  # the world we use (from WorldCreated, or the one we created)
WORLD_SEQNUM = "world_seqnum"  # seqnum of the latest WorldCreated applied
JOINED = "joined_world_id"  # the world we have connected to at least once
STOCKED = "stocked_world_id"  # the world whose warehouses we bought the first stock for


def _int_setting(key: str) -> int | None:
    value = messaging_selectors.setting(key)
    return int(value) if value is not None else None


def amazon_creates_world() -> bool:
    return settings.WORLD_CREATOR.lower() == "amazon"


def stored_world_id() -> int | None:
    return _int_setting(WORLD)


def current_world_id(stored: Mapping[str, str] | None = None) -> int | None:
    """The world to connect to: the configured one, else the one we learnt or made (in
    ``stored``, the settings rows, when the caller has read them already)."""
    if settings.WORLD_ID is not None:
        return settings.WORLD_ID
    if stored is None:
        return stored_world_id()
    value = stored.get(WORLD)
    return int(value) if value is not None else None


def stocked_world_id() -> int | None:
    return _int_setting(STOCKED)


def latest_world_seqnum() -> int | None:
    return _int_setting(WORLD_SEQNUM)


def world_announced(world_id: int) -> bool:
    """UPS has acked our WorldCreated for ``world_id``."""
    return OutgoingMessage.objects.filter(
        peer="ups", field="worlds", ref=f"world:{world_id}", acked_at__isnull=False
    ).exists()


def world_for_orders() -> int | None:
    """The world new orders go to, or None while they must wait: until we have joined
    it, and (when we created it) until UPS has acked hearing of it (protocol 4)."""
    # Asked at every intake turn: the few settings rows in one read, not one per key.
    stored = {row.key: row.value for row in messaging_selectors.settings_all()}
    world_id = current_world_id(stored)
    joined = stored.get(JOINED)
    if world_id is None or joined is None or int(joined) != world_id:
        return None
    if amazon_creates_world() and not world_announced(world_id):
        return None
    return world_id
