"""System checks of the store's order settings (see ``amazon_ups.common.checks``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register

TRACKING_URL_WITHOUT_NUMBER = "amazon_orders.E001"


@register(Tags.compatibility)
def check_tracking_url(app_configs=None, **kwargs) -> list[Error]:
    url = settings.UPS_TRACKING_URL
    # Without the placeholder the order page quietly shows no link at all.
    if url and "{number}" not in url:
        return [
            Error(
                f"UPS_TRACKING_URL is {url!r}: it has no {{number}} for the tracking number",
                hint="Put {number} where the carrier's page takes the tracking number, e.g. "
                "http://127.0.0.1:8001/track/{number}/, or leave UPS_TRACKING_URL unset.",
                id=TRACKING_URL_WITHOUT_NUMBER,
            )
        ]
    return []


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
