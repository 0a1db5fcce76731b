"""Reads of the messaging tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q

from amazon_ups.common.daemon.lead import ACTIVE_SEEN_EVERY, STANDBY_SEEN_EVERY
from amazon_ups.common.messaging.models import (
    DaemonProcess,
    DeadLetter,
    LinkState,
    OutgoingMessage,
    Setting,
)
from amazon_ups.common.queries import one_or_none


def unacked(peer: str, after_id: int = 0) -> list[OutgoingMessage]:
    """Messages ``peer`` has not acked, oldest first, from row id ``after_id`` on."""
    return list(
        OutgoingMessage.objects.filter(peer=peer, acked_at=None, id__gt=after_id).order_by("id")
    )


def origin(peer: str, seqnum: int) -> OutgoingMessage | None:
    """The message we sent ``peer`` as ``seqnum`` (to match an error to its cause)."""
    return one_or_none(OutgoingMessage.objects.filter(peer=peer, seqnum=seqnum))


def setting(key: str, default: str | None = None) -> str | None:
    row = one_or_none(Setting.objects.filter(key=key))
    return row.value if row else default


def set_aside_refs() -> set[str]:
    """Refs of the work items set aside and not retried yet (``isolation.each_item`` skips
    them)."""
    return set(
        DeadLetter.objects.filter(
            kind=DeadLetter.Kind.WORK_ITEM, state__in=DeadLetter.UNRESOLVED
        ).values_list("ref", flat=True)
    )


def dead_letters_to_retry(peers: Iterable[str], limit: int = 20) -> list[DeadLetter]:
    """Dead letters an operator asked to retry, oldest request first: work items, and
    messages from ``peers`` (those the daemon can hand them to now)."""
    return list(
        DeadLetter.objects.filter(state=DeadLetter.State.RETRY)
        .filter(Q(kind=DeadLetter.Kind.WORK_ITEM) | Q(peer__in=list(peers)))
        .order_by("retry_requested_at", "id")[:limit]
    )


# -- for the operators' page ------------------------------------------------------------


def link_states() -> list[LinkState]:
    return list(LinkState.objects.order_by("peer"))


# A peer that keeps the link alive (ours send an empty message after 3 s of silence) is
# silent after this many of its intervals without a word; any peer is silent when our
# messages have waited this long for its ack and it has said nothing meanwhile.
SILENT_AFTER_KEEPALIVES = 4
SILENT_AFTER = 15.0


def link_health(link: LinkState, oldest_unacked: datetime | None, now: datetime) -> dict:
    """How long ``link``'s peer has said nothing, and whether that is silence: an open
    socket to a frozen process looks connected, but it says nothing."""
    heard = max(filter(None, (link.heard_at, link.changed_at)))
    quiet = (now - heard).total_seconds()
    silent = False
    if link.connected:
        if link.keepalive:
            silent = quiet > max(SILENT_AFTER_KEEPALIVES * link.keepalive, 5.0)
        if oldest_unacked is not None:
            silent |= quiet > SILENT_AFTER and (now - oldest_unacked).total_seconds() > SILENT_AFTER
    return {"heard_at": link.heard_at, "quiet_seconds": round(quiet, 1), "silent": silent}


def unacked_by_peer() -> list[Mapping[str, Any]]:
    """Per peer: how many messages wait for an ack, and since when the oldest waits."""
    return list(
        OutgoingMessage.objects.filter(acked_at=None)
        .values("peer")
        .annotate(count=Count("id"), oldest=Min("created_at"))
        .order_by("peer")
    )


def unacked_oldest(limit: int = 50) -> list[OutgoingMessage]:
    return list(OutgoingMessage.objects.filter(acked_at=None).order_by("created_at", "id")[:limit])


def settings_all() -> list[Setting]:
    return list(Setting.objects.order_by("key"))


def dead_letters_by_state() -> dict[str, int]:
    """How many dead letters are in each state (states with none are left out)."""
    rows = DeadLetter.objects.values_list("state").annotate(n=Count("id")).order_by()
    return {state: n for state, n in rows}


def dead_letters_open_count() -> int:
    """Dead letters not resolved yet (open, or waiting for the daemon to retry them)."""
    return DeadLetter.objects.filter(state__in=DeadLetter.UNRESOLVED).count()


def dead_letters_newest(limit: int = 20) -> list[DeadLetter]:
    return list(
        DeadLetter.objects.filter(state__in=DeadLetter.UNRESOLVED)
        .defer("body", "traceback", "content")
        .order_by("-failed_at", "-id")[:limit]
    )


def daemon_processes(now: datetime) -> list[dict]:
    """The daemon processes of this site that have not stopped: the one that leads and
    those on standby, each with how long ago it last said it is alive, and whether that
    is long enough ago to call it gone (killed without a word)."""
    rows = DaemonProcess.objects.exclude(role=DaemonProcess.Role.STOPPED).order_by("role", "host")
    processes = []
    for row in rows:
        quiet = (now - row.seen_at).total_seconds()
        every = ACTIVE_SEEN_EVERY if row.role == DaemonProcess.Role.ACTIVE else STANDBY_SEEN_EVERY
        processes.append(
            {
                "name": row.name,
                "host": row.host,
                "pid": row.pid,
                "role": row.role,
                "role_since": row.role_since.isoformat(),
                "seen_seconds": round(quiet, 1),
                "gone": quiet > 3 * every,
            }
        )
    return processes
