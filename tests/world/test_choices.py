"""The seqnum rule and each choice where the official world is unknown, by its switch,
over real sockets against ``amazon-ups world`` running as its own process.

Each switch is tested both ways: the default, and the other reading behind the option.
"""

from __future__ import annotations

import pytest

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.world_messages import CONNECTED, Side
from amazon_ups.world.rules import FIRST_SEQNUM_RANGE
from tests.support import FAST, RawLink

WAREHOUSES = ((1, 10, 10), (2, -20, 5))
FAR_WAREHOUSE = (3, 1000, 1000)  # 200 s away at simspeed 100, 0.2 s at FAST


async def pair(world, trucks=((1, 0, 0),), warehouses=WAREHOUSES) -> tuple[RawLink, RawLink]:
    ups = await RawLink.join(Side.UPS, world.ports[Side.UPS], places=trucks)
    amazon = await RawLink.join(
        Side.AMAZON, world.ports[Side.AMAZON], world_id=ups.world_id, places=warehouses
    )
    ups.auto_ack = amazon.auto_ack = True
    return ups, amazon


async def goodbye(link: RawLink) -> None:
    """Leave with disconnect=true, so the world has let the world side go."""
    link.send(disconnect=True)
    await link.wait_closed()
    await link.close()


def book(count: int = 1) -> wa.AProduct:
    return wa.AProduct(id=7, description="book", count=count)


# -- seqnums ------------------------------------------------------------------------------


async def test_result_seqnums_never_follow_the_clients_own(world_process):
    """One counter for every world and side, from a start drawn when the state file is
    made: the first result is not 1, and no two results anywhere share a seqnum."""
    world = world_process()
    seqnums = []
    for _ in range(2):  # two worlds
        ups, amazon = await pair(world)
        for n in (1, 2, 3):
            amazon.send(queries=[wa.AQuery(packageid=99, seqnum=n)])
            ups.send(queries=[wu.UQuery(truckid=1, seqnum=n)])
        await amazon.wait_for(lambda a=amazon: len(a.of_type(wa.AErr)) == 3)
        await ups.wait_for(lambda u=ups: len(u.of_type(wu.UTruck)) == 3)
        world_seqnums = amazon.result_seqnums() + ups.result_seqnums()
        assert not set(world_seqnums) & {1, 2, 3}
        seqnums += world_seqnums
        await ups.close()
        await amazon.close()
    assert len(set(seqnums)) == len(seqnums) == 12
    low, high = FIRST_SEQNUM_RANGE
    assert low <= min(seqnums) and max(seqnums) < high + 12
    # One counter: the twelve are consecutive, whichever world or side each went to.
    assert sorted(seqnums) == list(range(min(seqnums), min(seqnums) + 12))


async def test_first_seqnum_is_kept_by_the_state_file(world_process, tmp_path):
    """--first-seqnum sets where a new state file starts; after kill -9 and a restart the
    count goes on from where it was, and another --first-seqnum does not reset it."""
    state = tmp_path / "seqnums.sqlite3"
    world = world_process("--first-seqnum", "28", state=state)
    ups = await RawLink.join(Side.UPS, world.ports[Side.UPS], places=[(1, 0, 0)])
    ups.send(queries=[wu.UQuery(truckid=1, seqnum=1)])
    await ups.wait_for(lambda: ups.of_type(wu.UTruck))
    assert ups.result_seqnums() == [28]
    world_id = ups.world_id
    await ups.close()
    world.kill()

    again = world_process("--first-seqnum", "5000", state=state)
    ups = await RawLink.join(Side.UPS, again.ports[Side.UPS], world_id=world_id)
    ups.send(queries=[wu.UQuery(truckid=1, seqnum=2)])
    # Result 28 may come again (it was never acked); the new one is 29.
    new = await ups.wait_for(lambda: [s for s in ups.result_seqnums() if s != 28])
    assert new == [29]
    await ups.close()


# -- --pack-short ---------------------------------------------------------------------------


@pytest.mark.parametrize("choice", ["refuse", "wait"])
async def test_pack_short_of_stock_bought_in_the_same_message(world_process, choice):
    args = [] if choice == "refuse" else ["--pack-short", "wait"]
    world = world_process(*args)
    ups, amazon = await pair(world)
    amazon.send(simspeed=FAST)
    amazon.send(
        buy=[wa.APurchaseMore(whnum=1, things=[book(2)], seqnum=1)],
        topack=[wa.APack(whnum=1, things=[book(2)], shipid=5, seqnum=2)],
    )
    if choice == "refuse":
        (error,) = await amazon.wait_for(lambda: amazon.of_type(wa.AErr))
        assert error.originseqnum == 2
        assert "warehouse 1 has 0 of product 7, package 5 needs 2" in error.err
    else:
        (packed,) = await amazon.wait_for(lambda: amazon.of_type(wa.APacked))
        assert packed.shipid == 5
        assert amazon.of_type(wa.APurchaseMore)  # the stock came first
        assert not amazon.of_type(wa.AErr)
        # The stock went to the package: a second one of the same size waits, unrefused.
        amazon.send(
            topack=[wa.APack(whnum=1, things=[book(2)], shipid=6, seqnum=3)],
            queries=[wa.AQuery(packageid=6, seqnum=4)],
        )
        (status,) = await amazon.wait_for(lambda: amazon.of_type(wa.APackage))
        assert status.status == "PACKING" and not amazon.of_type(wa.AErr)
        amazon.send(buy=[wa.APurchaseMore(whnum=1, things=[book(2)], seqnum=5)])
        await amazon.wait_for(lambda: len(amazon.of_type(wa.APacked)) == 2)
    await ups.close()
    await amazon.close()


# -- --pickup-while-traveling ---------------------------------------------------------------


@pytest.mark.parametrize("choice", ["refuse", "redirect"])
async def test_pickup_for_a_truck_on_its_way(world_process, choice):
    args = [] if choice == "refuse" else ["--pickup-while-traveling", "redirect"]
    world = world_process(*args)
    ups, amazon = await pair(world)
    ups.send(simspeed=FAST)
    # One message, run in order: the second pickup finds the truck traveling.
    ups.send(
        pickups=[
            wu.UGoPickup(truckid=1, whid=1, seqnum=1),
            wu.UGoPickup(truckid=1, whid=2, seqnum=2),
        ]
    )
    (arrived,) = await ups.wait_for(lambda: ups.of_type(wu.UFinished))
    if choice == "refuse":
        (error,) = ups.of_type(wu.UErr)
        assert error.originseqnum == 2 and "busy traveling to warehouse 1" in error.err
        assert (arrived.x, arrived.y) == (10, 10)
    else:
        assert not ups.of_type(wu.UErr)
        assert (arrived.x, arrived.y, arrived.status) == (-20, 5, "ARRIVE WAREHOUSE")
        # Loading at the warehouse it was redirected to works.
        amazon.send(simspeed=FAST)
        amazon.send(
            buy=[wa.APurchaseMore(whnum=2, things=[book()], seqnum=1)],
        )
        await amazon.wait_for(lambda: amazon.of_type(wa.APurchaseMore))
        amazon.send(topack=[wa.APack(whnum=2, things=[book()], shipid=9, seqnum=2)])
        await amazon.wait_for(lambda: amazon.of_type(wa.APacked))
        amazon.send(load=[wa.APutOnTruck(whnum=2, truckid=1, shipid=9, seqnum=3)])
        await amazon.wait_for(lambda: amazon.of_type(wa.ALoaded))
    assert len(ups.of_type(wu.UFinished)) == 1
    await ups.close()
    await amazon.close()


# -- --repeated-places ----------------------------------------------------------------------


@pytest.mark.parametrize("choice", ["accept", "refuse"])
async def test_rejoining_with_the_truck_list_after_the_trucks_moved(world_process, choice):
    args = [] if choice == "accept" else ["--repeated-places", "refuse"]
    world = world_process(*args)
    ups, amazon = await pair(world, trucks=[(1, 0, 0), (2, 0, 0)])
    ups.send(simspeed=FAST, pickups=[wu.UGoPickup(truckid=1, whid=1, seqnum=1)])
    await ups.wait_for(lambda: ups.of_type(wu.UFinished))  # truck 1 is at (10, 10) now
    world_id = ups.world_id
    await goodbye(ups)

    again = await RawLink.open(Side.UPS, world.ports[Side.UPS])
    reply = await again.handshake(world_id, [(1, 0, 0), (2, 0, 0)])
    if choice == "accept":
        assert reply.result == CONNECTED
        again.send(queries=[wu.UQuery(truckid=1, seqnum=2)])
        (truck,) = await again.wait_for(lambda: again.of_type(wu.UTruck))
        assert (truck.x, truck.y) == (10, 10)  # where it drove, not where it was brought
    else:
        assert reply.result == "error: truck 1 already exists in this world"
        # As clients of the official world do: try again without the list.
        reply = await again.handshake(world_id)
        assert reply.result == CONNECTED
    # A truck brought again at another place than its first is refused either way.
    await goodbye(again)
    other = await RawLink.open(Side.UPS, world.ports[Side.UPS])
    reply = await other.handshake(world_id, [(2, 3, 3)])
    assert reply.result.startswith("error: truck 2 ")
    await other.close()
    await amazon.close()


# -- --simspeed-scope -----------------------------------------------------------------------


@pytest.mark.parametrize("choice", ["world", "side"])
async def test_a_carrier_that_never_sends_a_simspeed(world_process, choice):
    args = [] if choice == "world" else ["--simspeed-scope", "side"]
    world = world_process(*args)
    ups, amazon = await pair(world, warehouses=[FAR_WAREHOUSE])
    # Amazon alone sets the pace; its query's ack says the world has taken it.
    amazon.send(simspeed=FAST, queries=[wa.AQuery(packageid=1, seqnum=1)])
    await amazon.wait_for(lambda: 1 in amazon.acks())
    ups.send(pickups=[wu.UGoPickup(truckid=1, whid=3, seqnum=1)])
    await ups.wait_for(lambda: 1 in ups.acks())
    if choice == "world":
        (arrived,) = await ups.wait_for(lambda: ups.of_type(wu.UFinished), timeout=10)
        assert (arrived.x, arrived.y) == (1000, 1000)
    else:
        # At UPS's own simspeed 100 the trip takes 200 s.
        with pytest.raises(TimeoutError):
            await ups.wait_for(lambda: ups.of_type(wu.UFinished), timeout=2)
        ups.send(queries=[wu.UQuery(truckid=1, seqnum=2)])
        (truck,) = await ups.wait_for(lambda: ups.of_type(wu.UTruck))
        assert truck.status == "TRAVELING" and truck.x < 1000
    await ups.close()
    await amazon.close()


# -- --reconnect-resend -----------------------------------------------------------------


@pytest.mark.parametrize("choice", ["all", "last"])
async def test_unacked_results_after_a_reconnect(world_process, choice):
    args = [] if choice == "all" else ["--reconnect-resend", "last"]
    world = world_process(*args)
    ups = await RawLink.join(Side.UPS, world.ports[Side.UPS], places=[(1, 0, 0)])
    ups.send(queries=[wu.UQuery(truckid=1, seqnum=1)])
    await ups.wait_for(lambda: ups.of_type(wu.UTruck))
    ups.send(queries=[wu.UQuery(truckid=1, seqnum=2)])
    await ups.wait_for(lambda: len(set(ups.result_seqnums())) == 2)
    older, newer = sorted(set(ups.result_seqnums()))
    await goodbye(ups)  # neither acked

    again = await RawLink.join(Side.UPS, world.ports[Side.UPS], world_id=ups.world_id)
    await again.wait_for(lambda: newer in again.result_seqnums())
    if choice == "all":
        await again.wait_for(lambda: older in again.result_seqnums())
    else:
        # Gone for good: not in the reconnect's burst, nor in the re-sends after it
        # (the first comes 0.2 s later, the next 0.4 s after that).
        with pytest.raises(TimeoutError):
            await again.wait_for(lambda: older in again.result_seqnums(), timeout=1.5)
        assert again.result_seqnums().count(newer) >= 2  # still re-sent until acked
    await again.close()
