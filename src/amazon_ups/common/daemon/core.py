"""The daemon's core, without sockets: bytes and the time in, frames to send out.

``DaemonCore`` is what both daemons (Amazon's fulfilment, UPS's dispatch) do with
their peers, written so that nothing in it waits on a socket or reads a clock:

- ``received(endpoint, data, now)``: frames ``data`` into containers; each container's
  acks are recorded, and each new sub-message is handled (``handle(endpoint, field,
  message, now)``: the time is the core's, never read by the handler); the containers
  one read completes are one transaction that records their acks and their
  sub-messages' seqnums, a defective sub-message set aside alone
  (``isolation.receive_all``); only once that has committed is each owed an ack, so
  an ack always means "done and saved".
- ``step(now)``: when there may be work in the database (a look, below): dead letters
  an operator asked to retry (when the web's wake-up says so, or every
  ``SAFETY_LOOK_EVERY``), the app's
  ``tick(now)`` (new work written by the web), and each endpoint's new outbox rows
  (nothing is kept only here; read when this process queued some for its peer since the
  last read, or when woken, a link came up, or ``look_every`` passed: whatever another
  process writes there, it wakes the daemon for); then, for each
  endpoint that is up, the frame of acks owed and sub-messages due, or, on a link with
  a ``keepalive``, an empty message when we have been silent that long (the Amazon-UPS
  link); ``next_deadline()``: when ``step`` next has something to do without new
  input, for the shell to wait until.
- A look happens when something may have written work: a sub-message or an ack came,
  a link came up, the shell was woken (``wake``: the web committed work), the tick's
  own deadline came, or ``look_every`` passed (the safety look: a wake-up can be lost).
  A turn that only carries a keep-alive or a re-send touches no database, which is
  what keeps a daemon at rest silent.
- ``connected``/``dropped``/``record_refusals``/``record_heard``: what operators see of
  each link (the shell sets ``heard_at`` as bytes come).

``runner.Daemon`` is the thin shell that feeds it from ``select`` and real sockets;
tests and ``benchmarks/dispatch.py`` drive the same core on a virtual clock. Failures
follow ``isolation``: an outage propagates (the shell retries the whole turn, nothing
unsaved is acked); a defect in one sub-message or in the tick is set aside or logged.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import logging
from collections.abc import Callable, Iterable, Sequence

from django.db import transaction
from google.protobuf.message import Message

from amazon_ups.common.daemon import isolation
from amazon_ups.common.daemon.endpoint import Endpoint
from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.common.messaging import services as messaging
from amazon_ups.protocol.channel import Container, Pending, SubMessage
from amazon_ups.protocol.framing import MalformedMessage, encode_frame

logger = logging.getLogger(__name__)

# A stranger's refused connections are recorded for operators at most this often.
REFUSALS_RECORDED_EVERY = 1.0
# When a peer was last heard is recorded for operators at most this often.
HEARD_RECORDED_EVERY = 5.0
# Seconds between looks in the database when nothing said there is work.
SAFETY_LOOK_EVERY = 5.0


# handle(endpoint, field, sub-message, now): ``now`` is the time the core was given.
Handler = Callable[[Endpoint, str, Message, datetime.datetime], None]
# The periodic work of a turn, given the time; returns when it next has work that
# falls due by the clock alone (a loading deadline, the stuck check), or None.
Tick = Callable[[datetime.datetime], datetime.datetime | None]
# around_container(endpoint, sub-messages): a context the container's new sub-messages
# are handled in, inside its transaction (e.g. to read the rows they are about at once).
AroundContainer = Callable[
    [Endpoint, Sequence[tuple[str, Message]]], contextlib.AbstractContextManager[object]
]


class DaemonCore:
    def __init__(
        self,
        name: str,
        endpoints: Sequence[Endpoint],
        handle: Handler,
        tick: Tick | None = None,
        on_connect: Callable[[Endpoint], None] | None = None,
        around_container: AroundContainer | None = None,
    ) -> None:
        self.name = name
        self.endpoints = endpoints
        self.handle = handle
        self.tick = tick
        self.on_connect = on_connect
        self.around_container = around_container
        self._refusals_recorded: dict[str, float] = {}
        self._heard_recorded: dict[str, float] = {}
        self._tick_failures = isolation.FailureLog(f"{name}: the tick")
        self._tick_due = float("inf")  # when the tick next has work by the clock
        self._received: dict[str, RecentReceipts] = {}  # per peer
        # Seconds between looks when nothing says there is work (the shell sets it from
        # its wake-up channel: slow with wake-ups, fast without).
        self.look_every = SAFETY_LOOK_EVERY
        # Called after each look (the shell pokes its mail thread: a look is when a
        # handler or the web may have queued an email).
        self.after_look: Callable[[], None] | None = None
        self._look_wanted = True
        self._last_look = float("-inf")
        self._retries_wanted = True  # the first look retries what waits
        self._retries_due = float("-inf")  # when to look for dead letters to retry
        # Every outbox is read at the next look (woken: the web may have written there; a
        # link came up), and at least every ``look_every``; otherwise only those of the
        # peers this process has sent to since (``messaging.queued_here`` when last read).
        self._outboxes_wanted = True
        self._outboxes_due = float("-inf")
        self._outbox_read_at: dict[str, int] = {}
        # Transactions run so far (received containers, looks): the shell tells by it
        # whether a turn worked in the database.
        self.worked = 0

    # -- links -----------------------------------------------------------------------

    def wake(self, retries: bool = True) -> None:
        """Something outside the core (the web) has written work: look at the next step.
        ``retries``: an operator may have asked for dead letters to be retried (the web
        says so: ``wakeup.RETRY``); an order placed is not worth a look for them."""
        self._look_wanted = True
        self._outboxes_wanted = True
        self._retries_wanted = self._retries_wanted or retries

    def connected(self, endpoint: Endpoint) -> None:
        self._look_wanted = True
        self._outboxes_wanted = True
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
        containers = []
        for container in endpoint.channel.feed(data):
            if isinstance(container, MalformedMessage):
                logger.warning("%s: malformed message ignored: %s", endpoint.name, container)
                continue
            containers.append(container)
        if containers:
            # What one read brought (a busy turn lets several containers queue up) is
            # handled in one transaction: its cost is per transaction as much as per
            # sub-message.
            self._receive(endpoint, containers, _moment(now))

    def _receive(
        self, endpoint: Endpoint, containers: list[Container], now: datetime.datetime
    ) -> None:
        assert endpoint.peer is not None
        channel = endpoint.channel
        messages: list[tuple[str, SubMessage]] = []
        acks: list[int] = []
        for container in containers:
            carried = [
                (field, message)
                for field in channel.incoming_fields
                for message in getattr(container, field)
            ]
            if not carried and not container.acks:
                endpoint.keeps_alive = True  # an empty one: a keep-alive
            messages += carried
            acks += container.acks
        if not messages and not acks:
            return  # keep-alives only: no reason to look in the database
        # Re-sends of what is known done (the peer missed our ack, or sent again before
        # it came) are only acked again: no transaction for a container of repeats.
        known = self._received.setdefault(endpoint.peer, RecentReceipts())
        repeats = [message.seqnum for _, message in messages if message.seqnum in known]
        if repeats:
            messages = [
                (field, message) for field, message in messages if message.seqnum not in known
            ]
            for seqnum in repeats:
                channel.owe_ack(seqnum)
            if not messages and not acks:
                return
        # Handlers may have written work (replies, next moves), and the tick acts on acks
        # (UPS confirms a delivery once the world has acked its command).
        self._look_wanted = True

        def handle(field: str, message: Message) -> None:
            self.handle(endpoint, field, message, now)

        around = self.around_container
        # Returns once the containers are handled (a defective sub-message set aside) and
        # committed; raises on an outage, leaving all of them unacked for the peer to
        # re-send.
        self.worked += 1
        owed = isolation.receive_all(
            endpoint.peer,
            messages,
            handle,
            acks=acks,
            around=None if around is None else lambda new: around(endpoint, new),
        )
        known.add(owed)  # committed: from now on known without a look
        if acks:
            channel.acked(acks)
        for seqnum in owed:
            channel.owe_ack(seqnum)

    # -- out -------------------------------------------------------------------------

    def step(self, now: float) -> list[tuple[Endpoint, bytes]]:
        """The turn's work after its reads: what to send to which endpoint (the shell
        sends each, or drops the link it cannot send on)."""
        if self._look_due() <= now:
            self._look(now)
        frames = []
        for endpoint in self.endpoints:
            if not endpoint.up:
                continue
            frame = endpoint.channel.poll(now)
            if frame is None and self._keepalive_due(endpoint) <= now:
                frame = encode_frame(b"")  # an empty message: we are still here
            if frame is not None:
                endpoint.sent_at = now
                frames.append((endpoint, frame))
        return frames

    def _look(self, now: float) -> None:
        """What the database holds for this turn; raises on an outage, and the next
        step looks again."""
        self._look_wanted = True
        self.worked += 1
        when = _moment(now)
        # Only an operator asks for retries, and the web's wake-up says when one does: not
        # looked for on every look a message or a new order causes.
        if self._retries_wanted or now >= self._retries_due:
            isolation.retry_requested(self._receivers(when))
            self._retries_wanted = False
            self._retries_due = now + SAFETY_LOOK_EVERY
        self._tick(when)
        every = self._outboxes_wanted or now >= self._outboxes_due
        for endpoint in self.endpoints:
            self._load_outbox(endpoint, every)
        if every:
            self._outboxes_wanted = False
            self._outboxes_due = now + self.look_every
        self._look_wanted = False
        self._last_look = now
        if self.after_look is not None:
            self.after_look()

    def _look_due(self) -> float:
        if self._look_wanted:
            return float("-inf")
        return min(self._tick_due, self._last_look + self.look_every)

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

    def _load_outbox(self, endpoint: Endpoint, every: bool) -> None:
        """The peer's new outbox rows into its channel: if ``every`` outbox is to be read,
        or this process has queued some for it since it was last read (a handler, the
        tick); nothing else writes there without waking the daemon."""
        peer = endpoint.peer
        if peer is None:
            return
        queued = messaging.queued_here(peer)
        if not every and self._outbox_read_at.get(peer) == queued:
            return
        rows = messaging_selectors.unacked(peer, after_id=endpoint.cursor)
        self._outbox_read_at[peer] = queued
        if rows:
            endpoint.channel.load([Pending(r.seqnum, r.field, bytes(r.body)) for r in rows])
            endpoint.cursor = rows[-1].id

    def next_deadline(self) -> float:
        """When ``step`` has something to do next, without new input (inf: never):
        a re-send, an ack, or a keep-alive falling due, or a look (the tick's own work,
        the safety look)."""
        deadlines = [
            self._look_due(),
        ] + [
            min(endpoint.channel.next_deadline() or float("inf"), self._keepalive_due(endpoint))
            for endpoint in self.endpoints
            if endpoint.up
        ]
        return min(deadlines, default=float("inf"))


class RecentReceipts:
    """The seqnums last received from one peer and committed (the newest ``size``): a
    cache of what the receipts table holds, so that a re-sent sub-message is acked
    again without a look in the database. Only committed receipts go in, so it can
    only be behind the table, never ahead: a seqnum it has forgotten (or never held,
    after a restart) is looked up in the table as before."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._seqnums: set[int] = set()
        self._order: collections.deque[int] = collections.deque()

    def __contains__(self, seqnum: int) -> bool:
        return seqnum in self._seqnums

    def add(self, seqnums: Iterable[int]) -> None:
        for seqnum in seqnums:
            if seqnum in self._seqnums:
                continue
            self._seqnums.add(seqnum)
            self._order.append(seqnum)
            if len(self._order) > self.size:
                self._seqnums.discard(self._order.popleft())


def _moment(now: float) -> datetime.datetime:
    """The core's time (a Unix time) as the aware datetime the services take."""
    return datetime.datetime.fromtimestamp(now, datetime.UTC)
