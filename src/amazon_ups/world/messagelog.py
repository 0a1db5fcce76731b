"""The recent messages of every world, as they went over the wire, for the dashboard
and its export.

Kept only while the dashboard is on (``--http-port``): the server appends one small
tuple per commands message it runs (the bytes it journals anyway) and per responses
message it writes (the bytes it sends anyway), so a message of twenty sub-commands
costs one append; nothing is parsed until someone reads the log, which then splits
each message into its sub-commands, results and acks. What went out is logged after
the fault injection: a result dropped by ``--drop-responses`` is not there, a
duplicated one is there twice, a re-sent one again each time. One ring buffer for all
worlds (``--log-keep`` messages), so its memory is bounded however many worlds there
are. Not state: a restarted world starts an empty log.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Container, Iterator, Mapping
from enum import StrEnum
from typing import Any

from google.protobuf import json_format

from amazon_ups.protocol.world_messages import DIALECTS, Side


class Direction(StrEnum):
    IN = "in"  # a commands message from the client (after --flakiness dropped its share)
    OUT = "out"  # a responses message to the client


# (id, at, world, side, direction, the message's bytes)
Entry = tuple[int, float, int, Side, Direction, bytes]

ID_FIELDS = ("shipid", "packageid")


class MessageLog:
    """The server appends ``(next(ids), at, world, side, direction, body)`` to ``entries``."""

    def __init__(self, keep: int) -> None:
        self.entries: deque[Entry] = deque(maxlen=keep)
        self.ids = itertools.count(1)

    def record(self, at: float, world: int, side: Side, direction: Direction, body: bytes) -> None:
        self.entries.append((next(self.ids), at, world, side, direction, body))

    @property
    def last_id(self) -> int:
        return self.entries[-1][0] if self.entries else 0

    def forget(self, world: int) -> None:
        """A retired world's messages go with it."""
        kept = [e for e in self.entries if e[2] != world]
        self.entries.clear()
        self.entries.extend(kept)

    def of_world(self, world: int, after: int = 0) -> Iterator[Entry]:
        """A world's messages after message ``after``, the newest first."""
        for entry in reversed(self.entries):
            if entry[0] <= after:
                return
            if entry[2] == world:
                yield entry


def describe(entry: Entry, unacked: Container[int] = ()) -> list[dict]:
    """One message as rows: each sub-command or result with its seqnum, the package(s)
    and truck it is about (for filtering), and for a result whether it still waits for
    its ack; then the message's acks, and a simspeed or disconnect if it had one."""
    entry_id, at, world, side, direction, body = entry
    dialect = DIALECTS[side]
    message = (dialect.commands if direction is Direction.IN else dialect.responses)()
    message.ParseFromString(body)
    base = {"message": entry_id, "at": at, "world": world, "side": str(side)}
    base["direction"] = str(direction)
    rows = []
    for field, values in message.ListFields():
        if not field.is_repeated or field.message_type is None:
            continue
        for value in values:
            fields = json_format.MessageToDict(value, preserving_proto_field_name=True)
            for name in ("seqnum", "originseqnum", "shipid", "packageid"):
                if name in fields:  # int64s come as strings in JSON
                    fields[name] = int(fields[name])
            packages = [fields[name] for name in ID_FIELDS if name in fields]
            packages += [int(p["packageid"]) for p in fields.get("packages", [])]
            row = {
                **base,
                "kind": field.name,
                "seqnum": value.seqnum,
                "fields": fields,
                "packages": packages,
                "truck": fields.get("truckid"),
            }
            if direction is Direction.OUT:
                row["acked"] = value.seqnum not in unacked
            rows.append(row)
    if message.acks:
        rows.append({**base, "kind": "acks", "acks": list(message.acks), "packages": []})
    for flag in ("simspeed", "disconnect") if direction is Direction.IN else ("finished",):
        if message.HasField(flag):
            rows.append({**base, "kind": flag, flag: getattr(message, flag), "packages": []})
    return rows


def matches(row: dict, package: int | None, truck: int | None, kind: str | None) -> bool:
    if package is not None and package not in row["packages"]:
        return False
    if truck is not None and row.get("truck") != truck:
        return False
    return kind is None or row["kind"] == kind


def rows(
    log: MessageLog,
    world: int,
    unacked: Mapping[Side, Container[int]],
    after: int = 0,
    package: int | None = None,
    truck: int | None = None,
    kind: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The rows of a world's messages after message ``after`` that match the filters, in
    order; only the newest ``limit``. Messages are parsed newest first and no further
    than needed: a viewer of a busy world costs at most ``limit`` rows a look."""
    found: list[dict[str, Any]] = []
    for entry in log.of_world(world, after):
        described = describe(entry, unacked[entry[3]])
        found += reversed([r for r in described if matches(r, package, truck, kind)])
        if limit is not None and len(found) >= limit:
            del found[limit:]
            break
    found.reverse()
    return found
