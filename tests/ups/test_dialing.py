"""Connecting never holds the daemon's loop up, over real sockets: a world that accepts
UPS's connection and never answers does not stop the dispatch daemon from serving
Amazon, and the attempt is given up at its deadline and tried again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from amazon_ups.common.daemon.links import WorldLink
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.framing import FrameDecoder
from amazon_ups.testing.waiting import wait_until_async
from amazon_ups.ups.accounts.models import Account
from tests.support import SilentPeer
from tests.ups.amazon_peer import AmazonPeer
from tests.ups.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)

HANDSHAKE_TIMEOUT = 5.0  # long enough for Amazon to be served first on a busy machine


@pytest.fixture(autouse=True)
async def close_connections_of_sync_to_async():
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def account(db, django_user_model) -> Account:
    return make_user(django_user_model, "recipient")


@pytest.fixture
def silent_world(world_settings, monkeypatch) -> Iterator[SilentPeer]:
    """The daemon's world: it takes the connection and says nothing."""
    world = SilentPeer()
    world_settings.WORLD_HOST = "127.0.0.1"
    world_settings.WORLD_UPS_PORT = world.port
    monkeypatch.setattr(WorldLink, "handshake_timeout", HANDSHAKE_TIMEOUT)
    yield world
    world.close()


async def test_ups_serves_amazon_while_the_world_never_answers(silent_world, run_daemon, account):
    daemon = run_daemon()
    # UPS has connected and said its UConnect; the world's answer never comes.
    await wait_until_async(lambda: silent_world.accepted and silent_world.received[0], 10)
    [hello] = FrameDecoder().feed(silent_world.received[0])
    assert wu.UConnect.FromString(hello).isAmazon is False

    # Meanwhile Amazon connects, proves itself and is answered.
    amazon = await AmazonPeer.open(daemon.amazon_port)
    amazon.send(au_pb2.AccountCheck(ups_account=account.number))
    [status] = await amazon.wait_for(lambda: amazon.of("accounts"))
    assert status.exists
    assert silent_world.closed == 0, "Amazon was served only after the world's attempt ended"

    # The attempt is given up at its deadline, then made again.
    await wait_until_async(lambda: silent_world.closed >= 1, HANDSHAKE_TIMEOUT + 5)
    await wait_until_async(lambda: silent_world.accepted >= 2, 10)
    # The link to Amazon went on through it all.
    amazon.send(au_pb2.AccountCheck(ups_account=account.number + 1000))
    assert await amazon.wait_for(lambda: amazon.of("accounts", lambda m: not m.exists))
    await amazon.close()
