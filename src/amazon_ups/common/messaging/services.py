"""State changes of the messaging tables. Call them inside ``transaction.atomic``,
together with the domain change they belong to."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from google.protobuf.message import Message

from amazon_ups.common.messaging.models import (
    IncomingMessage,
    LinkState,
    OutgoingMessage,
    SeqnumCounter,
    Setting,
)


def _in_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("messaging changes must commit with the change that causes them")


def send(peer: str, field: str, message: Message, ref: str = "") -> OutgoingMessage:
    """Number ``message`` with the next seqnum for ``peer`` and queue it until acked."""
    _in_transaction()
    counter = SeqnumCounter.objects.select_for_update().filter(peer=peer).first()
    if counter is None:
        counter = SeqnumCounter.objects.create(peer=peer)
    message.seqnum = counter.next_seqnum
    counter.next_seqnum += 1
    counter.save(update_fields=["next_seqnum"])
    return OutgoingMessage.objects.create(
        peer=peer,
        seqnum=message.seqnum,
        field=field,
        body=message.SerializeToString(),
        ref=ref,
    )


def first_receipt(peer: str, seqnum: int, field: str) -> bool:
    """Record that ``seqnum`` came from ``peer``; False if it had come before."""
    _in_transaction()
    if IncomingMessage.objects.filter(peer=peer, seqnum=seqnum).exists():
        return False
    IncomingMessage.objects.create(peer=peer, seqnum=seqnum, field=field)
    return True


def acknowledge(peer: str, seqnums: Iterable[int]) -> list[int]:
    """The peer acked these; returns the ones that were still waiting."""
    seqnums = list(seqnums)
    if not seqnums:
        return []
    waiting = OutgoingMessage.objects.filter(peer=peer, seqnum__in=seqnums, acked_at=None)
    newly = list(waiting.values_list("seqnum", flat=True))
    if newly:
        OutgoingMessage.objects.filter(peer=peer, seqnum__in=newly).update(acked_at=timezone.now())
    return newly


def set_link_state(peer: str, connected: bool, detail: str = "") -> None:
    LinkState.objects.update_or_create(
        peer=peer, defaults={"connected": connected, "detail": detail[:300]}
    )


def put_setting(key: str, value: object) -> None:
    Setting.objects.update_or_create(key=key, defaults={"value": str(value)})
