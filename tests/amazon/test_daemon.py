"""The fulfilment daemon against a real world simulator (a subprocess) and a carrier
played by the test (``FakeUps``): orders go from placed to delivered over real sockets."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from amazon_ups.amazon.catalog.models import Stock
from amazon_ups.amazon.fulfilment.daemon import Fulfilment
from amazon_ups.amazon.orders.lifecycle import PIPELINE
from amazon_ups.amazon.orders.models import Order
from amazon_ups.common.messaging.models import OutgoingMessage
from tests.amazon.fake_ups import tracking_of

pytestmark = pytest.mark.django_db(transaction=True)


def eventually(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.01)
    return value


@contextlib.contextmanager
def running(fulfilment: Fulfilment) -> Iterator[Fulfilment]:
    def run() -> None:
        try:
            fulfilment.run()
        finally:
            connections.close_all()  # the thread's own connection, before the test DB goes

    thread = threading.Thread(target=run, name="fulfilment")
    thread.start()
    try:
        yield fulfilment
    finally:
        fulfilment.stop()
        thread.join(15)
        assert not thread.is_alive(), "the daemon did not stop"


def statuses(order: Order) -> list[str]:
    """The order's status at each step of its history, repeats collapsed."""
    steps: list[str] = []
    for status in order.events.order_by("at", "id").values_list("status", flat=True):
        if not steps or steps[-1] != status:
            steps.append(status)
    return steps


def delivered(*orders: Order) -> bool:
    return all(Order.objects.get(id=o.id).status == Order.Status.DELIVERED for o in orders)


def test_an_order_goes_from_placed_to_delivered(configure, fake_ups, place):
    ups = fake_ups()
    configure(ups)
    # Placed before the daemon runs: it waits, and goes ahead once the daemon is up.
    order = place({1: 3}, x=-30, y=8, ups_account=77)

    with running(Fulfilment()):
        eventually(lambda: delivered(order), what="the order to be delivered")

    order.refresh_from_db()
    assert statuses(order) == [str(s) for s in PIPELINE]
    assert order.warehouse_id == 2  # West (-20, 5) is nearer to (-30, 8) than North (10, 10)
    assert (order.dest_x, order.dest_y) == (-30, 8)
    # UPS heard of the package once, with what it needs, and of its load once.
    [pickup] = ups.of("pickups")
    assert pickup.package_id == order.id
    assert (pickup.warehouse.id, pickup.warehouse.x, pickup.warehouse.y) == (2, -20, 5)
    assert (pickup.dest_x, pickup.dest_y, pickup.ups_account) == (-30, 8, 77)
    assert [(i.product_id, i.count) for i in pickup.items] == [(1, 3)]
    [loaded] = ups.of("loaded")
    assert (loaded.package_id, loaded.truck_id) == (order.id, order.truck_id)
    assert ups.deliveries_made == {order.id: 1}
    assert order.tracking_number == tracking_of(order.id)
    assert not ups.malformed and not ups.world_errors
    # The new world's first stock (INITIAL_STOCK) covered it: nothing more was bought
    # for it, it packed 3, and the world delivered the rest to the warehouse.
    stock = Stock.objects.get(warehouse_id=2, product_id=1)
    assert (stock.on_hand, stock.on_order) == (settings.INITIAL_STOCK - 3, 0)
    purchases = [_purchase(m) for m in OutgoingMessage.objects.filter(field="buy")]
    assert sorted(p.whnum for p in purchases) == [1, 2]  # one per warehouse, none more
    # Everything the daemon sent was acked.
    eventually(lambda: not OutgoingMessage.objects.filter(acked_at=None, peer="ups").exists())


def test_amazon_creates_the_world_and_several_orders_share_stock(configure, fake_ups, place):
    ups = fake_ups(create_world=False)
    configure(ups, creator="amazon")
    first = place({1: 4, 2: 1}, x=12, y=12)
    second = place({1: 4}, x=11, y=9)

    with running(Fulfilment()):
        eventually(lambda: delivered(first, second), what="both orders to be delivered")
        third = place({1: 2}, x=9, y=11)  # the rest of the first purchase is there
        eventually(lambda: delivered(third), what="the third order to be delivered")

    [created] = ups.of("worlds")
    assert created.world_id == ups.world_id
    # The world was announced (and acked) before any package was spoken of (protocol 4).
    assert next(field for field, _ in ups.received) == "worlds"
    assert sorted(p.package_id for p in ups.of("pickups")) == [first.id, second.id, third.id]
    assert ups.deliveries_made == {first.id: 1, second.id: 1, third.id: 1}
    for order in (first, second, third):
        order.refresh_from_db()
        assert order.warehouse_id == 1
        assert statuses(order)[-1] == "delivered"
    # Product 1: 8 wanted while none was there, so 8 bought... then 10 at least (RESTOCK).
    kettles = Stock.objects.get(warehouse_id=1, product_id=1)
    bought = sum(
        thing.count
        for message in OutgoingMessage.objects.filter(field="buy")
        for thing in _purchase(message).things
        if thing.id == 1 and _purchase(message).whnum == 1
    )
    assert kettles.on_hand == bought - 4 - 4 - 2
    assert kettles.on_order == 0


def _purchase(message: OutgoingMessage):
    from amazon_ups.protocol import world_amazon_pb2 as wa

    return wa.APurchaseMore.FromString(bytes(message.body))
