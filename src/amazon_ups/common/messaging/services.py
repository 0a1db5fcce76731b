"""State changes of the messaging tables. Call them inside ``transaction.atomic``,
together with the domain change they belong to."""

from __future__ import annotations

import collections
import contextlib
import datetime
import traceback
from collections.abc import Collection, Iterable, Iterator
from contextvars import ContextVar

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from google.protobuf import text_format

from amazon_ups.common.daemon.wakeup import RETRY, channel_of, notify
from amazon_ups.common.messaging.models import (
    DeadLetter,
    IncomingMessage,
    LinkState,
    OutgoingMessage,
    Setting,
)
from amazon_ups.common.messaging.seqnums import next_seqnum
from amazon_ups.common.statemachine import EventsWrittenTogether
from amazon_ups.protocol.channel import SubMessage


def _in_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("messaging changes must commit with the change that causes them")


# The messages a batch of work sends (a container of received ones, a turn's new orders),
# inserted in one statement at its end, in its transaction, by the mechanism of a
# machine's events: a unit of the batch rolled back alone (``sent_of_one_unit``) drops
# its own. Only for messages the batch never reads back from the outbox: Amazon's daemon
# reads none (an error names a message the peer got, committed long before); UPS's
# dispatch reads its just-sent commands to the world (a truck with one unacked is busy),
# so it holds only what it tells Amazon.
_OUTBOX = EventsWrittenTogether("outgoing messages")
sent_of_one_unit = _OUTBOX.unit
# The peers whose messages the batch under way holds (None: every peer); unset outside.
_held_for: ContextVar[tuple[frozenset[str] | None] | None] = ContextVar(
    "messages_held_for", default=None
)


@contextlib.contextmanager
def sent_together(peers: Collection[str] | None = None) -> Iterator[None]:
    """Inside a transaction: the messages to ``peers`` (all, if None) sent in the block
    are written in one INSERT at its end, not one each (not at all if it raises). A
    batch within another is part of it."""
    if _held_for.get() is not None:
        yield
        return
    token = _held_for.set((frozenset(peers) if peers is not None else None,))
    try:
        with _OUTBOX.batch():
            yield
    finally:
        _held_for.reset(token)


# Per peer, how many messages this process has queued for it (``send``), committed or
# not: the daemon's core reads a peer's outbox when this moved since its last read, when
# woken (another process wrote some: it wakes the daemon) or at its safety look, not at
# every look.
_queued: collections.Counter[str] = collections.Counter()


def queued_here(peer: str) -> int:
    """How many messages to ``peer`` this process has queued so far (``send``)."""
    return _queued[peer]


def messages_held() -> int:
    """How many messages the batch under way holds (0 outside one): a refusal must come
    before anything is sent (``isolation.refused_by`` sees only rows written)."""
    return _OUTBOX.pending()


def send(peer: str, field: str, message: SubMessage, ref: str = "") -> OutgoingMessage:
    """Number ``message`` with the next seqnum for ``peer`` (``seqnums``) and queue it
    until acked: at once, or at the end of the ``sent_together`` batch holding its
    peer's (each peer's seqnum counter stays locked until the transaction ends, so the
    rows' ids still follow their seqnums and commit order)."""
    _in_transaction()
    message.seqnum = next_seqnum(peer)
    _queued[peer] += 1
    row = OutgoingMessage(
        peer=peer,
        seqnum=message.seqnum,
        field=field,
        body=message.SerializeToString(),
        ref=ref,
    )
    held = _held_for.get()
    if held is not None and (held[0] is None or peer in held[0]):
        _OUTBOX.add(row)
    else:
        row.save(force_insert=True)
    return row


def first_receipt(peer: str, seqnum: int, field: str) -> bool:
    """Record that ``seqnum`` came from ``peer``; False if it had come before."""
    _in_transaction()
    if IncomingMessage.objects.filter(peer=peer, seqnum=seqnum).exists():
        return False
    IncomingMessage.objects.create(peer=peer, seqnum=seqnum, field=field)
    return True


def received_before(peer: str, seqnums: Iterable[int]) -> set[int]:
    """Which of ``seqnums`` came from ``peer`` before (one query for a whole container)."""
    return set(
        IncomingMessage.objects.filter(peer=peer, seqnum__in=list(seqnums)).values_list(
            "seqnum", flat=True
        )
    )


def record_receipts(peer: str, received: Iterable[tuple[int, str]]) -> None:
    """Record these (seqnum, field) as come from ``peer``, none of them before
    (``received_before``): one statement for a whole container."""
    _in_transaction()
    IncomingMessage.objects.bulk_create(
        IncomingMessage(peer=peer, seqnum=seqnum, field=field) for seqnum, field in received
    )


def acknowledge(peer: str, seqnums: Iterable[int]) -> int:
    """The peer acked these; returns how many were still waiting (one statement)."""
    seqnums = list(seqnums)
    if not seqnums:
        return 0
    waiting = OutgoingMessage.objects.filter(peer=peer, seqnum__in=seqnums, acked_at=None)
    return waiting.update(acked_at=timezone.now())


def set_link_state(
    peer: str, connected: bool, detail: str = "", keepalive: float | None = None
) -> None:
    LinkState.objects.update_or_create(
        peer=peer, defaults={"connected": connected, "detail": detail[:300], "keepalive": keepalive}
    )


def record_heard(peer: str, at: float) -> None:
    """``peer`` sent something at ``at`` (a Unix time)."""
    LinkState.objects.get_or_create(peer=peer)
    LinkState.objects.filter(peer=peer).update(
        heard_at=datetime.datetime.fromtimestamp(at, tz=datetime.UTC)
    )


def record_refusals(peer: str, count: int, last: str) -> None:
    """``count`` connections to or from ``peer`` failed to prove themselves."""
    LinkState.objects.get_or_create(peer=peer)
    LinkState.objects.filter(peer=peer).update(
        refused=F("refused") + count, last_refusal=_text(last, 300), last_refusal_at=timezone.now()
    )


def put_setting(key: str, value: object) -> None:
    Setting.objects.update_or_create(key=key, defaults={"value": str(value)})


# -- dead letters: what failed with a defect, set aside until an operator retries it ----------


def _text(value: str, limit: int | None = None) -> str:
    # PostgreSQL refuses NUL in text, and an error message may quote the data that broke:
    # the record of a failure must not fail in turn.
    value = value.replace("\x00", "\\x00")
    return value[:limit] if limit is not None else value


def _failure(error: BaseException) -> dict:
    kind = type(error)
    return {
        "error_type": _text(f"{kind.__module__}.{kind.__qualname__}", 200),
        "error": _text(str(error)),
        "traceback": _text("".join(traceback.format_exception(error))),
        "failed_at": timezone.now(),
    }


def set_aside_message(
    *, peer: str, field: str, message: SubMessage, error: BaseException
) -> DeadLetter | None:
    """Record ``message`` as received, so that its repeats are only acked, and keep it as a
    dead letter with ``error``. None if it had been received already (then it was handled)."""
    _in_transaction()
    if not first_receipt(peer, message.seqnum, field):
        return None
    return message_dead_letter(peer=peer, field=field, message=message, error=error)


def message_dead_letter(
    *, peer: str, field: str, message: SubMessage, error: BaseException
) -> DeadLetter:
    """Keep ``message`` as a dead letter with ``error``; the caller records its receipt
    in the same transaction (``set_aside_message`` does both)."""
    _in_transaction()
    return DeadLetter.objects.create(
        kind=DeadLetter.Kind.MESSAGE,
        what=_text(f"{field} from {peer}", 120),
        peer=peer,
        field=field,
        seqnum=message.seqnum,
        body=message.SerializeToString(),
        content=_text(text_format.MessageToString(message)),
        **_failure(error),
    )


def set_aside_work(*, what: str, ref: str, error: BaseException) -> DeadLetter:
    """Keep work item ``ref`` aside: ``isolation.each_item`` skips it until it is retried."""
    _in_transaction()
    return DeadLetter.objects.create(
        kind=DeadLetter.Kind.WORK_ITEM,
        what=_text(what, 120),
        ref=_text(ref, 120),
        **_failure(error),
    )


def dead_letters_retry(ids: Iterable[int]) -> int:
    """An operator fixed the cause: the daemon is to try these again on its next turn
    (it is woken once this commits)."""
    count = DeadLetter.objects.filter(id__in=list(ids), state=DeadLetter.State.OPEN).update(
        state=DeadLetter.State.RETRY, retry_requested_at=timezone.now()
    )
    if count:
        transaction.on_commit(lambda: notify(channel_of(settings.PROJECT), RETRY))
    return count


def dead_letters_discard(ids: Iterable[int]) -> int:
    """An operator decided these are never to be handled (e.g. settled by hand)."""
    return DeadLetter.objects.filter(id__in=list(ids), state__in=DeadLetter.UNRESOLVED).update(
        state=DeadLetter.State.DISCARDED, resolved_at=timezone.now()
    )


def dead_letter_take(letter_id: int) -> DeadLetter | None:
    """Lock a dead letter whose retry was requested, for the daemon to retry it; None if it
    is not waiting for a retry any more (discarded meanwhile)."""
    _in_transaction()
    return (
        DeadLetter.objects.select_for_update()
        .filter(id=letter_id, state=DeadLetter.State.RETRY)
        .first()
    )


def dead_letter_resolve(letter: DeadLetter) -> None:
    """The retry succeeded (commit it with the retried handler's effects)."""
    _in_transaction()
    letter.state = DeadLetter.State.RESOLVED
    letter.resolved_at = timezone.now()
    letter.save(update_fields=["state", "resolved_at"])


def dead_letter_failed_again(letter_id: int, error: BaseException) -> None:
    """The retry failed too: keep the new error, and leave it open for the next fix."""
    _in_transaction()
    letter = DeadLetter.objects.select_for_update().get(id=letter_id)
    for name, value in _failure(error).items():
        setattr(letter, name, value)
    letter.attempts += 1
    letter.state = DeadLetter.State.OPEN
    letter.retry_requested_at = None
    letter.save()
