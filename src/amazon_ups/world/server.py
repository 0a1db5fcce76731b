"""The asyncio shell around the world engine: two ports, one process.

All protocol decisions live in ``engine`` (rules), ``journal`` (durability),
``faults`` (injected trouble), ``limits`` (what each peer may take) and
``protocol.framing``; this module only moves bytes and carries out their answers.
Each connection is a ``Link``: it frames the bytes, answers the connect handshake,
then queues every commands message; the server runs the queued messages a slice at
a time (``limits.FrameSlicer``), one slice per busy connection per turn of the event
loop, journaling each slice before it runs, and later flushes each link's acks and
results. Everything runs on the event loop's one thread, so the engine needs no
locks, and no peer may hold that thread for long: that is what the slices, the
limits on frames, buffers and connections, and the retirement of idle worlds are for.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from amazon_ups.protocol.world_messages import AnyCommands, Side
from amazon_ups.world import memory
from amazon_ups.world.dashboard import Dashboard
from amazon_ups.world.diagnostics import Mistake
from amazon_ups.world.engine import ConnectResult, WorldEngine
from amazon_ups.world.faults import FaultConfig
from amazon_ups.world.journal import Entry, Journal, apply, retire_entry
from amazon_ups.world.limits import (
    Admission,
    BufferLedger,
    Limits,
    duration,
    retirements,
)
from amazon_ups.world.link import Link
from amazon_ups.world.messagelog import Direction, MessageLog
from amazon_ups.world.rules import Rules
from amazon_ups.world.summary import Throttle

logger = logging.getLogger(__name__)

# A burst of one kind of trouble (refusals, overflows) logs one line per this many seconds.
TROUBLE_LOG_EVERY = 10.0
# Worlds are looked at for retirement this often (more often if --world-idle is
# shorter), and whenever one is created.
SWEEP_EVERY = 60.0


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    ups_port: int = 12345
    amazon_port: int = 23456
    state: str | Path = "var/world.sqlite3"
    faults: FaultConfig = field(default_factory=FaultConfig)
    idle_timeout: float = 600.0  # the official world drops a connection idle this long
    limits: Limits = field(default_factory=Limits)
    snapshot_every: int = 20_000
    rules: Rules = field(default_factory=Rules)
    first_seqnum: int | None = None  # where a new state file's result seqnums start
    # A connected client silent this long is reported (a diagnostic; it stays connected
    # until --idle-timeout).
    silent_after: float = 60.0
    # The dashboard (world/dashboard.py): off unless given a port (0 picks a free one).
    http_host: str = "127.0.0.1"
    http_port: int | None = None
    http_token: str | None = None  # for its controls; a random one if not given
    log_keep: int = 20_000  # commands and results its log keeps, all worlds together


# The cyclic garbage collector's thresholds (Python's are 700, 10, 10). The world holds
# many long-lived objects (worlds, results waiting for an ack); with the defaults, a
# busy world ran a full collection every few seconds, a pause of 30-80 ms for every
# world. Young collections stay as they are (a fraction of a millisecond); full ones
# come a hundred times more seldom. The engine's objects form no cycles: reference
# counting frees them anyway.
GC_THRESHOLDS = (700, 10, 1000)


class WorldServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.limits = config.limits
        memory.tune()
        gc.set_threshold(*GC_THRESHOLDS)
        self.journal = Journal(
            config.state, snapshot_every=config.snapshot_every, first_seqnum=config.first_seqnum
        )
        self.engine: WorldEngine = self.journal.load(rules=config.rules)
        # What was loaded lives as long as its worlds: no collection needs to look at it.
        gc.freeze()
        self.links: dict[tuple[int, Side], Link] = {}
        self.ports: dict[Side, int] = {}
        self.admission = Admission(self.limits)
        self.ledger = BufferLedger(self.limits)
        self.refusals = Throttle(TROUBLE_LOG_EVERY)
        self.overflows = Throttle(TROUBLE_LOG_EVERY)
        self.drops = Throttle(TROUBLE_LOG_EVERY)
        self._listeners: list[asyncio.Server] = []
        self._timer: asyncio.TimerHandle | None = None
        self._periodic: list[asyncio.TimerHandle] = []
        self._service_queued = False
        self._busy: deque[Link] = deque()  # links with frames to run, in turn
        self._work_queued = False
        self._trim_wanted = False
        self._trimmed_at = 0.0
        self._summarized_at = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Fault settings changed from the dashboard, per world (else config.faults).
        self.world_faults: dict[int, FaultConfig] = {}
        self.dashboard: Dashboard | None = None
        self.message_log: MessageLog | None = None  # kept while the dashboard is on

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for side, port in (
            (Side.UPS, self.config.ups_port),
            (Side.AMAZON, self.config.amazon_port),
        ):
            listener = await self._loop.create_server(
                functools.partial(Link, self, side), self.config.host, port
            )
            self._listeners.append(listener)
            self.ports[side] = listener.sockets[0].getsockname()[1]
        logger.info(
            "world simulator listening on %s: UPS port %d, Amazon port %d (state: %s)",
            self.config.host,
            self.ports[Side.UPS],
            self.ports[Side.AMAZON],
            self.config.state,
        )
        _enough_descriptors(self.limits.max_connections)
        self.sweep()
        self._every(min(SWEEP_EVERY, self.limits.world_idle / 2), self.sweep)
        self._every(self.limits.summary_every, self.summarize)
        self._every(min(self.config.silent_after / 4, 5.0), self.notice_silence)
        await self._start_dashboard()
        self.wake()

    async def stop(self) -> None:
        await self._stop_dashboard()
        self._loop = None  # no service pass after the journal is closed
        for listener in self._listeners:
            listener.close()
        for link in list(self.links.values()):
            link.transport.abort()
        for listener in self._listeners:
            await listener.wait_closed()
        for handle in [self._timer, *self._periodic]:
            if handle:
                handle.cancel()
        self.summarize()
        self.journal.snapshot(self.engine)
        self.journal.close()
        logger.info("world simulator stopped; state saved in %s", self.config.state)

    # -- the dashboard's hooks (world/dashboard.py) ------------------------------------

    async def _start_dashboard(self) -> None:
        if self.config.http_port is None:
            return
        self.message_log = MessageLog(self.config.log_keep)
        token = self.config.http_token or secrets.token_urlsafe(18)
        self.dashboard = Dashboard(self, self.config.http_host, self.config.http_port, token)
        await self.dashboard.start()

    async def _stop_dashboard(self) -> None:
        if self.dashboard is not None:
            await self.dashboard.stop()

    def log_message(self, link: Link, direction: Direction, body: bytes) -> None:
        """A commands message run, or a responses message written, for the dashboard."""
        assert self.message_log is not None and link.world is not None
        self.message_log.record(time.time(), link.world, link.side, direction, body)

    def faults_for(self, world: int) -> FaultConfig:
        return self.world_faults.get(world, self.config.faults)

    def set_faults(self, world: int, config: FaultConfig) -> None:
        """New fault settings for a world, at once on its open connections too."""
        self.world_faults[world] = config
        for side in Side:
            link = self.links.get((world, side))
            if link is not None and link.faults is not None:
                link.faults.config = config

    def drop_links(self, world: int) -> None:
        """Close a world's connections at once (it is about to be retired)."""
        for side in Side:
            link = self.links.pop((world, side), None)
            if link is not None:
                link.closing = True
                link.transport.abort()

    def _every(self, seconds: float, action: Callable[[], object]) -> None:
        assert self._loop is not None

        def tick() -> None:
            action()
            self._periodic.remove(handle)
            self._every(seconds, action)

        handle = self._loop.call_later(seconds, tick)
        self._periodic.append(handle)

    # -- input ----------------------------------------------------------------

    def submit(self, entry: Entry, parsed: AnyCommands | None = None) -> ConnectResult | None:
        """Journal ``entry`` and run it. Its acks and results leave only in the next
        service pass, which commits the journal first: acked means saved."""
        self.journal.record(entry)
        result = apply(self.engine, entry, parsed)
        self.wake()
        return result

    def schedule(self, link: Link) -> None:
        """``link`` has frames to run: it gets a slice in each round until done."""
        if not link.scheduled:
            link.scheduled = True
            self._busy.append(link)
        if not self._work_queued and self._loop is not None:
            self._work_queued = True
            self._loop.call_soon(self._work)

    def _work(self) -> None:
        """One round: a slice of each busy link, then back to the event loop, so that
        reading sockets and the other worlds' slices come between a big frame's slices."""
        self._work_queued = False
        for _ in range(len(self._busy)):
            link = self._busy.popleft()
            try:
                more = link.run_turn()
            except Exception:
                logger.exception("world %s: %s link failed; closing it", link.world, link.side)
                link.transport.abort()
                more = False
            if more:
                self._busy.append(link)
            else:
                link.scheduled = False
                link.idle_again()
        if self._busy and self._loop is not None:
            self._work_queued = True
            self._loop.call_soon(self._work)
        self.wake()

    # -- worlds: room, retirement, summaries -------------------------------------

    def sweep(self, coming: int = 0) -> None:
        """Retire worlds idle too long, and, to hold ``coming`` new ones, the longest idle."""
        connected = {world for world, _ in self.links}
        due = retirements(self.engine.last_active(), connected, time.time(), self.limits, coming)
        for retirement in due:
            self.submit(
                retire_entry(
                    retirement.world,
                    retirement.reason,
                    retirement.idle_for,
                    self.limits.max_worlds,
                    time.time(),
                )
            )
        if due:
            # The snapshot is rewritten without them, so the state file forgets them too.
            self.journal.snapshot(self.engine)
            self.want_trim()

    def summarize(self) -> None:
        now = time.monotonic()
        span = duration(now - self._summarized_at)
        self._summarized_at = now
        for (world, side), tally in sorted(self.engine.tallies.items()):
            if tally:
                logger.info("world %d: %s in the last %s: %s", world, side, span, tally.line())
        self.engine.tallies.clear()

    def notice_silence(self) -> None:
        """Client diagnostics only the server can see: a connection that has sent nothing
        for ``silent_after`` (once per silent spell)."""
        now = time.monotonic()
        for (world, side), link in list(self.links.items()):
            silent = now - link.last_heard
            if link.serving and not link.silence_noted and silent >= self.config.silent_after:
                link.silence_noted = True
                waiting = self.engine.unacked(world, side)
                self.engine.note(
                    world,
                    side,
                    Mistake.SILENT,
                    f"the connection from {link.peer} sent nothing for {silent:.0f} s "
                    f"({waiting} results waiting for its ack)",
                    time.time(),
                )

    def want_trim(self) -> None:
        self._trim_wanted = True
        self.wake()

    def trouble(self, throttle: Throttle, message: str, *args: object) -> None:
        held = throttle.allow(time.monotonic())
        if held is not None:
            suffix = f" ({held} more like it not logged)" if held else ""
            logger.warning(message + suffix, *args)

    # -- output: one service pass runs due events and flushes every link ------

    def wake(self) -> None:
        """Run a service pass soon, once, however many inputs arrive meanwhile."""
        if not self._service_queued and self._loop is not None:
            self._service_queued = True
            self._loop.call_soon(self._service)

    def _service(self) -> None:
        self._service_queued = False
        if self._loop is None:
            return  # stopped: a pass queued before the stop finds the journal closed
        if self._timer:
            self._timer.cancel()
            self._timer = None
        self.journal.commit()
        # A snapshot's pause grows with the packages it holds; spacing snapshots out
        # as worlds grow keeps its cost per journal entry constant.
        since = self.journal.since_snapshot
        if since >= self.config.snapshot_every and since >= self.engine.size():
            self.journal.snapshot(self.engine)
        now = time.time()
        self.engine.advance(now)
        deadlines = [self.engine.next_deadline()]
        for link in list(self.links.values()):
            try:
                link.flush(now)
            except Exception:
                # One bad link must not stop the others being served.
                logger.exception("world %s: %s link failed; closing it", link.world, link.side)
                link.transport.abort()
                continue
            if link.serving:
                assert link.world is not None  # serving: connected to a world
                due = self.engine.next_resend(link.world, link.side)
                if due is not None and due != float("-inf"):
                    due = max(due, link.resend_from())  # inf: when its frames have run
                deadlines.append(due)
        if self._trim_wanted and time.monotonic() - self._trimmed_at >= 1.0:
            self._trim_wanted = False
            self._trimmed_at = time.monotonic()
            self.journal.release_memory()
            memory.trim()
        elif self._trim_wanted:
            deadlines.append(time.time() + 1.0)
        pending = [d for d in deadlines if d is not None and d != float("inf")]
        if pending and self._loop is not None:
            self._timer = self._loop.call_later(max(0.0, min(pending) - time.time()), self.wake)


# File descriptors besides the connections: listeners, the state file, logs, Python's own.
SPARE_DESCRIPTORS = 64


def _enough_descriptors(connections: int) -> None:
    """Raise this process's open-file limit so that --max-connections, not the system,
    is what refuses connections (a refusal the peer can read, where running out of
    descriptors makes accept() fail for everyone)."""
    try:
        import resource
    except ImportError:  # not on Unix: the system's limit stands
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + SPARE_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        if raised < wanted:
            logger.warning(
                "open files are limited to %d: fewer than --max-connections %d can be "
                "served; lower --max-connections or raise the limit (ulimit -Hn)",
                raised,
                connections,
            )
