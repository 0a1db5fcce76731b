"""One peer's conversation, sans-IO: bytes in, containers out.

A ``Channel`` frames incoming bytes into container messages (``UpsToAmazon``,
``AResponses``, ...), and builds the next outgoing container from the acks we
owe and our unacked sub-messages that are due. Which sub-messages are unacked
is decided by the database (``messaging``); the channel only mirrors them on a
re-send schedule (``protocol.session.Outbox``), so a restart loses nothing: the
daemon loads the unacked rows again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from amazon_ups.protocol.framing import (
    DEFAULT_MAX_FRAME,
    FrameDecoder,
    MalformedMessage,
    encode_frame,
    parse_message,
)
from amazon_ups.protocol.session import Outbox, ResendPolicy


@dataclass(frozen=True, slots=True)
class Pending:
    """An unacked outgoing sub-message, as the re-send schedule sees it."""

    seqnum: int
    field: str
    body: bytes


def numbered_fields(container: type[Message]) -> tuple[str, ...]:
    """The repeated fields of a container whose messages carry a seqnum."""
    return tuple(
        field.name
        for field in container.DESCRIPTOR.fields
        if field.is_repeated
        and field.message_type is not None
        and "seqnum" in field.message_type.fields_by_name
    )


class Channel:
    def __init__(
        self,
        incoming: type[Message],
        outgoing: type[Message],
        policy: ResendPolicy | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self.incoming = incoming
        self.outgoing = outgoing
        self.incoming_fields = numbered_fields(incoming)
        self.max_frame = max_frame
        self.outbox: Outbox[Pending] = Outbox(policy or ResendPolicy())
        self._frames = FrameDecoder(max_frame)
        self._acks_owed: dict[int, None] = {}
        self._extras: dict[str, Any] = {}

    def reset(self) -> None:
        """A new connection: fresh framing, everything unacked due at once."""
        self._frames = FrameDecoder(self.max_frame)
        self.outbox.rewind()

    def forget(self) -> None:
        """The peer changed identity (a new world): drop what was owed to the old one."""
        self.outbox = Outbox(self.outbox.policy)
        self._acks_owed.clear()

    # -- in --------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Message | MalformedMessage]:
        """Containers from ``data``; raises ``FramingError`` if the stream is broken."""
        return [parse_message(self.incoming, body) for body in self._frames.feed(data)]

    def owe_ack(self, seqnum: int) -> None:
        self._acks_owed[seqnum] = None

    def acked(self, seqnums: list[int]) -> None:
        for seqnum in seqnums:
            self.outbox.ack(seqnum)

    # -- out -------------------------------------------------------------------

    def load(self, pending: list[Pending]) -> None:
        """Put unacked sub-messages (from the database) on the schedule."""
        for item in pending:
            if item.seqnum not in self.outbox:
                self.outbox.put(item)

    def set_once(self, **fields: Any) -> None:
        """Scalar fields for the next container only (e.g. ``simspeed``)."""
        self._extras.update(fields)

    def poll(self, now: float) -> bytes | None:
        """The next frame to send: acks owed plus sub-messages due, or None."""
        due = self.outbox.due(now)
        if not (due or self._acks_owed or self._extras):
            return None
        container = self.outgoing(**self._extras)
        self._extras.clear()
        container.acks.extend(self._acks_owed)
        self._acks_owed.clear()
        for item in due:
            getattr(container, item.field).add().MergeFromString(item.body)
        return encode_frame(container.SerializeToString())

    def next_deadline(self) -> float | None:
        if self._acks_owed or self._extras:
            return float("-inf")
        return self.outbox.next_deadline()
