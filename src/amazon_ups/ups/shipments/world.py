"""Which world UPS is in: a setting the dispatch daemon keeps (``dispatch.services.world``)
and every part of the carrier reads (a redirect commands the truck in it).

The daemon reads it many times while it handles one container or runs one tick; inside
``remembered()`` (one such call) it is read from the database once. The setting changes
only through ``world_id_put`` (the daemon's), which stops the remembering for the rest of
the call, so a write, and its rollback, are always read back from the database.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from amazon_ups.common.messaging import selectors as messaging
from amazon_ups.common.messaging import services as messaging_services

WORLD_ID = "world_id"  # the world we use (joined, or announced by Amazon)

# Inside ``remembered()``: {} until the id is read, then {"id": the id}; {"off": True}
# once it was written. None outside (every read goes to the database).
_memo: contextvars.ContextVar[dict[str, int | None] | None] = contextvars.ContextVar(
    "ups_world_id", default=None
)


@contextlib.contextmanager
def remembered() -> Iterator[None]:
    """Within: ``world_id()`` reads the setting from the database at most once (until
    ``world_id_put`` writes it). For one container's handling or one tick of the daemon,
    its only writer; a ``remembered()`` inside another shares the outer one's memory."""
    if _memo.get() is not None:
        yield
        return
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def world_id() -> int | None:
    memo = _memo.get()
    if memo is not None and "id" in memo:
        return memo["id"]
    value = messaging.setting(WORLD_ID)
    current = int(value) if value is not None else None
    if memo is not None and "off" not in memo:
        memo["id"] = current
    return current


def world_id_put(world_id: int) -> None:
    """Set the world we are in (call inside the transaction of the change it belongs to)."""
    messaging_services.put_setting(WORLD_ID, world_id)
    memo = _memo.get()
    if memo is not None:
        memo.clear()
        memo["off"] = None


def world_peer() -> str | None:
    """The messaging peer of our world, ``world:<id>``: what the world link calls it."""
    current = world_id()
    return None if current is None else f"world:{current}"
