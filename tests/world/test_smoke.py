from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from tests.support import connect_pair


async def test_one_order_from_purchase_to_delivery(ports):
    ups, amazon = await connect_pair(ports)
    amazon.send(wa.APurchaseMore(whnum=1, things=[wa.AProduct(id=7, description="book", count=3)]))
    await amazon.wait_result(wa.APurchaseMore)
    amazon.send(
        wa.APack(whnum=1, things=[wa.AProduct(id=7, description="book", count=2)], shipid=1)
    )
    ups.send(wu.UGoPickup(truckid=1, whid=1))
    await amazon.wait_result(wa.APacked)
    arrived = await ups.wait_result(wu.UFinished)
    assert (arrived.status, arrived.x, arrived.y) == ("ARRIVE WAREHOUSE", 10, 10)
    amazon.send(wa.APutOnTruck(whnum=1, truckid=1, shipid=1))
    await amazon.wait_result(wa.ALoaded)
    ups.send(wu.UGoDeliver(truckid=1, packages=[wu.UDeliveryLocation(packageid=1, x=3, y=4)]))
    made = await ups.wait_result(wu.UDeliveryMade)
    assert (made.truckid, made.packageid) == (1, 1)
    idle = await ups.wait_result(wu.UFinished, lambda r: r.status == "IDLE")
    assert (idle.x, idle.y) == (3, 4)
    await amazon.close()
    await ups.close()
