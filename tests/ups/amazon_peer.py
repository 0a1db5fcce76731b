"""Amazon's side of the Amazon-UPS link, in memory, for tests of the UPS daemon.

It numbers and re-sends its sub-messages until UPS acks them, acks every copy
of UPS's sub-messages, and keeps each of them once, in arrival order, like a
correct (if forgetful) Amazon would.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from amazon_ups.protocol import au_pb2
from amazon_ups.protocol.channel import Channel, SubMessage
from amazon_ups.protocol.link_auth import Role
from amazon_ups.streams import StreamPeer
from tests.support import link_handshake


class AmazonPeer:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, leftover: bytes = b""
    ) -> None:
        self.peer = StreamPeer(Channel(au_pb2.UpsToAmazon, au_pb2.AmazonToUps))
        self.peer.attach(reader, writer, leftover)

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
        reader, writer = await asyncio.open_connection(host, port)
        self.peer.attach(reader, writer, await link_handshake(reader, writer, Role.AMAZON))

    def send(self, message: SubMessage) -> int:
        """Queue a sub-message; it is numbered and re-sent until UPS acks it."""
        return self.peer.send(message)

    @property
    def writer(self) -> asyncio.StreamWriter:
        assert self.peer.writer is not None
        return self.peer.writer

    @property
    def received(self) -> list[tuple[str, Message]]:
        return self.peer.received

    @property
    def malformed(self) -> list[str]:
        return self.peer.malformed

    def of(self, field: str, match: Callable[[Any], bool] = lambda m: True) -> list[Any]:
        return self.peer.of(field, match)

    def acked(self, seqnum: int) -> bool:
        return not self.peer.unacked(seqnum)

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        return await self.peer.wait_for(condition, timeout)

    async def close(self) -> None:
        await self.peer.detach()
