"""fulfilment.services: intake and every handler, against the database, without sockets.
What the daemon would send is read back from the outgoing message rows."""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone
from google.protobuf.message import Message

from amazon_ups.amazon.carrier import services as carrier
from amazon_ups.amazon.carrier.models import UpsAccount
from amazon_ups.amazon.catalog.models import Stock
from amazon_ups.amazon.fulfilment import daemon, selectors, services, upkeep
from amazon_ups.amazon.fulfilment.daemon import Fulfilment
from amazon_ups.amazon.orders import selectors as orders_selectors
from amazon_ups.amazon.orders import services as orders_services
from amazon_ups.amazon.orders.lifecycle import OrderEventKind as Kind
from amazon_ups.amazon.orders.models import Order, OrderEvent
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import DeadLetter, OutgoingMessage
from amazon_ups.protocol import au_pb2 as au
from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.channel import SubMessage
from tests.amazon.containers import handled_from_ups, received

pytestmark = pytest.mark.django_db

Status = Order.Status
WORLD = 7
WORLD_PEER = f"world:{WORLD}"
TYPES: dict[str, type[SubMessage]] = {
    "buy": wa.APurchaseMore,
    "topack": wa.APack,
    "load": wa.APutOnTruck,
    "pickups": au.PickupRequest,
    "loaded": au.PackageLoaded,
    "worlds": au.WorldCreated,
    "errors": au.Error,
    "load_failed": au.LoadFailed,
    "queries": wa.AQuery,
}
_ups_seqnums = itertools.count(1000)


def sent(peer: str, field: str) -> list:
    rows = OutgoingMessage.objects.filter(peer=peer, field=field).order_by("id")
    return [TYPES[field].FromString(bytes(row.body)) for row in rows]


def run(handler, *args):
    # The daemon calls handlers inside the transaction that records the receipt.
    with transaction.atomic():
        return handler(*args)


def from_ups(message_type, **fields):
    return message_type(seqnum=next(_ups_seqnums), **fields)


def stock(warehouse_id: int, product_id: int, on_hand: int) -> None:
    Stock.objects.update_or_create(
        warehouse_id=warehouse_id, product_id=product_id, defaults={"on_hand": on_hand}
    )


def on_hand(warehouse_id: int, product_id: int) -> tuple[int, int]:
    row = Stock.objects.get(warehouse_id=warehouse_id, product_id=product_id)
    return row.on_hand, row.on_order


def status(order: Order) -> str:
    order.refresh_from_db()
    return order.status


@pytest.fixture
def joined(catalog, settings):
    settings.WORLD_CREATOR = "ups"
    settings.WORLD_ID = None
    settings.INITIAL_STOCK = 0  # these tests start from empty warehouses
    services.world_joined(WORLD)


@pytest.fixture
def packing(joined, place):
    """An order packing at warehouse 1 (stock was there), with its pickup asked for."""
    stock(1, 1, 5)
    order = place({1: 2}, x=10, y=12)
    services.take_in(order.id, WORLD)
    assert status(order) == Status.PACKING
    return order


def packed(order: Order) -> None:
    run(services.package_packed, wa.APacked(shipid=order.id, seqnum=1))


def truck(order: Order, truck_id: int = 4, warehouse_id: int = 1) -> au.TruckArrived:
    message = from_ups(
        au.TruckArrived, package_id=order.id, truck_id=truck_id, warehouse_id=warehouse_id
    )
    run(services.truck_arrived, message)
    return message


# -- intake ----------------------------------------------------------------------------------


def test_orders_wait_until_the_world_is_joined(catalog, place, settings):
    settings.WORLD_CREATOR = "ups"
    settings.WORLD_ID = None
    order = place()
    daemon = Fulfilment()

    daemon.tick(timezone.now())
    assert selectors.world_for_orders() is None
    assert status(order) == Status.PLACED and order.warehouse_id is None

    services.world_joined(WORLD)
    daemon.tick(timezone.now())
    order.refresh_from_db()
    assert order.warehouse_id == 1 and order.world_id == WORLD


def test_intake_with_stock_packs_at_once_and_asks_ups_for_a_truck(joined, place):
    stock(2, 1, 5)  # only the far warehouse has it
    order = place({1: 2}, x=10, y=12, ups_account=55)

    services.take_in(order.id, WORLD)

    order.refresh_from_db()
    assert (order.status, order.warehouse_id) == (Status.PACKING, 2)
    assert on_hand(2, 1) == (3, 0)
    [pack] = sent(WORLD_PEER, "topack")
    assert (pack.whnum, pack.shipid, [(t.id, t.count) for t in pack.things]) == (
        2,
        order.id,
        [(1, 2)],
    )
    [pickup] = sent("ups", "pickups")
    assert (pickup.package_id, pickup.warehouse.id, pickup.dest_x, pickup.dest_y) == (
        order.id,
        2,
        10,
        12,
    )
    assert pickup.ups_account == 55 and pickup.items[0].description == "Kettle"
    assert not sent(WORLD_PEER, "buy")

    services.take_in(order.id, WORLD)  # taken in once only
    assert len(sent("ups", "pickups")) == 1


def test_without_stock_it_buys_waits_and_packs_oldest_first_when_it_arrives(joined, place):
    first = place({1: 6}, x=0, y=0)
    second = place({1: 8}, x=0, y=0)
    services.take_in(first.id, WORLD)
    services.take_in(second.id, WORLD)

    assert status(first) == status(second) == Status.PLACED
    assert first.warehouse_id == second.warehouse_id == 1  # nearest to (0, 0)
    buys = sent(WORLD_PEER, "buy")
    assert [(b.whnum, b.things[0].id, b.things[0].count) for b in buys] == [(1, 1, 10), (1, 1, 10)]
    assert on_hand(1, 1) == (0, 20)
    assert len(sent("ups", "pickups")) == 2  # the trucks come while we wait
    assert first.events.last().kind == "waiting for stock"

    run(services.purchase_arrived, buys[0])
    assert (status(first), status(second)) == (Status.PACKING, Status.PLACED)
    assert on_hand(1, 1) == (4, 10)
    run(services.purchase_arrived, buys[1])
    assert status(second) == Status.PACKING
    assert on_hand(1, 1) == (6, 0)
    assert [p.shipid for p in sent(WORLD_PEER, "topack")] == [first.id, second.id]


def test_stock_bought_and_arrived_is_counted_in_one_statement_per_product(joined):
    """An UPDATE computed from the row: no read of it first, no savepoint around it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from amazon_ups.amazon.catalog import services as catalog_services

    stock(1, 1, 3)
    # Inside the handler's transaction, as the daemon calls it.
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        catalog_services.order_more(1, {1: 10})
    assert on_hand(1, 1) == (3, 10)
    assert [q["sql"].split()[0] for q in captured] == ["UPDATE"]
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        catalog_services.receive(1, {1: 10})
    assert on_hand(1, 1) == (13, 0)
    assert [q["sql"].split()[0] for q in captured] == ["UPDATE"]


def test_an_arrival_or_refusal_never_counts_less_than_nothing_on_order(joined):
    """A purchase made by an earlier database arrives (or is refused) with no units on
    order here: on hand grows, on order stays at 0; the first units of a product at a
    warehouse make its row."""
    from amazon_ups.amazon.catalog import services as catalog_services

    stock(1, 1, 2)
    run(catalog_services.receive, 1, {1: 5, 2: 4})
    assert on_hand(1, 1) == (7, 0) and on_hand(1, 2) == (4, 0)
    run(catalog_services.order_more, 1, {1: 3})
    run(catalog_services.order_refused, 1, {1: 5, 3: 1})
    assert on_hand(1, 1) == (7, 0) and on_hand(1, 3) == (0, 0)


def test_a_purchase_at_a_warehouse_that_is_not_ours_changes_nothing(joined):
    purchase = wa.APurchaseMore(whnum=99, things=[wa.AProduct(id=1, description="x", count=3)])
    run(services.purchase_arrived, purchase)
    assert not Stock.objects.exists()


# -- loading ----------------------------------------------------------------------------------


def test_packed_then_truck_loads_once(packing):
    packed(packing)
    assert status(packing) == Status.PACKED and not sent(WORLD_PEER, "load")
    truck(packing, truck_id=4)
    truck(packing, truck_id=4)  # an older or repeated announcement does not load again

    [load] = sent(WORLD_PEER, "load")
    assert (load.whnum, load.truckid, load.shipid) == (1, 4, packing.id)
    assert status(packing) == Status.LOADING


def test_truck_then_packed_loads_once(packing):
    truck(packing, truck_id=4)
    assert status(packing) == Status.PACKING and not sent(WORLD_PEER, "load")
    packed(packing)
    packed(packing)

    assert [load.truckid for load in sent(WORLD_PEER, "load")] == [4]
    assert status(packing) == Status.LOADING


def test_loaded_tells_ups_once_and_ups_finishes_the_order(packing):
    packed(packing)
    truck(packing, truck_id=4)
    run(services.package_loaded, wa.ALoaded(shipid=packing.id, seqnum=2))
    run(services.package_loaded, wa.ALoaded(shipid=packing.id, seqnum=3))

    [loaded] = sent("ups", "loaded")
    assert (loaded.package_id, loaded.truck_id) == (packing.id, 4)
    assert status(packing) == Status.LOADED

    run(services.out_for_delivery, from_ups(au.OutForDelivery, package_id=packing.id, truck_id=4))
    assert status(packing) == Status.DELIVERING
    run(services.delivered, from_ups(au.Delivered, package_id=packing.id, x=10, y=12))
    assert status(packing) == Status.DELIVERED
    # A late copy of an earlier step changes nothing (protocol 3.5).
    run(services.out_for_delivery, from_ups(au.OutForDelivery, package_id=packing.id, truck_id=4))
    assert status(packing) == Status.DELIVERED
    assert not sent("ups", "errors")


def test_a_refused_load_tells_ups_and_waits_packed_for_a_newer_truck(packing):
    packed(packing)
    truck(packing, truck_id=4)
    [load] = OutgoingMessage.objects.filter(field="load")
    refusal = wa.AErr(
        err="error: truck 4 is not at warehouse 1", originseqnum=load.seqnum, seqnum=9
    )
    run(services.world_error, WORLD_PEER, refusal)

    packing.refresh_from_db()
    assert packing.status == Status.PACKED and packing.failure == ""
    assert packing.events.last().kind == "load refused"
    # UPS hears it, so that it sends a truck again (protocol 5.11).
    [failed] = sent("ups", "load_failed")
    assert (failed.package_id, failed.truck_id) == (packing.id, 4)
    assert "not at warehouse" in failed.reason
    run(services.world_error, WORLD_PEER, refusal)  # a repeat is no news
    assert len(sent("ups", "load_failed")) == 1
    truck(packing, truck_id=5)
    assert [m.truckid for m in sent(WORLD_PEER, "load")] == [4, 5]
    assert status(packing) == Status.LOADING


def test_a_truck_announced_during_a_refused_load_is_used_at_once(packing):
    packed(packing)
    truck(packing, truck_id=4)
    truck(packing, truck_id=5)  # newer, while the load onto 4 is under way
    [load] = OutgoingMessage.objects.filter(field="load")
    refusal = wa.AErr(err="error: truck 4 left", originseqnum=load.seqnum, seqnum=9)
    run(services.world_error, WORLD_PEER, refusal)

    assert [m.truckid for m in sent(WORLD_PEER, "load")] == [4, 5]
    run(services.package_loaded, wa.ALoaded(shipid=packing.id, seqnum=10))
    truck(packing, truck_id=6)  # after the load: the truck it is on stays the fact
    packing.refresh_from_db()
    assert (packing.status, packing.truck_id) == (Status.LOADED, 5)
    assert [m.truck_id for m in sent("ups", "loaded")] == [5]


def test_a_redirect_changes_the_destination(packing):
    run(
        services.destination_changed,
        from_ups(au.DestinationChanged, package_id=packing.id, x=3, y=4),
    )
    packing.refresh_from_db()
    assert (packing.dest_x, packing.dest_y) == (3, 4)


# -- failures ------------------------------------------------------------------------------------


def test_a_refused_pack_fails_the_order_and_frees_the_truck(packing):
    [pack] = OutgoingMessage.objects.filter(field="topack")
    refusal = wa.AErr(
        err="error: warehouse 1 has 0 of product 1", originseqnum=pack.seqnum, seqnum=3
    )
    run(services.world_error, WORLD_PEER, refusal)

    packing.refresh_from_db()
    assert packing.status == Status.FAILED
    assert "has 0 of product 1" in packing.failure
    [error] = sent("ups", "errors")
    assert (error.origin_seqnum, error.package_id) == (-1, packing.id)
    # UPS may still announce its truck: refused, so it stops waiting.
    announcement = truck(packing)
    [_, refusal_to_ups] = sent("ups", "errors")
    assert refusal_to_ups.origin_seqnum == announcement.seqnum
    assert not sent(WORLD_PEER, "load")


def test_ups_refusing_the_pickup_fails_the_order_without_an_answer(packing):
    [pickup] = OutgoingMessage.objects.filter(field="pickups")
    error = from_ups(au.Error, origin_seqnum=pickup.seqnum, message="no such warehouse")
    run(services.ups_error, error)

    assert status(packing) == Status.FAILED
    assert "no such warehouse" in packing.failure
    assert not sent("ups", "errors")  # an Error is never answered with an Error


def test_a_ups_error_about_nothing_we_know_is_only_logged(packing):
    run(services.ups_error, from_ups(au.Error, origin_seqnum=-1, message="bad frame"))
    assert status(packing) == Status.PACKING
    assert not sent("ups", "errors")


def test_unknown_packages_and_wrong_warehouses_are_refused(packing, place):
    unknown = from_ups(au.Delivered, package_id=424242, x=0, y=0)
    run(services.delivered, unknown)
    not_taken_in = place()  # UPS cannot know it: no PickupRequest yet
    early = from_ups(au.OutForDelivery, package_id=not_taken_in.id, truck_id=1)
    run(services.out_for_delivery, early)
    wrong = truck(packing, truck_id=4, warehouse_id=2)

    errors = sent("ups", "errors")
    assert [(e.origin_seqnum, e.package_id) for e in errors] == [
        (unknown.seqnum, 424242),
        (early.seqnum, not_taken_in.id),
        (wrong.seqnum, packing.id),
    ]
    assert status(not_taken_in) == Status.PLACED
    packing.refresh_from_db()
    assert packing.truck_id is None


# -- the world -----------------------------------------------------------------------------------


def test_hello_waits_for_a_world_unless_amazon_creates_it(catalog, settings):
    settings.WORLD_ID = None
    settings.WORLD_CREATOR = "ups"
    assert services.hello_request() is None

    settings.WORLD_CREATOR = "amazon"
    request = services.hello_request()
    assert not request.HasField("worldid") and request.isAmazon
    assert [(w.id, w.x, w.y) for w in request.initwh] == [(1, 10, 10), (2, -20, 5)]

    settings.WORLD_ID = 3
    assert services.hello_request().worldid == 3


def test_ups_names_the_world_and_the_latest_announcement_wins(catalog, settings):
    settings.WORLD_CREATOR = "ups"
    settings.WORLD_ID = None
    assert run(services.world_created, au.WorldCreated(seqnum=5, world_id=7)) == 7
    assert services.hello_request().worldid == 7
    assert run(services.world_created, au.WorldCreated(seqnum=4, world_id=6)) is None  # older
    assert run(services.world_created, au.WorldCreated(seqnum=6, world_id=7)) is None  # same
    assert selectors.current_world_id() == 7


def test_a_new_world_gives_up_the_old_worlds_packages_and_stock(packing, place):
    unassigned = place()
    run(services.world_created, au.WorldCreated(seqnum=50, world_id=8))

    assert status(packing) == Status.FAILED and "world changed" in packing.failure
    assert status(unassigned) == Status.PLACED  # not taken in: it goes to the new world
    assert on_hand(1, 1) == (0, 0)
    assert selectors.world_for_orders() is None  # until we have joined world 8
    services.world_joined(8)
    assert selectors.world_for_orders() == 8


def test_when_amazon_creates_the_world_it_announces_it_once_and_waits_for_the_ack(
    catalog, settings, place
):
    settings.WORLD_CREATOR = "amazon"
    settings.WORLD_ID = None
    services.world_joined(11)
    services.world_joined(11)  # a reconnect announces nothing new
    [announcement] = OutgoingMessage.objects.filter(peer="ups", field="worlds")
    assert sent("ups", "worlds")[0].world_id == 11
    assert selectors.world_for_orders() is None

    with transaction.atomic():
        messaging.acknowledge("ups", [announcement.seqnum])
    assert selectors.world_for_orders() == 11
    # UPS announcing a world of its own is a configuration mismatch: refused.
    offer = au.WorldCreated(seqnum=3, world_id=12)
    assert run(services.world_created, offer) is None
    assert [e.origin_seqnum for e in sent("ups", "errors")] == [3]
    assert selectors.current_world_id() == 11


def test_account_answers_keep_the_latest(db):
    run(carrier.account_status_record, au.AccountStatus(seqnum=2, ups_account=9, exists=True))
    run(carrier.account_status_record, au.AccountStatus(seqnum=1, ups_account=9, exists=False))
    assert UpsAccount.objects.get(ups_account=9).exists


def test_an_order_waiting_far_too_long_is_logged_once_and_the_world_asked(
    packing, settings, caplog
):
    packed(packing)
    long_ago = timezone.now() - datetime.timedelta(seconds=settings.STUCK_AFTER + 1)
    Order.objects.filter(id=packing.id).update(status_changed_at=long_ago)
    assert orders_selectors.orders_stuck_count() == 1

    assert upkeep.stuck_find(timezone.now()) == 1
    assert "waiting for UPS to announce a truck" in caplog.text
    assert packing.events.last().kind == "stuck"
    [query] = sent(WORLD_PEER, "queries")
    assert query.packageid == packing.id
    assert upkeep.stuck_find(timezone.now()) == 0  # once per stay in a state

    run(services.package_status, wa.APackage(packageid=packing.id, status="PACKED", seqnum=3))
    last = packing.events.last()
    assert (last.kind, last.note) == ("world status", "the world says it is packed")
    truck(packing, truck_id=4)  # the truck comes at last: the order moves on, not stuck
    assert orders_selectors.orders_stuck_count() == 0


def test_intake_takes_every_placed_order_in(joined, place):
    orders = [place({1: 1}, x=i, y=i) for i in range(3)]
    assert upkeep.intake() == 3
    assert {status(order) for order in orders} == {Status.PLACED}  # waiting for stock
    assert all(Order.objects.get(id=o.id).warehouse_id == 1 for o in orders)
    assert upkeep.intake() == 0


def test_intake_reads_the_batchs_order_lines_at_once(joined, place):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from amazon_ups.amazon.orders.models import OrderLine

    orders = [place({1: 1, 2: i + 1}, x=i, y=i) for i in range(4)]
    table = OrderLine._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        assert upkeep.intake() == 4
    # What each order asks for (the demand waiting for stock is another query: SUM).
    reads = [
        q["sql"]
        for q in captured
        if q["sql"].startswith("SELECT")
        and f'FROM "{table}"' in q["sql"]
        and "SUM(" not in q["sql"]
    ]
    assert len(reads) == 1, reads
    assert all(Order.objects.get(id=o.id).warehouse_id is not None for o in orders)


def by_ids(sql: str) -> bool:
    """A read by a list of ids: ``IN (...)``, or on PostgreSQL one array (``= ANY(...)``,
    common/backends/postgresql/lookups.py)."""
    return '_id" IN (' in sql or '_id" = ANY(' in sql


def test_intake_reads_the_stock_and_the_waiting_demand_once_per_batch(joined, place):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    stock(1, 1, 3)
    orders = [place({1: 1, 2: 1}, x=i, y=i) for i in range(2)]
    orders += [place({3: 1}, x=i, y=i) for i in range(2)]
    stock_table = Stock._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        assert upkeep.intake() == 4
    # The levels of the batch's products (a purchase's row lock is by its one product).
    reads = [q["sql"] for q in captured if q["sql"].startswith("SELECT")]
    levels = [sql for sql in reads if f'FROM "{stock_table}"' in sql and by_ids(sql)]
    assert len(levels) == 1, reads
    assert len([sql for sql in reads if "SUM(" in sql]) == 1, reads


def test_intake_reads_the_batchs_products_at_once(joined, place):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from amazon_ups.amazon.catalog.models import Product

    stock(1, 1, 3)
    stock(1, 2, 3)
    # Each asks for a product the ones before did not; the last buys (none of 3 in stock).
    orders = [place({p: 1}, x=10, y=10) for p in (1, 2, 3)]
    table = Product._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        assert upkeep.intake() == 3
    reads = [q["sql"] for q in captured if q["sql"].startswith(f'SELECT "{table}"')]
    assert len(reads) == 1, reads
    assert [status(order) for order in orders] == [Status.PACKING, Status.PACKING, Status.PLACED]
    [bought] = sent(WORLD_PEER, "buy")
    assert [(t.id, t.description) for t in bought.things] == [(3, "Mug")]


def test_an_intake_turn_reads_the_orders_set_aside_once(joined, place):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    aside, order = place({1: 1}, x=1, y=1), place({1: 1}, x=2, y=2)
    with transaction.atomic():
        messaging.set_aside_work(
            what="taking an order in", ref=f"order:{aside.id}", error=KeyError()
        )
    table = DeadLetter._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        assert upkeep.intake() == 1
    reads = [
        q["sql"] for q in captured if q["sql"].startswith("SELECT") and f'"{table}"' in q["sql"]
    ]
    assert len(reads) == 1, reads
    assert Order.objects.get(id=order.id).warehouse_id == 1
    assert Order.objects.get(id=aside.id).warehouse_id is None


def test_an_intake_look_with_no_order_waiting_is_one_read(joined, place, monkeypatch):
    """Most looks come of a message, not an order: no order waits, and one read says so
    (the orders set aside are read only when some wait). Orders set aside never fill a
    batch: the waiting are read again without them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert upkeep.intake() == 0
    assert len(captured) == 1, [q["sql"] for q in captured]
    monkeypatch.setattr(upkeep, "INTAKE_BATCH", 2)
    aside = [place({1: 1}, x=1, y=1), place({1: 1}, x=1, y=1)]
    order = place({1: 1}, x=2, y=2)
    with transaction.atomic():
        for one in aside:
            messaging.set_aside_work(
                what="taking an order in", ref=f"order:{one.id}", error=KeyError()
            )
    assert upkeep.intake() == 1
    assert Order.objects.get(id=order.id).warehouse_id == 1
    assert upkeep.intake() == 0


def _taken_in(order_ids: list[int]) -> list[tuple]:
    rows = Order.objects.filter(id__in=order_ids).order_by("id")
    return list(rows.values_list("status", "warehouse_id"))


def _intake_outcome(place, one_by_one: bool) -> tuple:
    stock(1, 1, 3)
    stock(2, 2, 1)
    # Near warehouse 1: they compete for its 3 units, then wait and buy.
    orders = [place({1: 2}, x=10, y=10) for _ in range(3)]
    orders += [place({1: 1, 2: 1}, x=-20, y=5) for _ in range(2)]
    ids = [order.id for order in orders]
    if one_by_one:
        for order_id in ids:
            services.take_in(order_id, WORLD)
    else:
        assert upkeep.intake() == len(ids)
    levels = sorted(Stock.objects.values_list("warehouse_id", "product_id", "on_hand", "on_order"))
    bought = [(m.whnum, [(t.id, t.count) for t in m.things]) for m in sent(WORLD_PEER, "buy")]
    return _taken_in(ids), levels, bought


def test_a_batch_is_taken_in_as_its_orders_would_be_one_by_one(joined, place):
    batch = _intake_outcome(place, one_by_one=False)
    Order.objects.all().delete()
    Stock.objects.all().delete()
    OutgoingMessage.objects.all().delete()
    assert batch == _intake_outcome(place, one_by_one=True)
    statuses, _, bought = batch
    assert statuses[0] == (Status.PACKING, 1) and statuses[1] == (Status.PLACED, 1)
    assert bought  # the orders that did not fit bought stock


def test_an_order_set_aside_in_intake_leaves_the_stock_it_had_taken_to_the_next(
    joined, place, monkeypatch
):
    from amazon_ups.amazon.fulfilment.services.intake import Intake

    stock(1, 1, 4)
    orders = [place({1: 2}, x=10, y=10) for _ in range(3)]
    bad = orders[1]
    plan_and_pack = Intake._plan_and_pack

    def fails_once_packed(intake: Intake, order: Order) -> None:
        plan_and_pack(intake, order)  # its units are taken off the shelf, and counted so...
        if order.id == bad.id:
            raise KeyError(order.id)  # ...and then it hits a defect

    monkeypatch.setattr(Intake, "_plan_and_pack", fails_once_packed)
    assert upkeep.intake() == 2
    # The third packs with the units the second had taken: its unit was rolled back.
    assert _taken_in([o.id for o in orders]) == [
        (Status.PACKING, 1),
        (Status.PLACED, None),
        (Status.PACKING, 1),
    ]
    assert on_hand(1, 1) == (0, 0)
    assert sent(WORLD_PEER, "buy") == []
    assert DeadLetter.objects.get().ref == f"order:{bad.id}"


def test_intake_takes_the_batchs_units_in_one_update_per_warehouse(joined, place):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    stock(1, 1, 10)
    stock(1, 2, 10)
    orders = [place(needs, x=10, y=10) for needs in ({1: 1, 2: 1}, {1: 2}, {2: 3})]
    with CaptureQueriesContext(connection) as captured:
        assert upkeep.intake() == 3
    assert _taken_in([o.id for o in orders]) == [(Status.PACKING, 1)] * 3
    assert on_hand(1, 1) == (7, 0) and on_hand(1, 2) == (6, 0)
    table = Stock._meta.db_table
    assert len([q for q in captured if q["sql"].startswith(f'UPDATE "{table}"')]) == 1


def test_units_short_at_the_batchs_end_set_aside_only_the_order_short_of_them(
    joined, place, monkeypatch
):
    """The batch's orders were planned from levels read in it; if the units are not all
    there when it takes them, it runs again unit by unit, each order taking its units at
    once, and only the one short of them is set aside."""
    from django.db.models import F

    from amazon_ups.amazon.fulfilment.services.intake import Intake

    stock(1, 1, 4)
    first, second = (place({1: 2}, x=10, y=10) for _ in range(2))
    plan_and_pack = Intake._plan_and_pack

    def one_taken_meanwhile(intake: Intake, order: Order) -> None:
        plan_and_pack(intake, order)
        if order.id == first.id:  # a unit gone from the shelf, which no level read saw
            Stock.objects.filter(warehouse_id=1, product_id=1).update(on_hand=F("on_hand") - 1)

    monkeypatch.setattr(Intake, "_plan_and_pack", one_taken_meanwhile)
    assert upkeep.intake() == 1
    assert _taken_in([first.id, second.id]) == [(Status.PACKING, 1), (Status.PLACED, None)]
    assert on_hand(1, 1) == (1, 0)
    assert [m.shipid for m in sent(WORLD_PEER, "topack")] == [first.id]
    assert DeadLetter.objects.get().ref == f"order:{second.id}"


def test_orders_locked_ahead_are_handed_out_once_each_as_read(joined, place):
    first, second = place({1: 1}, x=1, y=1), place({1: 1}, x=2, y=2)
    with transaction.atomic(), orders_selectors.orders_locked_ahead([second.id, first.id, 999]):
        handed = orders_selectors.order_lock(first.id)
        assert handed is not None and handed.status == Status.PLACED
        # A handler changes it: asked for again, it is read again, never the copy.
        Order.objects.filter(id=first.id).update(dest_x=50)
        again = orders_selectors.order_lock(first.id)
        assert again is not handed and again is not None and again.dest_x == 50
        assert orders_selectors.order_lock(999) is None
        assert orders_selectors.order_lock(second.id) is not None
    # Outside the block nothing is kept.
    assert orders_selectors.order_lock(first.id) is not None


def test_a_container_about_orders_reads_them_at_once(joined, place):
    order = place({1: 1}, x=1, y=1)
    fulfilment = Fulfilment()
    messages = [
        ("arrived", au.TruckArrived(package_id=order.id, truck_id=1, warehouse_id=1, seqnum=1)),
        ("accounts", au.AccountStatus(seqnum=2)),
    ]
    with transaction.atomic(), fulfilment.around_container(fulfilment.ups, messages):
        assert orders_selectors._ahead.get() == {order.id: order}
    assert orders_selectors._ahead.get() is None


def test_an_order_read_from_the_database_saves_only_what_changed(joined, place):
    order = orders_selectors.order_lock(place({1: 1}, x=1, y=1).id)
    assert order is not None
    Order.objects.filter(id=order.id).update(tracking_number="1Z 1")  # written meanwhile
    order.truck_id = 4
    order.warehouse_id = 2
    order.save()
    order.refresh_from_db()
    assert (order.truck_id, order.warehouse_id, order.tracking_number) == (4, 2, "1Z 1")
    order.dest_x = 9  # and again, after the first save
    before = order.updated_at
    order.save()
    assert Order.objects.values_list("dest_x", "truck_id").get(id=order.id) == (9, 4)
    assert Order.objects.get(id=order.id).updated_at == order.updated_at > before
    Order.objects.filter(id=order.id).delete()
    with pytest.raises(DatabaseError):
        order.save()


def test_a_batch_writes_its_events_at_its_end_but_a_failed_units_not(joined, place):
    kept, failed = place({1: 1}, x=1, y=1), place({1: 1}, x=2, y=2)
    with transaction.atomic(), orders_services.batch([kept.id, failed.id]):
        for order_id in (kept.id, failed.id):
            try:
                with transaction.atomic(), orders_services.unit():
                    order = orders_selectors.order_lock(order_id)
                    assert order is not None
                    orders_services.note(order, Kind.WAITING_FOR_STOCK, "waiting")
                    if order_id == failed.id:
                        raise KeyError(order_id)
            except KeyError:
                pass
        assert not OrderEvent.objects.filter(kind=Kind.WAITING_FOR_STOCK).exists()
    assert list(
        OrderEvent.objects.filter(kind=Kind.WAITING_FOR_STOCK).values_list("order_id", flat=True)
    ) == [kept.id]


def _order_updates(captured) -> list[str]:
    table = Order._meta.db_table
    return [q["sql"] for q in captured if q["sql"].startswith(f'UPDATE "{table}"')]


def test_moves_that_come_in_pairs_write_the_order_once(joined, place):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    stock(1, 1, 5)
    order = place({1: 2}, x=10, y=12)
    with CaptureQueriesContext(connection) as captured:
        services.take_in(order.id, WORLD)  # taken in, then packing
    assert len(_order_updates(captured)) == 1
    assert Order.objects.values_list("status", "warehouse_id", "world_id").get(id=order.id) == (
        Status.PACKING,
        1,
        WORLD,
    )
    assert [e.kind for e in order.events.all()] == [Kind.PLACED, Kind.TAKEN_IN, Kind.PACKING]

    packed(order)
    with CaptureQueriesContext(connection) as captured:
        arrived = truck(order, truck_id=4)  # a truck recorded, then loading
    assert len(_order_updates(captured)) == 1
    stored = Order.objects.get(id=order.id)
    assert (stored.status, stored.truck_id, stored.loading_truck_id) == (Status.LOADING, 4, 4)

    with CaptureQueriesContext(connection) as captured:
        run(services.truck_arrived, arrived)  # a repeat: nothing to write
    assert _order_updates(captured) == []


def test_packed_after_the_truck_writes_the_order_once(packing):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    truck(packing, truck_id=4)
    with CaptureQueriesContext(connection) as captured:
        packed(packing)  # packed, then loading
    assert len(_order_updates(captured)) == 1
    assert status(packing) == Status.LOADING


def test_moves_saved_together_write_nothing_if_the_block_raises(joined, place):
    order = orders_selectors.order_lock(place({1: 1}, x=1, y=1).id)
    assert order is not None
    with pytest.raises(KeyError), orders_services.saved_together(order):
        orders_services.take_in(order, warehouse_id=1, world_id=WORLD)
        raise KeyError(order.id)
    assert Order.objects.get(id=order.id).warehouse_id is None
    order.dest_x = 3
    order.save()  # held no longer
    assert Order.objects.values_list("dest_x", "warehouse_id").get(id=order.id) == (3, 1)


def test_a_container_of_deliveries_reads_users_and_lines_at_once(joined, place, django_user_model):
    from django.contrib.auth import get_user_model
    from django.template.loader import render_to_string

    from amazon_ups.amazon.orders.models import OrderLine
    from amazon_ups.common.mail.models import OutgoingEmail

    buyer = django_user_model.objects.create_user(
        "buyer", email="buyer@example.com", password="a-long-password-3"
    )
    stock(1, 1, 10)
    stock(1, 2, 10)
    orders = [place({1: 1, 2: i + 1}, x=i, y=i, user=buyer) for i in range(3)]
    for order in orders:
        services.take_in(order.id, WORLD)
    messages = [
        ("delivered", from_ups(au.Delivered, package_id=order.id, x=5, y=6)) for order in orders
    ]
    reads = [sql for sql in handled_from_ups(messages) if sql.startswith("SELECT")]
    users, lines = get_user_model()._meta.db_table, OrderLine._meta.db_table
    assert [sql for sql in reads if f'FROM "{users}"' in sql] == []
    assert len([sql for sql in reads if f'FROM "{lines}"' in sql]) == 1, reads
    # Each email as it was when every order read its own user and lines.
    for order in Order.objects.filter(id__in=[o.id for o in orders]):
        assert order.status == Status.DELIVERED
        context = {
            "order": order,
            "lines": list(order.lines.select_related("product")),
            "tracking_url": None,
        }
        email = OutgoingEmail.objects.get(ref=f"order-delivered:{order.id}")
        assert email.to == "buyer@example.com"
        assert email.body == render_to_string("orders/email/delivered_body.txt", context)


def test_a_container_reads_an_order_once_for_all_its_messages(joined, place):

    stock(1, 1, 5)
    order = place({1: 1}, x=1, y=1)
    services.take_in(order.id, WORLD)
    messages = [
        ("arrived", from_ups(au.TruckArrived, package_id=order.id, truck_id=3, warehouse_id=1)),
        ("registered", from_ups(au.PackageRegistered, package_id=order.id, tracking_number="1Z")),
        ("out_for_delivery", from_ups(au.OutForDelivery, package_id=order.id, truck_id=3)),
        ("delivered", from_ups(au.Delivered, package_id=order.id, x=5, y=6)),
    ]
    table = Order._meta.db_table
    locks = [sql for sql in handled_from_ups(messages) if sql.startswith(f'SELECT "{table}"."id"')]
    by_id = [sql for sql in locks if f'WHERE "{table}"."id"' in sql]
    assert len(by_id) == 1, locks
    stored = Order.objects.get(id=order.id)
    assert (stored.status, stored.truck_id, stored.tracking_number) == (Status.DELIVERED, 3, "1Z")
    assert (stored.dest_x, stored.dest_y) == (5, 6)


def test_an_order_a_failed_unit_had_is_read_again(joined, place):
    order_id = place({1: 1}, x=1, y=1).id
    with transaction.atomic(), orders_services.batch([order_id]):
        with pytest.raises(KeyError), transaction.atomic(), orders_services.unit():
            first = orders_selectors.order_lock(order_id)
            assert first is not None
            orders_services.take_in(first, warehouse_id=1, world_id=WORLD)
            raise KeyError(order_id)
        with orders_services.unit():
            second = orders_selectors.order_lock(order_id)
            assert second is not None and second is not first
            assert second.warehouse_id is None  # as rolled back
        with orders_services.unit():
            assert orders_selectors.order_lock(order_id) is second  # that unit ended well
        # A unit within one that fails: the outer one's rollback undoes the inner one's.
        with pytest.raises(KeyError), transaction.atomic(), orders_services.unit():
            with orders_services.unit():
                third = orders_selectors.order_lock(order_id)
            raise KeyError(order_id)
        assert orders_selectors.order_lock(order_id) is not third


def test_the_world_for_orders_is_one_read(joined, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.WORLD_ID = None  # the world learnt from UPS, in the settings rows
    with CaptureQueriesContext(connection) as captured:
        assert selectors.world_for_orders() == WORLD
    assert len(captured) == 1, [q["sql"] for q in captured]


def _outbox_inserts(statements: list[str]) -> list[str]:
    table = OutgoingMessage._meta.db_table
    return [sql for sql in statements if sql.startswith(f'INSERT INTO "{table}"')]


def test_a_containers_messages_are_written_in_one_statement(joined, place):
    stock(1, 1, 10)
    orders = [place({1: 1}, x=i, y=i) for i in range(3)]
    for order in orders:
        services.take_in(order.id, WORLD)
        packed(order)
    messages: list[tuple[str, Message]] = [
        ("arrived", from_ups(au.TruckArrived, package_id=o.id, truck_id=4, warehouse_id=1))
        for o in orders
    ]
    messages.append(("arrived", from_ups(au.TruckArrived, package_id=999, truck_id=4)))
    # Three loads for the world, a refusal for UPS: one INSERT for all four.
    assert len(_outbox_inserts(handled_from_ups(messages))) == 1
    assert [m.shipid for m in sent(WORLD_PEER, "load")] == [o.id for o in orders]
    assert [m.package_id for m in sent(carrier.UPS, "errors")] == [999]
    # Each peer's rows in the order of their seqnums, as the daemon's outbox cursor reads them.
    for peer in (WORLD_PEER, carrier.UPS):
        seqnums = list(
            OutgoingMessage.objects.filter(peer=peer)
            .order_by("id")
            .values_list("seqnum", flat=True)
        )
        assert seqnums == sorted(set(seqnums))
    assert all(status(order) == Status.LOADING for order in orders)


def test_a_sub_message_set_aside_sends_nothing_and_the_others_send_theirs(
    joined, place, monkeypatch
):
    stock(1, 1, 10)
    orders = [place({1: 1}, x=i, y=i) for i in range(3)]
    for order in orders:
        services.take_in(order.id, WORLD)
        packed(order)
    bad = orders[1]
    truck_arrived = services.truck_arrived

    def fails_after_sending(message: au.TruckArrived) -> None:
        truck_arrived(message)  # its load is queued for the world...
        if message.package_id == bad.id:
            raise KeyError(bad.id)  # ...and then it hits a defect

    monkeypatch.setitem(daemon.UPS_HANDLERS, "arrived", fails_after_sending)
    fulfilment = Fulfilment()
    received(
        fulfilment,
        fulfilment.ups,
        [
            ("arrived", from_ups(au.TruckArrived, package_id=o.id, truck_id=4, warehouse_id=1))
            for o in orders
        ],
    )
    assert [m.shipid for m in sent(WORLD_PEER, "load")] == [orders[0].id, orders[2].id]
    assert [status(order) for order in orders] == [Status.LOADING, Status.PACKED, Status.LOADING]
    assert DeadLetter.objects.get().field == "arrived"
    # The next message to the world is numbered beyond those written.
    with transaction.atomic():
        next_load = messaging.send(WORLD_PEER, "queries", wa.AQuery(packageid=1))
    assert next_load.seqnum > max(m.seqnum for m in sent(WORLD_PEER, "load"))


def _sent_out_together(place, count: int) -> tuple[list[Order], list[str]]:
    """``count`` orders taken in, then out for delivery in one container from UPS: the
    orders, and the statements the container ran."""
    stock(1, 1, 10)
    orders = [place({1: 1}, x=i, y=i) for i in range(count)]
    for order in orders:
        services.take_in(order.id, WORLD)
    statements = handled_from_ups(
        [
            ("out_for_delivery", from_ups(au.OutForDelivery, package_id=o.id, truck_id=4))
            for o in orders
        ]
    )
    return orders, statements


def test_a_containers_alike_moves_are_written_in_one_update(joined, place):
    orders, statements = _sent_out_together(place, 3)
    table = Order._meta.db_table
    assert len([sql for sql in statements if sql.startswith(f'UPDATE "{table}"')]) == 1
    stored = Order.objects.filter(id__in=[o.id for o in orders])
    # Moved at one moment (the batch's), written at another (the UPDATE's), alike.
    assert {(o.status, o.status_changed_at, o.updated_at) for o in stored} == {
        (Status.DELIVERING, stored[0].status_changed_at, stored[0].updated_at)
    }
    assert OrderEvent.objects.filter(kind=Kind.OUT_FOR_DELIVERY).count() == 3


def test_a_bad_message_about_an_order_leaves_the_moves_before_it_saved(joined, place, monkeypatch):
    stock(1, 1, 10)
    order = place({1: 1}, x=1, y=1)
    services.take_in(order.id, WORLD)
    packed(order)
    out_for_delivery = services.out_for_delivery

    def fails_after_moving(message: au.OutForDelivery) -> None:
        out_for_delivery(message)  # the order moves on...
        raise KeyError(message.package_id)  # ...and then it hits a defect

    monkeypatch.setitem(daemon.UPS_HANDLERS, "out_for_delivery", fails_after_moving)
    fulfilment = Fulfilment()
    received(
        fulfilment,
        fulfilment.ups,
        [
            ("arrived", from_ups(au.TruckArrived, package_id=order.id, truck_id=4, warehouse_id=1)),
            ("out_for_delivery", from_ups(au.OutForDelivery, package_id=order.id, truck_id=4)),
        ],
    )
    # The truck's arrival is saved; the move of the message set aside is not.
    stored = Order.objects.get(id=order.id)
    assert (stored.status, stored.truck_id, stored.loading_truck_id) == (Status.LOADING, 4, 4)
    assert [m.shipid for m in sent(WORLD_PEER, "load")] == [order.id]
    assert DeadLetter.objects.get().field == "out_for_delivery"
    assert not OrderEvent.objects.filter(kind=Kind.OUT_FOR_DELIVERY).exists()


def test_two_purchases_in_a_container_pack_a_waiting_order_once_in_one_pass(joined, place):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from amazon_ups.common.messaging.models import IncomingMessage

    order = place({1: 2}, x=10, y=10)
    assert upkeep.intake() == 1  # waits at warehouse 1, buying
    arrivals = [
        ("arrived", wa.APurchaseMore(whnum=1, things=[wa.AProduct(id=1, count=5)], seqnum=n))
        for n in (1, 2)
    ]
    fulfilment = Fulfilment()
    fulfilment.world.peer = WORLD_PEER
    with CaptureQueriesContext(connection) as captured:
        received(fulfilment, fulfilment.world, list(arrivals))
    assert status(order) == Status.PACKING
    assert [m.shipid for m in sent(WORLD_PEER, "topack")] == [order.id]
    assert on_hand(1, 1)[0] == 8
    # The second arrival found it moved on (not written yet): no defect, no second pass.
    table = IncomingMessage._meta.db_table
    looks = [q for q in captured if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]]
    assert len(looks) == 1
    assert not DeadLetter.objects.exists()


def test_a_later_purchase_in_a_container_sees_the_units_an_earlier_one_packed(joined, place):
    """The units packing takes are taken at the container's end: a level read in it
    after an earlier arrival packed still counts them, less what that packing holds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from amazon_ups.common.messaging.models import IncomingMessage

    first, second = place({1: 5}, x=10, y=10), place({1: 5}, x=10, y=10)
    assert upkeep.intake() == 2  # both wait at warehouse 1, buying
    arrivals = [
        ("arrived", wa.APurchaseMore(whnum=1, things=[wa.AProduct(id=1, count=n)], seqnum=n))
        for n in (5, 3)
    ]
    fulfilment = Fulfilment()
    fulfilment.world.peer = WORLD_PEER
    with CaptureQueriesContext(connection) as captured:
        received(fulfilment, fulfilment.world, list(arrivals))
    # 5 came, the first packed them; 3 more are not enough for the second.
    assert (status(first), status(second)) == (Status.PACKING, Status.PLACED)
    assert on_hand(1, 1)[0] == 3
    table = IncomingMessage._meta.db_table
    looks = [q for q in captured if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]]
    assert len(looks) == 1  # one pass: no shortfall at the end, no second pass
    assert not DeadLetter.objects.exists()


def test_a_container_without_deliveries_reads_its_orders_without_their_users(joined, place):
    from django.contrib.auth import get_user_model

    orders, statements = _sent_out_together(place, 2)
    users = get_user_model()._meta.db_table
    assert [sql for sql in statements if f'"{users}"' in sql] == []
    assert {status(order) for order in orders} == {Status.DELIVERING}


def test_a_purchase_reads_what_the_orders_waiting_for_it_need_at_once(joined, place):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from amazon_ups.amazon.catalog.models import Product
    from amazon_ups.amazon.orders.models import OrderLine

    orders = [place({1: 2, 2: 1}, x=10, y=10) for _ in range(3)]
    assert upkeep.intake() == 3  # all wait at warehouse 1
    stock(1, 2, 5)  # product 2 is there; product 1 arrives, for two of them
    arrived = wa.APurchaseMore(whnum=1, things=[wa.AProduct(id=1, count=5)], seqnum=1)
    with CaptureQueriesContext(connection) as captured:
        run(services.purchase_arrived, arrived)
    assert [status(order) for order in orders] == [Status.PACKING, Status.PACKING, Status.PLACED]
    assert on_hand(1, 1)[0] == 1 and on_hand(1, 2)[0] == 3
    assert [[(t.id, t.description) for t in m.things] for m in sent(WORLD_PEER, "topack")] == [
        [(1, "Kettle"), (2, "Teapot")]
    ] * 2
    reads = [q["sql"] for q in captured if q["sql"].startswith("SELECT")]
    # The lines once; the products bought (known?), then the others the orders need.
    for table, count in ((OrderLine, 1), (Product, 2)):
        name = table._meta.db_table
        assert len([sql for sql in reads if f'FROM "{name}"' in sql]) == count, reads
    levels = [sql for sql in reads if 'FROM "catalog_stock"' in sql and by_ids(sql)]
    assert len(levels) == 1, reads
