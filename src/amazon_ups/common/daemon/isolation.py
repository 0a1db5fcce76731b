"""What a daemon does when something fails: an outage is waited out, a defect is set aside.

- An **outage** is a lost connection: to the database (``is_outage``), to the world or
  to the peer (the links reconnect by themselves). Nothing can be made durable, so
  nothing is acked and nothing is recorded; the loop tries the whole turn again with
  backoff, and the peer re-sends what was not acked.
- A **defect** is any other failure: a bug, a row the database rejects (IntegrityError,
  DataError, ProgrammingError), a message that cannot be parsed. Trying again changes
  nothing, so the one received sub-message or the one item of periodic work that hit
  it is rolled back and set aside as a ``messaging.DeadLetter``, logged once, and
  everything else goes on. An operator fixes the cause and retries it from the admin;
  the daemon takes the request up on its next turn (``retry_requested``).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from google.protobuf.message import Message

from amazon_ups.common.exceptions import Refusal, RefusedAfterWriting
from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import DeadLetter
from amazon_ups.common.messaging.seqnums import numbered_together
from amazon_ups.protocol.channel import SubMessage

try:
    import psycopg
except ImportError:  # SQLite only
    psycopg = None  # type: ignore[assignment]  # the checker wants a module; None says none

logger = logging.getLogger(__name__)

T = TypeVar("T")

# SQLite's primary result codes that mean "the database cannot be used right now"
# (https://sqlite.org/rescode.html): busy or locked by another writer, out of memory,
# read-only or unopenable file, I/O error, disk full. SQLITE_ERROR (a missing table, a
# syntax error) is a defect, like PostgreSQL's ProgrammingError.
_SQLITE_TRANSIENT = frozenset({5, 6, 7, 8, 10, 13, 14, 15})


def is_outage(error: BaseException) -> bool:
    """True if ``error`` means the database is unreachable for now (retry everything
    later, ack nothing); False if it is a defect of the work at hand (set it aside).

    PostgreSQL's connection errors, restarts, deadlocks and serialization failures are
    all ``OperationalError`` (psycopg's, wrapped by Django's); SQLite raises
    ``OperationalError`` for a locked database but also for a bad statement, so its
    result code decides."""
    # Django raises its own classes "from" the driver's error.
    driver = error.__cause__ if isinstance(error, DatabaseError) else error
    if isinstance(driver, sqlite3.Error):
        if not isinstance(driver, sqlite3.OperationalError):
            return False  # e.g. a value of a type SQLite cannot bind: a bug
        code = getattr(driver, "sqlite_errorcode", None)
        return code is None or code & 0xFF in _SQLITE_TRANSIENT
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return psycopg is not None and isinstance(
        error, psycopg.OperationalError | psycopg.InterfaceError
    )


# -- periodic work -------------------------------------------------------------------------


def set_aside_refs() -> set[str]:
    """Refs of the work items set aside and not retried yet."""
    return messaging_selectors.set_aside_refs()


def each_item(
    what: str,
    items: Iterable[T],
    *,
    ref: Callable[[T], str],
    action: Callable[[T], object],
) -> int:
    """Run ``action(item)`` for each item, each in a transaction of its own, so that one
    item's defect does not stop the others; returns how many ran without a defect.

    An item whose ``action`` fails with a defect is rolled back and set aside: a dead
    letter (kind work item, ``what``, ``ref(item)``, the error and its traceback) is
    written in a transaction of its own, the failure is logged once, and the next item
    runs. Items whose ref has a dead letter not yet retried are skipped, on every pass,
    until an operator retries it from the admin (after fixing the cause); the daemon
    then resolves the dead letter, and the next pass includes the item again (a new
    failure writes a new dead letter).

    An outage (``is_outage``) is raised at once: the daemon's loop waits and tries the
    whole turn again, and the items not run yet are still work in the database.

    Call it outside any transaction (the daemon's ``tick`` is): inside one, the dead
    letters would be rolled back with it."""

    def set_aside(key: str, error: BaseException) -> None:
        with transaction.atomic():
            letter = messaging.set_aside_work(what=what, ref=key, error=error)
        _log_set_aside(what, key, letter.id, error)

    return _each_alone(items, ref=ref, action=action, skipped=set_aside_refs(), on_defect=set_aside)


def _each_alone(
    items: Iterable[T],
    *,
    ref: Callable[[T], str],
    action: Callable[[T], object],
    skipped: set[str],
    on_defect: Callable[[str, BaseException], None],
) -> int:
    """Run ``action(item)`` for each item not ``skipped``, each in a transaction (or a
    savepoint) of its own; a defect is handed to ``on_defect(ref, error)`` and its ref
    skipped from then on; an outage is raised. Returns how many ran without a defect."""
    done = 0
    for item in items:
        key = ref(item)
        if key in skipped:
            continue
        try:
            with transaction.atomic(), numbered_together():
                action(item)
        except Exception as error:
            if is_outage(error):
                raise
            on_defect(key, error)
            skipped.add(key)
            continue
        done += 1
    return done


def _log_set_aside(what: str, key: str, letter_id: int, error: BaseException) -> None:
    logger.error(
        "%s: %s failed and is set aside (dead letter %d) until an operator retries it",
        what,
        key,
        letter_id,
        exc_info=error,
    )


def each_item_together(
    what: str,
    items: Iterable[T],
    *,
    ref: Callable[[T], str],
    action: Callable[[T], object],
    around: Callable[[list[T]], AbstractContextManager[object]] | None = None,
    skipped: set[str] | None = None,
) -> int:
    """``each_item`` in one transaction for all the items: one commit for a batch instead
    of one per item. The isolation is the same: an item whose ``action`` fails with a
    defect is rolled back alone and set aside (its dead letter commits with the others'
    effects), logged once, and the others run; an outage is raised at once and rolls
    the whole batch back (it is all still work in the database for the next turn).
    ``around(items)``, if given, is a context they are all run in, inside the
    transaction. Called inside a transaction (UPS serves a container's warehouses at
    its end), the batch is a savepoint of it, and the dead letters commit with it.
    ``skipped``: the refs set aside (``set_aside_refs``), when the caller has just read
    them to choose the items; else they are read here.

    The batch runs first without a savepoint per item (they cost as much as a small
    query each); a defect rolls it all back, and it runs again with one savepoint per
    item, to set aside only the one that failed (``_in_savepoints``)."""
    if skipped is None:
        skipped = set_aside_refs()
    todo = [item for item in items if ref(item) not in skipped]
    if not todo:
        return 0
    try:
        batch = around(todo) if around is not None else contextlib.nullcontext()
        with transaction.atomic(), numbered_together(), batch:
            for item in todo:
                action(item)
        return len(todo)
    except Exception as error:
        if is_outage(error):
            raise
    return _in_savepoints(what, todo, ref=ref, action=action, around=around)


def _in_savepoints(
    what: str,
    todo: list[T],
    *,
    ref: Callable[[T], str],
    action: Callable[[T], object],
    around: Callable[[list[T]], AbstractContextManager[object]] | None,
) -> int:
    failures: list[tuple[str, int, BaseException]] = []

    def set_aside(key: str, error: BaseException) -> None:
        letter = messaging.set_aside_work(what=what, ref=key, error=error)
        failures.append((key, letter.id, error))

    batch = around(todo) if around is not None else contextlib.nullcontext()
    with transaction.atomic(), numbered_together(), batch:
        done = _each_alone(todo, ref=ref, action=action, skipped=set(), on_defect=set_aside)
    for key, letter_id, failure in failures:  # logged once their dead letters committed
        _log_set_aside(what, key, letter_id, failure)
    return done


# -- refusals ------------------------------------------------------------------------------

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def refused_by(action: Callable[[], object]) -> Refusal | None:
    """Run ``action`` in the caller's transaction; the ``Refusal`` it raises, if any, is
    returned, for the caller to answer the asker with.

    No savepoint is taken for it (one costs two statements per message): a refusal is
    raised before anything is written ("nothing changed", ``common.exceptions``), so
    there is nothing to undo. That rule is checked, not trusted: a refusal after a
    statement that wrote, or inside a block that must now be rolled back, is raised as
    a defect (``RefusedAfterWriting``), and the unit of work around it is rolled back
    and set aside like any other."""
    writes = 0

    def count(execute, sql, params, many, context):
        nonlocal writes
        if sql.lstrip()[:7].upper().startswith(_WRITES):
            writes += 1
        return execute(sql, params, many, context)

    connection = transaction.get_connection()
    try:
        with connection.execute_wrapper(count):
            action()
    except Refusal as refusal:
        if writes or connection.needs_rollback:
            raise RefusedAfterWriting(
                f"refused after {writes} statement(s) that wrote: {refusal}"
            ) from refusal
        return refusal
    return None


# -- received sub-messages -----------------------------------------------------------------


def receive_once(peer: str, field: str, message: SubMessage, handle: Callable[[], object]) -> None:
    """Act on ``message`` (``handle()``) unless it was received before, in one transaction
    with the record of its seqnum; once this returns, the message may be acked.

    A defect rolls the handler's effects back, then records the message as received
    together with a dead letter holding its bytes, and returns: the message is acked
    and its repeats are only acked. An outage is raised: nothing is recorded, and the
    message must not be acked."""
    try:
        with transaction.atomic():
            if messaging.first_receipt(peer, message.seqnum, field):
                handle()
    except Exception as error:
        if is_outage(error):
            raise
        with transaction.atomic():
            letter = messaging.set_aside_message(
                peer=peer, field=field, message=message, error=error
            )
        if letter is not None:
            logger.error(
                "%s #%d from %s failed and is set aside (dead letter %d) until an operator "
                "retries it",
                field,
                message.seqnum,
                peer,
                letter.id,
                exc_info=error,
            )


def receive_all(
    peer: str,
    messages: Iterable[tuple[str, SubMessage]],
    handle: Callable[[str, SubMessage], object],
    acks: Iterable[int] = (),
    around: Callable[[list[tuple[str, SubMessage]]], AbstractContextManager[object]] | None = None,
) -> list[int]:
    """Act on a container's sub-messages (``handle(field, message)``), each unless it was
    received before, all in one transaction with the record of their seqnums and of the
    container's ``acks``; returns the seqnums that may be acked once this returns.

    A defect in one sub-message's handler rolls back that one's effects only: it is
    recorded as received with a dead letter holding its bytes (acked; its repeats are
    only acked), while the others go on. An outage is raised and rolls the whole
    container back: nothing is recorded, nothing may be acked (the peer sends it all
    again). ``around(new sub-messages)``, if given, is a context they are all handled
    in, inside the transaction.

    The container is handled first without a savepoint per sub-message (they cost as
    much as a small query each); a defect rolls it all back, and it is handled again
    with one savepoint per sub-message, to set aside only the one that failed: the
    same as if an outage had rolled it back and the peer had sent it again."""
    messages = list(messages)
    acks = list(acks)
    try:
        return _receive(peer, messages, handle, acks, around, savepoints=False)
    except Exception as error:
        if is_outage(error):
            raise
    return _receive(peer, messages, handle, acks, around, savepoints=True)


def _receive(
    peer: str,
    messages: list[tuple[str, SubMessage]],
    handle: Callable[[str, SubMessage], object],
    acks: list[int],
    around: Callable[[list[tuple[str, SubMessage]]], AbstractContextManager[object]] | None,
    *,
    savepoints: bool,
) -> list[int]:
    owed: list[int] = []
    failures: list[tuple[str, int, int, BaseException]] = []
    with transaction.atomic(), numbered_together():
        messaging.acknowledge(peer, acks)
        seen = messaging.received_before(peer, [m.seqnum for _, m in messages])
        new: list[tuple[str, SubMessage]] = []
        for field, message in messages:
            owed.append(message.seqnum)
            if message.seqnum not in seen:  # else handled before: only acked again
                seen.add(message.seqnum)
                new.append((field, message))
        with around(new) if around is not None and new else contextlib.nullcontext():
            for field, message in new:
                if not savepoints:
                    handle(field, message)  # a defect rolls all back, to start over
                    continue
                try:
                    with transaction.atomic():
                        handle(field, message)
                except Exception as error:
                    if is_outage(error):
                        raise
                    letter = messaging.message_dead_letter(
                        peer=peer, field=field, message=message, error=error
                    )
                    failures.append((field, message.seqnum, letter.id, error))
        messaging.record_receipts(peer, [(message.seqnum, field) for field, message in new])
    for field, seqnum, letter_id, failure in failures:
        logger.error(
            "%s #%d from %s failed and is set aside (dead letter %d) until an operator retries it",
            field,
            seqnum,
            peer,
            letter_id,
            exc_info=failure,
        )
    return owed


@dataclass(frozen=True)
class Receiver:
    """How a daemon acts on what one peer sends: the container type its sub-messages
    come in, and the handler the link uses, as ``handle(field, message)``."""

    container: type[Message]
    handle: Callable[[str, Message], object]


def sub_message(container: type[Message], field: str, body: bytes) -> Message:
    """Parse ``body`` as a sub-message of ``container``'s repeated ``field``."""
    message = getattr(container(), field).add()
    message.MergeFromString(body)
    return message


def retry_requested(receivers: Mapping[str, Receiver]) -> int:
    """Take up the dead letters an operator asked to retry; returns how many succeeded.

    A work item's dead letter is resolved, so that the next ``each_item`` pass runs the
    item again. A message is parsed again from its bytes and handled again (it is
    recorded as received already), in one transaction with its resolution; a defect
    keeps the new error and leaves it open. A message from a peer not in ``receivers``
    (not connected yet, or a world left since) waits."""
    succeeded = 0
    for letter in messaging_selectors.dead_letters_to_retry(peers=receivers):
        try:
            with transaction.atomic():
                taken = messaging.dead_letter_take(letter.id)
                if taken is None:  # discarded since
                    continue
                if taken.kind == DeadLetter.Kind.MESSAGE:
                    receiver = receivers[taken.peer]
                    message = sub_message(receiver.container, taken.field, bytes(taken.body))
                    receiver.handle(taken.field, message)
                messaging.dead_letter_resolve(taken)
        except Exception as error:
            if is_outage(error):
                raise
            with transaction.atomic():
                messaging.dead_letter_failed_again(letter.id, error)
            logger.error(
                "dead letter %d (%s) failed again on retry",
                letter.id,
                letter.subject,
                exc_info=error,
            )
            continue
        succeeded += 1
        logger.info("dead letter %d (%s) retried: done", letter.id, letter.subject)
    return succeeded


# -- failures outside any one message or item --------------------------------------------


class FailureLog:
    """Logs a failure that repeats on every turn once, with its traceback, and again only
    when it changes or after it stopped: a daemon turns ten times a second."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._last: tuple[type, str] | None = None

    def failed(self, error: BaseException) -> None:
        key = (type(error), str(error))
        if key != self._last:
            logger.error("%s failed (logged once while it repeats)", self.what, exc_info=error)
            self._last = key

    def succeeded(self) -> None:
        if self._last is not None:
            logger.info("%s works again", self.what)
            self._last = None
