"""The whole system while a stranger on the machine hammers UPS's port for Amazon: with
a guessed secret, with messages and acks sent without any handshake, and with
connections held open saying nothing. Orders are still delivered, exactly as without
the stranger, and nothing of the stranger's reaches either company."""

from __future__ import annotations

import contextlib
import socket
import threading

from amazon_ups.protocol import au_pb2
from amazon_ups.protocol.framing import encode_frame
from amazon_ups.protocol.link_auth import HandshakeFailed, LinkHandshake, Role
from amazon_ups.testing.system import buy, query, shopper_for, status_of, wait_until
from tests.support import handshake_blocking

STRANGER_PACKAGE = 987_654_321


class Stranger(threading.Thread):
    """Tries, again and again, the three ways in."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.attempts = 0
        self.held: list[socket.socket] = []

    def run(self) -> None:
        tries = (self._guess, self._inject, self._hold)
        while not self.stop.is_set():
            with contextlib.suppress(OSError, HandshakeFailed):
                tries[self.attempts % len(tries)]()
            self.attempts += 1
            self.stop.wait(0.02)
        for sock in self.held:
            sock.close()

    def _connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=2)

    def _guess(self) -> None:
        with self._connect() as sock:
            handshake_blocking(sock, LinkHandshake(Role.AMAZON, b"guessed-secret-1234"), 2)

    def _inject(self) -> None:
        pickup = au_pb2.PickupRequest(
            seqnum=10**9 + self.attempts,
            package_id=STRANGER_PACKAGE,
            warehouse=au_pb2.Warehouse(id=1, x=0, y=0),
            dest_x=1,
            dest_y=1,
            items=[au_pb2.Item(product_id=1, description="verify your account", count=1)],
        )
        message = au_pb2.AmazonToUps(pickups=[pickup], acks=range(1, 500))
        with self._connect() as sock:
            sock.sendall(encode_frame(message.SerializeToString()))
            sock.recv(4096)

    def _hold(self) -> None:
        self.held.append(self._connect())
        if len(self.held) > 8:
            self.held.pop(0).close()


def test_orders_are_delivered_while_a_stranger_attacks_the_link(start_system, database_urls):
    system = start_system("--simspeed", "2000", "--trucks", "3")
    stranger = Stranger(system.ports["au"])
    stranger.start()
    try:
        shopper = shopper_for(system)
        orders = [buy(shopper, quantity=1, x=5 + n, y=-2) for n in range(3)]
        wait_until(
            lambda: all(status_of(shopper, order) == "delivered" for order in orders),
            120,
            "every order to be delivered",
        )
    finally:
        stranger.stop.set()
        stranger.join(10)
    assert stranger.attempts > 10
    ups_db = database_urls.get("ups") or system.var / "ups.sqlite3"
    [(refused, connected)] = query(
        ups_db, "SELECT refused, connected FROM messaging_linkstate WHERE peer = 'amazon'"
    )
    assert refused > 0 and connected
    assert query(ups_db, f"SELECT id FROM shipments_package WHERE id = {STRANGER_PACKAGE}") == []
    assert system.said("amazon: refused:")
