"""A reliable peer over asyncio streams: the thin shell around a ``protocol.channel.Channel``
for the peers that keep their state in memory (``world.client``, the tests' Amazon and
UPS, the benchmarks' clients).

Two tasks per connection: one hands what it reads to the channel, the other writes what
the channel has due and sleeps until the channel's next deadline or a wake-up. Numbering,
acks, re-sends and duplicates are the channel's; this module only moves bytes. The
daemons have their own shell around the same channel (``common.daemon.runner``), since
they keep the same state in their databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from typing import Any, Generic

from google.protobuf.message import Message

from amazon_ups.protocol.channel import Channel, In, Out, SubMessage
from amazon_ups.protocol.framing import FramingError, MalformedMessage


class StreamPeer(Generic[In, Out]):
    def __init__(
        self,
        channel: Channel[In, Out],
        on_message: Callable[[str, Message], None] | None = None,
        on_container: Callable[[In], None] | None = None,
    ) -> None:
        """``on_message(field, message)`` is called once per new sub-message, as it comes;
        ``on_container`` sees every container after the channel took it (e.g. for a field
        outside the numbered ones, like the world's ``finished``)."""
        self.channel = channel
        self.on_message = on_message
        self.on_container = on_container
        self.received: list[tuple[str, Message]] = []  # each sub-message once, in order
        self.copies_received = 0  # sub-messages including repeats
        self.acked: set[int] = set()  # our seqnums the peer has acked
        self.malformed: list[str] = []
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task] = []
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()

    # -- the connection -----------------------------------------------------------------

    def attach(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, leftover: bytes = b""
    ) -> None:
        """Carry on the conversation over this connection; ``leftover``: bytes read past
        a handshake. Everything unacked goes again at once."""
        self.channel.reset()
        self.reader, self.writer = reader, writer
        if leftover:
            self._absorb(leftover)
        self._tasks = [
            asyncio.create_task(self._read_loop()),
            asyncio.create_task(self._write_loop()),
        ]

    async def detach(self) -> None:
        """Drop the connection, without a goodbye; the channel's state stays."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
        self._tasks = []
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await self.writer.wait_closed()

    # -- out -------------------------------------------------------------------------------

    def send(self, message: SubMessage) -> int:
        """Queue a sub-message: numbered, and re-sent until acked; returns its seqnum."""
        seqnum = self.channel.send(message)
        self._wake.set()
        return seqnum

    def set_once(self, **fields: Any) -> None:
        """Scalar fields for the next container only (e.g. ``simspeed``)."""
        self.channel.set_once(**fields)
        self._wake.set()

    def write_raw(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    def unacked(self, seqnum: int) -> bool:
        return self.channel.unacked(seqnum)

    # -- in ----------------------------------------------------------------------------------

    def of(self, field: str, match: Callable[[Any], bool] = lambda m: True) -> list[Any]:
        return [m for f, m in self.received if f == field and match(m)]

    async def wait_for(self, condition: Callable[[], Any], timeout: float | None = 10.0) -> Any:
        """Wait until ``condition()`` is truthy (checked on every change); returns it.
        ``timeout`` None: no limit."""
        async with asyncio.timeout(timeout):
            while not (value := condition()):
                self._changed.clear()
                await self._changed.wait()
        return value

    # -- the two loops ---------------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self.reader is not None
        try:
            while data := await self.reader.read(65536):
                try:
                    self._absorb(data)
                except FramingError as error:
                    self.malformed.append(str(error))
                    break
        finally:
            self._changed.set()

    def _absorb(self, data: bytes) -> None:
        channel = self.channel
        for container in channel.feed(data):
            if isinstance(container, MalformedMessage):
                self.malformed.append(str(container))
                continue
            taken = channel.take(container)
            self.acked.update(taken.acked)
            self.copies_received += sum(
                len(getattr(container, field)) for field in channel.incoming_fields
            )
            self.received.extend(taken.new)
            if self.on_message is not None:
                for field, message in taken.new:
                    self.on_message(field, message)
            if self.on_container is not None:
                self.on_container(container)
        self._wake.set()  # acks are owed, or a re-send may be due earlier
        self._changed.set()

    async def _write_loop(self) -> None:
        assert self.writer is not None
        while True:
            if (data := self.channel.poll(time.time())) is not None:
                self.writer.write(data)
            deadline = self.channel.next_deadline()
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
