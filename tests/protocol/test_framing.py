"""The sans-IO framing codec: varint32 length + body, fed in any split."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.errors import LocalProtocolError, RemoteProtocolError
from amazon_ups.protocol.framing import (
    DEFAULT_MAX_FRAME,
    MAX_VARINT32_BYTES,
    FrameDecoder,
    FramingError,
    MalformedMessage,
    MessageReader,
    encode_frame,
    encode_varint,
    parse_message,
)


def decode_varint(data: bytes) -> tuple[int, int]:
    """Reference decoder, written independently of the code under test: (value, size)."""
    value = 0
    for index, byte in enumerate(data):
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return value, index + 1
    raise AssertionError(f"unterminated varint {data.hex()}")


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# Mostly small bodies, sometimes ones whose length needs a 2- or 3-byte varint.
bodies = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda n, b: bytes([b]) * n, st.integers(120, 20_000), st.integers(0, 255)),
)


# -- varints ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (300, "ac02"),
        (16_383, "ff7f"),
        (16_384, "808001"),
        (2**21 - 1, "ffff7f"),
        (2**21, "80808001"),
        (2**28, "8080808001"),
        (2**32 - 1, "ffffffff0f"),
    ],
)
def test_encode_varint_known_values(value, encoded):
    assert encode_varint(value).hex() == encoded
    assert decode_varint(encode_varint(value)) == (value, len(encoded) // 2)


def test_encode_varint_rejects_negative_as_our_mistake():
    with pytest.raises(LocalProtocolError):
        encode_varint(-1)


@given(st.integers(0, 2**63 - 1))
@settings(max_examples=200)
def test_encode_varint_matches_protobuf(value):
    # An int64 field holding a non-negative value is the tag then the plain varint.
    assert wa.ACommands(acks=[value]).SerializeToString() == b"\x38" + encode_varint(value)
    assert decode_varint(encode_varint(value)) == (value, len(encode_varint(value)))
    if value < 2**32:
        assert len(encode_varint(value)) <= MAX_VARINT32_BYTES


@pytest.mark.parametrize("length", [0, 1, 127, 128, 300, 16_383, 16_384, 2**21 - 1, 2**21])
def test_frame_length_round_trips_through_decoder(length):
    body = bytes(range(256)) * (length // 256) + bytes(length % 256)
    frame = encode_frame(body)
    assert frame[: len(frame) - length] == encode_varint(length)
    decoder = FrameDecoder()
    # Everything but the last byte: nothing comes out, all of it is buffered.
    if length:
        assert decoder.feed(frame[:-1]) == []
        assert decoder.buffered == len(frame) - 1
        assert decoder.feed(frame[-1:]) == [body]
    else:
        assert decoder.feed(frame) == [b""]
    assert decoder.buffered == 0


def test_non_minimal_five_byte_varint_is_accepted():
    # 0 written in 5 bytes: legal protobuf, and within the 5-byte limit.
    decoder = FrameDecoder()
    assert decoder.feed(b"\x80\x80\x80\x80\x00" + encode_frame(b"x")) == [b"", b"x"]


# -- decoding any split ----------------------------------------------------------------------


@given(st.lists(bodies, max_size=12), st.lists(st.integers(0, 60_000), max_size=30))
@settings(max_examples=150, deadline=None)
def test_frames_survive_any_split(messages, cuts):
    stream = b"".join(encode_frame(m) for m in messages)
    decoder = FrameDecoder()
    out: list[bytes] = []
    fed = 0
    for chunk in split_at(stream, cuts):
        out += decoder.feed(chunk)
        fed += len(chunk)
        # Whatever has not come out as a frame is exactly what is buffered.
        consumed = sum(len(encode_frame(m)) for m in out)
        assert decoder.buffered == fed - consumed
    assert out == messages
    assert decoder.buffered == 0


@given(st.lists(st.binary(max_size=150), max_size=6))
@settings(max_examples=50, deadline=None)
def test_frames_survive_one_byte_at_a_time(messages):
    stream = b"".join(encode_frame(m) for m in messages)
    decoder = FrameDecoder()
    out: list[bytes] = []
    for i in range(len(stream)):
        out += decoder.feed(stream[i : i + 1])
    assert out == messages
    assert decoder.buffered == 0


def test_empty_feed_is_harmless():
    decoder = FrameDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\x03ab") == []
    assert decoder.feed(b"") == []
    assert decoder.buffered == 3
    assert decoder.feed(b"c\x00") == [b"abc", b""]


def test_partial_frames_are_buffered():
    decoder = FrameDecoder()
    frame = encode_frame(b"hello world")
    assert decoder.feed(frame[:1]) == []
    assert decoder.buffered == 1
    assert decoder.feed(frame[1:5]) == []
    assert decoder.buffered == 5
    # The rest of the frame and the start of the next one.
    assert decoder.feed(frame[5:] + b"\x05ab") == [b"hello world"]
    assert decoder.buffered == 3


def test_partial_multibyte_length_is_buffered():
    body = b"z" * 200
    frame = encode_frame(body)
    assert frame[:2] == b"\xc8\x01"
    decoder = FrameDecoder()
    assert decoder.feed(frame[:1]) == []
    assert decoder.buffered == 1
    assert decoder.feed(frame[1:]) == [body]


# -- framing errors --------------------------------------------------------------------------


def test_varint_longer_than_five_bytes_raises():
    decoder = FrameDecoder()
    # Four continuation bytes may still be a valid header.
    assert decoder.feed(b"\x80" * 4) == []
    with pytest.raises(FramingError):
        decoder.feed(b"\x80")


def test_varint_longer_than_five_bytes_raises_in_one_feed():
    decoder = FrameDecoder(max_frame=2**40)
    with pytest.raises(FramingError):
        decoder.feed(b"\x81\x80\x80\x80\x80\x00" + b"x")


def test_varint_overflow_after_good_frames_raises():
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(b"ok")) == [b"ok"]
    with pytest.raises(FramingError):
        decoder.feed(b"\xff" * 6)


def test_length_over_max_frame_raises_before_body():
    decoder = FrameDecoder(max_frame=100)
    assert decoder.feed(encode_frame(b"a" * 100)) == [b"a" * 100]
    with pytest.raises(FramingError):
        decoder.feed(encode_varint(101))  # only the header; no body sent yet


def test_most_frames_leaves_the_rest_buffered_and_unchecked():
    decoder = FrameDecoder(max_frame=100)
    big = encode_frame(b"b" * 500)  # over this decoder's limit, for whoever reads on
    assert decoder.feed(encode_frame(b"a") + big, most=1) == [b"a"]
    assert decoder.take_rest() == big
    assert decoder.feed(encode_frame(b"c") + encode_frame(b"d"), most=1) == [b"c"]
    assert decoder.feed(b"", most=1) == [b"d"]
    assert decoder.feed(b"", most=1) == []


def test_default_max_frame_applies():
    decoder = FrameDecoder()
    assert decoder.max_frame == DEFAULT_MAX_FRAME
    with pytest.raises(FramingError):
        decoder.feed(encode_varint(DEFAULT_MAX_FRAME + 1))
    # Exactly the limit is allowed: the header alone just waits for the body.
    ok = FrameDecoder()
    assert ok.feed(encode_varint(DEFAULT_MAX_FRAME)) == []
    assert ok.buffered == len(encode_varint(DEFAULT_MAX_FRAME))


def test_largest_varint32_length_is_over_default_limit():
    with pytest.raises(FramingError):
        FrameDecoder().feed(b"\xff\xff\xff\xff\x0f")  # 2**32 - 1
    assert FrameDecoder(max_frame=2**32).feed(b"\xff\xff\xff\xff\x0f") == []


@pytest.mark.parametrize("bad", [b"\x80" * 6, encode_varint(DEFAULT_MAX_FRAME + 1)])
def test_decoder_stays_poisoned(bad):
    decoder = FrameDecoder()
    with pytest.raises(FramingError) as first:
        decoder.feed(bad)
    assert decoder.buffered == 0
    for later in (b"", encode_frame(b"fine"), b"\x00"):
        with pytest.raises(FramingError) as again:
            decoder.feed(later)
        assert str(again.value) == str(first.value)
    assert decoder.buffered == 0


# -- messages --------------------------------------------------------------------------------


def test_parse_message_round_trip():
    message = wu.UCommands(
        pickups=[wu.UGoPickup(truckid=1, whid=2, seqnum=3)],
        deliveries=[
            wu.UGoDeliver(
                truckid=1, packages=[wu.UDeliveryLocation(packageid=9, x=-4, y=5)], seqnum=4
            )
        ],
        acks=[7, 8],
    )
    parsed = parse_message(wu.UCommands, message.SerializeToString())
    assert isinstance(parsed, wu.UCommands)
    assert parsed == message


@pytest.mark.parametrize(
    "body",
    [
        b"\xff",  # truncated varint tag
        b"\x0a\x05ab",  # length-delimited field longer than the body
        b"\x07",  # wire type 7 does not exist
        b"\x08" + b"\x80" * 10 + b"\x01\x12\x00",  # varint longer than 10 bytes
    ],
)
def test_parse_message_corrupt_body(body):
    result = parse_message(wa.AConnected, body)
    assert isinstance(result, MalformedMessage)
    assert result.body == body
    assert "AConnected" in str(result)


PICKUP_WITHOUT_SEQNUM = wu.UCommands(
    pickups=[wu.UGoPickup(truckid=1, whid=2)]
).SerializePartialToString()


@pytest.mark.parametrize(
    ("message_type", "body", "missing"),
    [
        (wa.AConnected, b"", "worldid"),
        (wa.AConnected, b"\x08\x01", "result"),
        (wu.UConnect, b"\x08\x05", "isAmazon"),
        # A sub-command lacking its seqnum makes the whole commands message invalid.
        (wu.UCommands, PICKUP_WITHOUT_SEQNUM, "seqnum"),
    ],
)
def test_parse_message_missing_required(message_type, body, missing):
    result = parse_message(message_type, body)
    assert isinstance(result, MalformedMessage)
    assert result.body == body
    assert missing in str(result)


def test_parse_message_without_required_fields_is_fine():
    # ACommands has no required fields of its own: an empty body is a valid message.
    assert parse_message(wa.ACommands, b"") == wa.ACommands()


def test_reader_yields_malformed_and_keeps_going():
    good1 = wa.ACommands(acks=[1, 2])
    good2 = wa.ACommands(queries=[wa.AQuery(packageid=5, seqnum=6)])
    corrupt = b"\x0a\x09abc"
    lacking = wa.ACommands(queries=[wa.AQuery(packageid=5)]).SerializePartialToString()
    stream = b"".join(
        encode_frame(b)
        for b in (good1.SerializeToString(), corrupt, lacking, good2.SerializeToString())
    )
    reader = MessageReader(wa.ACommands)
    out = list(reader.feed(stream))
    assert len(out) == 4
    assert out[0] == good1
    assert isinstance(out[1], MalformedMessage)
    assert out[1].body == corrupt
    assert isinstance(out[2], MalformedMessage)
    assert out[2].body == lacking
    assert "seqnum" in str(out[2])
    assert out[3] == good2


@given(
    st.lists(
        st.one_of(
            st.builds(
                lambda acks, speed: wa.ACommands(acks=acks, simspeed=speed),
                st.lists(st.integers(0, 2**63 - 1), max_size=5),
                st.integers(0, 2**32 - 1),
            ),
            st.just(None),  # a corrupt frame in its place
        ),
        max_size=8,
    ),
    st.lists(st.integers(0, 500), max_size=10),
)
@settings(max_examples=100, deadline=None)
def test_reader_any_split(messages, cuts):
    bodies_ = [b"\x0a\x7f" if m is None else m.SerializeToString() for m in messages]
    stream = b"".join(encode_frame(b) for b in bodies_)
    reader = MessageReader(wa.ACommands)
    out = []
    for chunk in split_at(stream, cuts):
        out += list(reader.feed(chunk))
    assert len(out) == len(messages)
    for got, want in zip(out, messages, strict=True):
        if want is None:
            assert isinstance(got, MalformedMessage)
        else:
            assert got == want
    assert reader.frames.buffered == 0


def test_reader_framing_error_propagates():
    reader = MessageReader(wa.ACommands, max_frame=10)
    with pytest.raises(FramingError):
        list(reader.feed(encode_varint(11)))
    with pytest.raises(FramingError):
        list(reader.feed(encode_frame(b"")))


def test_every_error_of_the_peer_is_a_remote_protocol_error():
    # One family per layer: a caller that only needs "the peer's fault" catches one type.
    from amazon_ups.protocol.channel import OverLimit
    from amazon_ups.protocol.link_auth import HandshakeFailed
    from amazon_ups.protocol.world_connect import ConnectRefused

    for error in (FramingError, MalformedMessage, OverLimit, HandshakeFailed, ConnectRefused):
        assert issubclass(error, RemoteProtocolError) and not issubclass(error, LocalProtocolError)
