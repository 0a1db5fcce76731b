"""Amazon given several UPS addresses (``UPS_ADDRESSES``: one per UPS daemon host, only
the active daemon listening), over real sockets: it finds the one that answers, goes to
the next when that one goes away, and takes a UPS that stopped talking for gone."""

from __future__ import annotations

import socket
import threading

import pytest

from amazon_ups.amazon.fulfilment.daemon import Fulfilment
from amazon_ups.common.daemon.links import UpsLink
from amazon_ups.common.messaging.models import LinkState
from amazon_ups.protocol.framing import encode_frame
from amazon_ups.protocol.link_auth import LinkHandshake, Role
from amazon_ups.protocol.world_messages import Side
from amazon_ups.testing.waiting import wait_until
from tests.amazon.test_daemon import delivered, running
from tests.support import FAST, TEST_LINK_SECRET, SilentPeer, handshake_blocking

pytestmark = pytest.mark.django_db(transaction=True)

KEEPALIVE = encode_frame(b"")  # an empty UpsToAmazon: nothing to say, still here


def free_port() -> int:
    """A port nothing listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def addresses(*ports: int) -> str:
    return ",".join(f"127.0.0.1:{port}" for port in ports)


def connected_to_ups() -> bool:
    return LinkState.objects.filter(peer="ups", connected=True).exists()


def test_amazon_passes_over_addresses_where_no_ups_answers(configure, fake_ups, place, settings):
    """Nothing listens at the first address, the second takes the connection and never
    answers the handshake: the order goes through the third."""
    nobody, silent, ups = free_port(), SilentPeer(), fake_ups()
    configure(ups)
    settings.UPS_ADDRESSES = addresses(nobody, silent.port, ups.port)
    settings.AU_LINK_HANDSHAKE_TIMEOUT = 1.0
    order = place({1: 1}, x=5, y=6)
    try:
        with running(Fulfilment()):
            wait_until(lambda: delivered(order), what="the order to be delivered")
    finally:
        silent.close()
    assert silent.accepted >= 1, "the silent address was tried before the live one"
    assert [p.package_id for p in ups.of("pickups")] == [order.id]


def test_when_the_active_ups_goes_away_amazon_finds_the_one_that_took_over(
    configure, fake_ups, place, settings, world
):
    """Two UPS hosts: the first is active; it goes, the second takes over (listening
    where it was told, in the same world), and Amazon carries on with it."""
    first, second_port = fake_ups(), free_port()
    configure(first)
    settings.UPS_ADDRESSES = addresses(first.port, second_port)
    before = place({1: 1}, x=5, y=6)
    with running(Fulfilment()):
        wait_until(lambda: delivered(before), what="the first order, through the first UPS")
        world_id = first.world_id
        first.stop()
        wait_until(lambda: not connected_to_ups(), what="Amazon to see the first UPS gone")
        second = fake_ups(create_world=False, join=world_id, port=second_port)
        after = place({1: 1}, x=-7, y=2)
        wait_until(lambda: delivered(after), what="the second order, through the second UPS")
    assert [p.package_id for p in second.of("pickups")] == [after.id]
    assert second.connections >= 1


class MuteUps:
    """Proves itself as UPS, then says nothing more (a frozen or cut-off host whose
    connection stays open), or only keep-alives every ``keepalive_every`` s. One empty
    message comes first: it shows Amazon that this UPS keeps the link alive."""

    def __init__(self, keepalive_every: float | None) -> None:
        self.keepalive_every = keepalive_every
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.accepted = 0
        self.closed_by_amazon = 0
        self.keepalives_sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mute-ups", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            with sock:
                self._talk(sock)

    def _talk(self, sock: socket.socket) -> None:
        try:
            handshake_blocking(sock, LinkHandshake(Role.UPS, TEST_LINK_SECRET.encode()), 5)
            sock.sendall(KEEPALIVE)
        except OSError:  # Amazon gave this connection up before it was up (it stopped)
            self.closed_by_amazon += 1
            return
        sock.settimeout(self.keepalive_every or 0.1)
        while not self._stop.is_set():
            try:
                if not sock.recv(65536):  # Amazon's keep-alives are read, never answered
                    self.closed_by_amazon += 1
                    return
            except TimeoutError:
                if self.keepalive_every is not None:
                    sock.sendall(KEEPALIVE)
                    self.keepalives_sent += 1
            except OSError:
                self.closed_by_amazon += 1
                return

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self._thread.join(5)


@pytest.fixture
def mute_ups(settings, world, monkeypatch):
    """``mute_ups(keepalive_every)``: Amazon's only UPS; a second of silence is too long."""
    monkeypatch.setattr(UpsLink, "silent_after", 1.0)
    settings.WORLD_HOST, settings.WORLD_AMAZON_PORT = "127.0.0.1", world.ports[Side.AMAZON]
    settings.WORLD_CREATOR, settings.WORLD_ID, settings.WORLD_SIMSPEED = "amazon", None, FAST
    started: list[MuteUps] = []

    def start(keepalive_every: float | None) -> MuteUps:
        ups = MuteUps(keepalive_every)
        settings.UPS_ADDRESSES = addresses(ups.port)
        started.append(ups)
        return ups

    yield start
    for ups in started:
        ups.close()


def test_a_ups_that_stops_talking_is_taken_for_gone_and_dialed_again(mute_ups):
    ups = mute_ups(keepalive_every=None)
    with running(Fulfilment()):
        wait_until(lambda: ups.closed_by_amazon >= 1, 10, "Amazon to drop the silent UPS")
        wait_until(lambda: ups.accepted >= 2, 10, "Amazon to dial again")


def test_a_ups_that_keeps_the_link_alive_is_kept(mute_ups):
    ups = mute_ups(keepalive_every=0.2)
    with running(Fulfilment()):
        # Fifteen keep-alives: three times as long as the silence Amazon tolerates.
        wait_until(lambda: ups.keepalives_sent >= 15, 20, "the UPS's keep-alives")
    assert ups.accepted == 1
    assert ups.closed_by_amazon <= 1  # the one close: Amazon stopping, at the end
