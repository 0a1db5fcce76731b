"""System checks of the store's order settings (see ``amazon_ups.common.checks``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register

INITIAL_STOCK_NEGATIVE = "amazon_orders.E002"


@register(Tags.compatibility)
def check_initial_stock(app_configs=None, **kwargs) -> list[Error]:
    count = settings.INITIAL_STOCK
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return []
    return [
        Error(
            f"INITIAL_STOCK is {count!r}: it must be a whole number, 0 or more",
            hint="Set INITIAL_STOCK to the units of each product a new world's warehouses "
            "start with (0: none), or leave it unset (20).",
            id=INITIAL_STOCK_NEGATIVE,
        )
    ]


UNKNOWN_SESSION_CACHE = "amazon_orders.E003"
SESSION_CACHES = ("host", "none")


@register(Tags.compatibility)
def check_session_cache(app_configs=None, **kwargs) -> list[Error]:
    if settings.SESSION_CACHE in SESSION_CACHES:
        return []
    return [
        Error(
            f"SESSION_CACHE is {settings.SESSION_CACHE!r}: not a way to keep sessions",
            hint="Set SESSION_CACHE to 'host' (one web host: a file cache in front of the "
            "database) or 'none' (web processes on several hosts: the database alone).",
            id=UNKNOWN_SESSION_CACHE,
        )
    ]
