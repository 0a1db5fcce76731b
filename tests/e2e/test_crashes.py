"""kill -9 the Amazon daemon, then the UPS daemon, then the world, each while
messages are in flight; the supervisor starts each again; every order still ends
delivered, exactly once, and Amazon's stock books match the world's shelves."""

from __future__ import annotations

from collections import Counter

from amazon_ups.testing.system import System, buy, query, shopper_for, status_of, wait_until
from amazon_ups.world.journal import Journal

ORDERS = 12
IN_FLIGHT = {"placed", "packing", "packed", "loading", "loaded", "delivering"}


def kill_and_wait(system: System, child: str) -> None:
    old = system.kill(child)
    wait_until(lambda: system.restarted(child, old), 60, f"{child} to be started again")


def test_kill_9_each_piece_mid_flight_and_every_order_is_delivered_once(
    start_system, database_urls, tmp_path
):
    system = start_system("--simspeed", "150", "--trucks", "4")
    shopper = shopper_for(system)
    orders = [
        buy(shopper, quantity=1 + i % 3, x=5 * i - 20, y=(-1) ** i * i) for i in range(ORDERS)
    ]

    def statuses() -> Counter:
        return Counter(status_of(shopper, order) for order in orders)

    try:
        # Amazon's daemon dies while it is buying, packing and asking for trucks.
        assert set(statuses()) <= IN_FLIGHT - {"delivering"}
        kill_and_wait(system, "amzn-d")
        # UPS's, once packages are being loaded and carried.
        wait_until(
            lambda: (s := statuses()) and s["loading"] + s["loaded"] + s["delivering"] > 0,
            120,
            "packages on trucks",
        )
        kill_and_wait(system, "ups-d")
        # The world's, while trucks are on the road and orders are still open.
        wait_until(
            lambda: (
                (s := statuses())["delivering"] + s["delivered"] > 0 and s["delivered"] < ORDERS
            ),
            120,
            "trucks out delivering",
        )
        kill_and_wait(system, "world")
        wait_until(lambda: statuses()["delivered"] == ORDERS, 240, "every order delivered")
    except AssertionError:
        print(system.log(200))
        raise
    system.stop()

    amazon = database_urls.get("amazon", system.var / "amazon.sqlite3")
    ups = database_urls.get("ups", system.var / "ups.sqlite3")
    delivered_events = query(
        amazon,
        "SELECT order_id, COUNT(*) FROM orders_orderevent WHERE status = 'delivered' "
        "GROUP BY order_id",
    )
    assert len(delivered_events) == ORDERS and {n for _, n in delivered_events} == {1}
    deliveries = query(
        ups,
        "SELECT package_id, COUNT(*) FROM shipments_packageevent WHERE kind = 'delivered' "
        "GROUP BY package_id",
    )
    assert len(deliveries) == ORDERS and {n for _, n in deliveries} == {1}, deliveries

    # The world delivered each package once, and holds exactly what Amazon's books say.
    (world_id,) = query(amazon, "SELECT value FROM messaging_setting WHERE key = 'world_id'")[0]
    journal = Journal(system.var / "world.sqlite3")
    world = journal.load().worlds[int(world_id)]
    journal.close()
    assert {p.status for p in world.packages.values()} == {"DELIVERED"}
    assert len(world.packages) == ORDERS
    books = {
        (warehouse, product): (on_hand, on_order)
        for warehouse, product, on_hand, on_order in query(
            amazon, "SELECT warehouse_id, product_id, on_hand, on_order FROM catalog_stock"
        )
    }
    shelves = {
        (warehouse.id, product): count
        for warehouse in world.warehouses.values()
        for product, count in warehouse.stock.items()
    }
    assert {key: on_hand for key, (on_hand, _) in books.items() if on_hand or key in shelves} == (
        shelves
    )
    assert all(on_order == 0 for _, on_order in books.values())
