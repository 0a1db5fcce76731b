"""How long things usually stay in each state, from their recent histories, so that
operators see what waits much longer than usual (not merely longer than a fixed
``STUCK_AFTER``). The sites' selectors hand in the histories; the last helpers turn the
limits into a query and rows for the operators' page, the same for orders, packages
and trucks (each a model with ``status`` and ``status_changed_at``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Manager, Q, QuerySet

# Below this nothing is "much longer than usual": a demo order's steps take a few
# seconds each, and a pause of a few more is no news.
FLOOR_SECONDS = 30.0
# Much longer than usual: longer than this many times the 95th percentile.
FACTOR = 2.0


def stays(histories: Iterable[Sequence[tuple[datetime, str]]]) -> dict[str, list[float]]:
    """Per state, the seconds each finished stay in it lasted. A history is one
    subject's (moment, state after the event) in time order; a stay ends when the state
    changes, so the stay in progress is not counted."""
    found: dict[str, list[float]] = {}
    for history in histories:
        entered: tuple[datetime, str] | None = None
        for at, state in history:
            if entered is None:
                entered = (at, state)
            elif state != entered[1]:
                found.setdefault(entered[1], []).append((at - entered[0]).total_seconds())
                entered = (at, state)
    return found


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (``fraction`` 0.95 for p95); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def usual_limit(durations: Sequence[float], floor: float = FLOOR_SECONDS) -> float:
    """Seconds after which a stay is much longer than usual: ``FACTOR`` times the p95 of
    ``durations``, never under ``floor`` (nor under it with no history at all)."""
    p95 = percentile(durations, 0.95)
    return floor if p95 is None else max(floor, FACTOR * p95)


def limits(histories: Iterable[Sequence[tuple[datetime, str]]], states: Iterable[str]) -> dict:
    """``usual_limit`` for each of ``states``, with the p95 and how many stays it is
    made of: {state: {"limit": s, "p95": s or None, "samples": n}}."""
    found = stays(histories)
    result = {}
    for state in states:
        durations = found.get(state, [])
        p95 = percentile(durations, 0.95)
        result[state] = {
            "limit": usual_limit(durations),
            "p95": None if p95 is None else round(p95, 1),
            "samples": len(durations),
        }
    return result


def human_duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 days 4 h``: for people."""
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    unit = "day" if days == 1 else "days"
    return f"{days} {unit} {hours} h" if hours else f"{days} {unit}"


# -- for the operators' dashboards ------------------------------------------------------


def counts_by_state(
    queryset: QuerySet[Any] | Manager[Any], choices: Sequence[tuple[str, str]]
) -> list[dict]:
    """How many of ``queryset`` are in each state, every state listed (0 too)."""
    counts = dict(queryset.values_list("status").annotate(n=Count("pk")).order_by())
    return [
        {"state": state, "label": label, "count": counts.get(state, 0)} for state, label in choices
    ]


def slower_than_usual(found: dict, now: datetime) -> Q:
    """Those in a state of ``found`` (``limits``) for longer than its limit."""
    slow = Q(pk__in=[])
    for state, usual in found.items():
        slow |= Q(status=state, status_changed_at__lt=now - timedelta(seconds=usual["limit"]))
    return slow


def slow_row(subject, what: str, url: str, waiting_for: str, found: dict, now: datetime) -> dict:
    """One row of "much longer than usual" on the operators' page."""
    return {
        "what": what,
        "url": url,
        "status": subject.status,
        "label": subject.get_status_display(),
        "waiting_for": waiting_for,
        "waiting_seconds": round((now - subject.status_changed_at).total_seconds(), 1),
        "usual_seconds": found[subject.status]["p95"],
    }
