"""The world engine: every rule of the world protocol, as a pure state machine.

No sockets, no clock. The server feeds it connect requests and commands, each
with the time it arrived, and asks it for the responses to send; it calls
``advance(now)`` when ``next_deadline()`` comes. Given the same inputs at the
same times it reaches the same state, which is what makes the journal
(``journal.py``) a complete record: timed events are handled at their own
due time, never at the time someone happened to look.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from google.protobuf import text_format
from google.protobuf.message import Message

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.channel import SubMessage
from amazon_ups.protocol.session import ReliableSession, ResendPolicy
from amazon_ups.protocol.world_messages import (
    CONNECTED,
    DIALECTS,
    AnyCommands,
    AnyConnect,
    AnyResponses,
    Side,
    error_text,
)
from amazon_ups.world.commands import (
    Commands,
    EventKind,
    Rejected,
)
from amazon_ups.world.diagnostics import (
    RING_MASK,
    UNACKED_AFTER_SENDS,
    ClientDiagnostics,
    Mistake,
)
from amazon_ups.world.limits import RetireReason, retired_text
from amazon_ups.world.model import (
    PackageStatus,
    Truck,
    Warehouse,
    WireResult,
    World,
)
from amazon_ups.world.outbox import ResultOutbox
from amazon_ups.world.rules import (
    ReconnectResend,
    RepeatedPlaces,
    Rules,
    SimspeedScope,
    choose_first_seqnum,
)
from amazon_ups.world.summary import Tally

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Retired:
    """What is left of a retired world: enough to tell a client why it is gone."""

    reason: RetireReason
    idle_for: float
    max_worlds: int

    def text(self, world_id: int) -> str:
        return retired_text(world_id, self.reason, self.idle_for, self.max_worlds)


@dataclass(frozen=True, slots=True)
class ConnectResult:
    world_id: int
    result: str

    @property
    def ok(self) -> bool:
        return self.result == CONNECTED


class WorldEngine(Commands):
    def __init__(
        self,
        resend_policy: ResendPolicy | None = None,
        rules: Rules | None = None,
        first_seqnum: int | None = None,
    ) -> None:
        self.worlds: dict[int, World] = {}
        self.next_world_id = 1
        self.resend_policy = resend_policy or ResendPolicy()
        self.rules = rules or Rules()
        # One counter numbers every result of every world and side, from a start drawn
        # once per state file: like the official world's, our seqnums never follow a
        # client's own, so a client that confuses the two fails here as it would there.
        self.first_result_seqnum = choose_first_seqnum() if first_seqnum is None else first_seqnum
        self.next_result_seqnum = self.first_result_seqnum
        # (due time, tie-breaker, kind, world id, details)
        self._timeline: list[tuple[float, int, EventKind, int, Any]] = []
        self._event_order = itertools.count()
        self.retired: dict[int, Retired] = {}
        self.log: logging.Logger | logging.LoggerAdapter = logger
        # Counts since the last summary line; the server reads and resets them.
        self.tallies: dict[tuple[int, Side], Tally] = {}
        # Each world side's client mistakes (world/diagnostics.py).
        self.diagnostics: dict[tuple[int, Side], ClientDiagnostics] = {}

    # -- persistence: the logger, the counts, the diagnostics are not state; the rules
    # are configuration, given again by whoever loads the engine ----------------------

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for name in ("log", "tallies", "diagnostics", "rules"):
            del state[name]
        state["_event_order"] = next(self._event_order)
        return state

    def __setstate__(self, state: dict) -> None:
        state["_event_order"] = itertools.count(state["_event_order"])
        # Snapshots written before worlds could be retired lack these.
        state.setdefault("retired", {})
        if "next_result_seqnum" not in state:  # numbered per world side before
            sessions = [s for w in state["worlds"].values() for s in w.sessions.values()]
            state["next_result_seqnum"] = max((s.next_seqnum for s in sessions), default=1)
        state.setdefault("first_result_seqnum", 1)
        for world in state["worlds"].values():
            if "last_active" not in world.__dict__:
                world.last_active = 0.0
            world.__dict__.setdefault("paused_at", None)
            world.__dict__.setdefault("frozen", [])
            for side, session in world.sessions.items():
                if not isinstance(session.outbox, ResultOutbox):
                    session.outbox = _as_result_outbox(session.outbox, side)
        self.__dict__.update(state)
        self.log = logger
        self.tallies = {}
        self.diagnostics = {}
        self.rules = Rules()

    def _new_session(self, side: Side) -> ReliableSession:
        outbox = ResultOutbox(self.resend_policy, UNACKED_AFTER_SENDS, _result_numbers(side))
        return ReliableSession(policy=self.resend_policy, outbox=outbox)  # type: ignore[arg-type]

    def tally(self, world_id: int, side: Side) -> Tally:
        key = (world_id, side)
        found = self.tallies.get(key)
        if found is None:
            found = self.tallies[key] = Tally()
        return found

    def diagnose(self, world_id: int, side: Side) -> ClientDiagnostics:
        key = (world_id, side)
        found = self.diagnostics.get(key)
        if found is None:
            found = self.diagnostics[key] = ClientDiagnostics()
        return found

    def note(
        self,
        world_id: int,
        side: Side,
        kind: Mistake,
        text: str,
        now: float,
        cause: str | None = None,
    ) -> None:
        """A client mistake: kept for the dashboard, logged the first time it is seen."""
        if self.diagnose(world_id, side).note(kind, text, now, cause) is not None:
            self.log.info("world %d: %s client mistake (%s): %s", world_id, side, kind, text)

    def size(self) -> int:
        """How many things the worlds hold, results waiting for an ack included; what
        a snapshot's cost grows with."""
        return sum(
            len(w.packages)
            + len(w.trucks)
            + len(w.warehouses)
            + sum(len(session.outbox) for session in w.sessions.values())
            for w in self.worlds.values()
        )

    # -- connecting -----------------------------------------------------------

    def connect(self, side: Side, request: AnyConnect, now: float) -> ConnectResult:
        """Create a world (no worldid) or join one, adding the trucks or warehouses brought."""
        wanted = request.worldid if request.HasField("worldid") else None
        if request.isAmazon != (side is Side.AMAZON):
            expected = "true on the Amazon port" if side is Side.AMAZON else "false on the UPS port"
            return ConnectResult(
                -1 if wanted is None else wanted, error_text(f"isAmazon must be {expected}")
            )
        if isinstance(request, wa.AConnect):  # side is Side.AMAZON: its dialect's request
            kind, brought = "warehouse", [(w.id, w.x, w.y) for w in request.initwh]
        else:
            kind, brought = "truck", [(t.id, t.x, t.y) for t in request.trucks]

        world = None
        if wanted is not None:
            world = self.worlds.get(wanted)
            if world is None:
                retired = self.retired.get(wanted)
                if retired is not None:
                    return ConnectResult(wanted, retired.text(wanted))
                return ConnectResult(wanted, error_text(f"world {wanted} does not exist"))
        existing = (
            {} if world is None else (world.warehouses if side is Side.AMAZON else world.trucks)
        )
        try:
            new = _new_places(kind, brought, existing, self.rules.repeated_places)
        except Rejected as error:
            return ConnectResult(-1 if wanted is None else wanted, str(error))

        if world is None:
            world = World(
                id=self.next_world_id,
                sessions={s: self._new_session(s) for s in Side},
            )
            self.next_world_id += 1
            self.worlds[world.id] = world
            self.log.info("world %d created by %s with %d %ss", world.id, side, len(new), kind)
        for place_id, x, y in new:
            if side is Side.AMAZON:
                world.warehouses[place_id] = Warehouse(place_id, x, y)
            else:
                world.trucks[place_id] = Truck(place_id, x, y)
        if new and wanted is not None:
            self.log.info("world %d: %s added %d %ss", world.id, side, len(new), kind)
        session = world.sessions[side]
        if self.rules.reconnect_resend is ReconnectResend.LAST and wanted is not None:
            dropped = session.outbox.keep_newest()
            if dropped:
                self.log.info(
                    "world %d: %s reconnected; %d older unacked results dropped "
                    "(--reconnect-resend last)",
                    world.id,
                    side,
                    dropped,
                )
        session.rewind()
        world.last_active = now
        return ConnectResult(world.id, CONNECTED)

    def retire(self, world_id: int, reason: RetireReason, idle_for: float, max_worlds: int) -> None:
        """Forget a world and everything it holds; a client asking for it later is told why."""
        world = self.worlds.pop(world_id, None)
        if world is None:
            return
        self.retired[world_id] = Retired(reason, idle_for, max_worlds)
        self._timeline = [event for event in self._timeline if event[3] != world_id]
        heapq.heapify(self._timeline)
        for side in Side:
            self.tallies.pop((world_id, side), None)
            self.diagnostics.pop((world_id, side), None)
        self.log.info(
            "world %d retired (%s; idle %.0f s): %d trucks, %d warehouses, %d packages freed",
            world_id,
            reason.value,
            idle_for,
            len(world.trucks),
            len(world.warehouses),
            len(world.packages),
        )

    def pause(self, world_id: int, now: float) -> None:
        """Stop a world's clock (from the dashboard): its due events wait aside, its
        trucks stand where they are, commands still run, at the moment it stopped."""
        world = self.worlds.get(world_id)
        if world is None or world.paused_at is not None:
            return
        self.advance(now)
        world.paused_at = now
        world.frozen = [event for event in self._timeline if event[3] == world_id]
        if world.frozen:
            self._timeline = [event for event in self._timeline if event[3] != world_id]
            heapq.heapify(self._timeline)
        self.log.info("world %d: clock paused", world_id)

    def resume(self, world_id: int, now: float) -> None:
        """Start a paused world's clock again: everything in it happens as late as it
        stood still."""
        world = self.worlds.get(world_id)
        if world is None or world.paused_at is None:
            return
        shift = max(0.0, now - world.paused_at)
        for due, order, kind, wid, details in world.frozen:
            heapq.heappush(self._timeline, (due + shift, order, kind, wid, details))
        for truck in world.trucks.values():
            if truck.leg is not None:
                truck.leg.start += shift
                truck.leg.end += shift
            truck.loading_until += shift
        world.paused_at = None
        world.frozen = []
        self.log.info("world %d: clock resumed after %.1f s", world_id, shift)

    def last_active(self) -> dict[int, float]:
        return {world_id: world.last_active for world_id, world in self.worlds.items()}

    # -- commands ---------------------------------------------------------------

    def handle(self, world_id: int, side: Side, commands: AnyCommands, now: float) -> None:
        """Run one ACommands/UCommands message from ``side`` of world ``world_id``."""
        self.advance(now)
        world = self.worlds[world_id]
        world.last_active = now
        if world.paused_at is not None:
            now = world.paused_at  # its clock stands still: commands run at that moment
        session = world.sessions[side]
        trace = self.log.isEnabledFor(logging.DEBUG)
        diagnostics = self.diagnose(world_id, side)
        ring_seqnums, ring_digests = diagnostics.seqnums, diagnostics.digests
        if commands.acks:
            self._acks(world_id, side, session, commands.acks, now)
        if commands.HasField("simspeed"):
            paced = Side if self.rules.simspeed_scope is SimspeedScope.WORLD else (side,)
            for each in paced:
                world.simspeed[each] = commands.simspeed
            self.log.info("world %d: %s simspeed %d", world_id, side, commands.simspeed)
        tally = self.tally(world_id, side)
        for field_name in DIALECTS[side].command_fields:
            run = _COMMANDS[side, field_name]
            kind_hash = hash(field_name)
            for command in getattr(commands, field_name):
                seqnum = command.seqnum
                # hash() is salted per process: fine, the digests live only in this one.
                digest = hash(command.SerializeToString()) ^ kind_hash
                if not session.receive(seqnum):
                    tally.repeats += 1
                    mistake = diagnostics.repeat(seqnum, digest)
                    if mistake is not None:
                        self._repeat_mistake(world_id, side, mistake, field_name, command, now)
                    if trace:
                        self.log.debug(
                            "world %d: %s repeated seqnum %d: acked again, not run",
                            world_id,
                            side,
                            command.seqnum,
                        )
                    continue
                tally.commands += 1
                slot = seqnum & RING_MASK
                ring_seqnums[slot] = seqnum
                ring_digests[slot] = digest
                if trace:
                    self.log.debug(
                        "world %d: %s -> %s %s", world_id, side, field_name, _Brief(command)
                    )
                try:
                    run(self, world, command, now)
                except Rejected as error:
                    self._reject(world, side, str(error), command.seqnum, now)

    def _repeat_mistake(
        self,
        world_id: int,
        side: Side,
        mistake: Mistake,
        field_name: str,
        command: SubMessage,
        now: float,
    ) -> None:
        if mistake is Mistake.SEQNUM_REUSED:
            text = (
                f"seqnum {command.seqnum} came again with a different command "
                f"({field_name} {_Brief(command)}): acked, not run"
            )
        else:
            text = (
                f"seqnum {command.seqnum} came again long after it was first used "
                f"({field_name} {_Brief(command)}): acked, not run; does the client "
                "number its commands again from an old value (after a restart)?"
            )
        # One finding per kind of command, whatever its contents.
        self.note(world_id, side, mistake, text, now, cause=f"{mistake} ({field_name})")

    def _acks(
        self, world_id: int, side: Side, session: ReliableSession, acks: Any, now: float
    ) -> None:
        acked = session.acknowledge(acks)
        if self.log.isEnabledFor(logging.DEBUG):
            for seqnum in acked:
                self.log.debug("world %d: %s acked result %d", world_id, side, seqnum)
        if len(acked) == len(acks):
            return
        # The others are repeats (normal: a result may come again after it was acked) or
        # numbers the world never gave out: only the latter are told, and cheaply, from
        # the one counter (no record of every ack, which would cost every ack).
        low, high = self.first_result_seqnum, self.next_result_seqnum
        for seqnum in acks:
            if not low <= seqnum < high:
                self.note(
                    world_id,
                    side,
                    Mistake.UNKNOWN_ACK,
                    f"ack {seqnum} is not the seqnum of a result the world sent "
                    "(acking its own command's seqnum?)",
                    now,
                )

    def reject_malformed(self, world_id: int, side: Side, reason: str, now: float = 0.0) -> None:
        """A frame from ``side`` did not parse, or broke a limit; tell it, with no
        origin seqnum (-1)."""
        self._reject(self.worlds[world_id], side, error_text(reason), -1, now)

    def _reject(self, world: World, side: Side, text: str, origin: int, now: float) -> None:
        error = DIALECTS[side].error(err=text, originseqnum=origin)
        self.tally(world.id, side).errors += 1
        where = f"command {origin}" if origin != -1 else "a frame"
        self.note(world.id, side, Mistake.REFUSED, f"{where}: {text}", now)
        self._send(world, side, error)

    def _send(self, world: World, side: Side, result: SubMessage) -> None:
        session = world.sessions[side]
        seqnum = result.seqnum = self.next_result_seqnum  # numbered before it becomes bytes
        self.next_result_seqnum += 1
        outbox = cast(ResultOutbox, session.outbox)  # every world session's (_new_session)
        outbox.add(seqnum, DIALECTS[side].result_field(result), result.SerializeToString())

        self.tally(world.id, side).results += 1
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("world %d: %s <- %s", world.id, side, _Brief(result))

    # -- time -------------------------------------------------------------------------

    def _schedule(self, due: float, kind: EventKind, world_id: int, details: Any) -> None:
        event = (due, next(self._event_order), kind, world_id, details)
        world = self.worlds[world_id]
        if world.paused_at is not None:
            world.frozen.append(event)
        else:
            heapq.heappush(self._timeline, event)

    def next_deadline(self) -> float | None:
        return self._timeline[0][0] if self._timeline else None

    def advance(self, now: float) -> None:
        """Run every timed event due at or before ``now``, each at its own time."""
        while self._timeline and self._timeline[0][0] <= now:
            due, _, kind, world_id, details = heapq.heappop(self._timeline)
            world = self.worlds[world_id]
            if kind is EventKind.PURCHASE_ARRIVED:
                warehouse_id, arrival = details
                stock = world.warehouses[warehouse_id].stock
                for product in arrival.things:
                    stock[product.id] = stock.get(product.id, 0) + product.count
                self._send(world, Side.AMAZON, arrival)
                warehouse = world.warehouses[warehouse_id]
                if warehouse.short:
                    self._pack_waiting(world, warehouse, due)
            elif kind is EventKind.PACKED:
                world.packages[details].status = PackageStatus.PACKED
                self._send(world, Side.AMAZON, wa.APacked(shipid=details))
            elif kind is EventKind.LOADED:
                self._loaded(world, world.packages[details], due)
            elif kind is EventKind.TRUCK_ARRIVED:
                truck_id, version = details
                truck = world.trucks[truck_id]
                if truck.leg_version == version and truck.leg is not None:
                    self._truck_arrived(world, truck, due)

    # -- output ---------------------------------------------------------------------------

    def responses(
        self,
        world_id: int,
        side: Side,
        now: float,
        limit: int | None = None,
        resend: bool = True,
    ) -> AnyResponses | None:
        """The next AResponses/UResponses for ``side``: acks owed plus results due
        (at most ``limit``, the rest stay due; only new ones unless ``resend``)."""
        session = self.worlds[world_id].sessions[side]
        acks = session.take_acks()
        # The results come as the bytes they make in the message: parsed in one call.
        outbox = cast(ResultOutbox, session.outbox)
        wire, count = outbox.due_wire(now, limit, resend)
        if session.outbox.stale:
            self._unacked(world_id, side, session, now)
        if not acks and not count:
            return None
        message = DIALECTS[side].responses()
        message.acks.extend(acks)
        message.MergeFromString(wire)
        return message

    def _unacked(self, world_id: int, side: Side, session: ReliableSession, now: float) -> None:
        for result in session.outbox.stale:
            self.note(
                world_id,
                side,
                Mistake.UNACKED,
                f"result {result.seqnum} ({result.field}) sent {UNACKED_AFTER_SENDS} times "
                "without an ack; it is re-sent until acked",
                now,
            )
        session.outbox.stale.clear()

    def next_resend(self, world_id: int, side: Side) -> float | None:
        return self.worlds[world_id].sessions[side].next_deadline()

    def unacked(self, world_id: int, side: Side) -> int:
        """Results ``side`` of the world has not acked yet."""
        return len(self.worlds[world_id].sessions[side].outbox)


# (side, commands field) -> the method that runs one such sub-command
# A command is the message its field carries (APurchaseMore for "buy", ...).
_COMMANDS: dict[tuple[Side, str], Callable[[WorldEngine, World, Any, float], None]] = {
    (Side.AMAZON, "buy"): WorldEngine._amazon_buy,
    (Side.AMAZON, "topack"): WorldEngine._amazon_topack,
    (Side.AMAZON, "load"): WorldEngine._amazon_load,
    (Side.AMAZON, "queries"): WorldEngine._amazon_queries,
    (Side.UPS, "pickups"): WorldEngine._ups_pickups,
    (Side.UPS, "deliveries"): WorldEngine._ups_deliveries,
    (Side.UPS, "queries"): WorldEngine._ups_queries,
}


def _result_numbers(side: Side) -> dict[str, int]:
    """Each result field's number in the side's responses message."""
    fields = DIALECTS[side].responses.DESCRIPTOR.fields
    return {field.name: field.number for field in fields}


def _as_result_outbox(old: Any, side: Side) -> ResultOutbox:
    """A snapshot's outbox from before ``ResultOutbox``: its results (``WireResult``, or
    older still, messages) as bytes, each due at once (as after a reconnect)."""
    outbox = ResultOutbox(old.policy, getattr(old, "stale_after", 0), _result_numbers(side))
    outbox.resent = getattr(old, "resent", 0)
    for item in old.items():
        if isinstance(item, WireResult):
            outbox.add(item.seqnum, item.field, item.body)
        else:
            field = DIALECTS[side].result_field(item)
            outbox.add(item.seqnum, field, item.SerializeToString())
    return outbox


def _new_places(
    kind: str,
    brought: list[tuple[int, int, int]],
    existing: dict[int, Any],
    repeated: RepeatedPlaces = RepeatedPlaces.ACCEPT,
) -> list[tuple[int, int, int]]:
    """The warehouses/trucks to add; an id brought again must be where it was first
    brought (a truck may have driven since), or is refused (``RepeatedPlaces.REFUSE``)."""
    new: dict[int, tuple[int, int]] = {}
    for place_id, x, y in brought:
        known = existing.get(place_id)
        if known is not None and repeated is RepeatedPlaces.REFUSE:
            raise Rejected(f"{kind} {place_id} already exists in this world")
        if known is not None:
            where = getattr(known, "first_place", None) or (known.x, known.y)
        else:
            where = new.get(place_id)
        if where is None:
            new[place_id] = (x, y)
        elif where != (x, y):
            raise Rejected(
                f"{kind} {place_id} already exists at {where}, cannot be put at {(x, y)}"
            )
    return [(place_id, x, y) for place_id, (x, y) in new.items()]


class _Brief:
    """A message as one log line, formatted only if the line is actually logged."""

    __slots__ = ("message",)

    def __init__(self, message: Message) -> None:
        self.message = message

    def __str__(self) -> str:
        text = text_format.MessageToString(self.message, as_one_line=True)
        return f"{type(self.message).__name__}({text})"
