"""System checks of the settings both projects read from the environment.

Django runs them on ``amazon-ups amazon|ups check`` and before every management
command that asks for them, the daemons' ``daemon`` among them: a value that cannot
work stops the start with every mistake listed at once, rather than a daemon that
runs on a guess or fails later, one mistake at a time. Registered by
``CommonConfig.ready``. The mail settings are checked by ``common/mail/checks.py``,
each project's own ones by the app that uses them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, register

from amazon_ups.common.daemon.addresses import parse_addresses
from amazon_ups.common.daemon.link_security import MIN_SECRET_CHARS
from amazon_ups.common.links import url_problem

PORT_OUT_OF_RANGE = "common.E001"
NOT_POSITIVE = "common.E002"
UNKNOWN_WORLD_CREATOR = "common.E003"
SECRET_TOO_SHORT = "common.E004"
SECRET_FILE_UNREADABLE = "common.E005"
TLS_FILE_MISSING = "common.E006"
TLS_KEY_WITHOUT_CERT = "common.E007"
BAD_PUBLIC_URL = "common.E008"
BAD_ADDRESSES = "common.E009"

WORLD_CREATORS = ("ups", "amazon")
MAX_PORT = 65535


def port_errors(name: str, value, error_id: str) -> list[Error]:
    """An error unless ``value`` is a TCP port one can connect to (1..65535)."""
    if isinstance(value, int) and 1 <= value <= MAX_PORT:
        return []
    return [
        Error(
            f"{name} is {value!r}: not a port",
            hint=f"Set {name} to a whole number from 1 to {MAX_PORT}.",
            id=error_id,
        )
    ]


def positive_errors(name: str, value, error_id: str, unit: str = "", optional=False):
    """An error unless ``value`` is a number above 0 (or None, when ``optional``)."""
    if value is None and optional:
        return []
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return []
    return [
        Error(
            f"{name} is {value!r}: it must be above 0",
            hint=f"Set {name} to a positive number{unit}"
            + (", or leave it unset." if optional else "."),
            id=error_id,
        )
    ]


@register(Tags.compatibility)
def check_world_settings(app_configs=None, **kwargs) -> list[Error]:
    errors = [
        *port_errors("WORLD_UPS_PORT", settings.WORLD_UPS_PORT, PORT_OUT_OF_RANGE),
        *port_errors("WORLD_AMAZON_PORT", settings.WORLD_AMAZON_PORT, PORT_OUT_OF_RANGE),
        *positive_errors("WORLD_ID", settings.WORLD_ID, NOT_POSITIVE, optional=True),
        *positive_errors("WORLD_SIMSPEED", settings.WORLD_SIMSPEED, NOT_POSITIVE, optional=True),
        *positive_errors("STUCK_AFTER", settings.STUCK_AFTER, NOT_POSITIVE, " of seconds"),
    ]
    if settings.DAEMON_METRICS_PORT is not None:
        errors += port_errors(
            "DAEMON_METRICS_PORT", settings.DAEMON_METRICS_PORT, PORT_OUT_OF_RANGE
        )
    if settings.METRICS_TOKEN and len(settings.METRICS_TOKEN) < MIN_SECRET_CHARS:
        errors.append(
            Error(
                f"METRICS_TOKEN has {len(settings.METRICS_TOKEN)} characters: too short",
                hint=f"Set METRICS_TOKEN to at least {MIN_SECRET_CHARS} random characters, "
                "or leave it unset (then only staff may read the metrics).",
                id=SECRET_TOO_SHORT,
            )
        )
    # The daemons compare it lower-cased; anything else used to mean "ups" silently.
    if str(settings.WORLD_CREATOR).lower() not in WORLD_CREATORS:
        errors.append(
            Error(
                f"WORLD_CREATOR is {settings.WORLD_CREATOR!r}: not a side of the world",
                hint="Set WORLD_CREATOR to 'ups' (the default) or 'amazon', the same "
                "on both sides.",
                id=UNKNOWN_WORLD_CREATOR,
            )
        )
    return errors


@register(Tags.security)
def check_link_settings(app_configs=None, **kwargs) -> list[Error]:
    """The Amazon-UPS link's port, secret and TLS files. ``link_security`` refuses the
    same at the daemon's start; these say it earlier, on ``check`` and on any site."""
    errors = [
        *port_errors("UPS_PORT", settings.UPS_PORT, PORT_OUT_OF_RANGE),
        *positive_errors(
            "AU_LINK_HANDSHAKE_TIMEOUT",
            settings.AU_LINK_HANDSHAKE_TIMEOUT,
            NOT_POSITIVE,
            " of seconds",
        ),
        *secret_errors(),
    ]
    if settings.UPS_ADDRESSES:
        try:
            parse_addresses(settings.UPS_ADDRESSES)
        except ValueError as error:
            errors.append(
                Error(
                    f"UPS_ADDRESSES is {settings.UPS_ADDRESSES!r}: {error}",
                    hint="Set UPS_ADDRESSES to host:port of each UPS daemon host, separated "
                    "by commas (e.g. ups-1.example.org:34567,ups-2.example.org:34567), or "
                    "leave it unset for UPS_HOST:UPS_PORT.",
                    id=BAD_ADDRESSES,
                )
            )
    for name in ("AU_LINK_TLS_CERT", "AU_LINK_TLS_KEY", "AU_LINK_TLS_CA"):
        path = getattr(settings, name)
        if path and not Path(path).is_file():
            errors.append(
                Error(
                    f"{name} is {path!r}: no such file",
                    hint=f"Set {name} to the path of a PEM file, or leave it unset.",
                    id=TLS_FILE_MISSING,
                )
            )
    if settings.AU_LINK_TLS_KEY and not settings.AU_LINK_TLS_CERT:
        errors.append(
            Error(
                "AU_LINK_TLS_KEY is set without AU_LINK_TLS_CERT: UPS would serve no TLS",
                hint="Set AU_LINK_TLS_CERT to the certificate that goes with the key.",
                id=TLS_KEY_WITHOUT_CERT,
            )
        )
    return errors


def secret_errors() -> list[Error]:
    source, text = "AU_LINK_SECRET", settings.AU_LINK_SECRET
    if not text and settings.AU_LINK_SECRET_FILE:
        source = f"AU_LINK_SECRET_FILE ({settings.AU_LINK_SECRET_FILE})"
        try:
            text = Path(settings.AU_LINK_SECRET_FILE).read_text().strip()
        except OSError as error:
            return [
                Error(
                    f"AU_LINK_SECRET_FILE is {settings.AU_LINK_SECRET_FILE!r}: cannot read "
                    f"it ({error.strerror or error})",
                    hint="Point AU_LINK_SECRET_FILE at a file this user can read, holding "
                    "the secret, or set AU_LINK_SECRET instead.",
                    id=SECRET_FILE_UNREADABLE,
                )
            ]
    if text and len(text) < MIN_SECRET_CHARS:
        return [
            Error(
                f"the Amazon-UPS link's secret from {source} is {len(text)} characters "
                f"long; it must be at least {MIN_SECRET_CHARS}",
                hint="Make one with python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))' and give both sides the same.",
                id=SECRET_TOO_SHORT,
            )
        ]
    return []


@register(Tags.security)
def check_login_throttling(app_configs=None, **kwargs) -> list[Error]:
    # Zero or less would lock out every login, or none, without saying so.
    errors = positive_errors(
        "LOGIN_FAILURE_LIMIT (AXES_FAILURE_LIMIT)", settings.AXES_FAILURE_LIMIT, NOT_POSITIVE
    )
    cooloff = settings.AXES_COOLOFF_TIME
    if not isinstance(cooloff, timedelta) or cooloff <= timedelta(0):
        errors.append(
            Error(
                f"LOGIN_COOLOFF_MINUTES (AXES_COOLOFF_TIME) is {cooloff!r}: it must be above 0",
                hint="Set LOGIN_COOLOFF_MINUTES to a positive number of minutes.",
                id=NOT_POSITIVE,
            )
        )
    return errors


@register(Tags.compatibility)
def check_public_urls(app_configs=None, **kwargs) -> list[Error]:
    """Both sites' public URLs: every link between them and in emails starts with one,
    so a bad one would break each of them quietly."""
    errors = []
    for name in ("AMAZON_PUBLIC_URL", "UPS_PUBLIC_URL"):
        value = getattr(settings, name)
        if problem := url_problem(value):
            errors.append(
                Error(
                    f"{name} is {value!r}: {problem}",
                    hint=f"Set {name} to the address people open the site at, e.g. "
                    "https://ups.example.org or http://127.0.0.1:8001.",
                    id=BAD_PUBLIC_URL,
                )
            )
    return errors
