"""The dispatch daemon against a real world simulator, with the test playing Amazon:
a world client on the Amazon port (buy, pack, load) and an Amazon-UPS client on
the daemon's port."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from amazon_ups.protocol import au_pb2
from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol.world_messages import Side
from amazon_ups.ups.shipments.models import Package, Truck
from amazon_ups.world.client import WorldClient
from tests.support import FAST
from tests.ups.amazon_peer import AmazonPeer
from tests.ups.helpers import EVENTS_WHEN_ALL_GOES_WELL

pytestmark = pytest.mark.django_db(transaction=True)

WAREHOUSE = (1, 10, 10)
OTHER = (2, -30, 20)
KETTLE = wa.AProduct(id=7, description="kettle", count=1)


@pytest.fixture(autouse=True)
async def close_connections_of_sync_to_async():
    # The thread that runs sync_to_async keeps its connection open otherwise, and
    # PostgreSQL would refuse to drop the test database.
    yield
    await sync_to_async(connections.close_all)()


def package_timeline(package_id: int) -> tuple[str, list[str]]:
    package = Package.objects.get(id=package_id)
    return package.status, list(package.events.values_list("kind", flat=True))


async def test_packages_go_from_pickup_to_delivered(world, run_daemon):
    daemon = run_daemon()
    amazon = await AmazonPeer.open(daemon.amazon_port)
    [created] = await amazon.wait_for(lambda: amazon.of("worlds"))
    shop = await WorldClient.open(
        Side.AMAZON, "127.0.0.1", world.ports[Side.AMAZON], created.world_id, [WAREHOUSE]
    )
    shop.set_simspeed(FAST)
    shop.send(wa.APurchaseMore(whnum=1, things=[wa.AProduct(id=7, description="kettle", count=5)]))
    await shop.wait_result(wa.APurchaseMore)

    destinations = {101: (30, 40), 102: (-5, 12)}
    for package_id, (x, y) in destinations.items():
        shop.send(wa.APack(whnum=1, things=[KETTLE], shipid=package_id))
        amazon.send(
            au_pb2.PickupRequest(
                package_id=package_id,
                warehouse=au_pb2.Warehouse(id=1, x=10, y=10),
                dest_x=x,
                dest_y=y,
                items=[au_pb2.Item(product_id=7, description="kettle", count=1)],
            )
        )

    # Amazon loads each package once it is packed and UPS says its truck is there.
    for package_id in destinations:
        [arrived] = await amazon.wait_for(
            lambda p=package_id: amazon.of("arrived", lambda m: m.package_id == p)
        )
        assert arrived.warehouse_id == 1
        await shop.wait_result(wa.APacked, lambda r, p=package_id: r.shipid == p)
        shop.send(wa.APutOnTruck(whnum=1, truckid=arrived.truck_id, shipid=package_id))
    trucks = {m.package_id: m.truck_id for m in amazon.of("arrived")}
    assert len(set(trucks.values())) == 1  # one truck serves the warehouse
    for package_id in destinations:
        await shop.wait_result(wa.ALoaded, lambda r, p=package_id: r.shipid == p)
        amazon.send(au_pb2.PackageLoaded(package_id=package_id, truck_id=trucks[package_id]))

    await amazon.wait_for(lambda: len(amazon.of("delivered")) == 2, timeout=20)
    delivered = {m.package_id: (m.x, m.y) for m in amazon.of("delivered")}
    assert delivered == destinations
    assert {m.package_id for m in amazon.of("out_for_delivery")} == set(destinations)
    assert amazon.of("errors") == []
    for package_id in destinations:
        status, kinds = await sync_to_async(package_timeline)(package_id)
        assert status == "delivered"
        assert kinds == EVENTS_WHEN_ALL_GOES_WELL
    await amazon.wait_for(lambda: all(map(amazon.acked, range(1, 5))))
    await shop.close()
    await amazon.close()


async def test_a_truck_kept_waiting_leaves_and_another_comes_for_the_rest(
    world, run_daemon, settings
):
    settings.UPS_LOADING_WAIT = 0.2
    settings.UPS_TRUCKS = 4
    daemon = run_daemon()
    amazon = await AmazonPeer.open(daemon.amazon_port)
    [created] = await amazon.wait_for(lambda: amazon.of("worlds"))
    fleet = await sync_to_async(lambda: sorted(Truck.objects.values_list("id", flat=True)))()
    assert fleet == [1, 2, 3, 4]  # UPS_TRUCKS trucks, brought into the world
    shop = await WorldClient.open(
        Side.AMAZON, "127.0.0.1", world.ports[Side.AMAZON], created.world_id, [WAREHOUSE]
    )
    shop.set_simspeed(FAST)
    shop.send(wa.APurchaseMore(whnum=1, things=[wa.AProduct(id=7, description="kettle", count=5)]))
    await shop.wait_result(wa.APurchaseMore)
    shop.send(wa.APack(whnum=1, things=[KETTLE], shipid=101))  # 102 is not packed yet
    amazon.send(pickup(101, WAREHOUSE))
    amazon.send(pickup(102, WAREHOUSE))
    await amazon.wait_for(lambda: len(amazon.of("arrived")) == 2)
    [first_truck] = {m.truck_id for m in amazon.of("arrived")}

    await shop.wait_result(wa.APacked, lambda r: r.shipid == 101)
    shop.send(wa.APutOnTruck(whnum=1, truckid=first_truck, shipid=101))
    await shop.wait_result(wa.ALoaded, lambda r: r.shipid == 101)
    amazon.send(au_pb2.PackageLoaded(package_id=101, truck_id=first_truck))

    # The truck does not wait for package 102 past its deadline: 101 is delivered, and
    # another truck is announced for 102, in a newer TruckArrived.
    await amazon.wait_for(lambda: amazon.of("delivered", lambda m: m.package_id == 101))
    [_, again] = await amazon.wait_for(
        lambda: len(found := amazon.of("arrived", lambda m: m.package_id == 102)) == 2 and found
    )
    assert again.truck_id != first_truck
    shop.send(wa.APack(whnum=1, things=[KETTLE], shipid=102))
    await shop.wait_result(wa.APacked, lambda r: r.shipid == 102)
    shop.send(wa.APutOnTruck(whnum=1, truckid=again.truck_id, shipid=102))
    await shop.wait_result(wa.ALoaded, lambda r: r.shipid == 102)
    amazon.send(au_pb2.PackageLoaded(package_id=102, truck_id=again.truck_id))
    await amazon.wait_for(lambda: amazon.of("delivered", lambda m: m.package_id == 102))
    assert amazon.of("errors") == []
    status, kinds = await sync_to_async(package_timeline)(102)
    assert status == "delivered"
    assert "truck left without it" in kinds
    await shop.close()
    await amazon.close()


async def test_a_restarted_daemon_rejoins_its_world_where_its_trucks_are(world, run_daemon):
    first = run_daemon()
    amazon = await AmazonPeer.open(first.amazon_port)
    [created] = await amazon.wait_for(lambda: amazon.of("worlds"))
    shop = await WorldClient.open(
        Side.AMAZON, "127.0.0.1", world.ports[Side.AMAZON], created.world_id, [WAREHOUSE, OTHER]
    )
    # A pickup moves a truck away from its start place...
    amazon.send(pickup(5, WAREHOUSE))
    await amazon.wait_for(lambda: amazon.of("arrived"))
    first.stop()

    # ...so the new daemon must not bring the trucks again: the world would refuse
    # them at their start places, and no truck would ever reach the other warehouse.
    second = run_daemon()
    await amazon.reconnect(second.amazon_port)
    amazon.send(pickup(6, OTHER))
    [arrived] = await amazon.wait_for(lambda: amazon.of("arrived", lambda m: m.package_id == 6))
    assert arrived.warehouse_id == OTHER[0]
    assert len(amazon.of("worlds")) == 1  # the same world is no news to Amazon
    await shop.close()
    await amazon.close()


def pickup(package_id: int, warehouse: tuple[int, int, int]) -> au_pb2.PickupRequest:
    warehouse_id, x, y = warehouse
    return au_pb2.PickupRequest(
        package_id=package_id,
        warehouse=au_pb2.Warehouse(id=warehouse_id, x=x, y=y),
        dest_x=1,
        dest_y=1,
    )
