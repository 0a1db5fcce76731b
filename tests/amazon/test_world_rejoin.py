"""Amazon's daemon back in its world after the connection is lost, against a world that
refuses warehouses brought again ("already exists", as the official world does,
world-protocol.md, Connecting 5): it joins without them, and carries on."""

from __future__ import annotations

import contextlib

import pytest

from amazon_ups.amazon.catalog.models import Stock
from amazon_ups.amazon.fulfilment.daemon import Fulfilment
from amazon_ups.amazon.orders.models import Order
from amazon_ups.common.messaging.models import LinkState
from amazon_ups.protocol.world_messages import Side
from amazon_ups.testing.waiting import wait_until
from tests.amazon.fake_ups import FakeUps
from tests.amazon.test_daemon import running
from tests.support import FAST

pytestmark = pytest.mark.django_db(transaction=True)

OFFICIAL = ("--repeated-places", "refuse")


def world_connected() -> bool:
    return LinkState.objects.filter(peer__startswith="world:", connected=True).exists()


def test_amazon_rejoins_a_world_that_refuses_its_warehouses_again(world_process, settings, place):
    world = world_process(*OFFICIAL)
    # Orders wait until UPS has heard of the world Amazon creates.
    ups = FakeUps(world.ports[Side.UPS], create_world=False).start()
    settings.UPS_ADDRESSES = f"127.0.0.1:{ups.port}"
    settings.WORLD_HOST, settings.WORLD_AMAZON_PORT = "127.0.0.1", world.ports[Side.AMAZON]
    settings.WORLD_CREATOR, settings.WORLD_ID, settings.WORLD_SIMSPEED = "amazon", None, FAST
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(ups.stop)
        cleanup.enter_context(running(Fulfilment()))
        wait_until(world_connected, what="Amazon to create its world")
        wait_until(
            lambda: Stock.objects.filter(on_hand__gt=0).exists(),
            what="the stock bought on creating it to arrive",
        )
        world.stop()  # cleanly: the world keeps its state, warehouses included
        wait_until(lambda: not world_connected(), what="Amazon to see the world gone")
        ports = ["--amazon-port", str(world.ports[Side.AMAZON])]
        ports += ["--ups-port", str(world.ports[Side.UPS])]
        world_process(*OFFICIAL, *ports, state=world.state)
        wait_until(world_connected, 20, "Amazon to join its world again")
        order = place({1: 1}, x=5, y=6)
        wait_until(
            lambda: Order.objects.get(id=order.id).status == Order.Status.PACKED,
            what="an order packed in the world joined again",
        )
    log = world.log.read_text()
    assert "already exists" in log  # the world did refuse the warehouses brought again
