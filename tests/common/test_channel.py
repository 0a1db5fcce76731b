"""The daemon's sans-IO channel: frames in, containers out, re-sends on a schedule."""

from __future__ import annotations

import pytest

from amazon_ups.common.daemon.channel import Channel, Pending, numbered_fields
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.framing import FrameDecoder, FramingError, encode_frame, parse_message
from amazon_ups.protocol.session import ResendPolicy


def amazon_channel() -> Channel:
    return Channel(au_pb2.UpsToAmazon, au_pb2.AmazonToUps, ResendPolicy(first=1.0, ceiling=4.0))


def pickup(seqnum: int, package: int) -> Pending:
    message = au_pb2.PickupRequest(
        seqnum=seqnum,
        package_id=package,
        warehouse=au_pb2.Warehouse(id=1, x=2, y=3),
        dest_x=4,
        dest_y=5,
    )
    return Pending(seqnum, "pickups", message.SerializeToString())


def sent(frame: bytes | None) -> au_pb2.AmazonToUps:
    assert frame is not None
    (body,) = FrameDecoder().feed(frame)
    return parse_message(au_pb2.AmazonToUps, body)


def test_numbered_fields_are_the_sub_message_lists():
    assert numbered_fields(au_pb2.UpsToAmazon) == (
        "worlds",
        "arrived",
        "out_for_delivery",
        "delivered",
        "redirected",
        "accounts",
        "errors",
        "registered",
    )
    assert numbered_fields(wa.AResponses) == (
        "arrived",
        "ready",
        "loaded",
        "error",
        "packagestatus",
    )


def test_loaded_messages_go_out_at_once_then_again_until_acked():
    channel = amazon_channel()
    channel.load([pickup(1, 100), pickup(2, 200)])
    first = sent(channel.poll(now=0.0))
    assert [p.package_id for p in first.pickups] == [100, 200]
    assert channel.poll(now=0.5) is None  # not due yet
    channel.acked([1])
    again = sent(channel.poll(now=1.0))
    assert [p.seqnum for p in again.pickups] == [2]
    channel.acked([2])
    assert channel.poll(now=100.0) is None
    assert channel.next_deadline() is None


def test_loading_the_same_row_twice_sends_it_once():
    channel = amazon_channel()
    channel.load([pickup(1, 100)])
    channel.load([pickup(1, 100)])
    assert len(sent(channel.poll(now=0.0)).pickups) == 1


def test_acks_owed_go_out_alone_and_only_once():
    channel = amazon_channel()
    channel.owe_ack(7)
    channel.owe_ack(9)
    channel.owe_ack(7)
    assert channel.next_deadline() == float("-inf")
    message = sent(channel.poll(now=0.0))
    assert list(message.acks) == [7, 9]
    assert not message.pickups
    assert channel.poll(now=0.0) is None


def test_reset_resends_everything_unacked_at_once():
    channel = amazon_channel()
    channel.load([pickup(1, 100)])
    sent(channel.poll(now=0.0))
    assert channel.poll(now=0.1) is None
    channel.reset()  # a new connection
    assert [p.seqnum for p in sent(channel.poll(now=0.1)).pickups] == [1]


def test_forget_drops_what_was_owed_to_an_old_peer():
    channel = amazon_channel()
    channel.load([pickup(1, 100)])
    channel.owe_ack(5)
    channel.forget()
    assert channel.poll(now=0.0) is None


def test_set_once_fields_go_in_the_next_container_only():
    channel = Channel(wa.AResponses, wa.ACommands)
    channel.set_once(simspeed=500)
    frame = channel.poll(now=0.0)
    assert frame is not None
    (body,) = FrameDecoder().feed(frame)
    assert parse_message(wa.ACommands, body).simspeed == 500
    assert channel.poll(now=0.0) is None


def test_feed_frames_containers_across_any_split():
    channel = amazon_channel()
    message = au_pb2.UpsToAmazon(
        delivered=[au_pb2.Delivered(seqnum=3, package_id=100, x=1, y=2)], acks=[1]
    )
    data = encode_frame(message.SerializeToString()) * 2
    out = []
    for index in range(len(data)):
        out += channel.feed(data[index : index + 1])
    assert out == [message, message]


def test_broken_framing_raises():
    channel = amazon_channel()
    with pytest.raises(FramingError):
        channel.feed(b"\xff" * 6)
