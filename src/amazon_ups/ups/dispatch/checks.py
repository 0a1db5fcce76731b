"""System checks of the dispatch settings (see ``amazon_ups.common.checks``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from amazon_ups.common.checks import positive_errors
from amazon_ups.ups.dispatch.planning import POLICY_NAMES

UNKNOWN_DISPATCH = "ups_dispatch.E001"
NOT_POSITIVE = "ups_dispatch.E002"
SHARE_ABOVE_CAPACITY = "ups_dispatch.W001"


@register(Tags.compatibility)
def check_dispatch_settings(app_configs=None, **kwargs) -> list[Error | Warning]:
    errors = [
        *positive_errors("UPS_TRUCKS", settings.UPS_TRUCKS, NOT_POSITIVE),
        *positive_errors("UPS_TRUCK_CAPACITY", settings.UPS_TRUCK_CAPACITY, NOT_POSITIVE),
        *positive_errors("UPS_TRUCK_SHARE", settings.UPS_TRUCK_SHARE, NOT_POSITIVE),
        *positive_errors(
            "UPS_LOADING_WAIT", settings.UPS_LOADING_WAIT, NOT_POSITIVE, " of seconds"
        ),
    ]
    # planning.policy() reads anything but "naive" as smart: a typo of "naive" would
    # run the real policy and a benchmark would compare it with itself.
    if str(settings.UPS_DISPATCH).lower() not in POLICY_NAMES:
        errors.append(
            Error(
                f"UPS_DISPATCH is {settings.UPS_DISPATCH!r}: not a dispatch policy",
                hint=f"Set UPS_DISPATCH to one of {', '.join(POLICY_NAMES)} "
                "(smart is the default).",
                id=UNKNOWN_DISPATCH,
            )
        )
    if not errors and settings.UPS_TRUCK_SHARE > settings.UPS_TRUCK_CAPACITY:
        errors.append(
            Warning(
                f"UPS_TRUCK_SHARE ({settings.UPS_TRUCK_SHARE}) is above UPS_TRUCK_CAPACITY "
                f"({settings.UPS_TRUCK_CAPACITY}): a truck takes at most the capacity",
                hint="Set UPS_TRUCK_SHARE to at most UPS_TRUCK_CAPACITY.",
                id=SHARE_ABOVE_CAPACITY,
            )
        )
    return errors
