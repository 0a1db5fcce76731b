"""What the Amazon daemon's database work costs per order, counted in statements: a batch
of orders taken in, then each message about them as it comes under load, many to a
container (as the daemon's core hands them over: ``isolation.receive_all`` with the
daemon's handler and ``around_container``)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from google.protobuf.message import Message

from amazon_ups.amazon.catalog.models import Stock
from amazon_ups.amazon.fulfilment import services, upkeep
from amazon_ups.amazon.fulfilment.daemon import Fulfilment
from amazon_ups.amazon.orders.models import Order
from amazon_ups.common.daemon.endpoint import Endpoint
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.protocol import au_pb2 as au
from amazon_ups.protocol import world_amazon_pb2 as wa
from tests.amazon.containers import received

pytestmark = pytest.mark.django_db

WORLD = 7
ORDERS = 20
_seqnums = itertools.count(1)


@pytest.fixture
def joined(catalog, settings):
    settings.WORLD_CREATOR = "ups"
    settings.WORLD_ID = None
    settings.INITIAL_STOCK = 0
    services.world_joined(WORLD)
    for warehouse_id in (1, 2):
        for product_id in (1, 2, 3):
            Stock.objects.create(warehouse_id=warehouse_id, product_id=product_id, on_hand=1000)


def _received(fulfilment: Fulfilment, link: Endpoint, messages: list[tuple[str, Message]]):
    for _, message in messages:
        message.seqnum = next(_seqnums)  # type: ignore[attr-defined]
    received(fulfilment, link, messages)


def statements(place) -> list[str]:
    """The SQL of taking ``ORDERS`` orders from placed to delivered."""
    orders = [place({1: 1, 2: 1}, x=i, y=i) for i in range(ORDERS)]
    fulfilment = Fulfilment()
    fulfilment.world.peer = f"world:{WORLD}"
    world, ups = fulfilment.world, fulfilment.ups
    with CaptureQueriesContext(connection) as captured:
        assert upkeep.intake() == ORDERS
        _received(fulfilment, world, [("ready", wa.APacked(shipid=o.id)) for o in orders])
        _received(
            fulfilment,
            ups,
            [
                *(
                    ("arrived", au.TruckArrived(package_id=o.id, truck_id=3, warehouse_id=1))
                    for o in orders
                ),
                *(
                    (
                        "registered",
                        au.PackageRegistered(package_id=o.id, tracking_number=f"1Z{o.id}"),
                    )
                    for o in orders
                ),
            ],
        )
        _received(fulfilment, world, [("loaded", wa.ALoaded(shipid=o.id)) for o in orders])
        _received(
            fulfilment,
            ups,
            [("out_for_delivery", au.OutForDelivery(package_id=o.id, truck_id=3)) for o in orders],
        )
        _received(
            fulfilment,
            ups,
            [("delivered", au.Delivered(package_id=o.id, x=1, y=1)) for o in orders],
        )
    assert set(Order.objects.values_list("status", flat=True)) == {Order.Status.DELIVERED}
    assert OutgoingMessage.objects.count() == 4 * ORDERS  # pickup, pack, load, loaded
    return [q["sql"] for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]


def _count(sqls: list[str], start: str) -> int:
    return sum(sql.startswith(start) for sql in sqls)


def test_an_orders_way_costs_few_statements_and_a_batchs_statements_are_shared(joined, place):
    sqls = statements(place)
    kinds = Counter(" ".join(sql.split()[:3]) for sql in sqls)
    # Six batches: the intake, then five containers. Per batch, not per order: its
    # messages (one INSERT), the stock and waiting demand of intake, the orders' moves
    # (one UPDATE for all packed, ...; for a truck's arrival too, though each order keeps
    # a truck and a seqnum of its own, and its tracking number: was one UPDATE each).
    assert _count(sqls, f'INSERT INTO "{OutgoingMessage._meta.db_table}"') <= 6, kinds
    assert _count(sqls, f'UPDATE "{Order._meta.db_table}"') <= 7, kinds
    assert _count(sqls, 'SELECT "catalog_stock"') == 1, kinds
    # The stock the batch's orders take, at one warehouse: one UPDATE (was one per order
    # and product).
    assert _count(sqls, 'UPDATE "catalog_stock"') == 1, kinds
    # Was 17.65 (one INSERT per message, two reads per order taken in, one UPDATE per
    # move), then 5.55 (one UPDATE per order for its truck and tracking number), then
    # 4.65 (one UPDATE per order and product for the stock it took); now 2.65.
    assert len(sqls) / ORDERS < 3, kinds


def test_a_look_that_finds_no_new_order_costs_few_statements(joined):
    """What a turn costs the daemon when a message came (here acks only) and no order
    waits: the acks' UPDATE (in its transaction), the intake's one read of the orders
    waiting, and no outbox read (nothing was sent; the web would have woken the daemon
    had it written there). Was 7: the orders set aside read too, and both outboxes.
    Woken by the web for an order (none waits yet here), it reads both outboxes but no
    dead letters (no retry was asked): was 5, now 3."""
    from django.utils import timezone

    from amazon_ups.protocol.framing import encode_frame

    fulfilment = Fulfilment()
    fulfilment.world.peer = f"world:{WORLD}"
    core, ups = fulfilment.daemon.core, fulfilment.ups
    start = timezone.now().timestamp()
    core.step(start)  # the first look reads everything
    acks = au.UpsToAmazon(acks=[10_000]).SerializeToString()
    with CaptureQueriesContext(connection) as captured:
        core.received(ups, encode_frame(acks), start + 0.1)
        core.step(start + 0.1)
    assert len(_work(captured)) == 2, _work(captured)
    with CaptureQueriesContext(connection) as captured:
        core.wake(retries=False)
        core.step(start + 0.2)
    assert len(_work(captured)) == 3, _work(captured)


def _work(captured: CaptureQueriesContext) -> list[str]:
    """The statements that read or write (not a transaction's or savepoint's own)."""
    own = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    return [q["sql"] for q in captured if not q["sql"].startswith(own)]
