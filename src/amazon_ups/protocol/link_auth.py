"""Sans-IO mutual authentication of the Amazon-UPS link (docs/amazon-ups-protocol.md, 2.2).

Before any ``AmazonToUps`` or ``UpsToAmazon``, four frames::

    Amazon -> UPS   LinkHello      version, amazon_nonce
    UPS -> Amazon   LinkChallenge  version, ups_nonce          (or error, then close)
    Amazon -> UPS   LinkProof      proof("amazon")
    UPS -> Amazon   LinkWelcome    proof("ups")                (or error, then close)

    proof(role) = HMAC-SHA256(secret, b"amazon-ups/<version> <role>\\n" + amazon_nonce + ups_nonce)

Amazon proves first, so UPS never computes a proof for a stranger; each side's fresh
nonce means an old proof is worthless; the role in the label means a proof cannot be
reflected back to the side that made it. Proofs are compared in constant time.

``LinkHandshake`` is the whole exchange as pure state, like h11's connection: feed it
the bytes that arrived, get back the bytes to send; it raises ``HandshakeFailed``
(with, for UPS, a last frame that tells the peer why) when the peer cannot prove
itself. Nothing here touches a socket or a clock.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import TypeVar

from google.protobuf.message import Message

from amazon_ups.protocol import au_pb2
from amazon_ups.protocol.errors import RemoteProtocolError
from amazon_ups.protocol.framing import FrameDecoder, FramingError, encode_frame, parse_message

M = TypeVar("M", bound=Message)

VERSION = 1  # the highest version we speak; the only one so far
NONCE_BYTES = 32
PROOF_BYTES = hashlib.sha256().digest_size
# The handshake's frames are tens of bytes; a stranger gets no more room than this.
MAX_HANDSHAKE_FRAME = 1024


class Role(enum.StrEnum):
    AMAZON = "amazon"  # connects, speaks first
    UPS = "ups"  # listens


class Failure(enum.StrEnum):
    """Why a handshake failed; the text is what the other side is told."""

    MALFORMED = "malformed handshake"
    VERSION = "no common protocol version"
    NONCE = "nonce must be 32 bytes"
    PROOF = "wrong proof: the two sides do not hold the same secret"
    REFUSED = "refused by the peer"


class HandshakeFailed(RemoteProtocolError):
    """The peer did not prove itself (``peer_fault``) or refused us.

    ``reply`` is a last frame to send before closing (UPS tells Amazon why), or b"".
    """

    def __init__(self, failure: Failure, detail: str, reply: bytes = b"") -> None:
        super().__init__(f"{failure}: {detail}" if detail else str(failure))
        self.failure = failure
        self.detail = detail
        self.reply = reply


class _State(enum.Enum):
    START = enum.auto()
    HELLO_SENT = enum.auto()  # Amazon: waiting for the challenge
    PROOF_SENT = enum.auto()  # Amazon: waiting for the welcome
    CHALLENGE_SENT = enum.auto()  # UPS: waiting for the proof
    DONE = enum.auto()
    FAILED = enum.auto()


def proof(secret: bytes, version: int, role: Role, amazon_nonce: bytes, ups_nonce: bytes) -> bytes:
    label = f"amazon-ups/{version} {role}\n".encode()
    return hmac.new(secret, label + amazon_nonce + ups_nonce, hashlib.sha256).digest()


class LinkHandshake:
    """One side of one connection's handshake."""

    def __init__(
        self,
        role: Role,
        secret: bytes,
        nonce: bytes | None = None,
        versions: range = range(1, VERSION + 1),
    ) -> None:
        self.role = role
        self._secret = secret
        self._nonce = nonce if nonce is not None else secrets.token_bytes(NONCE_BYTES)
        self._versions = versions
        self._frames = FrameDecoder(MAX_HANDSHAKE_FRAME)
        self._state = _State.START
        self._amazon_nonce = self._nonce if role is Role.AMAZON else b""
        self._ups_nonce = self._nonce if role is Role.UPS else b""
        self.version: int | None = None
        # Bytes that came after the last handshake frame: the first messages.
        self.leftover = b""

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    def start(self) -> bytes:
        """Amazon's first frame; UPS says nothing until it has heard Amazon."""
        if self.role is Role.UPS:
            return b""
        assert self._state is _State.START, self._state
        self._state = _State.HELLO_SENT
        return _frame(au_pb2.LinkHello(version=self._versions[-1], nonce=self._nonce))

    def receive(self, data: bytes) -> bytes:
        """Bytes from the peer in; bytes to send out. Raises ``HandshakeFailed``."""
        if self._state is _State.DONE:
            self.leftover += data
            return b""
        if self._state is _State.FAILED:
            raise HandshakeFailed(Failure.MALFORMED, "the handshake has already failed")
        out = b""
        # One frame at a time: the handshake's limit on a frame's length is for its
        # own frames, not for the messages that may follow the last one in the same
        # bytes (UPS sends what waits for Amazon right after its welcome).
        while self._state is not _State.DONE:
            try:
                bodies = self._frames.feed(data, most=1)
            except FramingError as error:
                raise self._fail(Failure.MALFORMED, str(error)) from None
            data = b""
            if not bodies:
                break
            out += self._step(bodies[0])
        if self._state is _State.DONE:
            self.leftover += self._frames.take_rest()
        return out

    # -- the steps ---------------------------------------------------------------------

    def _step(self, body: bytes) -> bytes:
        step: Callable[[bytes], bytes] = {
            _State.START: self._on_hello,  # UPS
            _State.HELLO_SENT: self._on_challenge,  # Amazon
            _State.CHALLENGE_SENT: self._on_proof,  # UPS
            _State.PROOF_SENT: self._on_welcome,  # Amazon
        }[self._state]
        return step(body)

    def _on_hello(self, body: bytes) -> bytes:
        hello = self._parse(au_pb2.LinkHello, body)
        if hello.version < self._versions[0]:
            raise self._fail(
                Failure.VERSION,
                f"Amazon speaks up to version {hello.version}, "
                f"UPS from {self._versions[0]} to {self._versions[-1]}",
            )
        self._amazon_nonce = self._check_nonce(hello.nonce)
        self.version = min(hello.version, self._versions[-1])
        self._state = _State.CHALLENGE_SENT
        return _frame(au_pb2.LinkChallenge(version=self.version, nonce=self._nonce))

    def _on_challenge(self, body: bytes) -> bytes:
        challenge = self._parse(au_pb2.LinkChallenge, body)
        if challenge.HasField("error"):
            raise self._fail(Failure.REFUSED, challenge.error)
        if not (challenge.HasField("version") and challenge.HasField("nonce")):
            raise self._fail(Failure.MALFORMED, "LinkChallenge without version or nonce")
        if challenge.version not in self._versions:
            raise self._fail(Failure.VERSION, f"UPS chose version {challenge.version}")
        self.version = challenge.version
        self._ups_nonce = self._check_nonce(challenge.nonce)
        self._state = _State.PROOF_SENT
        return _frame(au_pb2.LinkProof(proof=self._proof(Role.AMAZON)))

    def _on_proof(self, body: bytes) -> bytes:
        message = self._parse(au_pb2.LinkProof, body)
        if not hmac.compare_digest(message.proof, self._proof(Role.AMAZON)):
            raise self._fail(Failure.PROOF, "Amazon's proof does not match UPS's secret")
        self._state = _State.DONE
        return _frame(au_pb2.LinkWelcome(proof=self._proof(Role.UPS)))

    def _on_welcome(self, body: bytes) -> bytes:
        welcome = self._parse(au_pb2.LinkWelcome, body)
        if welcome.HasField("error"):
            raise self._fail(Failure.REFUSED, welcome.error)
        if not hmac.compare_digest(welcome.proof, self._proof(Role.UPS)):
            raise self._fail(Failure.PROOF, "UPS's proof does not match Amazon's secret")
        self._state = _State.DONE
        return b""

    # -- helpers -----------------------------------------------------------------------

    def _proof(self, role: Role) -> bytes:
        assert self.version is not None
        return proof(self._secret, self.version, role, self._amazon_nonce, self._ups_nonce)

    def _parse(self, kind: type[M], body: bytes) -> M:
        message = parse_message(kind, body)
        if isinstance(message, Exception):
            raise self._fail(Failure.MALFORMED, f"expected {kind.__name__}: {message}")
        return message

    def _check_nonce(self, nonce: bytes) -> bytes:
        if len(nonce) != NONCE_BYTES:
            raise self._fail(Failure.NONCE, f"got {len(nonce)} bytes")
        return nonce

    def _fail(self, failure: Failure, detail: str) -> HandshakeFailed:
        """The error to raise; UPS's carries the frame that tells Amazon why."""
        state, self._state = self._state, _State.FAILED
        reply = b""
        if self.role is Role.UPS and failure is not Failure.REFUSED:
            text = f"error: {failure}" + (f" ({detail})" if failure is Failure.VERSION else "")
            if state is _State.START:
                reply = _frame(au_pb2.LinkChallenge(error=text))
            else:
                reply = _frame(au_pb2.LinkWelcome(error=text))
        return HandshakeFailed(failure, detail, reply)


def _frame(message: Message) -> bytes:
    return encode_frame(message.SerializeToString())
