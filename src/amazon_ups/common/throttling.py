"""Who a login attempt is from (django-axes' ``AXES_CLIENT_IP_CALLABLE``), and the page a
locked-out login gets (``AXES_LOCKOUT_CALLABLE``).

Axes' own page says "try again later"; a person needs to know when. Each site has its
own ``locked_out.html`` in its look; the settings (common/settings.py) say who is
locked out and for how long.
"""

from __future__ import annotations

import math

from axes.helpers import get_cool_off
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def client_address(request: HttpRequest) -> str | None:
    """The address a request comes from: the connecting one, or, behind
    ``TRUSTED_PROXY_COUNT`` proxies, the one the first of them saw (entries a client
    wrote into X-Forwarded-For itself come before it, and are not believed)."""
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        forwarded = [
            entry.strip()
            for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if entry.strip()
        ]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR")


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    cool_off = get_cool_off(request)
    # Every attempt while locked out starts the wait again
    # (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), this one included: the wait
    # ends one cool-off from now.
    retry_at = timezone.now() + cool_off
    minutes = math.ceil(cool_off.total_seconds() / 60)
    context = {
        "retry_at": retry_at,
        "minutes": minutes,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "username": (credentials or {}).get("username", ""),
    }
    response = render(
        request, settings.AXES_LOCKOUT_TEMPLATE, context, status=settings.AXES_HTTP_RESPONSE_CODE
    )
    response["Retry-After"] = str(math.ceil(cool_off.total_seconds()))
    return response
