"""Shared test helpers: a world server in a real subprocess, and ready-made clients."""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from google.protobuf.message import Message

from amazon_ups.protocol.channel import SubMessage
from amazon_ups.protocol.framing import (
    FrameDecoder,
    FramingError,
    MalformedMessage,
    encode_frame,
    parse_message,
)
from amazon_ups.protocol.link_auth import HandshakeFailed, LinkHandshake, Role
from amazon_ups.protocol.world_connect import connect_request
from amazon_ups.protocol.world_messages import (
    CONNECTED,
    DIALECTS,
    AnyConnected,
    AnyResponses,
    Side,
)
from amazon_ups.world.client import WorldClient

M = TypeVar("M", bound=Message)

FAST = 100_000  # simspeed at which a whole order flow takes milliseconds
LOGIN_PATH = "/accounts/login/"  # both sites


def failed_login(client, username: str, path: str = LOGIN_PATH, address: str = "127.0.0.1"):
    """One login POST with a wrong password, from ``address``."""
    return client.post(path, {"username": username, "password": "wrong-guess"}, REMOTE_ADDR=address)


def login_until_locked(client, username: str, path: str = LOGIN_PATH, address: str = "127.0.0.1"):
    """As many failures as lock ``username`` at ``address`` (django-axes): the last
    one's response; the ones before it must still be the form with its error."""
    from django.conf import settings

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        refused = failed_login(client, username, path, address)
        assert refused.status_code == 200  # the form again, with its error
        assert "Please enter a correct username and password" in refused.content.decode()
    return failed_login(client, username, path, address)


# The Amazon-UPS link's secret in the tests' daemons (tests/conftest.py) and peers.
TEST_LINK_SECRET = "a-secret-the-tests-share-between-amazon-and-ups"

# A moment as both sites write it for people (amazon_ups.common.dates).
HUMAN_TIME = r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC"


def handshake_blocking(sock: socket.socket, handshake: LinkHandshake, timeout: float) -> bytes:
    """Runs ``handshake`` on a blocking socket within ``timeout`` s; returns the bytes
    that came after it. Raises ``HandshakeFailed``, ``TimeoutError`` or ``OSError``."""
    deadline = time.monotonic() + timeout
    sock.sendall(handshake.start())
    while not handshake.done:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no answer to the link's handshake within {timeout:g} s")
        sock.settimeout(remaining)
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("the peer closed the connection during the handshake")
        try:
            reply = handshake.receive(data)
        except HandshakeFailed as failed:
            if failed.reply:
                sock.sendall(failed.reply)
            raise
        if reply:
            sock.sendall(reply)
    return handshake.leftover


async def link_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    role: Role,
    secret: str = TEST_LINK_SECRET,
    timeout: float = 5.0,
) -> bytes:
    """The Amazon-UPS link's handshake over asyncio streams; returns the bytes that
    came after it. Raises ``HandshakeFailed``, ``TimeoutError`` or ``ConnectionError``."""
    handshake = LinkHandshake(role, secret.encode())
    writer.write(handshake.start())
    async with asyncio.timeout(timeout):
        while not handshake.done:
            data = await reader.read(4096)
            if not data:
                raise ConnectionError("the peer closed the connection during the handshake")
            try:
                reply = handshake.receive(data)
            except HandshakeFailed as failed:
                writer.write(failed.reply)
                raise
            writer.write(reply)
    return handshake.leftover


async def connect_pair(
    ports: dict[Side, int],
    trucks: Iterable[tuple[int, int, int]] = ((1, 0, 0), (2, 0, 0)),
    warehouses: Iterable[tuple[int, int, int]] = ((1, 10, 10), (2, -20, 5)),
    simspeed: int | None = FAST,
    host: str = "127.0.0.1",
) -> tuple[WorldClient, WorldClient]:
    """UPS creates a world with ``trucks``; Amazon joins it with ``warehouses``."""
    ups = await WorldClient.open(Side.UPS, host, ports[Side.UPS], places=trucks)
    amazon = await WorldClient.open(
        Side.AMAZON, host, ports[Side.AMAZON], world_id=ups.world_id, places=warehouses
    )
    if simspeed is not None:
        ups.set_simspeed(simspeed)
        amazon.set_simspeed(simspeed)
    return ups, amazon


class RawLink:
    """A bare world connection: frames in and out, and nothing done behind the test's back.

    It acks nothing and re-sends nothing (unless ``auto_ack`` is set), and keeps every
    copy of every message the world sends, so tests see re-sends, duplicates and acks
    exactly as they came. Commands carry whatever seqnums the test writes in them.
    """

    def __init__(self, side: Side, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.side = side
        self.dialect = DIALECTS[side]
        self.reader, self.writer = reader, writer
        self.frames = FrameDecoder()
        self.replies: list[AnyConnected | MalformedMessage] = []
        self.messages: list[AnyResponses] = []  # every one, in arrival order
        self.malformed: list[str] = []
        self.sent_acks: set[int] = set()  # every result seqnum this link has acked
        self.eof = False
        self.auto_ack = False
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read_loop())

    @classmethod
    async def open(cls, side: Side, port: int, host: str = "127.0.0.1") -> RawLink:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(side, reader, writer)

    @classmethod
    async def join(
        cls,
        side: Side,
        port: int,
        world_id: int | None = None,
        places: Iterable[tuple[int, int, int]] = (),
        host: str = "127.0.0.1",
    ) -> RawLink:
        """Open a connection and create or join a world; fails unless "connected!"."""
        link = await cls.open(side, port, host)
        reply = await link.handshake(world_id, places)
        assert reply.result == CONNECTED, reply.result
        return link

    async def handshake(
        self,
        world_id: int | None = None,
        places: Iterable[tuple[int, int, int]] = (),
        timeout: float = 10.0,
    ) -> AnyConnected:
        request = connect_request(self.dialect, self.side is Side.AMAZON, world_id, list(places))
        before = len(self.replies)
        self.write(request)
        await self.wait_for(lambda: len(self.replies) > before or self.eof, timeout)
        assert len(self.replies) > before, "world closed the connection during the handshake"
        reply = self.replies[before]
        assert not isinstance(reply, MalformedMessage), str(reply)
        return reply

    @property
    def connected(self) -> bool:
        """The last connect reply said "connected!"."""
        return bool(self.replies) and getattr(self.replies[-1], "result", None) == CONNECTED

    @property
    def world_id(self) -> int:
        reply = self.replies[-1]
        assert not isinstance(reply, MalformedMessage), str(reply)
        return reply.worldid

    # -- sending ------------------------------------------------------------------

    def write(self, message: Message) -> None:
        self.writer.write(encode_frame(message.SerializeToString()))

    def write_bytes(self, data: bytes) -> None:
        self.writer.write(data)

    def send(self, **fields: Any) -> None:
        """One ACommands/UCommands message with these fields."""
        self.sent_acks.update(fields.get("acks", ()))
        self.write(self.dialect.commands(**fields))

    def ack(self, *seqnums: int) -> None:
        self.send(acks=list(seqnums))

    # -- what came back -----------------------------------------------------------

    def results(self) -> list[SubMessage]:
        """Every result copy received, in arrival order."""
        out: list[SubMessage] = []
        for message in self.messages:
            for field_name in self.dialect.result_fields.values():
                out.extend(getattr(message, field_name))
        return out

    def of_type(self, message_type: type[M]) -> list[M]:
        return [r for r in self.results() if isinstance(r, message_type)]

    def result_seqnums(self) -> list[int]:
        return [r.seqnum for r in self.results()]

    def acks(self) -> list[int]:
        return [seqnum for message in self.messages for seqnum in message.acks]

    @property
    def finished(self) -> bool:
        return any(m.finished for m in self.messages)

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``condition()`` is truthy (checked on every arrival); returns it."""
        async with asyncio.timeout(timeout):
            while not (value := condition()):
                self._changed.clear()
                await self._changed.wait()
        return value

    async def wait_closed(self, timeout: float = 10.0) -> None:
        """Wait until the world closes the connection."""
        await self.wait_for(lambda: self.eof, timeout)

    # -- ending -------------------------------------------------------------------

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def abort(self) -> None:
        """Drop the connection at once (RST), without a goodbye."""
        self.writer.transport.abort()

    async def _read_loop(self) -> None:
        try:
            while data := await self.reader.read(65536):
                try:
                    bodies = self.frames.feed(data)
                except FramingError as error:
                    self.malformed.append(str(error))
                    break
                for body in bodies:
                    self._take(body)
                self._changed.set()
        except (ConnectionError, OSError):
            pass
        finally:
            self.eof = True
            self._changed.set()

    def _take(self, body: bytes) -> None:
        if not self.connected:
            self.replies.append(parse_message(self.dialect.connected, body))
            return
        message = parse_message(self.dialect.responses, body)
        if isinstance(message, MalformedMessage):
            self.malformed.append(str(message))
            return
        self.messages.append(message)
        if self.auto_ack:
            seqnums = [
                r.seqnum
                for field_name in self.dialect.result_fields.values()
                for r in getattr(message, field_name)
            ]
            if seqnums and not self.writer.is_closing():
                self.ack(*seqnums)


def choices_too_long() -> list[str]:
    """Model fields (of the Django project set up) whose longest choice does not fit
    their column: SQLite would store it, PostgreSQL raises DataError."""
    from django.apps import apps

    too_long = []
    for model in apps.get_models():
        for column in model._meta.fields:
            if column.choices and column.max_length:
                longest = max(len(str(value)) for value, _ in column.flatchoices)
                if longest > column.max_length:
                    too_long.append(
                        f"{model.__name__}.{column.name}: {longest} > {column.max_length}"
                    )
    return too_long


class SilentPeer:
    """A peer that accepts connections and never says a word (a frozen world or UPS):
    it keeps what each connection sent it and counts those closed by the other side."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.received: list[bytes] = []  # by connection, in the order they came
        self.closed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="silent-peer", daemon=True)
        self._thread.start()

    @property
    def accepted(self) -> int:
        return len(self.received)

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ, None)
            while not self._stop.is_set():
                for key, _ in selector.select(0.05):
                    if key.data is None:
                        sock, _ = self.listener.accept()
                        selector.register(sock, selectors.EVENT_READ, len(self.received))
                        self.received.append(b"")
                        continue
                    peer = key.fileobj
                    assert isinstance(peer, socket.socket)
                    try:
                        data = peer.recv(65536)
                    except OSError:
                        data = b""
                    if data:
                        self.received[key.data] += data
                    else:
                        selector.unregister(peer)
                        peer.close()
                        self.closed += 1
            for key in list(selector.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def wait_for_a_lock_wait(what: str, timeout: float = 10.0) -> None:
    """Until another session of the test's PostgreSQL database waits for a lock, as
    pg_stat_activity says: a test that holds a lock open then knows the other side is
    blocked on it, rather than waiting a while. ``AssertionError`` naming ``what`` after
    ``timeout`` seconds."""
    from django.db import connection

    from amazon_ups.testing.waiting import wait_until

    with connection.cursor() as cursor:

        def waiting() -> bool:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else read once per transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            row = cursor.fetchone()
            return bool(row and row[0])

        wait_until(waiting, timeout, what)
