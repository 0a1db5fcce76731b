"""The world's connect handshake as pure state (protocol.world_connect), without sockets."""

from __future__ import annotations

import pytest

from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.framing import FrameDecoder, encode_frame
from amazon_ups.protocol.world_connect import ConnectRefused, WorldConnect, connect_request
from amazon_ups.protocol.world_messages import CONNECTED, DIALECTS, Side

UPS = DIALECTS[Side.UPS]


def handshake() -> WorldConnect:
    return WorldConnect(UPS.connected, connect_request(UPS, False, 7, [(1, 0, 5)]))


def test_the_request_is_one_frame_of_the_connect_message():
    [body] = FrameDecoder().feed(handshake().start())
    request = wu.UConnect.FromString(body)
    assert (request.worldid, request.isAmazon) == (7, False)
    assert [(t.id, t.x, t.y) for t in request.trucks] == [(1, 0, 5)]


def test_a_reply_in_pieces_and_what_follows_it_are_kept_apart():
    reply = encode_frame(wu.UConnected(worldid=7, result=CONNECTED).SerializeToString())
    result = encode_frame(wu.UResponses(acks=[3]).SerializeToString())
    connect = handshake()
    connect.start()
    assert connect.receive(reply[:2]) is None
    # The rest of the reply, a whole result, and the first byte of another.
    answer = connect.receive(reply[2:] + result + result[:1])
    assert answer is not None and answer.worldid == 7
    assert connect.leftover == result + result[:1]


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (wu.UConnected(worldid=7, result="error: no such world").SerializeToString(), "no such"),
        (b"\xff\xff", "does not parse"),
    ],
)
def test_anything_but_connected_is_a_refusal(reply, said):
    connect = handshake()
    with pytest.raises(ConnectRefused) as refused:
        connect.receive(encode_frame(reply))
    assert said in refused.value.result
