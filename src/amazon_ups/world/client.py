"""A small reliable world client, with its state in memory.

For tests, benchmarks and scripts that drive a world by hand: it frames,
numbers, re-sends and acks like a correct Amazon or UPS would, and collects the
world's results once each. The store's and the carrier's daemons keep the same
state in their databases instead, so that nothing is lost when they restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf.message import Message

from amazon_ups.protocol.framing import (
    FrameDecoder,
    FramingError,
    MalformedMessage,
    encode_frame,
    parse_message,
)
from amazon_ups.protocol.session import ReliableSession, ResendPolicy
from amazon_ups.protocol.world_messages import CONNECTED, DIALECTS, Side


class ConnectRefused(Exception):
    def __init__(self, world_id: int, result: str) -> None:
        super().__init__(result)
        self.world_id = world_id
        self.result = result


class WorldClient:
    def __init__(self, side: Side, host: str, port: int, policy: ResendPolicy | None = None):
        self.side = side
        self.dialect = DIALECTS[side]
        self.host, self.port = host, port
        self.session: ReliableSession[Any] = ReliableSession(policy=policy or ResendPolicy())
        self.world_id: int | None = None
        self.results: list[Message] = []  # each world result once, in arrival order
        self.copies_received = 0  # results including repeats
        self.acked: set[int] = set()  # our seqnums the world has acked
        self.malformed: list[str] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task] = []
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self.finished = False

    # -- connecting ---------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        side: Side,
        host: str,
        port: int,
        world_id: int | None = None,
        places: Iterable[tuple[int, int, int]] = (),
        policy: ResendPolicy | None = None,
    ) -> WorldClient:
        """Connect and create (``world_id=None``) or join a world; places are (id, x, y)."""
        client = cls(side, host, port, policy)
        await client.connect(world_id, places)
        return client

    async def connect(
        self, world_id: int | None = None, places: Iterable[tuple[int, int, int]] = ()
    ) -> None:
        request = self.dialect.connect(isAmazon=self.side is Side.AMAZON)
        if world_id is not None:
            request.worldid = world_id
        for place_id, x, y in places:
            place = request.initwh.add() if self.side is Side.AMAZON else request.trucks.add()
            place.id, place.x, place.y = place_id, x, y
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(encode_frame(request.SerializeToString()))
        frames = FrameDecoder()
        bodies: list[bytes] = []
        while not bodies:
            data = await reader.read(65536)
            if not data:
                writer.close()
                raise ConnectionError("world closed the connection during the handshake")
            bodies = frames.feed(data)
        reply = parse_message(self.dialect.connected, bodies[0])
        if isinstance(reply, MalformedMessage) or reply.result != CONNECTED:
            writer.close()
            if isinstance(reply, MalformedMessage):
                raise ConnectRefused(-1, str(reply))
            raise ConnectRefused(reply.worldid, reply.result)
        self.world_id = reply.worldid
        self._reader, self._writer = reader, writer
        self.session.rewind()
        # The world may send results right behind its reply, in the same read.
        for body in bodies[1:]:
            self._take(parse_message(self.dialect.responses, body))
        self._tasks = [
            asyncio.create_task(self._read_loop(frames)),
            asyncio.create_task(self._write_loop()),
        ]

    async def reconnect(self) -> None:
        """Drop the connection (without a goodbye) and join the same world again."""
        await self.abort()
        await self.connect(self.world_id)

    async def abort(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()

    async def close(self, timeout: float = 10.0) -> None:
        """Say goodbye (disconnect=true) and wait for ``finished``."""
        assert self._writer is not None
        goodbye = self.dialect.commands(disconnect=True)
        goodbye.acks.extend(self.session.poll(time.time()).acks)
        self._writer.write(encode_frame(goodbye.SerializeToString()))
        with contextlib.suppress(TimeoutError):
            await self.wait_for(lambda: self.finished, timeout)
        await self.abort()

    # -- commands -------------------------------------------------------------------

    def send(self, command: Message) -> int:
        """Queue a sub-command; it is numbered and re-sent until acked."""
        self.session.send(command)
        self._wake.set()
        return command.seqnum

    def set_simspeed(self, simspeed: int) -> None:
        assert self._writer is not None
        self._writer.write(
            encode_frame(self.dialect.commands(simspeed=simspeed).SerializeToString())
        )

    def write_raw(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    # -- results ----------------------------------------------------------------------

    def of_type(self, message_type: type[Message]) -> list[Message]:
        return [r for r in self.results if isinstance(r, message_type)]

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``condition()`` is truthy (checked on every change); returns it."""
        async with asyncio.timeout(timeout):
            while not (value := condition()):
                self._changed.clear()
                await self._changed.wait()
        return value

    async def wait_result(
        self,
        message_type: type[Message],
        match: Callable[[Any], bool] = lambda r: True,
        timeout: float = 10.0,
    ) -> Any:
        def found() -> Any:
            return next((r for r in self.of_type(message_type) if match(r)), None)

        return await self.wait_for(found, timeout)

    # -- the two loops -----------------------------------------------------------------

    async def _read_loop(self, frames: FrameDecoder) -> None:
        assert self._reader is not None
        while data := await self._reader.read(65536):
            try:
                bodies = frames.feed(data)
            except FramingError as error:
                self.malformed.append(str(error))
                break
            for body in bodies:
                self._take(parse_message(self.dialect.responses, body))
            self._changed.set()
        self._changed.set()

    def _take(self, message: Message | MalformedMessage) -> None:
        if isinstance(message, MalformedMessage):
            self.malformed.append(str(message))
        else:
            self._absorb(message)

    def _absorb(self, responses: Message) -> None:
        self.acked.update(self.session.acknowledge(responses.acks))
        for field_name in self.dialect.result_fields.values():
            for result in getattr(responses, field_name):
                self.copies_received += 1
                if self.session.receive(result.seqnum):
                    self.results.append(result)
        if responses.finished:
            self.finished = True
        if self.session.owes_acks:
            self._wake.set()

    async def _write_loop(self) -> None:
        assert self._writer is not None
        while True:
            batch = self.session.poll(time.time())
            if batch:
                commands = self.dialect.commands()
                commands.acks.extend(batch.acks)
                for command in batch.items:
                    getattr(commands, self.dialect.command_field(command)).append(command)
                self._writer.write(encode_frame(commands.SerializeToString()))
            deadline = self.session.next_deadline()
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
