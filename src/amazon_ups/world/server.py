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
import gc
import logging
import secrets
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import Message

from amazon_ups.protocol.framing import (
    FrameDecoder,
    FramingError,
    MalformedMessage,
    encode_frame,
    parse_message,
)
from amazon_ups.protocol.world_messages import DIALECTS, Side
from amazon_ups.world import memory
from amazon_ups.world.dashboard import Dashboard
from amazon_ups.world.diagnostics import Mistake
from amazon_ups.world.engine import ConnectResult, WorldEngine
from amazon_ups.world.faults import FaultConfig, Faults
from amazon_ups.world.journal import Entry, EntryKind, Journal, apply, retire_entry
from amazon_ups.world.limits import (
    COMMAND_UNITS,
    SMALL_FRAME,
    Admission,
    BufferLedger,
    FrameSlicer,
    Limits,
    MiB,
    Overflow,
    Refusal,
    duration,
    lazy_commands,
    over_limit_text,
    retirements,
)
from amazon_ups.world.messagelog import Direction, MessageLog
from amazon_ups.world.rules import Rules
from amazon_ups.world.summary import Throttle

logger = logging.getLogger("amazon_ups.world.server")

# How long a refused connection is kept to read what the peer sends (its connect frame)
# before closing: closing with unread input would reset the connection, and the reset
# may destroy our refusal before the peer reads it.
REFUSAL_LINGER = 2.0
# A burst of one kind of trouble (refusals, overflows) logs one line per this many seconds.
TROUBLE_LOG_EVERY = 10.0
# A closed connection that held this much makes the world give free memory back.
TRIM_AFTER = 1 * MiB
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
                lambda side=side: Link(self, side), self.config.host, port
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

    def _every(self, seconds: float, action) -> None:
        assert self._loop is not None

        def tick() -> None:
            action()
            self._periodic.remove(handle)
            self._every(seconds, action)

        handle = self._loop.call_later(seconds, tick)
        self._periodic.append(handle)

    # -- input ----------------------------------------------------------------

    def submit(self, entry: Entry, parsed: Message | None = None) -> ConnectResult | None:
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


def _keep_alive(sock: socket.socket | None) -> None:
    """Notice within about a minute a peer that vanished without closing (its host
    died, the network broke): until then its world side refuses a new connection."""
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_KEEPIDLE"):  # Linux; elsewhere the system defaults apply
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)


class Link(asyncio.Protocol):
    """One client connection on the Amazon or the UPS port."""

    def __init__(self, server: WorldServer, side: Side) -> None:
        self.server = server
        self.limits = server.limits
        self.side = side
        self.dialect = DIALECTS[side]
        self.frames = FrameDecoder(self.limits.max_frame)
        self.world: int | None = None
        self.faults: Faults | None = None
        self.closing = False
        self.last_heard = time.monotonic()
        self.since = time.time()
        self.silence_noted = False
        self.peer = "?"
        self.address = "?"
        self.admitted = False
        self.refused = False
        # Frames received and not yet run, and the one being run slice by slice.
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.current: FrameSlicer | None = None
        self.current_bytes = 0
        self.current_body = b""
        self.scheduled = False
        self.spent = 0
        self.paused = False
        self.paused_at = float("-inf")
        self.heard_again_at = float("-inf")
        self.held_most = 0  # the most bytes this connection held at once
        self._deadline: asyncio.TimerHandle | None = None  # connect deadline, or linger
        self._idle_timer: asyncio.TimerHandle | None = None

    @property
    def serving(self) -> bool:
        """Connected to a world and neither saying goodbye nor closing."""
        return self.world is not None and not self.closing and not self.transport.is_closing()

    # -- asyncio callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.address = peer[0] if peer else "?"
        refusal = self.server.admission.admit(self.address)
        if refusal is not None:
            self._refuse(refusal)
            return
        self.admitted = True
        _keep_alive(transport.get_extra_info("socket"))
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self.limits.connect_deadline, self._connect_overdue)
        self._watch_idle()

    def data_received(self, data: bytes) -> None:
        if self.refused or self.closing:
            return
        self.last_heard = time.monotonic()
        self.silence_noted = False
        try:
            frames = self.frames.feed(data)
        except FramingError as error:
            self._drop(f"bad framing: {error}")
            return
        for body in frames:
            if self.closing:
                return
            if self.world is None:
                self._handshake(body)
            else:
                self.queue.append(body)
                self.queued_bytes += len(body)
        if self.world is None and self.frames.buffered > self.limits.connect_max_frame:
            self._drop(
                f"{self.frames.buffered:,} bytes and no connect frame yet, over the limit of "
                f"{self.limits.connect_max_frame:,}"
            )
            return
        if self._account_input():
            return
        if self.queue and not self.scheduled:
            # This read's turn, at once, as a round would give it: most reads are one
            # small frame, which then costs no scheduling and no pause in reading.
            try:
                if not self.run_turn():
                    return
            except Exception:
                logger.exception("world %s: %s link failed; closing it", self.world, self.side)
                self.transport.abort()
                return
        if self.queue or self.current is not None:
            # Read no more until these have run: the peer waits in its own buffers, not ours.
            if not self.paused:
                self.paused = True
                self.paused_at = time.time()
                self.transport.pause_reading()
            self.server.schedule(self)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        for timer in (self._deadline, self._idle_timer):
            if timer is not None:
                timer.cancel()
        self.queue.clear()
        self.current = None
        held = max(self.held_most, self.server.ledger.held(self))
        self.server.ledger.forget(self)
        if self.admitted:
            self.server.admission.release(self.address)
        if held >= TRIM_AFTER:
            self.server.want_trim()
        if self.world is not None and self.server.links.get((self.world, self.side)) is self:
            del self.server.links[(self.world, self.side)]
            logger.info("world %d: %s disconnected (%s)", self.world, self.side, exc or "closed")

    # -- protocol --------------------------------------------------------------------

    def _refuse(self, refusal: Refusal) -> None:
        self.refused = True
        text = refusal.text(self.limits, self.address)
        self.transport.write(
            encode_frame(self.dialect.connected(worldid=-1, result=text).SerializeToString())
        )
        self.server.trouble(
            self.server.refusals, "%s connection from %s refused: %s", self.side, self.peer, text
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(REFUSAL_LINGER, self.transport.abort)

    def _connect_overdue(self) -> None:
        if self.world is None and not self.transport.is_closing():
            self._drop(f"no successful connect within {self.limits.connect_deadline:g} s")

    def _handshake(self, body: bytes) -> None:
        if len(body) > self.limits.connect_max_frame:
            self._drop(
                f"a first frame of {len(body):,} bytes, over the limit of "
                f"{self.limits.connect_max_frame:,}"
            )
            return
        request = parse_message(self.dialect.connect, body)
        if isinstance(request, MalformedMessage):
            self._write(self.dialect.connected(worldid=-1, result=f"error: {request}"))
            self._drop(f"first frame is not a {self.dialect.connect.DESCRIPTOR.name}: {request}")
            return
        wanted = request.worldid if request.HasField("worldid") else None
        result = None
        if wanted is not None and (wanted, self.side) in self.server.links:
            result = ConnectResult(
                wanted, f"error: world {wanted} already has a {self.side} connection"
            )
        elif wanted is None and request.isAmazon == (self.side is Side.AMAZON):
            self.server.sweep(coming=1)
            if len(self.server.engine.worlds) >= self.limits.max_worlds:
                result = ConnectResult(
                    -1,
                    f"error: too many worlds ({len(self.server.engine.worlds)}), every one "
                    "of them connected; try again later",
                )
        if result is None:
            entry = Entry(EntryKind.CONNECT, self.side, wanted, time.time(), body)
            result = self.server.submit(entry)
            assert result is not None
            self.server.journal.commit()  # the reply promises the world exists
        self._write(self.dialect.connected(worldid=result.world_id, result=result.result))
        if not result.ok:
            logger.info("%s connect from %s refused: %s", self.side, self.peer, result.result)
            return
        self.world = result.world_id
        if self._deadline is not None:
            self._deadline.cancel()
        self.faults = Faults(self.server.faults_for(self.world), self.world, self.side)
        self.server.links[(self.world, self.side)] = self
        logger.info("world %d: %s connected from %s", self.world, self.side, self.peer)

    def run_turn(self) -> bool:
        """This link's turn: slices of its frames, up to ``--slice-commands``
        sub-commands in all (many small frames, or one slice of a big one); whether
        more are waiting."""
        spent = 0
        while True:
            more = self.run_slice()
            spent += self.spent
            if not more or spent >= self.limits.slice_commands:
                return more

    def run_slice(self) -> bool:
        """Run the next slice of this link's frames; whether more are waiting. What it
        cost, in sub-commands, is left in ``spent``."""
        self.spent = self.limits.slice_commands  # parsing, checking: a whole turn
        if self.closing or self.transport.is_closing():
            return False
        assert self.world is not None and self.faults is not None
        server, engine = self.server, self.server.engine
        if self.current is None:
            if not self.queue:
                return False
            body = self.queue.popleft()
            self.queued_bytes -= len(body)
            if not self._start_frame(body):
                return bool(self.queue)
        slicer = self.current
        assert slicer is not None
        if not slicer.checked:
            problem = slicer.check()
            if problem is not None:
                self._malformed(problem)
                return bool(self.queue)
            if not slicer.checked:
                return True
            # Checked in this step (a small frame, or the end of a big one): its first
            # slice runs at once, so a small frame costs one turn, as before slicing.
        tally = engine.tally(self.world, self.side)
        if slicer.remaining and engine.unacked(self.world, self.side) >= self.limits.max_unacked:
            left_out = slicer.drop_commands()
            tally.refused += left_out
            server.trouble(
                server.overflows,
                "world %d: %s has %d results unacked (limit %d): %d commands not taken",
                self.world,
                self.side,
                engine.unacked(self.world, self.side),
                self.limits.max_unacked,
                left_out,
            )
        piece = slicer.next()
        assert piece is not None
        dropped = self.faults.filter_commands(piece.message)
        tally.dropped += dropped
        # A whole frame, as it came, is journaled as it came: no need to serialize it again.
        same = piece.whole and not dropped
        body = self.current_body if same else piece.message.SerializeToString()
        entry = Entry(EntryKind.COMMANDS, self.side, self.world, time.time(), body)
        server.submit(entry, piece.message)
        if server.message_log is not None:
            server.log_message(self, Direction.IN, body)
        self.spent = piece.commands + piece.acks // COMMAND_UNITS + 1
        if piece.last:
            self.current = None
            self.current_bytes = 0
            self.current_body = b""
            if slicer.frame.disconnect:
                self.closing = True
                self.queue.clear()
                server.wake()
                return False
        self._account_input()
        return bool(self.queue) or self.current is not None

    def _start_frame(self, body: bytes) -> bool:
        """Parse the next frame; False if there is nothing to slice (it was malformed)."""
        assert self.world is not None
        server = self.server
        small = len(body) <= SMALL_FRAME
        kind = self.dialect.commands if small else lazy_commands(self.dialect)
        commands = parse_message(kind, body)
        now = time.time()
        if isinstance(commands, MalformedMessage):
            self._malformed(str(commands))
            return False
        slicer = FrameSlicer(self.dialect, commands, self.limits)
        if slicer.excess:
            text = over_limit_text(slicer.held, self.limits.max_commands)
            server.submit(Entry(EntryKind.REFUSED, self.side, self.world, now, text.encode()))
            server.engine.tally(self.world, self.side).refused += slicer.excess
            server.trouble(server.overflows, "world %d: %s sent %s", self.world, self.side, text)
        self.current = slicer
        self.current_bytes = len(body)
        self.current_body = body
        return True

    def _malformed(self, reason: str) -> None:
        """The frame being started does not parse: the peer gets an error, nothing runs."""
        assert self.world is not None
        logger.warning("world %d: %s sent a malformed frame: %s", self.world, self.side, reason)
        entry = Entry(EntryKind.MALFORMED, self.side, self.world, time.time(), reason.encode())
        self.server.submit(entry)
        self.current = None
        self.current_bytes = 0
        self.current_body = b""

    def idle_again(self) -> None:
        """Its frames have all run: read from the peer again."""
        if self.paused and not self.closing and not self.transport.is_closing():
            self.paused = False
            now = time.time()
            if now - self.paused_at >= self.server.engine.resend_policy.first:
                # Long enough for re-sends to have come due meanwhile (see resend_from);
                # a small frame's pause is not, and changes nothing.
                self.heard_again_at = now
            self.transport.resume_reading()

    def resend_from(self) -> float:
        """When our unacked results may be re-sent to this peer.

        While its frames wait to be run, its acks for our earlier results are probably
        among them, and for a moment after: re-sending before reading them would repeat
        what it already has, at the cost of every other world (a peer sending big frames
        back to back would get each result many times over). So not while it is busy,
        and not before one first re-send interval after it is read again."""
        if self.paused or self.current is not None or self.queue:
            return float("inf")
        return self.heard_again_at + self.server.engine.resend_policy.first

    def flush(self, now: float) -> None:
        """Send what the engine has for this link: acks, new results, re-sends."""
        if self.world is None or self.transport.is_closing():
            return
        if self.closing and (self.current is not None or self.queue):
            return  # the goodbye waits for the frame before it to have run
        # New results go now (a result never sent is due from minus infinity); re-sends
        # wait until the peer has been heard (see resend_from).
        responses = self.server.engine.responses(
            self.world,
            self.side,
            now,
            self.limits.max_results_per_message,
            resend=now >= self.resend_from(),
        )
        if self.closing:
            responses = responses or self.dialect.responses()
            responses.finished = True
            self._write(responses)  # no faults on the goodbye: the peer is waiting for it
            self.transport.close()
            logger.info("world %d: %s disconnected on request", self.world, self.side)
            return
        if responses is None:
            self._account_output()
            return
        assert self.faults is not None
        mangled = self.faults.mangle_responses(responses)
        if mangled is None:
            return
        delay = self.faults.hold_back()
        if delay:
            asyncio.get_running_loop().call_later(delay, self._write, mangled)
        else:
            self._write(mangled)

    # -- transport ---------------------------------------------------------------------

    def _account_input(self) -> bool:
        """Tell the ledger what this link holds of input; True if it was cut off for it."""
        held = self.frames.buffered + self.queued_bytes + self.current_bytes
        self.held_most = max(self.held_most, held)
        overflow = self.server.ledger.set_in(self, held)
        if overflow is None:
            return False
        self._overflow(overflow, held)
        return True

    def _account_output(self) -> None:
        held = self.transport.get_write_buffer_size()
        self.held_most = max(self.held_most, held)
        overflow = self.server.ledger.set_out(self, held)
        if overflow is not None:
            self._overflow(overflow, held)

    def _overflow(self, overflow: Overflow, held: int) -> None:
        reason = overflow.text(
            self.limits, held if overflow is not Overflow.TOTAL else self.server.ledger.total
        )
        where = f"world {self.world}: " if self.world is not None else ""
        self.server.trouble(
            self.server.overflows,
            "%s%s connection from %s cut off: %s",
            where,
            self.side,
            self.peer,
            reason,
        )
        self.closing = True
        # Not close(): that would first send what is buffered, holding the memory longer.
        self.transport.abort()

    def _write(self, message: Message) -> None:
        if self.transport.is_closing():
            return
        body = message.SerializeToString()
        self.transport.write(encode_frame(body))
        self._account_output()
        if self.world is not None and self.server.message_log is not None:
            self.server.log_message(self, Direction.OUT, body)

    def _drop(self, reason: str) -> None:
        where = f"world {self.world}: " if self.world is not None else ""
        self.server.trouble(
            self.server.drops,
            "%s%s connection from %s closed: %s",
            where,
            self.side,
            self.peer,
            reason,
        )
        self.closing = True
        self.transport.close()

    def _watch_idle(self) -> None:
        if self.transport.is_closing():
            return
        idle_for = time.monotonic() - self.last_heard
        timeout = self.server.config.idle_timeout
        if idle_for >= timeout:
            self._drop(f"idle for {idle_for:.0f} s")
            return
        self._idle_timer = asyncio.get_running_loop().call_later(
            timeout - idle_for, self._watch_idle
        )
