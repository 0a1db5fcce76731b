"""The one way both sites write a moment for people: ``29 Nov 2026, 08:15 UTC``.

Day before month and a named month read the same everywhere, and "UTC" says which
clock. Pages wrap it in ``<time datetime="ISO" data-local>`` (templatetags/dates.py) so
that static/common/local-time.js can show the visitor's own clock; JSON for machines
keeps ISO 8601.
"""

from __future__ import annotations

from datetime import UTC, datetime


def human_datetime(value: datetime | str | None) -> str:
    if not value:
        return ""
    if isinstance(value, str):  # an ISO string, as status dicts built for JSON hold
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value.day} {value:%b %Y, %H:%M} UTC"
