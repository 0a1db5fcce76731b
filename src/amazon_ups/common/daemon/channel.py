"""One peer's conversation, sans-IO: bytes in, containers out.

A ``Channel`` frames incoming bytes into container messages (``UpsToAmazon``,
``AResponses``, ...), and builds the next outgoing container from the acks we
owe and our unacked sub-messages that are due. Which sub-messages are unacked
is decided by the database (``messaging``); the channel only mirrors them on a
re-send schedule (``protocol.session.Outbox``), so a restart loses nothing: the
daemon loads the unacked rows again. A channel may bound what one container carries
(``Limits``): it splits what it sends to fit, and refuses a peer's container over them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from amazon_ups.protocol.framing import (
    DEFAULT_MAX_FRAME,
    FrameDecoder,
    FramingError,
    MalformedMessage,
    encode_frame,
    parse_message,
)
from amazon_ups.protocol.limits import AU_MAX_ACKS, AU_MAX_FRAME, AU_MAX_SUB_MESSAGES
from amazon_ups.protocol.session import Outbox, ResendPolicy

# Bytes a sub-message or an ack adds to a container beyond its body: a tag and a
# length, or a tag and a varint.
_FIELD_OVERHEAD = 1 + 5
_ACK_SIZE = 1 + 10


@dataclass(frozen=True, slots=True)
class Limits:
    """What one container may carry; None: no bound but the frame size."""

    max_frame: int = DEFAULT_MAX_FRAME
    max_sub_messages: int | None = None
    max_acks: int | None = None


# The Amazon-UPS link's (docs/amazon-ups-protocol.md, 2.3).
AU_LIMITS = Limits(AU_MAX_FRAME, AU_MAX_SUB_MESSAGES, AU_MAX_ACKS)
# What we send a world in one message. Its own limits are unknown for the official
# world and 1 MiB and 10,000 commands for ours; a reconnect after a long outage can
# find tens of thousands of commands due at once, and one frame of them all would
# be refused on every reconnect.
WORLD_SEND_LIMITS = Limits(256 * 1024, 1000, 5000)


class OverLimit(FramingError):
    """The peer sent a container over the link's limits; the connection is closed."""


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
        limits: Limits | None = None,
        send_limits: Limits | None = None,
    ) -> None:
        """``limits`` bound the peer's messages, ``send_limits`` (default: the same)
        ours."""
        self.incoming = incoming
        self.outgoing = outgoing
        self.incoming_fields = numbered_fields(incoming)
        self.limits = limits or Limits()
        self.send_limits = send_limits or self.limits
        self.outbox: Outbox[Pending] = Outbox(policy or ResendPolicy())
        self._frames = FrameDecoder(self.limits.max_frame)
        self._acks_owed: dict[int, None] = {}
        self._extras: dict[str, Any] = {}

    def reset(self) -> None:
        """A new connection: fresh framing, everything unacked due at once."""
        self._frames = FrameDecoder(self.limits.max_frame)
        self.outbox.rewind()

    def forget(self) -> None:
        """The peer changed identity (a new world): drop what was owed to the old one."""
        self.outbox = Outbox(self.outbox.policy)
        self._acks_owed.clear()

    # -- in --------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Message | MalformedMessage]:
        """Containers from ``data``; raises ``FramingError`` if the stream is broken,
        ``OverLimit`` if a container carries more than the limits allow."""
        containers = [parse_message(self.incoming, body) for body in self._frames.feed(data)]
        for container in containers:
            if not isinstance(container, MalformedMessage):
                self._check_limits(container)
        return containers

    def _check_limits(self, container: Message) -> None:
        limits = self.limits
        count = sum(len(getattr(container, field)) for field in self.incoming_fields)
        if limits.max_sub_messages is not None and count > limits.max_sub_messages:
            raise OverLimit(
                f"a message with {count} sub-messages, over the limit of {limits.max_sub_messages}"
            )
        acks = len(container.acks)
        if limits.max_acks is not None and acks > limits.max_acks:
            raise OverLimit(f"a message with {acks} acks, over the limit of {limits.max_acks}")

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
        """The next frames to send: acks owed plus sub-messages due, or None.

        What does not fit in one message within ``send_limits`` goes as several frames."""
        limits = self.send_limits
        due = self.outbox.due(now)
        if not (due or self._acks_owed or self._extras):
            return None
        acks = list(self._acks_owed)
        self._acks_owed.clear()
        frames = []
        sent = 0
        while True:
            container = self.outgoing(**self._extras)
            self._extras.clear()
            size = container.ByteSize()
            take = len(acks) if limits.max_acks is None else limits.max_acks
            container.acks.extend(acks[:take])
            del acks[:take]
            size += _ACK_SIZE * len(container.acks)
            count = 0
            while sent < len(due) and (
                limits.max_sub_messages is None or count < limits.max_sub_messages
            ):
                item = due[sent]
                # A sub-message alone over the frame size still goes, alone: it is ours
                # to never make one, and holding it back would hide the bug.
                if count and size + len(item.body) + _FIELD_OVERHEAD > limits.max_frame:
                    break
                getattr(container, item.field).add().MergeFromString(item.body)
                size += len(item.body) + _FIELD_OVERHEAD
                count += 1
                sent += 1
            frames.append(encode_frame(container.SerializeToString()))
            if sent == len(due) and not acks:
                return b"".join(frames)

    def next_deadline(self) -> float | None:
        if self._acks_owed or self._extras:
            return float("-inf")
        return self.outbox.next_deadline()
