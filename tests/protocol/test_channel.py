"""The daemon's sans-IO channel: frames in, containers out, re-sends on a schedule."""

from __future__ import annotations

import pytest

from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.channel import (
    AU_LIMITS,
    WORLD_SEND_LIMITS,
    Channel,
    Limits,
    OverLimit,
    Pending,
    numbered_fields,
)
from amazon_ups.protocol.framing import (
    FrameDecoder,
    FramingError,
    MalformedMessage,
    encode_frame,
    parse_message,
)
from amazon_ups.protocol.limits import AU_MAX_ACKS, AU_MAX_SUB_MESSAGES
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
    container = parse_message(au_pb2.AmazonToUps, body)
    assert not isinstance(container, MalformedMessage), container
    return container


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


def test_a_burst_goes_out_split_within_the_link_s_limits():
    channel = Channel(au_pb2.UpsToAmazon, au_pb2.AmazonToUps, limits=Limits(4096, 10, 25))
    channel.load([pickup(seqnum, 1000 + seqnum) for seqnum in range(1, 36)])
    for seqnum in range(1, 61):
        channel.owe_ack(seqnum)
    containers = [
        parse_message(au_pb2.AmazonToUps, body)
        for body in FrameDecoder().feed(channel.poll(now=0.0))
    ]
    assert all(len(c.pickups) <= 10 and len(c.acks) <= 25 for c in containers)
    assert all(c.ByteSize() <= 4096 for c in containers)
    assert [p.seqnum for c in containers for p in c.pickups] == list(range(1, 36))
    assert [a for c in containers for a in c.acks] == list(range(1, 61))
    assert channel.poll(now=0.0) is None  # all of it went, none twice


def test_the_frame_size_splits_a_burst_of_big_sub_messages():
    channel = Channel(au_pb2.UpsToAmazon, au_pb2.AmazonToUps, limits=Limits(300, 1000, 1000))
    channel.load([pickup(seqnum, 1000 + seqnum) for seqnum in range(1, 41)])
    bodies = FrameDecoder(300).feed(channel.poll(now=0.0))  # a larger frame would raise
    assert len(bodies) > 1
    containers = [parse_message(au_pb2.AmazonToUps, body) for body in bodies]
    assert sum(len(c.pickups) for c in containers) == 40


def test_a_peer_s_message_over_the_limits_is_refused_whole():
    channel = Channel(au_pb2.AmazonToUps, au_pb2.UpsToAmazon, limits=AU_LIMITS)
    too_many = au_pb2.AmazonToUps(
        account_checks=[
            au_pb2.AccountCheck(seqnum=n, ups_account=n) for n in range(1, AU_MAX_SUB_MESSAGES + 2)
        ]
    )
    with pytest.raises(OverLimit, match="over the limit of 1000"):
        channel.feed(encode_frame(too_many.SerializeToString()))
    channel.reset()
    too_many_acks = au_pb2.AmazonToUps(acks=range(1, AU_MAX_ACKS + 2))
    with pytest.raises(OverLimit, match="acks"):
        channel.feed(encode_frame(too_many_acks.SerializeToString()))
    channel.reset()
    at_the_limit = au_pb2.AmazonToUps(acks=range(1, AU_MAX_ACKS + 1))
    assert len(channel.feed(encode_frame(at_the_limit.SerializeToString()))) == 1


def test_a_world_channel_splits_a_backlog_but_takes_the_world_s_big_messages():
    channel = Channel(wa.AResponses, wa.ACommands, send_limits=WORLD_SEND_LIMITS)
    backlog = [
        Pending(seqnum, "queries", wa.AQuery(packageid=seqnum, seqnum=seqnum).SerializeToString())
        for seqnum in range(1, 30_001)
    ]
    channel.load(backlog)
    bodies = FrameDecoder().feed(channel.poll(now=0.0))
    assert all(len(body) <= WORLD_SEND_LIMITS.max_frame for body in bodies)
    sent_queries = [q.seqnum for b in bodies for q in wa.ACommands.FromString(b).queries]
    assert sent_queries == list(range(1, 30_001))
    # What the world sends us is bounded only by the frame size.
    many = wa.AResponses(acks=range(1, 50_001))
    assert len(channel.feed(encode_frame(many.SerializeToString()))) == 1


def test_an_in_memory_peer_numbers_what_it_sends_and_takes_each_message_once():
    """``send`` and ``take``: the channel keeps the record (world clients, test peers)."""
    ours = Channel(au_pb2.UpsToAmazon, au_pb2.AmazonToUps, ResendPolicy(first=1.0))
    first = au_pb2.AccountCheck(ups_account=5)
    assert ours.send(first) == 1 and first.seqnum == 1
    assert ours.send(au_pb2.AccountCheck(ups_account=6)) == 2
    [body] = FrameDecoder().feed(ours.poll(0.0))
    sent = au_pb2.AmazonToUps.FromString(body)
    assert [c.seqnum for c in sent.account_checks] == [1, 2]

    answer = au_pb2.UpsToAmazon(acks=[1, 9])
    answer.accounts.add(seqnum=40, ups_account=5, exists=True)
    taken = ours.take(answer)
    assert taken.acked == [1]  # 9 was never ours to wait for
    assert [(f, m.seqnum) for f, m in taken.new] == [("accounts", 40)]
    assert not ours.unacked(1) and ours.unacked(2)
    # The same answer again: acked again, not new again.
    assert ours.take(answer).new == []
    [body] = FrameDecoder().feed(ours.poll(0.5))
    assert list(au_pb2.AmazonToUps.FromString(body).acks) == [40]  # owed once per frame
    assert ours.take_acks() == []
