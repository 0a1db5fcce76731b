"""Taking an order in: the warehouse chosen, UPS asked for a truck, the package packed
(or stock bought first)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping

from django.db import transaction

from amazon_ups.amazon.carrier import services as carrier
from amazon_ups.amazon.catalog import selectors as catalog_selectors
from amazon_ups.amazon.catalog import services as catalog_services
from amazon_ups.amazon.catalog.models import Product, Warehouse
from amazon_ups.amazon.fulfilment import planning
from amazon_ups.amazon.fulfilment.services.world import buy, fail_order, order_ref, pack
from amazon_ups.amazon.orders import selectors as orders_selectors
from amazon_ups.amazon.orders import services as orders_services
from amazon_ups.amazon.orders.lifecycle import OrderEventKind as Kind
from amazon_ups.amazon.orders.models import Order

Status = Order.Status


# -- intake ----------------------------------------------------------------------------------


@transaction.atomic
def take_in(order_id: int, world_id: int) -> None:
    """Choose the warehouse, ask UPS for a truck, and pack (or buy stock first)."""
    Intake(world_id, [order_id]).take_in(order_id)


class Intake:
    """Taking a batch of orders in (``order_ids``), for ``world_id``, in one transaction:
    what every order reads alike (the warehouses, the products' descriptions) is read
    once, and the orders' lines together; the stock and the demand waiting for it, once
    per pass of the batch (``batch``), then kept by what each order does to them."""

    def __init__(self, world_id: int, order_ids: Iterable[int] = ()) -> None:
        self.world_id = world_id
        self._warehouses: list[Warehouse] | None = None
        self._products: dict[int, Product] = {}
        self._order_ids = list(order_ids)
        self._needs: dict[int, dict[int, int]] | None = None
        self._levels = _Levels()

    @contextlib.contextmanager
    def batch(self, order_ids: list[int]) -> Iterator[None]:
        """``orders_services.batch`` for a pass over ``order_ids``. A pass that hit a
        defect was rolled back and is run again: the stock and demand it kept are
        forgotten, to be read again as they are now."""
        self._levels = _Levels()
        with orders_services.batch(order_ids), catalog_services.reserved_together():
            yield

    def needs(self, order: Order) -> dict[int, int]:
        """What the order asks for: the batch's orders' lines are read at once."""
        if self._needs is None:
            self._needs = orders_selectors.orders_needs(self._order_ids)
        if order.id in self._needs:
            return self._needs[order.id]
        return orders_selectors.order_needs(order)

    def warehouses(self) -> list[Warehouse]:
        if self._warehouses is None:
            self._warehouses = catalog_selectors.warehouse_list()
        return self._warehouses

    def _asked_for(self, needs: dict[int, int]) -> set[int]:
        """The products this order and the batch's others ask for."""
        asked = set(needs)
        for other in (self._needs or {}).values():
            asked.update(other)
        return asked

    def products(self, needs: dict[int, int]) -> dict[int, Product]:
        """The products (their descriptions for the world) of ``needs``: those of the
        batch's orders are read at once."""
        if any(p not in self._products for p in needs):
            missing = self._asked_for(needs) - self._products.keys()
            self._products.update(catalog_selectors.products_by_id(missing))
        return self._products

    def take_in(self, order_id: int) -> None:
        """Choose the warehouse, ask UPS for a truck, and pack (or buy stock first)."""
        try:
            with orders_services.unit():  # a defect rolls this order's events back too
                self._take_in(order_id)
        except BaseException:
            # Its savepoint is rolled back, and with it what it did to the stock and the
            # demand: both are read again for the next order.
            self._levels = _Levels()
            raise

    def _take_in(self, order_id: int) -> None:
        order = orders_selectors.order_lock(order_id)
        if order is None or order.status != Status.PLACED or order.warehouse_id is not None:
            return
        with orders_services.saved_together(order):
            self._plan_and_pack(order)

    def _plan_and_pack(self, order: Order) -> None:
        world_id = self.world_id
        needs = self.needs(order)
        warehouses = self.warehouses()
        levels = self._levels
        if not levels.knows(needs):
            levels.read(self._asked_for(needs))
        plan = planning.plan(
            order.dest_x,
            order.dest_y,
            needs,
            [planning.Place(w.id, w.x, w.y) for w in warehouses],
            levels.stock,
            levels.waiting,
        )
        if plan is None:
            fail_order(order, "the store has no warehouse to ship from")
            return
        warehouse = next(w for w in warehouses if w.id == plan.warehouse_id)
        orders_services.take_in(
            order, warehouse_id=warehouse.id, world_id=world_id, note=f"ships from {warehouse}"
        )
        products = self.products(needs)
        _request_pickup(order, warehouse, needs, products)
        if plan.pack_now:
            pack(order, needs, products)
            levels.packed(warehouse.id, needs)
            return
        if plan.buy:
            buy(world_id, warehouse.id, plan.buy, ref=order_ref(order), products=products)
            levels.bought(warehouse.id, plan.buy)
        orders_services.note(
            order, Kind.WAITING_FOR_STOCK, f"waiting for stock at warehouse {warehouse.id}"
        )
        levels.waits(warehouse.id, needs)


class _Levels:
    """The stock of the products a batch's orders ask for ((warehouse, product) -> (on
    hand, on order)) and the units orders waiting there need, read once for the
    products not read yet, then kept as the batch's orders change them: in the batch's
    transaction only the daemon takes units off the shelf or makes orders wait (the web
    adds units on order, which a level read earlier merely undercounts, as a read
    before a restock always could)."""

    def __init__(self) -> None:
        self.stock: dict[tuple[int, int], tuple[int, int]] = {}
        self.waiting: dict[tuple[int, int], int] = {}
        self._read: set[int] = set()

    def knows(self, needs: Iterable[int]) -> bool:
        return self._read.issuperset(needs)

    def read(self, product_ids: Iterable[int]) -> None:
        if missing := set(product_ids) - self._read:
            self.stock.update(catalog_selectors.stock_levels(missing))
            self.waiting.update(orders_selectors.waiting_demand(missing))
            self._read |= missing

    def packed(self, warehouse_id: int, needs: Mapping[int, int]) -> None:
        for product_id, count in needs.items():
            on_hand, on_order = self.stock.get((warehouse_id, product_id), (0, 0))
            self.stock[warehouse_id, product_id] = (on_hand - count, on_order)

    def bought(self, warehouse_id: int, counts: Mapping[int, int]) -> None:
        for product_id, count in counts.items():
            on_hand, on_order = self.stock.get((warehouse_id, product_id), (0, 0))
            self.stock[warehouse_id, product_id] = (on_hand, on_order + count)

    def waits(self, warehouse_id: int, needs: Mapping[int, int]) -> None:
        for product_id, count in needs.items():
            key = (warehouse_id, product_id)
            self.waiting[key] = self.waiting.get(key, 0) + count


def _request_pickup(
    order: Order, warehouse: Warehouse, needs: dict[int, int], products: Mapping[int, Product]
) -> None:
    # Sent at once, so the truck drives while the package is packed (protocol 5.2).
    carrier.pickup_request(
        package_id=order.id,
        warehouse=(warehouse.id, warehouse.x, warehouse.y),
        destination=(order.dest_x, order.dest_y),
        items=[carrier.Item(p, products[p].world_description, n) for p, n in sorted(needs.items())],
        ups_account=order.ups_account,
    )
