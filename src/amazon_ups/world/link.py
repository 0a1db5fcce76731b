"""One connection to the world server (``server.WorldServer``): it frames the bytes,
answers the connect handshake, queues every commands message for the server to run a
slice at a time, and writes the acks and results the server flushes to it. It keeps to
the limits (``limits``): a deadline for the handshake, caps on what it buffers, and it
stops reading while its frames wait to be run."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from typing import TYPE_CHECKING

from google.protobuf.message import Message

from amazon_ups.protocol.framing import (
    FrameDecoder,
    FramingError,
    MalformedMessage,
    encode_frame,
    parse_message,
)
from amazon_ups.protocol.world_messages import DIALECTS, Side, error_text
from amazon_ups.world.engine import ConnectResult
from amazon_ups.world.faults import Faults
from amazon_ups.world.journal import Entry, EntryKind
from amazon_ups.world.limits import (
    COMMAND_UNITS,
    SMALL_FRAME,
    FrameSlicer,
    MiB,
    Overflow,
    Refusal,
    lazy_commands,
    over_limit_text,
)
from amazon_ups.world.messagelog import Direction

if TYPE_CHECKING:
    from amazon_ups.world.server import WorldServer

logger = logging.getLogger(__name__)

# How long a refused connection is kept to read what the peer sends (its connect frame)
# before closing: closing with unread input would reset the connection, and the reset
# may destroy our refusal before the peer reads it.
REFUSAL_LINGER = 2.0
# A closed connection that held this much makes the world give free memory back.
TRIM_AFTER = 1 * MiB


# A peer that vanished is noticed after DEAD_PEER_IDLE s of silence and DEAD_PEER_PROBES
# unanswered probes a second apart, or DEAD_PEER_AFTER s of our data unacknowledged.
DEAD_PEER_IDLE, DEAD_PEER_PROBES, DEAD_PEER_AFTER = 4, 6, 10


def _keep_alive(sock: socket.socket | None) -> None:
    """Notice within about 10 s a peer that vanished without closing (its host died,
    the network broke): until then its world side refuses a new connection, and a
    standby that took over from it waits (the same bound as the daemons' database
    sessions, so the new one is let in about when it leads)."""
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_KEEPIDLE"):  # Linux; elsewhere the system defaults apply
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, DEAD_PEER_IDLE)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, DEAD_PEER_PROBES)
    if hasattr(socket, "TCP_USER_TIMEOUT"):  # also when our results wait for its ack
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, DEAD_PEER_AFTER * 1000)


class Link(asyncio.Protocol):
    """One client connection on the Amazon or the UPS port."""

    def __init__(self, server: WorldServer, side: Side) -> None:
        self.server = server
        self.limits = server.limits
        self.side = side
        self.dialect = DIALECTS[side]
        self.frames = FrameDecoder(self.limits.max_frame)
        self.world: int | None = None
        self.faults: Faults | None = None
        self.closing = False
        self.last_heard = time.monotonic()
        self.since = time.time()
        self.silence_noted = False
        self.peer = "?"
        self.address = "?"
        self.admitted = False
        self.refused = False
        # Frames received and not yet run, and the one being run slice by slice.
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.current: FrameSlicer | None = None
        self.current_bytes = 0
        self.current_body = b""
        self.scheduled = False
        self.spent = 0
        self.paused = False
        self.paused_at = float("-inf")
        self.heard_again_at = float("-inf")
        self.writing_paused = False  # the transport's buffer is past its high-water mark
        self.held_most = 0  # the most bytes this connection held at once
        self._deadline: asyncio.TimerHandle | None = None  # connect deadline, or linger
        self._idle_timer: asyncio.TimerHandle | None = None

    @property
    def serving(self) -> bool:
        """Connected to a world and neither saying goodbye nor closing."""
        return self.world is not None and not self.closing and not self.transport.is_closing()

    # -- asyncio callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.address = peer[0] if peer else "?"
        refusal = self.server.admission.admit(self.address)
        if refusal is not None:
            self._refuse(refusal)
            return
        self.admitted = True
        _keep_alive(transport.get_extra_info("socket"))
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self.limits.connect_deadline, self._connect_overdue)
        self._watch_idle()

    def data_received(self, data: bytes) -> None:
        if self.refused or self.closing:
            return
        self.last_heard = time.monotonic()
        self.silence_noted = False
        try:
            frames = self.frames.feed(data)
        except FramingError as error:
            self._drop(f"bad framing: {error}")
            return
        for body in frames:
            if self.closing:
                return
            if self.world is None:
                self._handshake(body)
            else:
                self.queue.append(body)
                self.queued_bytes += len(body)
        if self.world is None and self.frames.buffered > self.limits.connect_max_frame:
            self._drop(
                f"{self.frames.buffered:,} bytes and no connect frame yet, over the limit of "
                f"{self.limits.connect_max_frame:,}"
            )
            return
        if self._account_input():
            return
        if self.queue and not self.scheduled:
            # This read's turn, at once, as a round would give it: most reads are one
            # small frame, which then costs no scheduling and no pause in reading.
            try:
                if not self.run_turn():
                    return
            except Exception:
                logger.exception("world %s: %s link failed; closing it", self.world, self.side)
                self.transport.abort()
                return
        if self.queue or self.current is not None:
            # Read no more until these have run: the peer waits in its own buffers, not ours.
            if not self.paused:
                self.paused = True
                self.paused_at = time.time()
                self.transport.pause_reading()
            self.server.schedule(self)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.server.wake()  # re-sends held back meanwhile may be due

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        for timer in (self._deadline, self._idle_timer):
            if timer is not None:
                timer.cancel()
        self.queue.clear()
        self.current = None
        held = max(self.held_most, self.server.ledger.held(self))
        self.server.ledger.forget(self)
        if self.admitted:
            self.server.admission.release(self.address)
        if held >= TRIM_AFTER:
            self.server.want_trim()
        if self.world is not None and self.server.links.get((self.world, self.side)) is self:
            del self.server.links[(self.world, self.side)]
            logger.info("world %d: %s disconnected (%s)", self.world, self.side, exc or "closed")

    # -- protocol --------------------------------------------------------------------

    def _refuse(self, refusal: Refusal) -> None:
        self.refused = True
        text = refusal.text(self.limits, self.address)
        self.transport.write(
            encode_frame(self.dialect.connected(worldid=-1, result=text).SerializeToString())
        )
        self.server.trouble(
            self.server.refusals, "%s connection from %s refused: %s", self.side, self.peer, text
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(REFUSAL_LINGER, self.transport.abort)

    def _connect_overdue(self) -> None:
        if self.world is None and not self.transport.is_closing():
            self._drop(f"no successful connect within {self.limits.connect_deadline:g} s")

    def _handshake(self, body: bytes) -> None:
        if len(body) > self.limits.connect_max_frame:
            self._drop(
                f"a first frame of {len(body):,} bytes, over the limit of "
                f"{self.limits.connect_max_frame:,}"
            )
            return
        request = parse_message(self.dialect.connect, body)
        if isinstance(request, MalformedMessage):
            self._write(self.dialect.connected(worldid=-1, result=error_text(str(request))))
            self._drop(f"first frame is not a {self.dialect.connect.DESCRIPTOR.name}: {request}")
            return
        wanted = request.worldid if request.HasField("worldid") else None
        result = None
        if wanted is not None and (wanted, self.side) in self.server.links:
            result = ConnectResult(
                wanted, error_text(f"world {wanted} already has a {self.side} connection")
            )
        elif wanted is None and request.isAmazon == (self.side is Side.AMAZON):
            self.server.sweep(coming=1)
            if len(self.server.engine.worlds) >= self.limits.max_worlds:
                result = ConnectResult(
                    -1,
                    error_text(
                        f"too many worlds ({len(self.server.engine.worlds)}), every one "
                        "of them connected; try again later"
                    ),
                )
        if result is None:
            entry = Entry(EntryKind.CONNECT, self.side, wanted, time.time(), body)
            result = self.server.submit(entry)
            assert result is not None
            self.server.journal.commit()  # the reply promises the world exists
        self._write(self.dialect.connected(worldid=result.world_id, result=result.result))
        if not result.ok:
            logger.info("%s connect from %s refused: %s", self.side, self.peer, result.result)
            return
        self.world = result.world_id
        if self._deadline is not None:
            self._deadline.cancel()
        self.faults = Faults(self.server.faults_for(self.world), self.world, self.side)
        self.server.links[(self.world, self.side)] = self
        logger.info("world %d: %s connected from %s", self.world, self.side, self.peer)

    def run_turn(self) -> bool:
        """This link's turn: slices of its frames, up to ``--slice-commands``
        sub-commands in all (many small frames, or one slice of a big one); whether
        more are waiting."""
        spent = 0
        while True:
            more = self.run_slice()
            spent += self.spent
            if not more or spent >= self.limits.slice_commands:
                return more

    def run_slice(self) -> bool:
        """Run the next slice of this link's frames; whether more are waiting. What it
        cost, in sub-commands, is left in ``spent``."""
        self.spent = self.limits.slice_commands  # parsing, checking: a whole turn
        if self.closing or self.transport.is_closing():
            return False
        assert self.world is not None and self.faults is not None
        server, engine = self.server, self.server.engine
        if self.current is None:
            if not self.queue:
                return False
            body = self.queue.popleft()
            self.queued_bytes -= len(body)
            if not self._start_frame(body):
                return bool(self.queue)
        slicer = self.current
        assert slicer is not None
        if not slicer.checked:
            problem = slicer.check()
            if problem is not None:
                self._malformed(problem)
                return bool(self.queue)
            if not slicer.checked:
                return True
            # Checked in this step (a small frame, or the end of a big one): its first
            # slice runs at once, so a small frame costs one turn, as before slicing.
        tally = engine.tally(self.world, self.side)
        if slicer.remaining and engine.unacked(self.world, self.side) >= self.limits.max_unacked:
            left_out = slicer.drop_commands()
            tally.refused += left_out
            server.trouble(
                server.overflows,
                "world %d: %s has %d results unacked (limit %d): %d commands not taken",
                self.world,
                self.side,
                engine.unacked(self.world, self.side),
                self.limits.max_unacked,
                left_out,
            )
        piece = slicer.next()
        assert piece is not None
        dropped = self.faults.filter_commands(piece.message)
        tally.dropped += dropped
        # A whole frame, as it came, is journaled as it came, and a slice made from bytes
        # as those bytes: no need to serialize them again.
        if dropped:
            body = piece.message.SerializeToString()
        elif piece.whole:
            body = self.current_body
        else:
            body = piece.body if piece.body is not None else piece.message.SerializeToString()
        entry = Entry(EntryKind.COMMANDS, self.side, self.world, time.time(), body)
        server.submit(entry, piece.message)
        if server.message_log is not None:
            server.log_message(self, Direction.IN, body)
        self.spent = piece.commands + piece.acks // COMMAND_UNITS + 1
        if piece.last:
            self.current = None
            self.current_bytes = 0
            self.current_body = b""
            if slicer.frame.disconnect:
                self.closing = True
                self.queue.clear()
                server.wake()
                return False
        self._account_input()
        return bool(self.queue) or self.current is not None

    def _start_frame(self, body: bytes) -> bool:
        """Parse the next frame; False if there is nothing to slice (it was malformed)."""
        assert self.world is not None
        server = self.server
        small = len(body) <= SMALL_FRAME
        kind = self.dialect.commands if small else lazy_commands(self.dialect)
        commands = parse_message(kind, body)
        now = time.time()
        if isinstance(commands, MalformedMessage):
            self._malformed(str(commands))
            return False
        slicer = FrameSlicer(self.dialect, commands, self.limits)
        if slicer.excess:
            text = over_limit_text(slicer.held, self.limits.max_commands)
            server.submit(Entry(EntryKind.REFUSED, self.side, self.world, now, text.encode()))
            server.engine.tally(self.world, self.side).refused += slicer.excess
            server.trouble(server.overflows, "world %d: %s sent %s", self.world, self.side, text)
        self.current = slicer
        self.current_bytes = len(body)
        self.current_body = body
        return True

    def _malformed(self, reason: str) -> None:
        """The frame being started does not parse: the peer gets an error, nothing runs."""
        assert self.world is not None
        logger.warning("world %d: %s sent a malformed frame: %s", self.world, self.side, reason)
        entry = Entry(EntryKind.MALFORMED, self.side, self.world, time.time(), reason.encode())
        self.server.submit(entry)
        self.current = None
        self.current_bytes = 0
        self.current_body = b""

    def idle_again(self) -> None:
        """Its frames have all run: read from the peer again."""
        if self.paused and not self.closing and not self.transport.is_closing():
            self.paused = False
            now = time.time()
            if now - self.paused_at >= self.server.engine.resend_policy.first:
                # Long enough for re-sends to have come due meanwhile (see resend_from);
                # a small frame's pause is not, and changes nothing.
                self.heard_again_at = now
            self.transport.resume_reading()

    def resend_from(self) -> float:
        """When our unacked results may be re-sent to this peer.

        While its frames wait to be run, its acks for our earlier results are probably
        among them, and for a moment after: re-sending before reading them would repeat
        what it already has, at the cost of every other world (a peer sending big frames
        back to back would get each result many times over). So not while it is busy,
        and not before one first re-send interval after it is read again.

        Nor while it is not reading what we sent: a result still in our buffer cannot have
        been acked, and its copies would pile up there (past ``--max-buffered-out``, for a
        peer only slow to read); new results still go."""
        if self.paused or self.current is not None or self.queue or self.writing_paused:
            return float("inf")
        return self.heard_again_at + self.server.engine.resend_policy.first

    def flush(self, now: float) -> None:
        """Send what the engine has for this link: acks, new results, re-sends."""
        if self.world is None or self.transport.is_closing():
            return
        if self.closing and (self.current is not None or self.queue):
            return  # the goodbye waits for the frame before it to have run
        # New results go now (a result never sent is due from minus infinity); re-sends
        # wait until the peer has been heard (see resend_from).
        responses = self.server.engine.responses(
            self.world,
            self.side,
            now,
            self.limits.max_results_per_message,
            resend=now >= self.resend_from(),
        )
        if self.closing:
            responses = responses or self.dialect.responses()
            responses.finished = True
            self._write(responses)  # no faults on the goodbye: the peer is waiting for it
            self.transport.close()
            logger.info("world %d: %s disconnected on request", self.world, self.side)
            return
        if responses is None:
            self._account_output()
            return
        assert self.faults is not None
        mangled = self.faults.mangle_responses(responses)
        if mangled is None:
            return
        delay = self.faults.hold_back()
        if delay:
            asyncio.get_running_loop().call_later(delay, self._write, mangled)
        else:
            self._write(mangled)

    # -- transport ---------------------------------------------------------------------

    def _account_input(self) -> bool:
        """Tell the ledger what this link holds of input; True if it was cut off for it."""
        held = self.frames.buffered + self.queued_bytes + self.current_bytes
        self.held_most = max(self.held_most, held)
        overflow = self.server.ledger.set_in(self, held)
        if overflow is None:
            return False
        self._overflow(overflow, held)
        return True

    def _account_output(self) -> None:
        held = self.transport.get_write_buffer_size()
        self.held_most = max(self.held_most, held)
        overflow = self.server.ledger.set_out(self, held)
        if overflow is not None:
            self._overflow(overflow, held)

    def _overflow(self, overflow: Overflow, held: int) -> None:
        reason = overflow.text(
            self.limits, held if overflow is not Overflow.TOTAL else self.server.ledger.total
        )
        where = f"world {self.world}: " if self.world is not None else ""
        self.server.trouble(
            self.server.overflows,
            "%s%s connection from %s cut off: %s",
            where,
            self.side,
            self.peer,
            reason,
        )
        self.closing = True
        # Not close(): that would first send what is buffered, holding the memory longer.
        self.transport.abort()

    def _write(self, message: Message) -> None:
        if self.transport.is_closing():
            return
        body = message.SerializeToString()
        self.transport.write(encode_frame(body))
        self._account_output()
        if self.world is not None and self.server.message_log is not None:
            self.server.log_message(self, Direction.OUT, body)

    def _drop(self, reason: str) -> None:
        where = f"world {self.world}: " if self.world is not None else ""
        self.server.trouble(
            self.server.drops,
            "%s%s connection from %s closed: %s",
            where,
            self.side,
            self.peer,
            reason,
        )
        self.closing = True
        self.transport.close()

    def _watch_idle(self) -> None:
        if self.transport.is_closing():
            return
        idle_for = time.monotonic() - self.last_heard
        timeout = self.server.config.idle_timeout
        if idle_for >= timeout:
            self._drop(f"idle for {idle_for:.0f} s")
            return
        self._idle_timer = asyncio.get_running_loop().call_later(
            timeout - idle_for, self._watch_idle
        )
