"""One peer's conversation, sans-IO: bytes in, containers out (in the style of h11).

A ``Channel`` frames incoming bytes into container messages (``UpsToAmazon``,
``AResponses``, ...), and builds the next outgoing frames from the acks we owe and our
unacked sub-messages that are due, on a re-send schedule (``session.ReliableSession``).
What is new and what is ours to number is pluggable, because the two kinds of user keep
that record in different places:

- the daemons keep it in their databases (``messaging``): they ``load`` the unacked rows
  the database numbered, and ``owe_ack`` a sub-message once its handling has committed,
  so a restart loses nothing;
- the in-memory clients (``world.client``, ``streams.StreamPeer``, the tests' peers)
  ``send`` sub-messages the channel numbers, and ``take`` a container: it owes every
  copy an ack and returns each sub-message once.

A channel may bound what one container carries (``Limits``): it splits what it sends to
fit, and refuses a peer's container over them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

from amazon_ups.protocol import au_pb2 as au
from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.framing import (
    DEFAULT_MAX_FRAME,
    FrameDecoder,
    FramingError,
    MalformedMessage,
    encode_frame,
    parse_message,
)
from amazon_ups.protocol.limits import AU_MAX_ACKS, AU_MAX_FRAME, AU_MAX_SUB_MESSAGES
from amazon_ups.protocol.session import ReliableSession, ResendPolicy
from amazon_ups.protocol.world_messages import AnyCommands, AnyResponses

# A container a channel frames (the type checker's view): each carries acks, and
# numbered sub-messages in the fields ``numbered_fields`` names.
Container = AnyCommands | AnyResponses | au.AmazonToUps | au.UpsToAmazon
# A numbered sub-message, of any container.
SubMessage = (
    wa.APurchaseMore
    | wa.APack
    | wa.APutOnTruck
    | wa.AQuery
    | wa.APacked
    | wa.ALoaded
    | wa.AErr
    | wa.APackage
    | wu.UGoPickup
    | wu.UGoDeliver
    | wu.UQuery
    | wu.UFinished
    | wu.UDeliveryMade
    | wu.UTruck
    | wu.UErr
    | au.WorldCreated
    | au.PickupRequest
    | au.TruckArrived
    | au.PackageLoaded
    | au.LoadFailed
    | au.PackageRegistered
    | au.OutForDelivery
    | au.Delivered
    | au.DestinationChanged
    | au.AccountCheck
    | au.AccountStatus
    | au.Error
)
# The containers a channel takes in, and sends out.
In = TypeVar("In", bound=Container)
Out = TypeVar("Out", bound=Container)


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


@dataclass(frozen=True, slots=True)
class Taken:
    """What a container brought an in-memory peer: our seqnums it acked (that were
    waiting for an ack) and its sub-messages not seen before, as (field, message)."""

    acked: list[int]
    new: list[tuple[str, Message]]


def numbered_fields(container: type[Message]) -> tuple[str, ...]:
    """The repeated fields of a container whose messages carry a seqnum."""
    return tuple(
        field.name
        for field in container.DESCRIPTOR.fields
        if field.is_repeated
        and field.message_type is not None
        and "seqnum" in field.message_type.fields_by_name
    )


class Channel(Generic[In, Out]):
    def __init__(
        self,
        incoming: type[In],
        outgoing: type[Out],
        policy: ResendPolicy | None = None,
        limits: Limits | None = None,
        send_limits: Limits | None = None,
    ) -> None:
        """``limits`` bound the peer's messages, ``send_limits`` (default: the same)
        ours."""
        self.incoming = incoming
        self.outgoing = outgoing
        self.incoming_fields = numbered_fields(incoming)
        self._field_of: dict[str, str] = {}
        for name in numbered_fields(outgoing):
            message_type = outgoing.DESCRIPTOR.fields_by_name[name].message_type
            assert message_type is not None  # numbered_fields names message fields only
            self._field_of[message_type.full_name] = name
        self.limits = limits or Limits()
        self.send_limits = send_limits or self.limits
        self.policy = policy or ResendPolicy()
        self.session: ReliableSession[Pending] = ReliableSession(policy=self.policy)
        self._frames = FrameDecoder(self.limits.max_frame)
        self._extras: dict[str, Any] = {}
        self._resent_before = 0  # by sessions forgotten since

    @property
    def resent(self) -> int:
        """How many times a sub-message went again for want of an ack, ever (for metrics)."""
        return self._resent_before + self.session.outbox.resent

    def reset(self) -> None:
        """A new connection: fresh framing, everything unacked due at once."""
        self._frames = FrameDecoder(self.limits.max_frame)
        self.session.rewind()

    def forget(self) -> None:
        """The peer changed identity (a new world): drop what was owed to the old one."""
        self._resent_before += self.session.outbox.resent
        self.session = ReliableSession(policy=self.policy)

    # -- in --------------------------------------------------------------------

    def feed(self, data: bytes) -> list[In | MalformedMessage]:
        """Containers from ``data``; raises ``FramingError`` if the stream is broken,
        ``OverLimit`` if a container carries more than the limits allow."""
        containers = [parse_message(self.incoming, body) for body in self._frames.feed(data)]
        for container in containers:
            if not isinstance(container, MalformedMessage):
                self._check_limits(container)
        return containers

    def _check_limits(self, container: In) -> None:
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
        self.session.owe_ack(seqnum)

    def take_acks(self) -> list[int]:
        """The acks owed, taken (e.g. for a goodbye that carries nothing else)."""
        return self.session.poll(float("-inf"), limit=0).acks

    def acked(self, seqnums: list[int]) -> list[int]:
        """The peer acked these; returns those that were waiting for an ack."""
        return self.session.acknowledge(seqnums)

    def take(self, container: In) -> Taken:
        """An in-memory peer's reading of a container: its acks applied, every numbered
        sub-message owed an ack, and those not seen before returned."""
        acked = self.acked(list(container.acks))
        new = [
            (field, message)
            for field in self.incoming_fields
            for message in getattr(container, field)
            if self.session.receive(message.seqnum)
        ]
        return Taken(acked, new)

    # -- out -------------------------------------------------------------------

    def send(self, message: SubMessage) -> int:
        """Number ``message`` with our next seqnum and queue it until acked; returns the
        seqnum (for in-memory peers; a daemon's database numbers its own)."""
        message.seqnum = self.session.take_seqnum()
        field = self._field_of[message.DESCRIPTOR.full_name]
        self.session.outbox.put(Pending(message.seqnum, field, message.SerializeToString()))
        return message.seqnum

    def load(self, pending: list[Pending]) -> None:
        """Put unacked sub-messages (from the database) on the schedule."""
        outbox = self.session.outbox
        for item in pending:
            if item.seqnum not in outbox:
                outbox.put(item)

    def unacked(self, seqnum: int) -> bool:
        return seqnum in self.session.outbox

    def set_once(self, **fields: Any) -> None:
        """Scalar fields for the next container only (e.g. ``simspeed``)."""
        self._extras.update(fields)

    def poll(self, now: float) -> bytes | None:
        """The next frames to send: acks owed plus sub-messages due, or None.

        What does not fit in one message within ``send_limits`` goes as several frames."""
        limits = self.send_limits
        batch = self.session.poll(now)
        if not (batch or self._extras):
            return None
        acks, due = batch.acks, batch.items
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
        if self._extras:
            return float("-inf")
        return self.session.next_deadline()
