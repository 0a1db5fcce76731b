"""The asyncio shell around the world engine: two ports, one process.

All protocol decisions live in ``engine`` (rules), ``journal`` (durability),
``faults`` (injected trouble) and ``protocol.framing``; this module only moves
bytes. Each connection is a ``Link``: it frames the bytes, answers the connect
handshake, then hands every commands message to the server, which journals it,
runs it, and later flushes each link's acks and results. Everything runs on
the event loop's one thread, so the engine needs no locks.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import Message

from amazon_ups.protocol.framing import (
    DEFAULT_MAX_FRAME,
    FrameDecoder,
    FramingError,
    MalformedMessage,
    encode_frame,
    parse_message,
)
from amazon_ups.protocol.world_messages import DIALECTS, Side
from amazon_ups.world.engine import ConnectResult, WorldEngine
from amazon_ups.world.faults import FaultConfig, Faults
from amazon_ups.world.journal import Entry, EntryKind, Journal, apply

logger = logging.getLogger("amazon_ups.world.server")

# A peer that stops reading while we keep writing is cut off past this much.
MAX_WRITE_BUFFER = 64 * 1024 * 1024


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    ups_port: int = 12345
    amazon_port: int = 23456
    state: str | Path = "var/world.sqlite3"
    faults: FaultConfig = field(default_factory=FaultConfig)
    idle_timeout: float = 600.0  # the official world drops a connection idle this long
    max_frame: int = DEFAULT_MAX_FRAME
    snapshot_every: int = 20_000


class WorldServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.journal = Journal(config.state, snapshot_every=config.snapshot_every)
        self.engine: WorldEngine = self.journal.load()
        self.links: dict[tuple[int, Side], Link] = {}
        self.ports: dict[Side, int] = {}
        self._listeners: list[asyncio.Server] = []
        self._timer: asyncio.TimerHandle | None = None
        self._service_queued = False
        self._loop: asyncio.AbstractEventLoop | None = None

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
        self.wake()

    async def stop(self) -> None:
        for listener in self._listeners:
            listener.close()
        for link in list(self.links.values()):
            link.transport.abort()
        for listener in self._listeners:
            await listener.wait_closed()
        if self._timer:
            self._timer.cancel()
        self.journal.snapshot(self.engine)
        self.journal.close()
        logger.info("world simulator stopped; state saved in %s", self.config.state)

    # -- input ----------------------------------------------------------------

    def submit(self, entry: Entry) -> ConnectResult | None:
        """Journal ``entry`` and run it. Its acks and results leave only in the next
        service pass, which commits the journal first: acked means saved."""
        self.journal.record(entry)
        result = apply(self.engine, entry)
        self.wake()
        return result

    # -- output: one service pass runs due events and flushes every link ------

    def wake(self) -> None:
        """Run a service pass soon, once, however many inputs arrive meanwhile."""
        if not self._service_queued and self._loop is not None:
            self._service_queued = True
            self._loop.call_soon(self._service)

    def _service(self) -> None:
        self._service_queued = False
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
                deadlines.append(self.engine.next_resend(link.world, link.side))
        pending = [d for d in deadlines if d is not None]
        if pending and self._loop is not None:
            self._timer = self._loop.call_later(max(0.0, min(pending) - time.time()), self.wake)


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
        self.side = side
        self.dialect = DIALECTS[side]
        self.frames = FrameDecoder(server.config.max_frame)
        self.world: int | None = None
        self.faults: Faults | None = None
        self.closing = False
        self.last_heard = time.monotonic()
        self.peer = "?"

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
        _keep_alive(transport.get_extra_info("socket"))
        self._watch_idle()

    def data_received(self, data: bytes) -> None:
        self.last_heard = time.monotonic()
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
                self._commands(body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.world is not None and self.server.links.get((self.world, self.side)) is self:
            del self.server.links[(self.world, self.side)]
            logger.info("world %d: %s disconnected (%s)", self.world, self.side, exc or "closed")

    # -- protocol --------------------------------------------------------------------

    def _handshake(self, body: bytes) -> None:
        request = parse_message(self.dialect.connect, body)
        if isinstance(request, MalformedMessage):
            self._write(self.dialect.connected(worldid=-1, result=f"error: {request}"))
            self._drop(f"first frame is not a {self.dialect.connect.DESCRIPTOR.name}: {request}")
            return
        wanted = request.worldid if request.HasField("worldid") else None
        if wanted is not None and (wanted, self.side) in self.server.links:
            result = ConnectResult(
                wanted, f"error: world {wanted} already has a {self.side} connection"
            )
        else:
            entry = Entry(EntryKind.CONNECT, self.side, wanted, time.time(), body)
            result = self.server.submit(entry)
            assert result is not None
            self.server.journal.commit()  # the reply promises the world exists
        self._write(self.dialect.connected(worldid=result.world_id, result=result.result))
        if not result.ok:
            logger.info("%s connect from %s refused: %s", self.side, self.peer, result.result)
            return
        self.world = result.world_id
        self.faults = Faults(self.server.config.faults, self.world, self.side)
        self.server.links[(self.world, self.side)] = self
        logger.info("world %d: %s connected from %s", self.world, self.side, self.peer)

    def _commands(self, body: bytes) -> None:
        assert self.world is not None and self.faults is not None
        commands = parse_message(self.dialect.commands, body)
        now = time.time()
        if isinstance(commands, MalformedMessage):
            logger.warning(
                "world %d: %s sent a malformed frame: %s", self.world, self.side, commands
            )
            reason = str(commands).encode()
            self.server.submit(Entry(EntryKind.MALFORMED, self.side, self.world, now, reason))
            return
        if self.faults.filter_commands(commands):
            body = commands.SerializeToString()
        self.server.submit(Entry(EntryKind.COMMANDS, self.side, self.world, now, body))
        if commands.disconnect:
            self.closing = True
            self.server.wake()

    def flush(self, now: float) -> None:
        """Send what the engine has for this link: acks, new results, re-sends."""
        if self.world is None or self.transport.is_closing():
            return
        responses = self.server.engine.responses(self.world, self.side, now)
        if self.closing:
            responses = responses or self.dialect.responses()
            responses.finished = True
            self._write(responses)  # no faults on the goodbye: the peer is waiting for it
            self.transport.close()
            logger.info("world %d: %s disconnected on request", self.world, self.side)
            return
        if responses is None:
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

    def _write(self, message: Message) -> None:
        if self.transport.is_closing():
            return
        self.transport.write(encode_frame(message.SerializeToString()))
        if self.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self._drop("peer is not reading its responses")

    def _drop(self, reason: str) -> None:
        where = f"world {self.world}: " if self.world is not None else ""
        logger.warning("%s%s connection from %s closed: %s", where, self.side, self.peer, reason)
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
        asyncio.get_running_loop().call_later(timeout - idle_for, self._watch_idle)
