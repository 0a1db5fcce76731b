"""The store in the world: joining it, stocking it, the commands about one package (pack,
load) and what the world reports back. Each function runs in one transaction with the
messages it causes (``messaging.send``); order statuses move only through
``orders.services``. Every command about a package carries ``ref="order:<id>"``, so a
refusal (``AErr``) leads back to the order that caused it."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping

from django.conf import settings
from django.db import transaction

from amazon_ups.amazon.carrier import services as carrier
from amazon_ups.amazon.catalog import selectors as catalog_selectors
from amazon_ups.amazon.catalog import services as catalog_services
from amazon_ups.amazon.catalog.models import Product
from amazon_ups.amazon.fulfilment import planning, selectors
from amazon_ups.amazon.fulfilment.exceptions import CannotRestock
from amazon_ups.amazon.orders import selectors as orders_selectors
from amazon_ups.amazon.orders import services as orders_services
from amazon_ups.amazon.orders.lifecycle import ON_A_TRUCK
from amazon_ups.amazon.orders.lifecycle import OrderEventKind as Kind
from amazon_ups.amazon.orders.models import Order
from amazon_ups.common.daemon.wakeup import notify
from amazon_ups.common.messaging import selectors as messaging_selectors
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.parsing import parse_int
from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.limits import INT64_MAX

logger = logging.getLogger(__name__)

PURCHASE_BATCH = 100  # products per purchase message, to keep each one small
MAX_RESTOCK = 1000  # units a seller buys at once: more is a typo


def world_peer(world_id: int) -> str:
    return f"world:{world_id}"


def order_ref(order: Order) -> str:
    return f"order:{order.id}"


def order_of_ref(ref: str) -> Order | None:
    kind, _, number = ref.partition(":")
    order_id = parse_int(number, 1, INT64_MAX)
    if kind != "order" or order_id is None:
        return None
    return orders_selectors.order_lock(order_id)


def _counts(things: Iterable[wa.AProduct]) -> dict[int, int]:
    # The same product may come in several entries; they add up.
    counts: dict[int, int] = defaultdict(int)
    for thing in things:
        counts[thing.id] += thing.count
    return dict(counts)


def _products(
    counts: dict[int, int], products: Mapping[int, Product] | None = None
) -> list[wa.AProduct]:
    if products is None:
        products = catalog_selectors.products_by_id(counts)
    return [
        wa.AProduct(id=product_id, description=products[product_id].world_description, count=n)
        for product_id, n in sorted(counts.items())
    ]


# -- the world link ------------------------------------------------------------------------


def hello_request() -> wa.AConnect | None:
    """The AConnect to send, or None while we have no world to join."""
    world_id = selectors.current_world_id()
    if world_id is None and not selectors.amazon_creates_world():
        return None
    request = wa.AConnect(isAmazon=True)
    if world_id is not None:
        request.worldid = world_id
    # Every warehouse, every time: the world accepts an identical repeat.
    for warehouse in catalog_selectors.warehouse_list():
        request.initwh.add(id=warehouse.id, x=warehouse.x, y=warehouse.y)
    return request


@transaction.atomic
def world_joined(world_id: int) -> None:
    """The world said "connected!" to ``world_id``."""
    if selectors.stored_world_id() != world_id:
        move_to_world(world_id)
        if selectors.amazon_creates_world():
            carrier.world_created(world_id)
            logger.info("created world %d; telling UPS", world_id)
    messaging.put_setting(selectors.JOINED, world_id)
    if selectors.stocked_world_id() != world_id:
        _stock_new_world(world_id)


def _stock_new_world(world_id: int) -> None:
    """A new world's warehouses are empty: buy settings.INITIAL_STOCK of every listed
    product at each, so a fresh store ships at once instead of saying "out of stock"
    everywhere."""
    messaging.put_setting(selectors.STOCKED, world_id)
    count = settings.INITIAL_STOCK
    if count <= 0:
        return
    product_ids = catalog_selectors.listed_product_ids()
    warehouses = catalog_selectors.warehouse_list()
    for warehouse in warehouses:
        for start in range(0, len(product_ids), PURCHASE_BATCH):
            counts = dict.fromkeys(product_ids[start : start + PURCHASE_BATCH], count)
            buy(world_id, warehouse.id, counts, ref=f"stock:world:{world_id}")
    logger.info(
        "world %d: bought %d of each of %d products at %d warehouses",
        world_id,
        count,
        len(product_ids),
        len(warehouses),
    )


def buy(
    world_id: int,
    warehouse_id: int,
    counts: dict[int, int],
    ref: str,
    products: Mapping[int, Product] | None = None,
) -> None:
    """Ask the world for units; they count as on order until they arrive (or are refused).
    ``products``: the products bought, where the caller has read them already."""
    catalog_services.order_more(warehouse_id, counts)
    buy = wa.APurchaseMore(whnum=warehouse_id, things=_products(counts, products))
    messaging.send(world_peer(world_id), "buy", buy, ref=ref)


@transaction.atomic
def restock(*, product_id: int, warehouse_id: int, count: int) -> None:
    """A seller buys ``count`` more units of a product for a warehouse: the stock counts
    them as on order, and the purchase goes to the world, in one transaction."""
    if not 1 <= count <= MAX_RESTOCK:
        raise CannotRestock(f"Buy between 1 and {MAX_RESTOCK} units at a time.")
    if catalog_selectors.warehouse_get(warehouse_id) is None:
        raise CannotRestock("No such warehouse.")
    world_id = selectors.world_for_orders()
    if world_id is None:
        raise CannotRestock("The store has not joined the world yet: try again in a moment.")
    buy(world_id, warehouse_id, {product_id: count}, ref=f"restock:{product_id}")
    transaction.on_commit(lambda: notify(orders_services.WAKEUP_CHANNEL))


def move_to_world(world_id: int) -> None:
    previous = selectors.stored_world_id()
    messaging.put_setting(selectors.WORLD, world_id)
    if previous is None or previous == world_id:
        return
    logger.warning("moving from world %d to world %d", previous, world_id)
    # Packages of the old world will never be delivered (protocol 4); UPS has
    # left that world too, so it needs no word about them.
    for order_id in orders_selectors.orders_in_flight_outside(world_id):
        order = orders_selectors.order_lock(order_id)
        assert order is not None  # just listed, in this transaction
        orders_services.fail(order, f"the world changed from {previous} to {world_id}")
    catalog_services.forget_stock()


def pack(
    order: Order, needs: dict[int, int], products: Mapping[int, Product] | None = None
) -> None:
    warehouse_id, world_id = order.warehouse_id, order.world_id
    assert warehouse_id is not None and world_id is not None  # taken in by a world
    catalog_services.reserve(warehouse_id, needs)
    pack = wa.APack(whnum=warehouse_id, things=_products(needs, products), shipid=order.id)
    messaging.send(world_peer(world_id), "topack", pack, ref=order_ref(order))
    orders_services.start_packing(order)


def load(order: Order) -> None:
    truck_id = orders_services.start_loading(order)
    assert order.world_id is not None  # taken in by a world
    load = wa.APutOnTruck(whnum=order.warehouse_id, truckid=truck_id, shipid=order.id)
    messaging.send(world_peer(order.world_id), "load", load, ref=order_ref(order))


def fail_order(order: Order, reason: str, tell_ups: bool = True) -> None:
    not_loaded = order.status not in ON_A_TRUCK
    if not orders_services.fail(order, reason):
        return
    asked_for_truck = order.warehouse_id is not None
    if tell_ups and asked_for_truck and not_loaded:
        carrier.package_given_up(order.id, reason)


# -- from the world --------------------------------------------------------------------------


@contextlib.contextmanager
def world_container(order_ids: Iterable[int]) -> Iterator[None]:
    """For a container from the world about these orders: ``orders.services.batch``,
    and the stock that packing the orders its purchases bring takes, in one UPDATE per
    warehouse at its end (``catalog.services.reserved_together``)."""
    with orders_services.batch(order_ids), catalog_services.reserved_together():
        yield


def purchase_arrived(message: wa.APurchaseMore) -> None:
    if catalog_selectors.warehouse_get(message.whnum) is None:
        logger.warning("a purchase arrived at warehouse %d, which is not ours", message.whnum)
        return
    counts = _counts(message.things)
    known = catalog_selectors.products_by_id(counts)
    if unknown := sorted(set(counts) - set(known)):
        logger.warning("a purchase brought products we do not sell: %s", unknown)
    catalog_services.receive(message.whnum, {p: n for p, n in counts.items() if p in known})
    waiting = orders_selectors.orders_waiting_for_stock(message.whnum)
    if not waiting:
        return
    # What the waiting orders need, the products' descriptions and what is on hand here:
    # read once for them all, then kept as each one packed takes its units.
    needs_of = orders_selectors.orders_needs(waiting)
    asked = {p for needs in needs_of.values() for p in needs}
    products = dict(known)
    if missing := asked - products.keys():
        products.update(catalog_selectors.products_by_id(missing))
    on_hand = {
        # Less what packing in this container (an earlier arrival's) has reserved.
        p: n - catalog_services.reserved_not_taken(w, p)
        for (w, p), (n, _) in catalog_selectors.stock_levels(asked).items()
        if w == message.whnum
    }
    # Oldest first; one that does not fit yet does not hold back the ones after it.
    for order_id in waiting:
        order = orders_selectors.order_lock(order_id)
        assert order is not None  # just listed, in this transaction
        if order.status != Order.Status.PLACED:
            # Moved on earlier in this batch (packed by an earlier arrival, failed), its
            # move not written yet (``lifecycle.moves_written_together``).
            continue
        needs = needs_of.get(order_id, {})
        if planning.fits(needs, on_hand):
            pack(order, needs, products)
            for product_id, count in needs.items():
                on_hand[product_id] -= count


def package_packed(message: wa.APacked) -> None:
    order = orders_selectors.order_lock(message.shipid)
    if order is None:
        logger.warning("the world packed package %d, which we do not know", message.shipid)
        return
    with orders_services.saved_together(order):
        orders_services.mark_packed(order)
        if orders_services.can_load(order):
            load(order)


def package_loaded(message: wa.ALoaded) -> None:
    order = orders_selectors.order_lock(message.shipid)
    if order is None:
        logger.warning("the world loaded package %d, which we do not know", message.shipid)
        return
    truck_id = orders_services.mark_loaded(order)
    if truck_id is not None:
        carrier.package_loaded(order.id, truck_id)


def world_error(peer: str, message: wa.AErr) -> None:
    origin = messaging_selectors.origin(peer, message.originseqnum)
    if origin is not None and origin.field == "buy" and not origin.ref.startswith("order:"):
        # A restock or a new world's stock, for no order: only the count on order changes.
        bought = wa.APurchaseMore.FromString(bytes(origin.body))
        catalog_services.order_refused(bought.whnum, _counts(bought.things))
        logger.warning("%s: refused purchase %s: %s", peer, origin.ref, message.err)
        return
    order = order_of_ref(origin.ref) if origin is not None else None
    if origin is None or order is None:
        logger.warning("%s: error about command %d: %s", peer, message.originseqnum, message.err)
        return
    if origin.field == "buy":
        bought = wa.APurchaseMore.FromString(bytes(origin.body))
        catalog_services.order_refused(bought.whnum, _counts(bought.things))
        if order.waiting_for_stock:
            fail_order(order, f"the world would not sell us stock: {message.err}")
    elif origin.field == "topack":
        fail_order(order, f"the world could not pack the package: {message.err}")
    elif origin.field == "load":
        _load_refused(order, wa.APutOnTruck.FromString(bytes(origin.body)), message.err)
    else:
        logger.warning("%s: error about %s for %s: %s", peer, origin.field, origin.ref, message.err)


def _load_refused(order: Order, refused: wa.APutOnTruck, reason: str) -> None:
    """The world would not put the package on ``refused.truckid``: most likely the truck
    had gone. UPS hears so (protocol 5.11) and sends a truck again; a newer
    TruckArrived that came meanwhile may be tried at once."""
    if order.loading_truck_id != refused.truckid:
        return  # an older load, already settled
    with orders_services.saved_together(order):
        truck_id = orders_services.load_refused(order, reason)
        if truck_id is None:
            return
        carrier.load_failed(order.id, truck_id, reason)
        if orders_services.can_load(order):
            load(order)


def package_status(message: wa.APackage) -> None:
    """The world's answer to our query about a package (sent for orders that wait far
    too long): for the operator, in the log and in the order's history."""
    order = orders_selectors.order_lock(message.packageid)
    status = message.status.lower()
    logger.info("the world says package %d is %s", message.packageid, status)
    if order is not None:
        orders_services.note(order, Kind.WORLD_STATUS, f"the world says it is {status}")
