"""Every rule of the world, success and error paths, over real sockets.

Each test gets a fresh world on a live in-process server (``pair``): UPS with trucks
1 and 2 at (0, 0), Amazon with warehouses 1 at (10, 10) and 2 at (-20, 5), both at
simspeed FAST. Where a test needs something to be *in progress* (a truck on the
road, a package being loaded), it slows the relevant side down to simspeed 1 first,
which makes the window minutes long, and speeds it up again afterwards: a simspeed
change applies to events scheduled after it, so the order of events, not a sleep,
decides the outcome. A few tests rely on the client putting sub-commands sent with
no ``await`` between them in one commands message, which the world runs in order
(buy, topack, load, queries; pickups, deliveries, queries).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf.message import Message

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.channel import SubMessage
from amazon_ups.protocol.framing import encode_frame
from amazon_ups.protocol.world_messages import AnyError, Side
from amazon_ups.world.client import WorldClient
from tests.support import FAST, connect_pair

SLOW = 1  # a truck needs 10 s per grid unit, a purchase or a packing 100 s, a load 50 s
WH1 = (10, 10)
WH2 = (-20, 5)
FAR = (5000, 5000)


@pytest.fixture
async def pair(ports):
    ups, amazon = await connect_pair(ports)
    yield ups, amazon
    await amazon.close()
    await ups.close()


# -- helpers ---------------------------------------------------------------------------------


def thing(product: int = 7, count: int = 1, description: str = "book") -> wa.AProduct:
    return wa.AProduct(id=product, description=description, count=count)


def names(text: str, kind: str, number: int) -> bool:
    """``text`` names ``kind`` ``number``: "truck 3", "package id 3", "product_id 3"."""
    return re.search(rf"\b{kind}(?:[ _]id)? {number}(?!\d)", text) is not None


def error_type(client: WorldClient) -> type[AnyError]:
    return wa.AErr if client.side is Side.AMAZON else wu.UErr


async def errors_for(client: WorldClient, command: SubMessage, count: int = 1) -> list[str]:
    """Send ``command``; return the text of the ``count`` errors about it (by originseqnum)."""
    seqnum = client.send(command)

    def found_all() -> list[Any] | None:
        errors = [e for e in client.of_type(error_type(client)) if e.originseqnum == seqnum]
        return errors if len(errors) >= count else None

    found = await client.wait_for(found_all)
    for error in found:
        assert error.err.startswith("error:"), error.err
    return [e.err for e in found]


async def refused(client: WorldClient, command: SubMessage, *named: tuple[str, int]) -> str:
    """Send ``command``; it must fail with one error naming each (kind, id) in ``named``."""
    (text,) = await errors_for(client, command)
    for kind, number in named:
        assert names(text, kind, number), f"{text!r} does not name {kind} {number}"
    return text


async def outcome(
    client: WorldClient,
    command: SubMessage,
    result_type: type[Message],
    match: Callable[[Any], bool],
) -> Any:
    """Send ``command``; return the first new ``result_type`` matching, failing on an error."""
    since = len(client.results)
    seqnum = client.send(command)

    def found() -> Any:
        for result in client.results[since:]:
            if isinstance(result, error_type(client)) and result.originseqnum == seqnum:
                return result
            if isinstance(result, result_type) and match(result):
                return result
        return None

    result = await client.wait_for(found)
    assert isinstance(result, result_type), f"{type(command).__name__} failed: {result}"
    return result


async def acked(client: WorldClient, seqnum: int) -> None:
    """Wait until the world has taken (and run) our command ``seqnum``."""
    await client.wait_for(lambda: seqnum in client.acked)


async def stock(amazon: WorldClient, whnum: int, product: int, count: int) -> wa.APurchaseMore:
    return await outcome(
        amazon,
        wa.APurchaseMore(whnum=whnum, things=[thing(product, count)]),
        wa.APurchaseMore,
        lambda r: r.whnum == whnum and r.things[0].id == product and r.things[0].count == count,
    )


async def pack(amazon: WorldClient, shipid: int, whnum: int = 1, *things: wa.AProduct) -> None:
    await outcome(
        amazon,
        wa.APack(whnum=whnum, shipid=shipid, things=things or [thing()]),
        wa.APacked,
        lambda r: r.shipid == shipid,
    )


async def pickup(ups: WorldClient, truck: int, whnum: int) -> wu.UFinished:
    finished = await outcome(
        ups,
        wu.UGoPickup(truckid=truck, whid=whnum),
        wu.UFinished,
        lambda r: r.truckid == truck,
    )
    assert finished.status == "ARRIVE WAREHOUSE"
    return finished


async def load(amazon: WorldClient, shipid: int, truck: int = 1, whnum: int = 1) -> None:
    await outcome(
        amazon,
        wa.APutOnTruck(whnum=whnum, truckid=truck, shipid=shipid),
        wa.ALoaded,
        lambda r: r.shipid == shipid,
    )


async def packed(amazon: WorldClient, shipids: list[int], whnum: int = 1) -> None:
    """Packages ``shipids`` (one unit of product 7 each), packed at ``whnum``."""
    await stock(amazon, whnum, 7, len(shipids))
    for shipid in shipids:
        await pack(amazon, shipid, whnum)


async def on_truck(
    ups: WorldClient, amazon: WorldClient, shipids: list[int], truck: int = 1, whnum: int = 1
) -> None:
    """Packages ``shipids`` packed at ``whnum`` and loaded on ``truck``, which waits there."""
    await packed(amazon, shipids, whnum)
    await pickup(ups, truck, whnum)
    for shipid in shipids:
        await load(amazon, shipid, truck, whnum)


async def truck_state(ups: WorldClient, truck: int = 1) -> tuple[str, int, int]:
    status = await outcome(ups, wu.UQuery(truckid=truck), wu.UTruck, lambda r: r.truckid == truck)
    return status.status, status.x, status.y


async def package_status(amazon: WorldClient, shipid: int) -> str:
    status = await outcome(
        amazon, wa.AQuery(packageid=shipid), wa.APackage, lambda r: r.packageid == shipid
    )
    return status.status


def deliver(truck: int, *stops: tuple[int, int, int]) -> wu.UGoDeliver:
    return wu.UGoDeliver(
        truckid=truck,
        packages=[wu.UDeliveryLocation(packageid=p, x=x, y=y) for p, x, y in stops],
    )


def delivered(ups: WorldClient, truck: int | None = None) -> list[int]:
    return [
        r.packageid for r in ups.of_type(wu.UDeliveryMade) if truck is None or r.truckid == truck
    ]


def idles(ups: WorldClient, truck: int = 1) -> list[tuple[int, int]]:
    return [
        (r.x, r.y) for r in ups.of_type(wu.UFinished) if r.truckid == truck and r.status == "IDLE"
    ]


async def until_idle(ups: WorldClient, truck: int = 1, count: int = 1) -> list[tuple[int, int]]:
    return await ups.wait_for(lambda: len(done := idles(ups, truck)) >= count and done)


def no_errors(*clients: WorldClient) -> None:
    for client in clients:
        assert client.of_type(error_type(client)) == []


# -- buy -----------------------------------------------------------------------------------


async def test_a_purchase_arrives_echoing_warehouse_and_products(pair):
    _, amazon = pair
    things = [thing(7, 3, "book"), thing(8, 1, "lamp")]
    amazon.send(wa.APurchaseMore(whnum=2, things=things))
    arrived = await amazon.wait_result(wa.APurchaseMore)
    assert arrived.whnum == 2
    assert [(t.id, t.description, t.count) for t in arrived.things] == [
        (7, "book", 3),
        (8, "lamp", 1),
    ]
    # The stock is there now, and in warehouse 2 only.
    await pack(amazon, 1, 2, thing(7, 3), thing(8, 1))
    await refused(amazon, wa.APack(whnum=1, shipid=2, things=[thing(7, 1)]), ("warehouse", 1))


async def test_stock_appears_only_when_the_purchase_arrives(pair):
    _, amazon = pair
    # One commands message: the buy runs first, but its goods are still on the way.
    amazon.send(wa.APurchaseMore(whnum=1, things=[thing(7, 5)]))
    early = amazon.send(wa.APack(whnum=1, shipid=1, things=[thing(7, 1)]))
    await amazon.wait_result(wa.APurchaseMore)
    (text,) = await amazon.wait_for(
        lambda: [e.err for e in amazon.of_type(wa.AErr) if e.originseqnum == early]
    )
    assert names(text, "warehouse", 1) and names(text, "product", 7), text
    # After the arrival, the same package packs.
    await pack(amazon, 1, 1, thing(7, 5))


async def test_there_is_no_stock_while_the_purchase_is_on_its_way(pair):
    _, amazon = pair
    amazon.set_simspeed(SLOW)
    buy = amazon.send(wa.APurchaseMore(whnum=1, things=[thing(7, 5)]))
    await acked(amazon, buy)
    await refused(amazon, wa.APack(whnum=1, shipid=1, things=[thing(7, 1)]), ("warehouse", 1))
    assert amazon.of_type(wa.APurchaseMore) == []


async def test_packing_more_than_was_bought_is_refused(pair):
    _, amazon = pair
    await stock(amazon, 1, 7, 3)
    text = await refused(
        amazon,
        wa.APack(whnum=1, shipid=4, things=[thing(7, 4)]),
        ("warehouse", 1),
        ("product", 7),
        ("package", 4),
    )
    assert "3" in text  # how many there are


async def test_purchases_add_up(pair):
    _, amazon = pair
    await stock(amazon, 1, 7, 2)
    await stock(amazon, 1, 7, 3)
    await pack(amazon, 1, 1, thing(7, 5))


async def test_buying_for_an_unknown_warehouse_is_refused(pair):
    _, amazon = pair
    await refused(amazon, wa.APurchaseMore(whnum=9, things=[thing()]), ("warehouse", 9))


@pytest.mark.parametrize("count", [0, -2])
async def test_buying_a_non_positive_count_is_refused(pair, count):
    _, amazon = pair
    await refused(amazon, wa.APurchaseMore(whnum=1, things=[thing(6, count)]), ("product", 6))


# -- pack ------------------------------------------------------------------------------------


async def test_packing_without_enough_stock_is_refused_naming_warehouse_and_product(pair):
    _, amazon = pair
    await stock(amazon, 1, 7, 2)
    await stock(amazon, 1, 8, 1)
    # Product 8 is short; product 7 is fine.
    await refused(
        amazon,
        wa.APack(whnum=1, shipid=1, things=[thing(7, 2), thing(8, 2)]),
        ("warehouse", 1),
        ("product", 8),
    )
    # The refused package took nothing: all of it can still be packed.
    await pack(amazon, 2, 1, thing(7, 2), thing(8, 1))


async def test_stock_is_per_warehouse(pair):
    _, amazon = pair
    await stock(amazon, 1, 7, 5)
    await refused(
        amazon, wa.APack(whnum=2, shipid=1, things=[thing(7, 1)]), ("warehouse", 2), ("product", 7)
    )


async def test_counts_of_one_product_in_a_package_add_up(pair):
    _, amazon = pair
    await stock(amazon, 1, 7, 3)
    await refused(
        amazon, wa.APack(whnum=1, shipid=1, things=[thing(7, 2), thing(7, 2)]), ("product", 7)
    )
    await pack(amazon, 1, 1, thing(7, 2), thing(7, 1))


async def test_packing_an_unknown_product_is_refused(pair):
    _, amazon = pair
    await stock(amazon, 1, 7, 5)
    await refused(
        amazon, wa.APack(whnum=1, shipid=1, things=[thing(7, 1), thing(42, 1)]), ("product", 42)
    )


async def test_packing_at_an_unknown_warehouse_is_refused(pair):
    _, amazon = pair
    await stock(amazon, 1, 7, 5)
    await refused(amazon, wa.APack(whnum=3, shipid=1, things=[thing(7, 1)]), ("warehouse", 3))


async def test_packing_nothing_is_refused(pair):
    _, amazon = pair
    await refused(amazon, wa.APack(whnum=1, shipid=6, things=[]), ("package", 6))


async def test_a_duplicate_shipid_is_refused(pair):
    _, amazon = pair
    await stock(amazon, 1, 7, 5)
    await pack(amazon, 1, 1, thing(7, 1))
    await refused(amazon, wa.APack(whnum=1, shipid=1, things=[thing(7, 1)]), ("package", 1))
    # Also while the first is still being packed (same commands message).
    amazon.send(wa.APack(whnum=1, shipid=2, things=[thing(7, 1)]))
    (text,) = await errors_for(amazon, wa.APack(whnum=1, shipid=2, things=[thing(7, 1)]))
    assert names(text, "package", 2)
    # The refused copies took no stock: 5 - 1 - 1 = 3 units are left.
    await pack(amazon, 3, 1, thing(7, 3))


async def test_packing_takes_stock_until_there_is_not_enough(pair):
    _, amazon = pair
    await stock(amazon, 1, 7, 5)
    await pack(amazon, 1, 1, thing(7, 3))
    await pack(amazon, 2, 1, thing(7, 2))
    await refused(
        amazon, wa.APack(whnum=1, shipid=3, things=[thing(7, 1)]), ("warehouse", 1), ("product", 7)
    )


# -- load ------------------------------------------------------------------------------------


async def test_a_load_succeeds_with_a_packed_package_and_a_truck_at_the_warehouse(pair):
    ups, amazon = pair
    await packed(amazon, [1])
    await pickup(ups, 1, 1)
    amazon.send(wa.APutOnTruck(whnum=1, truckid=1, shipid=1))
    loaded = await amazon.wait_result(wa.ALoaded)
    assert loaded.shipid == 1
    assert await truck_state(ups) == ("ARRIVE WAREHOUSE", *WH1)
    # UPS is told nothing about loads.
    assert [type(r) for r in ups.results] == [wu.UFinished, wu.UTruck]
    no_errors(ups, amazon)


async def test_loading_a_package_not_packed_yet_is_refused(pair):
    ups, amazon = pair
    await stock(amazon, 1, 7, 1)
    await pickup(ups, 1, 1)
    # One commands message: the package is still PACKING when the load runs.
    amazon.send(wa.APack(whnum=1, shipid=1, things=[thing()]))
    await refused(amazon, wa.APutOnTruck(whnum=1, truckid=1, shipid=1), ("package", 1))
    # Once packed, it loads.
    await amazon.wait_result(wa.APacked)
    await load(amazon, 1)


async def test_loading_the_same_package_twice_is_refused(pair):
    ups, amazon = pair
    await on_truck(ups, amazon, [1])
    await refused(amazon, wa.APutOnTruck(whnum=1, truckid=1, shipid=1), ("package", 1))
    assert len(amazon.of_type(wa.ALoaded)) == 1


async def test_loading_onto_a_truck_that_is_not_at_the_warehouse_is_refused(pair):
    _, amazon = pair
    await packed(amazon, [1])
    # Truck 1 stands idle at (0, 0), never sent to a warehouse.
    await refused(amazon, wa.APutOnTruck(whnum=1, truckid=1, shipid=1), ("truck", 1))


async def test_loading_onto_a_truck_still_on_its_way_is_refused(pair):
    ups, amazon = pair
    await packed(amazon, [1])
    ups.set_simspeed(SLOW)
    trip = ups.send(wu.UGoPickup(truckid=1, whid=1))
    await acked(ups, trip)
    await refused(amazon, wa.APutOnTruck(whnum=1, truckid=1, shipid=1), ("truck", 1))
    assert ups.of_type(wu.UFinished) == []


async def test_loading_onto_a_truck_at_another_warehouse_is_refused(pair):
    ups, amazon = pair
    await packed(amazon, [1], whnum=1)
    await pickup(ups, 1, 2)
    await refused(amazon, wa.APutOnTruck(whnum=1, truckid=1, shipid=1), ("truck", 1))


async def test_loading_a_package_from_another_warehouse_is_refused(pair):
    ups, amazon = pair
    await packed(amazon, [1], whnum=1)
    await pickup(ups, 1, 2)
    # The truck is at warehouse 2, the package at warehouse 1.
    await refused(
        amazon, wa.APutOnTruck(whnum=2, truckid=1, shipid=1), ("package", 1), ("warehouse", 1)
    )


@pytest.mark.parametrize(
    ("whnum", "truck", "shipid", "named"),
    [(1, 9, 1, ("truck", 9)), (1, 1, 99, ("package", 99)), (5, 1, 1, ("warehouse", 5))],
    ids=["unknown truck", "unknown package", "unknown warehouse"],
)
async def test_loading_with_an_unknown_id_is_refused(pair, whnum, truck, shipid, named):
    ups, amazon = pair
    await packed(amazon, [1])
    await pickup(ups, 1, 1)  # everything else in the command is right
    await refused(amazon, wa.APutOnTruck(whnum=whnum, truckid=truck, shipid=shipid), named)


async def test_a_loading_truck_is_busy_and_leaves_only_when_the_loads_are_done(pair):
    ups, amazon = pair
    await on_truck(ups, amazon, [1])
    await packed(amazon, [2])
    amazon.set_simspeed(SLOW)  # the next load takes 50 s
    slow_load = amazon.send(wa.APutOnTruck(whnum=1, truckid=1, shipid=2))
    await acked(amazon, slow_load)
    assert await truck_state(ups) == ("LOADING", *WH1)
    assert await package_status(amazon, 2) == "LOADING"
    text = await refused(ups, wu.UGoPickup(truckid=1, whid=2), ("truck", 1))
    assert "busy" in text
    # A delivery of the package already loaded is accepted, but waits for the load.
    go = ups.send(deliver(1, (1, 3, 4)))
    await acked(ups, go)
    assert await truck_state(ups) == ("LOADING", *WH1)
    assert await package_status(amazon, 1) == "LOADED"
    assert delivered(ups) == []
    assert len(ups.of_type(wu.UErr)) == 1  # only the refused pickup


# -- queries ---------------------------------------------------------------------------------


async def test_a_package_goes_through_every_status(pair):
    ups, amazon = pair
    await stock(amazon, 1, 7, 1)
    await pickup(ups, 1, 1)
    # Same commands message as the pack: still being packed.
    amazon.send(wa.APack(whnum=1, shipid=1, things=[thing()]))
    assert await package_status(amazon, 1) == "PACKING"
    await amazon.wait_result(wa.APacked)
    assert await package_status(amazon, 1) == "PACKED"
    # Same commands message as the load: being loaded.
    amazon.send(wa.APutOnTruck(whnum=1, truckid=1, shipid=1))
    assert await package_status(amazon, 1) == "LOADING"
    await amazon.wait_result(wa.ALoaded)
    assert await package_status(amazon, 1) == "LOADED"
    # On a slow road: out for delivery.
    ups.set_simspeed(SLOW)
    go = ups.send(deliver(1, (1, *FAR)))
    await acked(ups, go)
    assert await package_status(amazon, 1) == "DELIVERING"
    # Faster, and redirected close by: delivered.
    ups.set_simspeed(FAST)
    ups.send(deliver(1, (1, 3, 4)))
    await ups.wait_result(wu.UDeliveryMade)
    assert await package_status(amazon, 1) == "DELIVERED"
    no_errors(ups, amazon)


async def test_querying_an_unknown_package_is_refused(pair):
    _, amazon = pair
    await refused(amazon, wa.AQuery(packageid=77), ("package", 77))


async def test_a_truck_goes_through_every_status(pair):
    ups, amazon = pair
    await packed(amazon, [1])
    assert await truck_state(ups) == ("IDLE", 0, 0)
    ups.set_simspeed(SLOW)
    trip = ups.send(wu.UGoPickup(truckid=1, whid=1))
    await acked(ups, trip)
    status, x, y = await truck_state(ups)
    assert status == "TRAVELING"
    assert 0 <= x <= 10 and y == 0  # x first, then y; barely moved at this speed
    ups.set_simspeed(FAST)
    # Truck 2 overtakes: the first truck's slow trip was scheduled before the change.
    await pickup(ups, 2, 1)
    await load(amazon, 1, truck=2)
    assert await truck_state(ups, 2) == ("ARRIVE WAREHOUSE", *WH1)
    ups.set_simspeed(SLOW)
    go = ups.send(deliver(2, (1, *FAR)))
    await acked(ups, go)
    status, x, y = await truck_state(ups, 2)
    assert status == "DELIVERING"
    assert (x, y) == WH1
    ups.set_simspeed(FAST)
    ups.send(deliver(2, (1, -3, 2)))
    await until_idle(ups, 2)
    assert await truck_state(ups, 2) == ("IDLE", -3, 2)
    assert await truck_state(ups, 1) == ("TRAVELING", 0, 0)
    no_errors(ups, amazon)


async def test_a_truck_query_gives_the_position_mid_trip(ports):
    # Two trucks leave (0, 0) in one commands message, at the same speed: truck 2 for a
    # warehouse 10 units away, truck 1 for one 2000 units away (x first, then y). When
    # truck 2 has arrived, truck 1 has covered at least 10 units of its 20 s trip.
    ups, amazon = await connect_pair(ports, warehouses=((1, 1000, 1000), (2, 10, 0)))
    ups.set_simspeed(1000)  # 10 units take 0.1 s
    ups.send(wu.UGoPickup(truckid=1, whid=1))
    ups.send(wu.UGoPickup(truckid=2, whid=2))
    await ups.wait_result(wu.UFinished, lambda r: r.truckid == 2)
    status, x, y = await truck_state(ups, 1)
    assert status == "TRAVELING"
    assert 10 <= x < 1000 and y == 0, (x, y)
    no_errors(ups)
    await amazon.close()
    await ups.close()


async def test_querying_an_unknown_truck_is_refused(pair):
    ups, _ = pair
    await refused(ups, wu.UQuery(truckid=12), ("truck", 12))


# -- pickups ---------------------------------------------------------------------------------


async def test_a_pickup_sends_the_truck_to_the_warehouse(pair):
    ups, _ = pair
    finished = await pickup(ups, 2, 2)
    assert (finished.truckid, finished.x, finished.y, finished.status) == (
        2,
        *WH2,
        "ARRIVE WAREHOUSE",
    )
    # From one warehouse on to another.
    finished = await pickup(ups, 2, 1)
    assert (finished.x, finished.y) == WH1
    assert await truck_state(ups, 2) == ("ARRIVE WAREHOUSE", *WH1)


@pytest.mark.parametrize(
    ("truck", "whnum", "named"),
    [(5, 1, ("truck", 5)), (1, 5, ("warehouse", 5))],
    ids=["unknown truck", "unknown warehouse"],
)
async def test_a_pickup_with_an_unknown_id_is_refused(pair, truck, whnum, named):
    ups, _ = pair
    await refused(ups, wu.UGoPickup(truckid=truck, whid=whnum), named)
    assert await truck_state(ups) == ("IDLE", 0, 0)


async def test_a_traveling_truck_is_busy(pair):
    ups, _ = pair
    ups.set_simspeed(SLOW)
    trip = ups.send(wu.UGoPickup(truckid=1, whid=1))
    await acked(ups, trip)
    text = await refused(ups, wu.UGoPickup(truckid=1, whid=2), ("truck", 1))
    assert "busy" in text
    # Still heading for warehouse 1.
    ups.set_simspeed(FAST)
    assert (await truck_state(ups))[0] == "TRAVELING"


@pytest.mark.parametrize("new_stop", [True, False], ids=["with new stops", "empty deliver"])
async def test_a_pickup_interrupts_a_delivery_which_resumes_later(pair, new_stop):
    ups, amazon = pair
    await on_truck(ups, amazon, [1, 2], truck=1, whnum=1)
    await packed(amazon, [3], whnum=2)
    ups.set_simspeed(SLOW)
    go = ups.send(deliver(1, (1, 500, 0), (2, 500, 10)))
    await acked(ups, go)
    assert (await truck_state(ups))[0] == "DELIVERING"

    ups.set_simspeed(FAST)
    since = len(ups.results)
    finished = await pickup(ups, 1, 2)
    assert (finished.x, finished.y) == WH2
    assert [type(r) for r in ups.results[since:]] == [wu.UFinished]  # no delivery on the way
    await load(amazon, 3, truck=1, whnum=2)
    # The old stops wait for the next UGoDeliver: the truck does not leave on its own.
    assert await truck_state(ups) == ("ARRIVE WAREHOUSE", *WH2)
    assert delivered(ups) == []

    ups.send(deliver(1, (3, 7, 7)) if new_stop else wu.UGoDeliver(truckid=1))
    expected = [1, 2, 3] if new_stop else [1, 2]
    assert await until_idle(ups) == [(7, 7) if new_stop else (500, 10)]
    assert delivered(ups) == expected
    no_errors(ups, amazon)


# -- deliveries ------------------------------------------------------------------------------


async def test_stops_are_visited_in_list_order_then_one_idle_at_the_last(pair):
    ups, amazon = pair
    await on_truck(ups, amazon, [1, 2, 3])
    # Not nearest-first: the list order.
    ups.send(deliver(1, (3, 40, 0), (1, 11, 11), (2, 25, -30)))
    idle = await until_idle(ups)
    assert delivered(ups) == [3, 1, 2]
    assert idle == [(25, -30)]
    # A later query is answered after any further result: still only one IDLE.
    assert await truck_state(ups) == ("IDLE", 25, -30)
    assert idles(ups) == [(25, -30)]
    assert [r.truckid for r in ups.of_type(wu.UDeliveryMade)] == [1, 1, 1]
    no_errors(ups, amazon)


async def test_deliveries_can_be_added_while_delivering(pair):
    ups, amazon = pair
    await on_truck(ups, amazon, [1, 2])
    ups.set_simspeed(SLOW)
    go = ups.send(deliver(1, (1, *FAR)))
    await acked(ups, go)
    assert await package_status(amazon, 2) == "LOADED"
    # Package 2 was loaded but not sent; it joins the route, out for delivery at once.
    more = ups.send(deliver(1, (2, 20, 20)))
    await acked(ups, more)
    assert await package_status(amazon, 2) == "DELIVERING"
    assert (await truck_state(ups))[0] == "DELIVERING"
    # Faster, and package 1 comes closer: 1, then 2.
    ups.set_simspeed(FAST)
    ups.send(deliver(1, (1, 15, 15)))
    assert await until_idle(ups) == [(20, 20)]
    assert delivered(ups) == [1, 2]
    no_errors(ups, amazon)


async def test_a_package_not_on_that_truck_is_refused(pair):
    ups, amazon = pair
    await on_truck(ups, amazon, [1], truck=1)
    await packed(amazon, [2])  # packed, loaded on no truck
    await pickup(ups, 2, 1)
    await refused(ups, deliver(2, (1, 3, 3)), ("package", 1), ("truck", 2))
    await refused(ups, deliver(1, (2, 3, 3)), ("package", 2), ("truck", 1))
    await refused(ups, deliver(1, (55, 3, 3)), ("package", 55))
    await refused(ups, deliver(8, (1, 3, 3)), ("truck", 8))
    assert await truck_state(ups, 1) == ("ARRIVE WAREHOUSE", *WH1)
    assert await truck_state(ups, 2) == ("ARRIVE WAREHOUSE", *WH1)
    assert delivered(ups) == []


async def test_a_delivery_sent_to_a_traveling_truck_is_refused(pair):
    ups, amazon = pair
    await on_truck(ups, amazon, [1])
    ups.set_simspeed(200)  # warehouse 1 -> warehouse 2 (35 units) now takes 1.75 s
    trip = ups.send(wu.UGoPickup(truckid=1, whid=2))
    await acked(ups, trip)
    assert (await truck_state(ups))[0] == "TRAVELING"
    texts = await errors_for(ups, deliver(1, (1, 3, 4)), 1)
    assert names(texts[0], "truck", 1) and "busy traveling" in texts[0], texts
    # The refused delivery is not remembered: once there, the truck stays for loading.
    await ups.wait_result(wu.UFinished, lambda r: r.status == "ARRIVE WAREHOUSE" and r.x == -20)
    assert (await truck_state(ups))[0] == "ARRIVE WAREHOUSE"
    assert delivered(ups) == []


async def test_a_refused_package_does_not_stop_the_others(pair):
    ups, amazon = pair
    await on_truck(ups, amazon, [1, 2])
    texts = await errors_for(ups, deliver(1, (66, 1, 1), (1, 5, 5), (67, 2, 2), (2, 6, 6)), 2)
    assert names(texts[0], "package", 66) and names(texts[1], "package", 67), texts
    assert await until_idle(ups) == [(6, 6)]
    assert delivered(ups) == [1, 2]


async def test_delivering_an_already_delivered_package_is_refused(pair):
    ups, amazon = pair
    await on_truck(ups, amazon, [1])
    ups.send(deliver(1, (1, 5, 5)))
    await until_idle(ups)
    text = await refused(ups, deliver(1, (1, 9, 9)), ("package", 1))
    assert "already delivered" in text
    assert await truck_state(ups) == ("IDLE", 5, 5)
    assert delivered(ups) == [1]


async def test_a_redirect_changes_the_destination_of_the_stop_being_driven_to(pair):
    ups, amazon = pair
    await on_truck(ups, amazon, [1])
    ups.set_simspeed(SLOW)  # 10 s per grid unit: the far stop is days away
    go = ups.send(deliver(1, (1, *FAR)))
    await acked(ups, go)
    ups.set_simspeed(FAST)
    ups.send(deliver(1, (1, 3, 4)))  # the same package, a new place
    assert await until_idle(ups) == [(3, 4)]
    assert delivered(ups) == [1]
    assert await truck_state(ups) == ("IDLE", 3, 4)
    no_errors(ups, amazon)


async def test_a_redirect_changes_the_destination_of_a_later_stop(pair):
    ups, amazon = pair
    await on_truck(ups, amazon, [1, 2])
    ups.set_simspeed(SLOW)
    go = ups.send(deliver(1, (1, *FAR), (2, -5000, -5000)))
    await acked(ups, go)
    # Package 2 is not the one being driven to: only its stop changes.
    later = ups.send(deliver(1, (2, 7, 8)))
    await acked(ups, later)
    assert (await truck_state(ups))[0] == "DELIVERING"
    ups.set_simspeed(FAST)
    ups.send(deliver(1, (1, 3, 4)))
    assert await until_idle(ups) == [(7, 8)]
    assert delivered(ups) == [1, 2]
    no_errors(ups, amazon)


async def test_resending_the_same_stop_changes_nothing(pair):
    ups, amazon = pair
    await on_truck(ups, amazon, [1])
    ups.set_simspeed(SLOW)
    go = ups.send(deliver(1, (1, 1, 1)))  # 18 units from warehouse 1: three minutes
    await acked(ups, go)
    again = ups.send(deliver(1, (1, 1, 1)))
    await acked(ups, again)
    assert await truck_state(ups) == ("DELIVERING", *WH1)
    assert delivered(ups) == []
    no_errors(ups, amazon)


# -- simspeed ------------------------------------------------------------------------------


async def test_simspeed_paces_the_trucks(pair):
    ups, _ = pair
    ups.set_simspeed(SLOW)
    slow = ups.send(wu.UGoPickup(truckid=1, whid=1))  # 20 units: 200 s at simspeed 1
    await acked(ups, slow)
    ups.set_simspeed(FAST)
    await pickup(ups, 2, 1)  # the same 20 units, now in 2 ms
    assert [r.truckid for r in ups.of_type(wu.UFinished)] == [2]
    assert (await truck_state(ups, 1))[0] == "TRAVELING"


async def test_simspeed_paces_purchases_and_packing(pair):
    _, amazon = pair
    await stock(amazon, 1, 7, 2)
    amazon.set_simspeed(SLOW)
    slow_buy = amazon.send(wa.APurchaseMore(whnum=1, things=[thing(8, 1, "lamp")]))
    slow_pack = amazon.send(wa.APack(whnum=1, shipid=1, things=[thing(7, 1)]))
    await acked(amazon, slow_buy)
    await acked(amazon, slow_pack)
    amazon.set_simspeed(FAST)
    await stock(amazon, 1, 9, 1)
    await pack(amazon, 2, 1, thing(7, 1))
    # The slow ones, scheduled before the change, have not happened.
    assert [r.things[0].id for r in amazon.of_type(wa.APurchaseMore)] == [7, 9]
    assert [r.shipid for r in amazon.of_type(wa.APacked)] == [2]
    assert await package_status(amazon, 1) == "PACKING"


# -- reliability rules ------------------------------------------------------------------------


async def test_a_repeated_seqnum_is_acked_but_not_run_again(pair):
    _, amazon = pair
    await stock(amazon, 1, 7, 5)
    used = amazon.send(wa.APack(whnum=1, shipid=1, things=[thing(7, 1)]))
    await amazon.wait_result(wa.APacked)
    # A "re-send" of the last seqnum that is really another package: the world must
    # recognise the number and not run it.
    repeat = wa.ACommands(topack=[wa.APack(whnum=1, shipid=2, things=[thing(7, 1)], seqnum=used)])
    amazon.write_raw(encode_frame(repeat.SerializeToString()))
    await refused(amazon, wa.AQuery(packageid=2), ("package", 2))
    assert [r.shipid for r in amazon.of_type(wa.APacked)] == [1]
    await pack(amazon, 3, 1, thing(7, 4))  # all 4 units left


async def test_a_malformed_commands_frame_gets_an_error_and_the_link_goes_on(pair):
    ups, _ = pair
    ups.write_raw(encode_frame(b"\x0a\x02\x08"))  # a UGoPickup cut short
    error = await ups.wait_result(wu.UErr)
    assert error.originseqnum == -1
    assert error.err.startswith("error:")
    assert await truck_state(ups) == ("IDLE", 0, 0)
