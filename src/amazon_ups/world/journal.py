"""Durable worlds: a write-ahead journal of the engine's inputs, plus snapshots.

The engine is deterministic, so its state is a function of its inputs and their
times. Every input (a connect request, a commands message, a malformed frame)
is appended here and committed *before* the engine runs it, hence before any
ack for it can leave; after a crash (even kill -9), loading the last snapshot
and replaying the journal after it rebuilds worlds, stock, trucks, packages,
unacked results and seen seqnums exactly. Timed events need no entries: they
fire again during replay, at their own due times.

Every ``snapshot_every`` entries or so (the server spaces them out as worlds
grow) and on a clean stop, the engine is pickled and the journal truncated, so
start-up replays little and the file stays small.
A snapshot is read back by the same code that wrote it; after an upgrade that
changes the engine's classes, start from a fresh state file.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

from amazon_ups.protocol.world_messages import DIALECTS, AnyCommands, Side
from amazon_ups.world.engine import ConnectResult, WorldEngine
from amazon_ups.world.limits import RetireReason
from amazon_ups.world.rules import Rules, choose_first_seqnum

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_entry INTEGER NOT NULL,
    engine BLOB NOT NULL
);
-- AUTOINCREMENT: ids must never be reused after a snapshot empties the table.
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    side TEXT NOT NULL,
    world INTEGER,
    at REAL NOT NULL,
    body BLOB NOT NULL
);
-- Chosen once, when the file is made: where the result seqnums start (world/rules.py).
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


class EntryKind(StrEnum):
    CONNECT = "connect"
    # A commands message, or one slice of a big one (each slice is an entry of its own,
    # journaled just before it runs, so replay repeats the same slices).
    COMMANDS = "commands"
    MALFORMED = "malformed"
    # Sub-commands of a message past --max-commands: the peer gets one error (-1).
    REFUSED = "refused"
    # A world retired: its state goes, its id answers with the reason.
    RETIRE = "retire"
    # A world's clock stopped or started again, from the dashboard.
    PAUSE = "pause"
    RESUME = "resume"


@dataclass(frozen=True, slots=True)
class Entry:
    kind: EntryKind
    side: Side | None  # None for RETIRE, which concerns both
    world: int | None
    at: float
    # The serialized request/commands, the error text for MALFORMED and REFUSED, or
    # the reason (JSON) for RETIRE.
    body: bytes


def retire_entry(
    world: int, reason: RetireReason, idle_for: float, max_worlds: int, at: float
) -> Entry:
    body = json.dumps({"reason": reason.value, "idle_for": idle_for, "max_worlds": max_worlds})
    return Entry(EntryKind.RETIRE, None, world, at, body.encode())


def apply(
    engine: WorldEngine, entry: Entry, parsed: AnyCommands | None = None
) -> ConnectResult | None:
    """Run one journal entry on the engine: the one path for live input and replay.
    ``parsed`` is the entry's body already parsed, when the caller has it."""
    if entry.kind is EntryKind.RETIRE:
        assert entry.world is not None
        why = json.loads(entry.body)
        engine.retire(entry.world, RetireReason(why["reason"]), why["idle_for"], why["max_worlds"])
        return None
    if entry.kind in (EntryKind.PAUSE, EntryKind.RESUME):
        assert entry.world is not None
        clock = engine.pause if entry.kind is EntryKind.PAUSE else engine.resume
        clock(entry.world, entry.at)
        return None
    assert entry.side is not None
    dialect = DIALECTS[entry.side]
    if entry.kind is EntryKind.CONNECT:
        return engine.connect(entry.side, _parse(dialect.connect, entry.body), entry.at)
    assert entry.world is not None
    if entry.kind is EntryKind.COMMANDS:
        commands = parsed if parsed is not None else _parse(dialect.commands, entry.body)
        engine.handle(entry.world, entry.side, commands, entry.at)
    else:
        engine.reject_malformed(entry.world, entry.side, entry.body.decode(), entry.at)
    return None


class _Pickler(pickle.Pickler):
    """Pickles protobuf messages as (full name, wire bytes): their generated
    classes live in modules named after the .proto files, which pickle cannot import."""

    def reducer_override(
        self, obj: object
    ) -> tuple[Callable[[str, bytes], Message], tuple[str, bytes]]:
        if isinstance(obj, Message):
            return _message_from_wire, (obj.DESCRIPTOR.full_name, obj.SerializeToString())
        # pickle's "as usual"; typeshed derives its type from Any: no Any leaks out.
        return NotImplemented  # type: ignore[no-any-return]


def _message_from_wire(full_name: str, body: bytes) -> Message:
    descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    message = message_factory.GetMessageClass(descriptor)()
    message.ParseFromString(body)
    return message


M = TypeVar("M", bound=Message)


def _parse(message_type: type[M], body: bytes) -> M:
    message = message_type()
    message.ParseFromString(body)
    return message


class Journal:
    """The state file. ``path=":memory:"`` keeps nothing across restarts."""

    def __init__(
        self, path: str | Path, snapshot_every: int = 20_000, first_seqnum: int | None = None
    ) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.snapshot_every = snapshot_every
        # Transactions are explicit: see record() and commit().
        self._db = sqlite3.connect(self.path, isolation_level=None)
        # WAL + NORMAL survives the process being killed at any instant (the OS
        # holds the written pages); only a power cut could lose the newest entries.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.since_snapshot = 0
        wanted = choose_first_seqnum() if first_seqnum is None else first_seqnum
        self._db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('first_seqnum', ?)", (wanted,)
        )
        (self.first_seqnum,) = self._db.execute(
            "SELECT value FROM meta WHERE key = 'first_seqnum'"
        ).fetchone()
        if first_seqnum is not None and first_seqnum != self.first_seqnum:
            logger.warning(
                "%s numbers results from %d since it was made; the first seqnum asked for "
                "(%d) applies to a new state file only",
                self.path,
                self.first_seqnum,
                first_seqnum,
            )

    def load(
        self, make_engine: Callable[[], WorldEngine] = WorldEngine, rules: Rules | None = None
    ) -> WorldEngine:
        """The engine as it was: last snapshot, then every entry after it, run under
        ``rules`` (configuration, not state: the default ones if not given)."""
        row = self._db.execute("SELECT last_entry, engine FROM snapshot").fetchone()
        if row is None:
            engine, last = make_engine(), 0
            engine.first_result_seqnum = engine.next_result_seqnum = self.first_seqnum
        else:
            engine, last = pickle.loads(row[1]), row[0]
        engine.rules = rules or Rules()
        live_log, engine.log = engine.log, logging.getLogger("amazon_ups.world.replay")
        replayed = 0
        for kind, side, world, at, body in self._db.execute(
            "SELECT kind, side, world, at, body FROM journal WHERE id > ? ORDER BY id", (last,)
        ):
            apply(engine, Entry(EntryKind(kind), Side(side) if side else None, world, at, body))
            replayed += 1
        engine.log = live_log
        engine.tallies.clear()  # counts are of what this process served
        engine.diagnostics.clear()
        self.since_snapshot = replayed
        if row is not None or replayed:
            logger.info(
                "loaded %d worlds from %s (snapshot at entry %d, %d entries replayed)",
                len(engine.worlds),
                self.path,
                last,
                replayed,
            )
        return engine

    def record(self, entry: Entry) -> None:
        """Append ``entry`` to the open batch; it is durable once ``commit`` returns.

        Batching a whole event-loop turn into one transaction makes a commit per
        turn instead of per message; the server commits before it sends any ack.
        """
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        self._db.execute(
            "INSERT INTO journal (kind, side, world, at, body) VALUES (?, ?, ?, ?, ?)",
            (
                entry.kind.value,
                entry.side.value if entry.side else "",
                entry.world,
                entry.at,
                entry.body,
            ),
        )
        self.since_snapshot += 1

    def commit(self) -> None:
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    @property
    def snapshot_due(self) -> bool:
        return self.since_snapshot >= self.snapshot_every

    def snapshot(self, engine: WorldEngine) -> None:
        """Save the whole engine and drop the journal entries it covers, atomically."""
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(engine)
        blob = buffer.getvalue()
        self.commit()
        with self._transaction():
            (last,) = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()
            if last == 0:
                row = self._db.execute("SELECT last_entry FROM snapshot").fetchone()
                last = row[0] if row else 0
            # Written through a blob handle, not bound as a parameter: sqlite3 caches the
            # statement, and a cached statement keeps a copy of its last bound values
            # until it runs again, here the whole pickled engine until the next snapshot
            # (megabytes after a burst of unacked results, long after they are gone).
            self._db.execute(
                "INSERT OR REPLACE INTO snapshot (id, last_entry, engine) "
                "VALUES (1, ?, zeroblob(?))",
                (last, len(blob)),
            )
            with self._db.blobopen("snapshot", "engine", 1) as handle:
                handle.write(blob)
            self._db.execute("DELETE FROM journal WHERE id <= ?", (last,))
        self.since_snapshot = 0
        logger.debug("snapshot of %d bytes at entry %d", len(blob), last)

    def release_memory(self) -> None:
        """Give back SQLite's page cache. It fills up to ``cache_size`` (2 MB by
        default) as the journal grows during a burst and stays full afterwards; the
        pages it drops are read back from the OS's file cache when needed."""
        self.commit()
        self._db.execute("PRAGMA shrink_memory")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self.commit()
        self._db.close()
