"""The recent commands and results of every world, for the dashboard and its export.

Kept only while the dashboard is on (``--http-port``): the engine appends one small
tuple per command, per result and per message of acks, holding the bytes it already
has; nothing is parsed or formatted until someone reads the log. One ring buffer for
all worlds (``--log-keep`` entries), so its memory is bounded however many worlds
there are: about 150 bytes an entry. Not state: a restarted world starts an empty log.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.message import Message

from amazon_ups.protocol.world_messages import DIALECTS, Side


class Direction(StrEnum):
    COMMAND = "command"  # a new sub-command from the client, run
    REPEAT = "repeat"  # a sub-command whose seqnum was seen before: acked, not run
    RESULT = "result"  # a result the world made for the client
    ACKS = "acks"  # the client acked these result seqnums


# (id, at, world, side, direction, field, seqnum, body or acked seqnums)
Entry = tuple[int, float, int, Side, Direction, str, int, Any]

ID_FIELDS = ("shipid", "packageid")


def _types(side: Side, container: type[Message]) -> dict[str, type[Message]]:
    return {
        f.name: message_factory.GetMessageClass(f.message_type)
        for f in container.DESCRIPTOR.fields
        if f.message_type is not None
    }


_COMMAND_TYPES = {side: _types(side, DIALECTS[side].commands) for side in Side}
_RESULT_TYPES = {side: _types(side, DIALECTS[side].responses) for side in Side}


class MessageLog:
    def __init__(self, keep: int) -> None:
        self.entries: deque[Entry] = deque(maxlen=keep)
        self.next_id = 1

    def add(
        self,
        at: float,
        world: int,
        side: Side,
        direction: Direction,
        field: str,
        seqnum: int,
        body: Any,
    ) -> None:
        self.entries.append((self.next_id, at, world, side, direction, field, seqnum, body))
        self.next_id += 1

    def forget(self, world: int) -> None:
        """A retired world's entries go with it."""
        kept = [e for e in self.entries if e[2] != world]
        self.entries.clear()
        self.entries.extend(kept)

    def of_world(self, world: int, after: int = 0) -> Iterator[Entry]:
        for entry in self.entries:
            if entry[2] == world and entry[0] > after:
                yield entry


def describe(entry: Entry, unacked: Iterable[int] = ()) -> dict:
    """One entry as JSON: the message as its fields, the package and truck it is about
    (for filtering), and for a result whether it still waits for its ack."""
    entry_id, at, world, side, direction, field, seqnum, body = entry
    out: dict[str, Any] = {
        "id": entry_id,
        "at": at,
        "world": world,
        "side": str(side),
        "direction": str(direction),
        "kind": field,
        "seqnum": seqnum,
    }
    if direction is Direction.ACKS:
        out["acks"] = list(body)
        out["kind"] = "acks"
        return out
    types = _RESULT_TYPES if direction is Direction.RESULT else _COMMAND_TYPES
    message = types[side][field]()
    message.ParseFromString(body)
    fields = json_format.MessageToDict(message, preserving_proto_field_name=True)
    for name in ("seqnum", "originseqnum"):  # int64s come as strings in proto3 JSON
        if name in fields:
            fields[name] = int(fields[name])
    out["message"] = fields
    packages = [int(fields[name]) for name in ID_FIELDS if name in fields]
    packages += [int(p["packageid"]) for p in fields.get("packages", [])]
    out["packages"] = packages
    out["truck"] = fields.get("truckid")
    if direction is Direction.RESULT:
        out["acked"] = seqnum not in unacked
    return out


def matches(described: dict, package: int | None, truck: int | None, kind: str | None) -> bool:
    if package is not None and package not in described.get("packages", ()):
        return False
    if truck is not None and described.get("truck") != truck:
        return False
    return kind is None or described["kind"] == kind
