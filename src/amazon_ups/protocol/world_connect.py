"""The world's connect handshake as pure state: our AConnect/UConnect out, its
AConnected/UConnected in (world-protocol.md, "Connecting").

Used by every client of a world (``world.client``, the daemons' world links, the tests'
raw links), whatever carries the bytes:

    handshake = WorldConnect(dialect.connected, request)
    send(handshake.start())
    while (reply := handshake.receive(read())) is None: ...
    # reply.worldid; handshake.leftover: the bytes after the reply, for the channel

``receive`` raises ``ConnectRefused`` when the world says anything but "connected!" (or
sends what does not parse), and ``FramingError`` when the stream is broken.
"""

from __future__ import annotations

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.errors import RemoteProtocolError
from amazon_ups.protocol.framing import FrameDecoder, MalformedMessage, encode_frame, parse_message
from amazon_ups.protocol.world_messages import CONNECTED, AnyConnect, AnyConnected, Dialect


class ConnectRefused(RemoteProtocolError):
    """The world did not connect us: ``result`` is what it said (or why its reply did not
    parse), ``world_id`` the world it named (-1 if none)."""

    def __init__(self, world_id: int, result: str) -> None:
        super().__init__(result)
        self.world_id = world_id
        self.result = result


class WorldConnect:
    def __init__(self, connected_type: type[AnyConnected], request: AnyConnect) -> None:
        """``connected_type``: AConnected or UConnected, the reply to ``request``."""
        self.connected_type = connected_type
        self.request = request
        self._frames = FrameDecoder()
        self.reply: AnyConnected | None = None
        self.leftover = b""  # what came after the reply: results, for the channel

    def start(self) -> bytes:
        return encode_frame(self.request.SerializeToString())

    def receive(self, data: bytes) -> AnyConnected | None:
        """The world's reply once ``data`` completes it, else None."""
        assert self.reply is None, "the handshake is over"
        bodies = self._frames.feed(data)
        if not bodies:
            return None
        reply = parse_message(self.connected_type, bodies[0])
        if isinstance(reply, MalformedMessage):
            raise ConnectRefused(-1, f"the world's reply does not parse: {reply}")
        if reply.result != CONNECTED:
            raise ConnectRefused(reply.worldid, reply.result)
        # Results may follow the reply at once, and part of one more.
        self.leftover = b"".join(encode_frame(b) for b in bodies[1:]) + self._frames.take_rest()
        self.reply = reply
        return reply


def connect_request(
    dialect: Dialect, is_amazon: bool, world_id: int | None, places: list[tuple[int, int, int]]
) -> AnyConnect:
    """An AConnect (``places``: warehouses) or UConnect (``places``: trucks), as (id, x, y)."""
    request = dialect.connect(isAmazon=is_amazon)
    if world_id is not None:
        request.worldid = world_id
    for place_id, x, y in places:
        # An AConnect for Amazon (is_amazon), a UConnect for UPS.
        place = request.initwh.add() if isinstance(request, wa.AConnect) else request.trucks.add()
        place.id, place.x, place.y = place_id, x, y
    return request
