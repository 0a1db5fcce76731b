"""Sans-IO framing: a varint32 length, then exactly that many bytes of message.

This is the only framing the world protocol (and our Amazon-UPS protocol) uses.
Nothing here touches a socket: ``FrameDecoder.feed`` takes whatever bytes the
transport produced (any split, one byte at a time or many frames at once) and
returns the complete frame bodies; ``encode_frame`` goes the other way.
``MessageReader`` adds protobuf parsing on top, for one expected message type.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError, Message

from amazon_ups.protocol.errors import LocalProtocolError, RemoteProtocolError

# A varint32 needs at most 5 bytes (5 * 7 = 35 bits >= 32).
MAX_VARINT32_BYTES = 5
# Big enough for any sane batch (a UGoDeliver with tens of thousands of stops),
# small enough that a garbage length cannot make us buffer gigabytes.
DEFAULT_MAX_FRAME = 16 * 1024 * 1024


class FramingError(RemoteProtocolError):
    """The byte stream cannot be framed any more; the connection must be closed."""


class MalformedMessage(RemoteProtocolError):
    """A whole frame arrived but its body is not a valid message of the expected type.

    The stream is still in sync: the caller may report the error and go on.
    """

    def __init__(self, message: str, body: bytes) -> None:
        super().__init__(message)
        self.body = body


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise LocalProtocolError(f"frame length cannot be negative: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_frame(body: bytes) -> bytes:
    """One frame: the varint length of ``body``, then ``body``."""
    return encode_varint(len(body)) + body


class FrameDecoder:
    """Turns a byte stream into frame bodies.

    After a ``FramingError`` the decoder is poisoned: every later ``feed`` raises
    the same error, because there is no way to find the next frame boundary.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._error: FramingError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received that do not make a whole frame yet."""
        return len(self._buffer)

    def take_rest(self) -> bytes:
        """The bytes of an unfinished frame, handed on (e.g. to the decoder that takes
        over the stream after a handshake)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest

    def feed(self, data: bytes, most: int | None = None) -> list[bytes]:
        """The frames ``data`` completes; with ``most``, no more than that many: the
        bytes after them stay buffered, unread (their lengths unchecked), for the next
        ``feed`` or for ``take_rest``."""
        if self._error is not None:
            raise self._error
        self._buffer += data
        frames: list[bytes] = []
        try:
            while most is None or len(frames) < most:
                if (frame := self._next_frame()) is None:
                    break
                frames.append(frame)
        except FramingError as error:
            self._error = error
            self._buffer.clear()
            raise
        return frames

    def _next_frame(self) -> bytes | None:
        header = self._read_length()
        if header is None:
            return None
        length, header_size = header
        end = header_size + length
        if len(self._buffer) < end:
            return None
        body = bytes(self._buffer[header_size:end])
        del self._buffer[:end]
        return body

    def _read_length(self) -> tuple[int, int] | None:
        value = 0
        for index, byte in enumerate(self._buffer[:MAX_VARINT32_BYTES]):
            value |= (byte & 0x7F) << (7 * index)
            if not byte & 0x80:
                if value > self.max_frame:
                    raise FramingError(
                        f"frame length {value} is over the limit of {self.max_frame} bytes"
                    )
                return value, index + 1
        if len(self._buffer) >= MAX_VARINT32_BYTES:
            raise FramingError(
                f"frame length varint is longer than {MAX_VARINT32_BYTES} bytes "
                f"(starts {bytes(self._buffer[:MAX_VARINT32_BYTES]).hex()})"
            )
        return None


M = TypeVar("M", bound=Message)


class MessageReader(Generic[M]):
    """Frames plus parsing: bytes in, messages of one protobuf type out.

    ``feed`` yields parsed messages in order; a frame whose body does not parse
    (or lacks required fields) yields a ``MalformedMessage`` instance in its place
    rather than raising, so the messages after it are not lost.
    """

    def __init__(self, message_type: type[M], max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.message_type = message_type
        self.frames = FrameDecoder(max_frame)

    def feed(self, data: bytes) -> Iterator[M | MalformedMessage]:
        for body in self.frames.feed(data):
            yield parse_message(self.message_type, body)


def parse_message(message_type: type[M], body: bytes) -> M | MalformedMessage:
    message = message_type()
    try:
        message.ParseFromString(body)
    except (DecodeError, RuntimeWarning, ValueError) as error:
        return MalformedMessage(
            f"frame of {len(body)} bytes is not a valid {message_type.DESCRIPTOR.name}: {error}",
            body,
        )
    if not message.IsInitialized():
        # The stubs declare FindInitializationErrors on upb's Message only; every
        # generated message has it.
        missing = ", ".join(message.FindInitializationErrors())  # type: ignore[attr-defined]
        return MalformedMessage(
            f"{message_type.DESCRIPTOR.name} lacks required fields: {missing}", body
        )
    return message
