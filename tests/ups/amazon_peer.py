"""Amazon's side of the Amazon-UPS link, in memory, for tests of the UPS daemon.

It numbers and re-sends its sub-messages until UPS acks them, acks every copy
of UPS's sub-messages, and keeps each of them once, in arrival order, like a
correct (if forgetful) Amazon would.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from amazon_ups.common.daemon.channel import numbered_fields
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol.framing import FrameDecoder, MalformedMessage, encode_frame, parse_message
from amazon_ups.protocol.link_auth import Role
from amazon_ups.protocol.session import ReliableSession
from tests.support import link_handshake

# Sub-message type -> the AmazonToUps field that carries it.
OUTGOING_FIELDS = {
    au_pb2.AmazonToUps.DESCRIPTOR.fields_by_name[name].message_type.full_name: name
    for name in numbered_fields(au_pb2.AmazonToUps)
}


class AmazonPeer:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, leftover: bytes = b""
    ) -> None:
        self.reader, self.writer = reader, writer
        self._leftover = leftover
        self.session: ReliableSession[Any] = ReliableSession()
        self.received: list[tuple[str, Message]] = []
        self.malformed: list[str] = []
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._read_loop()),
            asyncio.create_task(self._write_loop()),
        ]

    @classmethod
    async def open(
        cls, port: int, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> AmazonPeer:
        """Connected to UPS, the link's handshake done."""
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        return cls(reader, writer, await link_handshake(reader, writer, Role.AMAZON))

    async def reconnect(self, port: int, host: str = "127.0.0.1") -> None:
        """A new connection, the same protocol state: unacked sub-messages go again."""
        await self.close()
        self.reader, self.writer = await asyncio.open_connection(host, port)
        self._leftover = await link_handshake(self.reader, self.writer, Role.AMAZON)
        self.session.rewind()
        self._tasks = [
            asyncio.create_task(self._read_loop()),
            asyncio.create_task(self._write_loop()),
        ]

    def send(self, message: Message) -> int:
        """Queue a sub-message; it is numbered and re-sent until UPS acks it."""
        self.session.send(message)
        self._wake.set()
        return message.seqnum

    def of(self, field: str, match: Callable[[Any], bool] = lambda m: True) -> list[Any]:
        return [m for f, m in self.received if f == field and match(m)]

    def acked(self, seqnum: int) -> bool:
        return seqnum not in self.session.outbox

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        async with asyncio.timeout(timeout):
            while not (value := condition()):
                self._changed.clear()
                await self._changed.wait()
        return value

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    async def _read_loop(self) -> None:
        frames = FrameDecoder()
        for body in frames.feed(self._leftover):
            self._take(parse_message(au_pb2.UpsToAmazon, body))
        try:
            while data := await self.reader.read(65536):
                for body in frames.feed(data):
                    self._take(parse_message(au_pb2.UpsToAmazon, body))
                self._changed.set()
        finally:
            self._changed.set()

    def _take(self, message: Message | MalformedMessage) -> None:
        if isinstance(message, MalformedMessage):
            self.malformed.append(str(message))
            return
        self.session.acknowledge(message.acks)
        for field in numbered_fields(au_pb2.UpsToAmazon):
            for sub in getattr(message, field):
                if self.session.receive(sub.seqnum):
                    self.received.append((field, sub))
        if self.session.owes_acks:
            self._wake.set()

    async def _write_loop(self) -> None:
        while True:
            batch = self.session.poll(time.time())
            if batch:
                container = au_pb2.AmazonToUps(acks=batch.acks)
                for item in batch.items:
                    getattr(container, OUTGOING_FIELDS[item.DESCRIPTOR.full_name]).append(item)
                self.writer.write(encode_frame(container.SerializeToString()))
            deadline = self.session.next_deadline()
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
