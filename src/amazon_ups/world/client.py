"""A small reliable world client, with its state in memory.

For tests, benchmarks and scripts that drive a world by hand: it frames,
numbers, re-sends and acks like a correct Amazon or UPS would, and collects the
world's results once each. The store's and the carrier's daemons keep the same
state in their databases instead, so that nothing is lost when they restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from google.protobuf.message import Message

from amazon_ups.protocol.channel import Channel, SubMessage
from amazon_ups.protocol.framing import encode_frame
from amazon_ups.protocol.session import ResendPolicy
from amazon_ups.protocol.world_connect import ConnectRefused, WorldConnect, connect_request
from amazon_ups.protocol.world_messages import DIALECTS, AnyResponses, Side
from amazon_ups.streams import StreamPeer

__all__ = ["ConnectRefused", "WorldClient"]

M = TypeVar("M", bound=Message)


class WorldClient:
    def __init__(self, side: Side, host: str, port: int, policy: ResendPolicy | None = None):
        self.side = side
        self.dialect = DIALECTS[side]
        self.host, self.port = host, port
        channel = Channel(self.dialect.responses, self.dialect.commands, policy or ResendPolicy())
        self.peer = StreamPeer(channel, on_container=self._on_container)
        self.world_id: int | None = None
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
        request = connect_request(self.dialect, self.side is Side.AMAZON, world_id, list(places))
        handshake = WorldConnect(self.dialect.connected, request)
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(handshake.start())
        reply = None
        try:
            while reply is None:
                if not (data := await reader.read(65536)):
                    raise ConnectionError("world closed the connection during the handshake")
                reply = handshake.receive(data)
        except BaseException:
            writer.close()
            raise
        self.world_id = reply.worldid
        self.peer.attach(reader, writer, handshake.leftover)

    async def reconnect(self) -> None:
        """Drop the connection (without a goodbye) and join the same world again."""
        await self.abort()
        await self.connect(self.world_id)

    async def abort(self) -> None:
        await self.peer.detach()

    async def close(self, timeout: float = 10.0) -> None:
        """Say goodbye (disconnect=true) and wait for ``finished``."""
        goodbye = self.dialect.commands(disconnect=True)
        goodbye.acks.extend(self.peer.channel.take_acks())
        self.peer.write_raw(encode_frame(goodbye.SerializeToString()))
        with contextlib.suppress(TimeoutError):
            await self.wait_for(lambda: self.finished, timeout)
        await self.abort()

    # -- commands -------------------------------------------------------------------

    def send(self, command: SubMessage) -> int:
        """Queue a sub-command; it is numbered and re-sent until acked."""
        return self.peer.send(command)

    def set_simspeed(self, simspeed: int) -> None:
        self.peer.set_once(simspeed=simspeed)

    def write_raw(self, data: bytes) -> None:
        self.peer.write_raw(data)

    # -- results ----------------------------------------------------------------------

    @property
    def results(self) -> list[Message]:
        """Each world result once, in arrival order."""
        return [result for _, result in self.peer.received]

    @property
    def copies_received(self) -> int:
        """Results including repeats."""
        return self.peer.copies_received

    @property
    def acked(self) -> set[int]:
        """Our seqnums the world has acked."""
        return self.peer.acked

    @property
    def malformed(self) -> list[str]:
        return self.peer.malformed

    def of_type(self, message_type: type[M]) -> list[M]:
        return [r for _, r in self.peer.received if isinstance(r, message_type)]

    async def wait_for(self, condition: Callable[[], Any], timeout: float | None = 10.0) -> Any:
        """Wait until ``condition()`` is truthy (checked on every change); returns it.
        ``timeout`` None: no limit."""
        return await self.peer.wait_for(condition, timeout)

    async def wait_result(
        self,
        message_type: type[M],
        match: Callable[[M], bool] = lambda r: True,
        timeout: float = 10.0,
    ) -> M:
        def found() -> M | None:
            return next((r for r in self.of_type(message_type) if match(r)), None)

        result: M | None = await self.wait_for(found, timeout)
        assert result is not None  # wait_for returns once found() is truthy
        return result

    def _on_container(self, responses: AnyResponses) -> None:
        if responses.finished:
            self.finished = True
