"""Reads of the messaging tables."""

from __future__ import annotations

from amazon_ups.common.messaging.models import OutgoingMessage, Setting


def unacked(peer: str, after_id: int = 0) -> list[OutgoingMessage]:
    """Messages ``peer`` has not acked, oldest first, from row id ``after_id`` on."""
    return list(
        OutgoingMessage.objects.filter(peer=peer, acked_at=None, id__gt=after_id).order_by("id")
    )


def origin(peer: str, seqnum: int) -> OutgoingMessage | None:
    """The message we sent ``peer`` as ``seqnum`` (to match an error to its cause)."""
    return OutgoingMessage.objects.filter(peer=peer, seqnum=seqnum).first()


def setting(key: str, default: str | None = None) -> str | None:
    row = Setting.objects.filter(key=key).first()
    return row.value if row else default
