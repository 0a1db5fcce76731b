"""Amazon's side of the authenticated link, over real sockets: it says nothing to a UPS
that cannot prove the secret, and its orders flow over TLS."""

from __future__ import annotations

import re
import socket
import ssl
import threading

import pytest
import trustme
from django.core.exceptions import ImproperlyConfigured

from amazon_ups.amazon.catalog.models import Stock
from amazon_ups.amazon.fulfilment.daemon import Fulfilment
from amazon_ups.common.messaging.models import LinkState
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol.framing import FrameDecoder, encode_frame
from amazon_ups.protocol.world_messages import Side
from amazon_ups.testing.waiting import wait_until
from tests.amazon.test_daemon import delivered, running
from tests.support import FAST, SilentPeer

pytestmark = pytest.mark.django_db(transaction=True)


class Impostor:
    """Poses as UPS without the secret: answers the hello, ignores Amazon's proof, sends
    a forged welcome, then records whatever Amazon still sends."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.after_welcome: list[bytes] = []
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with sock:
                sock.settimeout(5)
                frames = FrameDecoder()
                try:
                    self._expect(sock, frames)  # LinkHello
                    challenge = au_pb2.LinkChallenge(version=1, nonce=b"\x07" * 32)
                    sock.sendall(encode_frame(challenge.SerializeToString()))
                    self._expect(sock, frames)  # LinkProof, unchecked
                    forged = au_pb2.LinkWelcome(proof=b"\x00" * 32)
                    sock.sendall(encode_frame(forged.SerializeToString()))
                    while data := sock.recv(65536):
                        self.after_welcome.append(data)
                except OSError:
                    continue

    @staticmethod
    def _expect(sock: socket.socket, frames: FrameDecoder) -> bytes:
        while not (bodies := frames.feed(sock.recv(65536))):
            pass
        return bodies[0]

    def close(self) -> None:
        self.listener.close()


def test_amazon_tells_nothing_to_a_ups_that_cannot_prove_the_secret(settings, world, place):
    impostor = Impostor()
    settings.UPS_HOST, settings.UPS_PORT = "127.0.0.1", impostor.port
    settings.WORLD_AMAZON_PORT = world.ports[Side.AMAZON]
    place({1: 1}, x=3, y=4)  # a pickup request waits to be sent
    try:
        with running(Fulfilment()):
            wait_until(lambda: impostor.connections >= 2, what="Amazon to try again")
            wait_until(
                lambda: LinkState.objects.filter(peer="ups", refused__gte=1).exists(),
                what="the refusal to be recorded",
            )
    finally:
        impostor.close()
    assert impostor.after_welcome == []
    state = LinkState.objects.get(peer="ups")
    assert "UPS's proof does not match" in state.last_refusal
    assert not state.connected


def test_a_ups_that_never_answers_holds_nothing_up_and_is_given_up_at_the_deadline(
    settings, world, catalog
):
    """Amazon's attempt to reach UPS waits for no answer: meanwhile it joins the world it
    creates and its stock arrives; the attempt ends at the handshake's deadline."""
    silent = SilentPeer()
    settings.UPS_HOST, settings.UPS_PORT = "127.0.0.1", silent.port
    settings.WORLD_HOST, settings.WORLD_AMAZON_PORT = "127.0.0.1", world.ports[Side.AMAZON]
    settings.WORLD_CREATOR, settings.WORLD_ID, settings.WORLD_SIMSPEED = "amazon", None, FAST
    settings.AU_LINK_HANDSHAKE_TIMEOUT = 6.0  # long enough for the stock to arrive first
    try:
        with running(Fulfilment()):
            wait_until(lambda: silent.accepted and silent.received[0], what="Amazon's hello")
            wait_until(
                lambda: Stock.objects.filter(on_hand__gt=0).exists(),
                what="the stock bought on joining the world to arrive",
            )
            assert silent.closed == 0, "the world was served only after UPS's attempt ended"
            wait_until(lambda: silent.closed >= 1, 10, "the attempt given up")
            wait_until(lambda: silent.accepted >= 2, 10, "Amazon to try again")
    finally:
        silent.close()
    assert not LinkState.objects.filter(peer="ups", connected=True).exists()


def test_an_order_is_delivered_over_tls(configure, fake_ups, place, settings, tmp_path):
    authority = trustme.CA()
    certificate = authority.issue_cert("ups.example")
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(ca_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    ups = fake_ups(tls=context)
    configure(ups)
    settings.AU_LINK_TLS = True
    settings.AU_LINK_TLS_CA = str(ca_file)
    settings.AU_LINK_TLS_SERVER_NAME = "ups.example"
    order = place({1: 1}, x=-30, y=8)
    with running(Fulfilment()):
        wait_until(lambda: delivered(order), what="the order to be delivered over TLS")
    assert [p.package_id for p in ups.of("pickups")] == [order.id]


def test_amazon_refuses_to_connect_beyond_loopback_without_a_secret(settings):
    settings.UPS_HOST = "192.0.2.10"  # TEST-NET-1: not loopback
    settings.AU_LINK_SECRET = ""
    with pytest.raises(
        ImproperlyConfigured, match=re.escape("connect to UPS at '192.0.2.10' without")
    ):
        Fulfilment()
