"""What the world allows each peer, as pure decisions: no sockets, no clock.

One process serves every world, on one thread, so a peer that sends too much, too
slowly or too often takes from everyone else. The server (``server.py``) asks the
objects here before it spends time or memory on a peer, and only carries out the
answer:

- ``Limits``: every number, with defaults a course client never reaches.
- ``FrameSlicer``: a commands message cut into slices run one per turn of the event
  loop, so a frame of thousands of commands does not hold up the other worlds; the
  commands past ``max_commands`` are not taken at all.
- ``Admission``: connections, in total and per remote address.
- ``BufferLedger``: bytes held for each connection (input not yet run, output not
  yet sent) and for all of them together.
- ``retirements``: the worlds to retire, for idleness or for room.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from amazon_ups.protocol.framing import MalformedMessage, parse_message
from amazon_ups.protocol.world_messages import AnyCommands, Dialect, error_text

KiB = 1024
MiB = 1024 * KiB
HOUR = 3600.0
DAY = 24 * HOUR

# Work is counted in units: an ack costs one (a dict lookup), a sub-command about as much
# as this many acks, plus one unit per product or stop it carries.
COMMAND_UNITS = 16
# Checking (parsing) a sub-command costs about a quarter of running one.
CHECKS_PER_COMMAND = 4


@dataclass(frozen=True)
class Limits:
    # The connect frame: UConnect/AConnect are tiny (a few bytes per truck or warehouse).
    connect_max_frame: int = 64 * KiB
    connect_deadline: float = 10.0
    # Any later frame. A UGoDeliver with 50,000 stops still fits.
    max_frame: int = 1 * MiB
    # Sub-commands taken from one commands message; the rest are neither run nor acked.
    max_commands: int = 10_000
    # Sub-commands run per connection per turn of the event loop.
    slice_commands: int = 64
    # Results one world side may leave unacked before its new commands wait (unacked).
    max_unacked: int = 20_000
    # Results per outgoing message; the rest follow in the next messages.
    max_results_per_message: int = 256
    # Bytes held per connection: input not yet run, and output not yet sent.
    max_buffered_in: int = 2 * MiB
    max_buffered_out: int = 8 * MiB
    # Bytes held for all connections together, in and out.
    max_buffered_total: int = 256 * MiB
    max_connections: int = 2_048
    max_connections_per_address: int = 256
    # A world with no connection for this long is retired; and beyond max_worlds,
    # the longest idle ones are, to make room.
    world_idle: float = 7 * DAY
    max_worlds: int = 1_000
    # How often each active world's counts are logged (INFO).
    summary_every: float = 60.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {value}")
        if self.connect_max_frame > self.max_frame:
            raise ValueError("connect_max_frame must not exceed max_frame")
        if self.max_buffered_in < self.max_frame:
            # A whole frame must fit, or no frame that size could ever arrive.
            raise ValueError("max_buffered_in must be at least max_frame")
        if self.max_unacked < self.max_commands:
            # One message's results alone would stop the peer's next commands being taken.
            raise ValueError("max_unacked must be at least max_commands")
        if self.max_connections_per_address > self.max_connections:
            raise ValueError("max_connections_per_address must not exceed max_connections")


# -- slicing a commands message ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slice:
    """Part of a commands message, itself a commands message of the same dialect."""

    message: AnyCommands
    commands: int
    acks: int
    last: bool
    whole: bool = False  # the message itself, not a copy of part of it
    body: bytes | None = None  # the message serialized, if it was made from bytes


# A frame this small is parsed whole, at C speed (a fraction of a millisecond): most
# frames are, and most of those run as one slice, as they did before slicing.
SMALL_FRAME = 16 * KiB


_LAZY: dict[str, type[Message]] = {}


def lazy_commands(dialect: Dialect) -> type[Message]:
    """The dialect's commands message with each sub-command left as its bytes.

    The same wire format, so it parses any ACommands/UCommands; but parsing it costs
    one C pass over the frame and no message object per sub-command (a megabyte of
    queries: about 2 ms instead of 8, held in one turn of the event loop). The
    sub-commands are then parsed a slice at a time, and only those that will run.
    """
    descriptor = dialect.commands.DESCRIPTOR
    found = _LAZY.get(descriptor.full_name)
    if found is None:
        file = descriptor_pb2.FileDescriptorProto(
            name=f"lazy_{descriptor.file.name}", package="lazy", syntax="proto2"
        )
        message = file.message_type.add()
        descriptor.CopyToProto(message)
        for field in message.field:
            if field.type == field.TYPE_MESSAGE:
                field.type = field.TYPE_BYTES
                field.ClearField("type_name")
        pool = descriptor_pool.DescriptorPool()
        pool.Add(file)
        found = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"lazy.{message.name}"))
        _LAZY[descriptor.full_name] = found
    return found


_KINDS: dict[str, tuple[dict[str, type[Message]], dict[str, str | None]]] = {}


def _command_kinds(
    dialect: Dialect,
) -> tuple[dict[str, type[Message]], dict[str, str | None]]:
    """Per sub-command field of the dialect: its message class, and its field of
    products or stops (if any). Looked up once: a frame is sliced often."""
    found = _KINDS.get(dialect.side)
    if found is None:
        fields = dialect.commands.DESCRIPTOR.fields_by_name
        types = {}
        for name in dialect.command_fields:
            message_type = fields[name].message_type
            assert message_type is not None  # a sub-command field holds messages
            # The stubs tell upb's Descriptor (which fields_by_name may give) from the
            # pure-Python one GetMessageClass takes: at run time they are one.
            types[name] = message_factory.GetMessageClass(message_type)  # type: ignore[arg-type]
        found = _KINDS[dialect.side] = (types, {n: _inner_field(t) for n, t in types.items()})
    return found


def _inner_field(kind: type[Message]) -> str | None:
    """The field of products or stops a sub-command carries: what its run grows with."""
    for name in ("things", "packages"):
        if name in kind.DESCRIPTOR.fields_by_name:
            return name
    return None


class FrameSlicer:
    """Cuts one commands message (parsed as ``lazy_commands``) into slices of about
    ``slice_commands`` sub-commands.

    First its sub-commands are checked, a few thousand per step: a message with one
    that does not parse is malformed as a whole and nothing of it runs, as before
    slicing. Then the slices keep the order the engine runs a whole message in: acks
    first, then the sub-commands field by field, so running the slices one after
    another is running the message. ``simspeed`` rides on the first slice (before any
    command), ``disconnect`` on the last. Sub-commands past ``max_commands`` are never
    parsed nor put in a slice: they are ``excess``, and the peer, which gets no ack for
    them, sends them again later.

    A lazy message's sub-commands stay bytes until their slice is cut: checking parses
    them a step's worth at a time, in one call, and keeps only what a slice's size needs
    (the products or stops each carries); a slice is then parsed in one call from its
    sub-commands' bytes. No Python object per sub-command lives longer than a step,
    however many a message holds: a burst of them would scatter the heap.
    """

    # frame: Any, as the fields of ACommands/UCommands are not declared by the class
    # that lazy_commands builds for them at run time.
    def __init__(self, dialect: Dialect, frame: Any, limits: Limits) -> None:
        """``frame`` is parsed as ``lazy_commands`` (sub-commands as bytes, checked a
        step at a time), or as the dialect's own commands message (already checked)."""
        self.dialect = dialect
        self.frame = frame
        self.lazy = type(frame) is not dialect.commands
        self.budget = limits.slice_commands * COMMAND_UNITS
        self.check_budget = limits.slice_commands * CHECKS_PER_COMMAND
        self._types, self._inner = _command_kinds(dialect)
        held = {name: len(getattr(frame, name)) for name in dialect.command_fields}
        self.held = sum(held.values())
        self.excess = max(0, self.held - limits.max_commands)
        self._acks = len(frame.acks)
        self._ack_index = 0
        self._first = True
        self.done = False
        # A message parsed whole: its sub-commands, field by field (a run one goes).
        self.parsed: dict[str, list[Message | None]] = {}
        # Per field with products or stops: how many each sub-command carries, as far
        # as checked (what a slice's size counts).
        self._sizes: dict[str, array] = {}
        # (field, next index, end) in the engine's order, cut at the cap: to check, to run.
        self._unchecked: list[list] = []
        self._ranges: list[list] = []
        # Small enough to go as it is (most frames): one slice, the message itself.
        self._whole = not self.lazy and not self.excess and self._units(held) <= self.budget
        if self._whole:
            return
        room = limits.max_commands
        for name in dialect.command_fields:
            take = min(held[name], room)
            room -= take
            if not take:
                continue
            self._ranges.append([name, 0, take])
            inner = self._inner[name]
            if self.lazy:
                self._unchecked.append([name, 0, take])
                if inner:
                    self._sizes[name] = array("l")
            else:
                self.parsed[name] = list(getattr(self.frame, name)[:take])
                if inner:
                    self._sizes[name] = array(
                        "l", [len(getattr(c, inner)) for c in self.parsed[name]]
                    )

    def _units(self, held: dict[str, int]) -> int:
        """The work in a message parsed whole (as counted for slices)."""
        units = self._acks
        for name, count in held.items():
            units += COMMAND_UNITS * count
            inner = self._inner[name]
            if inner and count and units <= self.budget:
                units += sum(len(getattr(c, inner)) for c in getattr(self.frame, name))
        return units

    @property
    def checked(self) -> bool:
        return not self._unchecked

    def check(self) -> str | None:
        """Parse the next sub-commands; why the message is malformed, if it is."""
        budget = self.check_budget
        while self._unchecked and budget > 0:
            entry = self._unchecked[0]
            name, index, end = entry
            stop = min(end, index + budget)
            chunk = getattr(self.frame, name)[index:stop]
            # Parsed together, as the commands message they make: one call, and the
            # same verdict as each on its own.
            together = type(self.frame)()
            getattr(together, name).extend(chunk)
            parsed = parse_message(self.dialect.commands, together.SerializeToString())
            if isinstance(parsed, MalformedMessage):
                return self._first_malformed(name, index, chunk) or f"{name}: {parsed}"
            inner = self._inner[name]
            if inner:
                self._sizes[name].extend(len(getattr(c, inner)) for c in getattr(parsed, name))
            budget -= stop - index
            entry[1] = stop
            if stop >= end:
                self._unchecked.pop(0)
        return None

    def _first_malformed(self, name: str, index: int, chunk: list[bytes]) -> str | None:
        kind = self._types[name]
        for position, body in enumerate(chunk, index):
            command = parse_message(kind, body)
            if isinstance(command, MalformedMessage):
                return f"{name} #{position + 1}: {command}"
        return None

    @property
    def remaining(self) -> int:
        """Sub-commands still to be sliced."""
        return sum(end - index for _, index, end in self._ranges)

    def drop_commands(self) -> int:
        """Take no more sub-commands from this message (the acks still go); how many
        were left out."""
        dropped = self.remaining
        self._ranges.clear()
        self._unchecked.clear()
        self.parsed.clear()
        self._sizes.clear()
        return dropped

    def _take(self, name: str, index: int, end: int, budget: int, empty: bool) -> tuple[int, int]:
        """How many sub-commands of ``name`` from ``index`` the slice takes (while its
        budget lasts, and at least one in an empty slice); the budget left."""
        sizes = self._sizes.get(name)
        if sizes is None:  # every one costs the same
            if budget > 0:
                count = min(end - index, -(-budget // COMMAND_UNITS))
            else:
                count = 1 if empty else 0
            return count, budget - count * COMMAND_UNITS
        count = 0
        while index + count < end and (budget > 0 or (empty and not count)):
            budget -= COMMAND_UNITS + sizes[index + count]
            count += 1
        return count, budget

    def next(self) -> Slice | None:
        """The next slice, once every sub-command has been checked."""
        assert self.checked, "check() the message before slicing it"
        if self.done:
            return None
        if self._whole:
            self.done = True
            return Slice(self.frame, self.held, self._acks, last=True, whole=True)
        # A lazy message's slice is put together as bytes, then parsed in one call.
        out = type(self.frame)()
        if self._first and self.frame.HasField("simspeed"):
            out.simspeed = self.frame.simspeed
        self._first = False
        budget = self.budget
        acks = min(self._acks - self._ack_index, budget)
        if acks:
            out.acks.extend(self.frame.acks[self._ack_index : self._ack_index + acks])
            self._ack_index += acks
            budget -= acks
        commands = 0
        while self._ranges and (budget > 0 or not (acks or commands)):
            entry = self._ranges[0]
            name, index, end = entry
            count, budget = self._take(name, index, end, budget, not (acks or commands))
            target = getattr(out, name)
            if self.lazy:
                target.extend(getattr(self.frame, name)[index : index + count])
            else:
                source = self.parsed[name]
                target.extend(source[index : index + count])
                # A run command's memory goes now, not with the frame.
                source[index : index + count] = [None] * count
            index += count
            commands += count
            entry[1] = index
            if index >= end:
                self._ranges.pop(0)
        last = self._ack_index >= self._acks and not self._ranges
        if last:
            self.done = True
            if self.frame.disconnect:
                out.disconnect = True
        if not self.lazy:
            return Slice(out, commands, acks, last)
        body = out.SerializeToString()
        return Slice(self.dialect.commands.FromString(body), commands, acks, last, body=body)


def over_limit_text(held: int, limit: int) -> str:
    """The error (without its ``error:``) for the sub-commands of a message past the cap."""
    return (
        f"a commands message may hold at most {limit} sub-commands, this one held {held}: "
        f"the first {limit} were taken, the other {held - limit} were neither run nor acked "
        "(send them again in later messages)"
    )


# -- connections --------------------------------------------------------------------------


class Refusal(Enum):
    TOO_MANY_CONNECTIONS = "too many connections"
    TOO_MANY_FROM_ADDRESS = "too many connections from one address"

    def text(self, limits: Limits, address: str) -> str:
        if self is Refusal.TOO_MANY_CONNECTIONS:
            detail = f"the world serves at most {limits.max_connections} at a time"
        else:
            detail = f"at most {limits.max_connections_per_address} from {address} at a time"
        return error_text(f"{self.value} ({detail}); try again later")


class Admission:
    """Open connections, in total and per remote address."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.by_address: Counter[str] = Counter()

    def admit(self, address: str) -> Refusal | None:
        """Count a new connection in, or say why not (then it is not counted)."""
        if self.total >= self.limits.max_connections:
            return Refusal.TOO_MANY_CONNECTIONS
        if self.by_address[address] >= self.limits.max_connections_per_address:
            return Refusal.TOO_MANY_FROM_ADDRESS
        self.total += 1
        self.by_address[address] += 1
        return None

    def release(self, address: str) -> None:
        self.total -= 1
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]


# -- buffered bytes --------------------------------------------------------------------------


class Overflow(Enum):
    INPUT = "input"  # one connection's unfinished or unrun frames
    OUTPUT = "output"  # one connection's unsent responses
    TOTAL = "total"  # every connection's, in and out

    def text(self, limits: Limits, held: int) -> str:
        if self is Overflow.INPUT:
            limit, what = limits.max_buffered_in, "bytes received and not yet run"
        elif self is Overflow.OUTPUT:
            limit, what = limits.max_buffered_out, "bytes of responses it has not read"
        else:
            limit, what = limits.max_buffered_total, "bytes held for all connections"
        return f"{held:,} {what}, over the limit of {limit:,}"


class BufferLedger:
    """Bytes held per connection, in and out, and their total. The server reports a
    connection's figures whenever they change; a figure over its limit names the
    overflow, and the server closes that connection (the one that grew)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._in: dict[Hashable, int] = {}
        self._out: dict[Hashable, int] = {}
        self.total = 0

    def _set(self, book: dict[Hashable, int], key: Hashable, held: int) -> None:
        self.total += held - book.get(key, 0)
        if held:
            book[key] = held
        else:
            book.pop(key, None)

    def set_in(self, key: Hashable, held: int) -> Overflow | None:
        self._set(self._in, key, held)
        if held > self.limits.max_buffered_in:
            return Overflow.INPUT
        return self._over_total(held)

    def set_out(self, key: Hashable, held: int) -> Overflow | None:
        self._set(self._out, key, held)
        if held > self.limits.max_buffered_out:
            return Overflow.OUTPUT
        return self._over_total(held)

    def _over_total(self, held: int) -> Overflow | None:
        # Only a connection that holds something is blamed for the total.
        return Overflow.TOTAL if held and self.total > self.limits.max_buffered_total else None

    def held(self, key: Hashable) -> int:
        return self._in.get(key, 0) + self._out.get(key, 0)

    def forget(self, key: Hashable) -> None:
        self._set(self._in, key, 0)
        self._set(self._out, key, 0)


# -- retiring worlds -----------------------------------------------------------------------


class RetireReason(Enum):
    IDLE = "idle"
    ROOM = "room"  # more worlds than max_worlds: the longest idle makes room
    DASHBOARD = "dashboard"  # retired by hand, from the world's dashboard


@dataclass(frozen=True, slots=True)
class Retirement:
    world: int
    reason: RetireReason
    idle_for: float


def retirements(
    last_active: Mapping[int, float],
    connected: Collection[int],
    now: float,
    limits: Limits,
    coming: int = 0,
) -> list[Retirement]:
    """Worlds to retire now: every world without a connection idle past ``world_idle``,
    then, longest idle first, as many more as it takes to hold ``coming`` new worlds
    within ``max_worlds``. A world with a connection is never retired (an idle
    connection is closed by the idle timeout first)."""
    candidates = sorted((at, world) for world, at in last_active.items() if world not in connected)
    out = []
    keep = len(last_active)
    for at, world in candidates:
        idle_for = max(0.0, now - at)
        if idle_for >= limits.world_idle:
            out.append(Retirement(world, RetireReason.IDLE, idle_for))
        elif keep + coming > limits.max_worlds:
            out.append(Retirement(world, RetireReason.ROOM, idle_for))
        else:
            break
        keep -= 1
    return out


def duration(seconds: float) -> str:
    """24 h, 90 min, 45 s, 7 d: a duration as a person would say it."""
    if seconds >= 2 * DAY:
        return f"{seconds / DAY:.0f} d"
    if seconds >= 2 * HOUR:
        return f"{seconds / HOUR:.0f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    if seconds >= 10:
        return f"{seconds:.0f} s"
    return f"{seconds:.1f} s"


def retired_text(world: int, reason: RetireReason, idle_for: float, max_worlds: int) -> str:
    if reason is RetireReason.IDLE:
        return error_text(f"world {world} was retired after {duration(idle_for)} idle")
    if reason is RetireReason.DASHBOARD:
        return error_text(f"world {world} was retired from the world's dashboard")
    return error_text(
        f"world {world} was retired after {duration(idle_for)} idle, to make room "
        f"(the world keeps at most {max_worlds} worlds, the longest idle go first)"
    )
