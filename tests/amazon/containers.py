"""Sub-messages from UPS handled as the Amazon daemon handles a container of them."""

from __future__ import annotations

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from google.protobuf.message import Message

from amazon_ups.amazon.fulfilment.daemon import Fulfilment


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
