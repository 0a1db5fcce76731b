"""Reading back what the services queued for the world and for Amazon."""

from __future__ import annotations

from google.protobuf.message import Message

from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_ups_pb2 as wu

WORLD = "world:1"


def sent(peer: str, field: str) -> list[Message]:
    """Sub-messages queued for ``peer`` in ``field``, oldest first."""
    container = au_pb2.UpsToAmazon if peer == "amazon" else wu.UCommands
    out = []
    for row in OutgoingMessage.objects.filter(peer=peer, field=field).order_by("id"):
        holder = container()
        getattr(holder, field).add().MergeFromString(bytes(row.body))
        out.append(getattr(holder, field)[0])
    return out
