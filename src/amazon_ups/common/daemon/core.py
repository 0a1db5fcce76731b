"""The daemon's core, without sockets: bytes and the time in, frames to send out.

``DaemonCore`` is what both daemons (Amazon's fulfilment, UPS's dispatch) do with
their peers, written so that nothing in it waits on a socket or reads a clock:

- ``received(endpoint, data, now)``: frames ``data`` into containers; each container's
  acks are recorded, and each new sub-message is handled (``handle(endpoint, field,
  message, now)``: the time is the core's, never read by the handler) in its own
  transaction that also records its seqnum (``isolation.receive_once``); only once that
  has committed is it owed an ack, so an ack always means "done and saved".
- ``step(now)``: dead letters an operator asked to retry, the app's ``tick(now)`` (new
  work written by the web), then, for each endpoint that is up, the frame of acks owed
  and sub-messages due (loaded from the database's outbox: nothing is kept only here),
  or, on a link with a ``keepalive``, an empty message when we have been silent that
  long (the Amazon-UPS link); ``next_deadline()``: when ``step`` next has something to
  send without new input, for the shell to wait until.
- ``connected``/``dropped``/``record_refusals``/``record_heard``: what operators see of
  each link (the shell sets ``heard_at`` as bytes come).

``runner.Daemon`` is the thin shell that feeds it from ``select`` and real sockets;
tests and ``benchmarks/dispatch.py`` drive the same core on a virtual clock. Failures
follow ``isolation``: an outage propagates (the shell retries the whole turn, nothing
unsaved is acked); a defect in one sub-message or in the tick is set aside or logged.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Callable, Sequence

from django.db import transaction
from google.protobuf.message import Message

from amazon_ups.common.daemon import isolation
from amazon_ups.common.daemon.endpoint import Endpoint
from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.common.messaging import services as messaging
from amazon_ups.protocol.channel import Container, Pending
from amazon_ups.protocol.framing import MalformedMessage, encode_frame

logger = logging.getLogger(__name__)

# A stranger's refused connections are recorded for operators at most this often.
REFUSALS_RECORDED_EVERY = 1.0
# When a peer was last heard is recorded for operators at most this often.
HEARD_RECORDED_EVERY = 1.0


# handle(endpoint, field, sub-message, now): ``now`` is the time the core was given.
Handler = Callable[[Endpoint, str, Message, datetime.datetime], None]
# The periodic work of a turn, given the time; returns when it next has work that
# falls due by the clock alone (a loading deadline, the stuck check), or None.
Tick = Callable[[datetime.datetime], datetime.datetime | None]


class DaemonCore:
    def __init__(
        self,
        name: str,
        endpoints: Sequence[Endpoint],
        handle: Handler,
        tick: Tick | None = None,
        on_connect: Callable[[Endpoint], None] | None = None,
    ) -> None:
        self.name = name
        self.endpoints = endpoints
        self.handle = handle
        self.tick = tick
        self.on_connect = on_connect
        self._refusals_recorded: dict[str, float] = {}
        self._heard_recorded: dict[str, float] = {}
        self._tick_failures = isolation.FailureLog(f"{name}: the tick")
        self._tick_due = float("inf")  # when the tick next has work by the clock

    # -- links -----------------------------------------------------------------------

    def connected(self, endpoint: Endpoint) -> None:
        self._record_state(endpoint, True, "connected")
        if self.on_connect is not None:
            self.on_connect(endpoint)

    def dropped(self, endpoint: Endpoint, reason: str) -> None:
        self._record_state(endpoint, False, reason)

    def _record_state(self, endpoint: Endpoint, connected: bool, detail: str) -> None:
        with transaction.atomic():
            messaging.set_link_state(
                endpoint.peer or endpoint.name, connected, detail, keepalive=endpoint.keepalive
            )

    def record_heard(self, endpoint: Endpoint, now: float) -> None:
        """When the peer was last heard (``endpoint.heard_at``), for the operators' page:
        a peer whose socket is open but that says nothing (frozen, or its loop stuck)
        shows as silent there. Written at most once a second."""
        key = endpoint.peer or endpoint.name
        recorded = self._heard_recorded.get(key, 0.0)
        if endpoint.heard_at <= recorded or now < recorded + HEARD_RECORDED_EVERY:
            return
        self._heard_recorded[key] = endpoint.heard_at
        with transaction.atomic():
            messaging.record_heard(key, endpoint.heard_at)

    def record_refusals(self, endpoint: Endpoint, now: float) -> None:
        """Connections that could not prove themselves, for the operators' page; logged
        and written in batches, so a stranger's flood costs a write a second at most."""
        if not endpoint.refusals or now < self._refusals_recorded.get(endpoint.name, 0.0):
            return
        refusals, endpoint.refusals = endpoint.refusals, []
        self._refusals_recorded[endpoint.name] = now + REFUSALS_RECORDED_EVERY
        more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
        logger.warning("%s: refused: %s%s", endpoint.name, refusals[-1], more)
        with transaction.atomic():
            messaging.record_refusals(endpoint.peer or endpoint.name, len(refusals), refusals[-1])

    # -- in --------------------------------------------------------------------------

    def received(self, endpoint: Endpoint, data: bytes, now: float) -> None:
        """Handle what ``data`` completes, at ``now`` (a Unix time). Raises
        ``FramingError`` (the stream is broken: the connection must go) or an outage
        (nothing of it was acked)."""
        when = _moment(now)
        for container in endpoint.channel.feed(data):
            if isinstance(container, MalformedMessage):
                logger.warning("%s: malformed message ignored: %s", endpoint.name, container)
                continue
            self._receive(endpoint, container, when)

    def _receive(self, endpoint: Endpoint, container: Container, now: datetime.datetime) -> None:
        assert endpoint.peer is not None
        channel = endpoint.channel
        if container.acks:
            with transaction.atomic():
                messaging.acknowledge(endpoint.peer, container.acks)
            channel.acked(list(container.acks))
        for field in channel.incoming_fields:
            for message in getattr(container, field):
                # Returns once the message is handled or set aside; raises on an outage,
                # leaving it and the rest of the container unacked for the peer to re-send.
                handle = functools.partial(self.handle, endpoint, field, message, now)
                isolation.receive_once(endpoint.peer, field, message, handle)
                channel.owe_ack(message.seqnum)

    # -- out -------------------------------------------------------------------------

    def step(self, now: float) -> list[tuple[Endpoint, bytes]]:
        """The turn's work after its reads: what to send to which endpoint (the shell
        sends each, or drops the link it cannot send on)."""
        when = _moment(now)
        isolation.retry_requested(self._receivers(when))
        self._tick(when)
        frames = []
        for endpoint in self.endpoints:
            self._load_outbox(endpoint)
            if not endpoint.up:
                continue
            frame = endpoint.channel.poll(now)
            if frame is None and self._keepalive_due(endpoint) <= now:
                frame = encode_frame(b"")  # an empty message: we are still here
            if frame is not None:
                endpoint.sent_at = now
                frames.append((endpoint, frame))
        return frames

    @staticmethod
    def _keepalive_due(endpoint: Endpoint) -> float:
        """When ``endpoint`` is owed an empty message if nothing else goes (inf: never)."""
        if endpoint.keepalive is None:
            return float("inf")
        return endpoint.sent_at + endpoint.keepalive

    def _tick(self, now: datetime.datetime) -> None:
        if self.tick is None:
            return
        try:
            due = self.tick(now)
        except Exception as error:
            if isolation.is_outage(error):
                raise
            # The tick's work is still in the database: the next turn tries again, and
            # meanwhile acks and messages keep going out.
            self._tick_failures.failed(error)
        else:
            self._tick_failures.succeeded()
            self._tick_due = float("inf") if due is None else due.timestamp()

    def _receivers(self, now: datetime.datetime) -> dict[str, isolation.Receiver]:
        """For retried dead letters: each known peer's container type and handler."""

        def handler(endpoint: Endpoint) -> Callable[[str, Message], None]:
            return lambda field, message: self.handle(endpoint, field, message, now)

        return {
            endpoint.peer: isolation.Receiver(endpoint.channel.incoming, handler(endpoint))
            for endpoint in self.endpoints
            if endpoint.peer is not None
        }

    def _load_outbox(self, endpoint: Endpoint) -> None:
        if endpoint.peer is None:
            return
        rows = messaging_selectors.unacked(endpoint.peer, after_id=endpoint.cursor)
        if rows:
            endpoint.channel.load([Pending(r.seqnum, r.field, bytes(r.body)) for r in rows])
            endpoint.cursor = rows[-1].id

    def next_deadline(self) -> float:
        """When ``step`` has something to send next, without new input (inf: never):
        a re-send, an ack, or a keep-alive falling due, or the tick's own work."""
        deadlines = [
            self._tick_due,
        ] + [
            min(endpoint.channel.next_deadline() or float("inf"), self._keepalive_due(endpoint))
            for endpoint in self.endpoints
            if endpoint.up
        ]
        return min(deadlines, default=float("inf"))


def _moment(now: float) -> datetime.datetime:
    """The core's time (a Unix time) as the aware datetime the services take."""
    return datetime.datetime.fromtimestamp(now, datetime.UTC)
