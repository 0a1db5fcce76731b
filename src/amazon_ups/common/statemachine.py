"""State machines as tables, after h11's ``_state.py``.

Each machine (an order, a package, a truck) is one table: for every event kind, the
states it may happen in and the state it leads to. One function per machine performs
a move and records its event; nothing else writes a status. Asking for a move the
table does not allow raises ``IllegalTransition``: that is our mistake, never the
peer's. News that comes late (a message repeated, overtaken, or reordered by the
network) is not an error: the table lists, per event kind, the states in which it is
stale and changes nothing.

The diagrams in ``docs/architecture.md`` are drawn from these tables
(``Machine.diagram``; ``./dev regen`` rewrites them, and a test fails when they drift).
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from amazon_ups.common.exceptions import Defect


class IllegalTransition(Defect):
    """A move the machine's table does not allow: a defect in our code."""

    def __init__(self, machine: str, subject: object, current: str, kind: str) -> None:
        # str(): the enums' values, not their reprs.
        current, kind = str(current), str(kind)
        super().__init__(f"{machine}: {subject} cannot have {kind!r} while {current!r}")
        self.machine = machine
        self.current = current
        self.kind = kind


class Outcome(enum.Enum):
    MOVE = "move"  # the event happens: record it, set the target state
    STALE = "stale"  # late or repeated news: nothing changes


# The target of a move whose state the world names (a truck's reported status).
AS_REPORTED = "*as reported*"


@dataclass(frozen=True)
class Move:
    """Event kind ``kind`` may happen in ``sources`` and leads to ``target`` (``None``:
    the state stays, the event is only recorded); in ``stale`` it is late news."""

    sources: frozenset[str]
    target: str | None
    stale: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, sources: Iterable[str], target: str | None, stale: Iterable[str] = ()) -> Move:
        return cls(frozenset(sources), target, frozenset(stale))


@dataclass(frozen=True)
class Machine:
    name: str
    states: tuple[str, ...]
    initial: str
    final: frozenset[str]
    moves: Mapping[str, Move]

    def __post_init__(self) -> None:
        known = set(self.states)
        for kind, move in self.moves.items():
            unknown = (move.sources | move.stale) - known
            if move.target not in (None, AS_REPORTED):
                unknown |= {move.target} - known
            if unknown:
                raise ValueError(f"{self.name}: {kind!r} names unknown states {sorted(unknown)}")
            if move.sources & move.stale:
                raise ValueError(f"{self.name}: {kind!r} is both allowed and stale somewhere")

    def outcome(self, current: str, kind: str, subject: object = "") -> Outcome:
        """Whether ``kind`` moves a subject in state ``current`` or is stale there;
        raises ``IllegalTransition`` when the table allows neither."""
        move = self.moves[kind]
        if current in move.sources:
            return Outcome.MOVE
        if current in move.stale:
            return Outcome.STALE
        raise IllegalTransition(self.name, subject, current, kind)

    def apply(
        self,
        subject,
        kind: str,
        illegal: type[IllegalTransition] = IllegalTransition,
        reported: str | None = None,
        *,
        now: datetime,
    ) -> bool:
        """Make ``kind`` happen to ``subject`` (a model with ``status`` and
        ``status_changed_at``): set its state from the table and save it. Returns False,
        having saved nothing, when ``kind`` is stale news there; raises ``illegal`` when
        the table does not allow it. ``reported`` is the state an ``AS_REPORTED`` move
        leads to; ``now``, the time of the move (given by the caller: the daemon's time,
        or a view's ``timezone.now()``). The caller records the event."""
        try:
            if self.outcome(subject.status, kind, subject) is Outcome.STALE:
                return False
        except IllegalTransition as error:
            raise illegal(error.machine, subject, error.current, error.kind) from None
        status = self.target(subject.status, kind)
        if status == AS_REPORTED:
            if reported not in self.states:
                raise ValueError(f"{self.name}: {subject}: unknown reported state {reported!r}")
            status = reported
        if status != subject.status:
            subject.status = status
            subject.status_changed_at = now
        subject.save()
        return True

    def allows(self, current: str, kind: str) -> bool:
        return current in self.moves[kind].sources

    def target(self, current: str, kind: str) -> str:
        """The state ``kind`` leads to from ``current`` (itself for a recorded-only event)."""
        target = self.moves[kind].target
        return current if target is None else target

    def diagram(self) -> str:
        """The machine as a Mermaid state diagram: one arrow per (source, target),
        labelled with the event kinds that make that move."""
        labels: dict[tuple[str, str], list[str]] = {}
        notes: list[str] = []
        for kind, move in self.moves.items():
            if move.target is None:
                continue
            if move.target == AS_REPORTED:
                notes.append(kind)
                continue
            for source in sorted(move.sources, key=self.states.index):
                labels.setdefault((source, move.target), []).append(kind)
        lines = ["stateDiagram-v2", f"    [*] --> {_node(self.initial)}"]
        order = self.states.index
        for (source, target), kinds in sorted(
            labels.items(), key=lambda item: (order(item[0][0]), order(item[0][1]))
        ):
            lines.append(f"    {_node(source)} --> {_node(target)}: {', '.join(kinds)}")
        for state in sorted(self.final, key=self.states.index):
            lines.append(f"    {_node(state)} --> [*]")
        for state in self.states:
            if _node(state) != state:
                lines.append(f"    {_node(state)}: {state}")
        for kind in notes:
            lines.append(f"    note right of {_node(self.initial)}: {kind} sets any state")
        return "\n".join(lines)


def _node(state: str) -> str:
    return state.replace(" ", "_")


# -- the diagrams in docs/architecture.md ----------------------------------------------

DIAGRAM_START = "<!-- diagram: {name} (generated from the table; ./dev regen) -->"
DIAGRAM_END = "<!-- /diagram: {name} -->"


def render_into(text: str, machines: Iterable[Machine]) -> str:
    """``text`` with the block between each machine's markers replaced by its diagram."""
    for machine in machines:
        start = DIAGRAM_START.format(name=machine.name)
        end = DIAGRAM_END.format(name=machine.name)
        before, found, rest = text.partition(start)
        if not found:
            raise ValueError(f"no marker for the {machine.name} diagram")
        _, found, after = rest.partition(end)
        if not found:
            raise ValueError(f"no end marker for the {machine.name} diagram")
        text = f"{before}{start}\n```mermaid\n{machine.diagram()}\n```\n{end}{after}"
    return text


def rewrite_docs(path: Path, machines: Iterable[Machine]) -> bool:
    """Rewrite the diagrams in ``path``; True if anything changed."""
    old = path.read_text()
    new = render_into(old, machines)
    if new != old:
        path.write_text(new)
    return new != old


class EventsWrittenTogether:
    """A machine's event rows, written one statement per batch of work instead of one
    per move: a container of received messages, or a turn's new orders, moves many
    subjects, and each of their events cost a round trip of its own.

    Outside ``batch()`` an event is saved at once. Inside (within a transaction) it is
    kept, and the batch's events are written together when the block ends, still in the
    transaction (not at all if it raises). A unit of work in the batch that may be
    rolled back alone (a savepoint: one message, one order, one warehouse) runs in
    ``unit()``, so that its events are dropped with it. Events are not readable from the
    database until their batch ends: nothing a batch does reads them."""

    def __init__(self, name: str) -> None:
        self._pending: contextvars.ContextVar[list | None] = contextvars.ContextVar(
            name, default=None
        )

    def add(self, event) -> None:
        """Record ``event`` (an unsaved model instance) now, or at the batch's end."""
        pending = self._pending.get()
        if pending is None:
            event.save()
        else:
            pending.append(event)

    def add_all(self, events: Iterable) -> None:
        """``add`` each of ``events``: outside a batch, in one statement."""
        pending = self._pending.get()
        if pending is not None:
            pending.extend(events)
            return
        events = list(events)
        if events:
            type(events[0])._default_manager.bulk_create(events)

    def pending(self) -> int:
        """How many the batch under way keeps (0 outside one)."""
        pending = self._pending.get()
        return len(pending) if pending is not None else 0

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        pending: list = []
        token = self._pending.set(pending)
        try:
            yield
        finally:
            self._pending.reset(token)
        if pending:
            type(pending[0])._default_manager.bulk_create(pending)

    @contextlib.contextmanager
    def unit(self) -> Iterator[None]:
        pending = self._pending.get()
        mark = len(pending) if pending is not None else 0
        try:
            yield
        except BaseException:
            if pending is not None:
                del pending[mark:]
            raise


class HoldsSaves(Protocol):
    """A row whose saves a block may hold (``common.models.SavesWhatChanged``)."""

    saves_held: bool
    save_owed: bool

    def save(self) -> None: ...


Held = TypeVar("Held", bound=HoldsSaves)


@contextlib.contextmanager
def saves_held_to_end(row: Held, write: Callable[[Held], object] | None = None) -> Iterator[None]:
    """The saves of ``row`` in the block made once, at its end, not at each: a machine
    saves at every move, and some moves come in pairs. At the end, an owed save is
    made, or handed to ``write`` (to be made later, with other rows'). Nothing is
    written if the block raises: its unit of work is rolled back with it. Within an
    outer block holding them, the outer one makes them."""
    if row.saves_held:
        yield
        return
    row.saves_held = True
    try:
        yield
    finally:
        row.saves_held = False
    if row.save_owed:
        if write is None:
            row.save()
        else:
            write(row)
