"""Sub-messages from UPS handled as the Amazon daemon handles a container of them."""

from __future__ import annotations

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from google.protobuf.message import Message

from amazon_ups.amazon.fulfilment.daemon import Fulfilment
from amazon_ups.common.daemon import isolation
from amazon_ups.common.daemon.endpoint import Endpoint


def handled_from_ups(messages: list[tuple[str, Message]]) -> list[str]:
    """Handles ``messages`` (field, sub-message) as one container from UPS, in one
    transaction, the orders they are about read ahead (``around_container``); returns
    the SQL of the statements that ran."""
    fulfilment = Fulfilment()
    with (
        CaptureQueriesContext(connection) as captured,
        transaction.atomic(),
        fulfilment.around_container(fulfilment.ups, messages),
    ):
        for field, message in messages:
            fulfilment.handle(fulfilment.ups, field, message, timezone.now())
    return [query["sql"] for query in captured]


def received(fulfilment: Fulfilment, link: Endpoint, messages: list[tuple[str, Message]]) -> None:
    """Handles ``messages`` as the daemon's core does a container from ``link``'s peer
    (``isolation.receive_all``: a defect rolls back and sets aside that sub-message
    alone); the sub-messages must have seqnums."""
    assert link.peer is not None
    isolation.receive_all(
        link.peer,
        messages,  # type: ignore[arg-type]  # Message: the sub-messages of either link
        lambda field, message: fulfilment.handle(link, field, message, timezone.now()),
        around=lambda new: fulfilment.around_container(link, new),
    )
