"""Reliability over real sockets: re-sends, acks, duplicates, reconnects, injected faults.

Raw connections (``RawLink``) show exactly what the world sends, copy by copy;
``WorldClient``s play correct peers that re-send and deduplicate.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.session import ResendPolicy
from amazon_ups.protocol.world_messages import CONNECTED, DIALECTS, Side
from amazon_ups.world.client import WorldClient
from amazon_ups.world.faults import FaultConfig, Faults
from tests.support import FAST, RawLink, connect_pair

TRUCKS = ((1, 0, 0), (2, 0, 0))
WAREHOUSES = ((1, 10, 10), (2, -20, 5))
# Re-sends from our test clients: quick, so that flaky runs stay short.
QUICK = ResendPolicy(first=0.1, factor=2.0, ceiling=1.0)


def book(count: int, product: int = 7) -> wa.AProduct:
    return wa.AProduct(id=product, description=f"product {product}", count=count)


async def raw_pair(ports: dict[Side, int]) -> tuple[RawLink, RawLink]:
    """A new world: UPS creates it with trucks, Amazon joins with warehouses; both fast."""
    ups = await RawLink.join(Side.UPS, ports[Side.UPS], places=TRUCKS)
    amazon = await RawLink.join(
        Side.AMAZON, ports[Side.AMAZON], world_id=ups.world_id, places=WAREHOUSES
    )
    ups.send(simspeed=FAST)
    amazon.send(simspeed=FAST)
    return ups, amazon


async def rejoin(side: Side, port: int, world_id: int, timeout: float = 10.0) -> RawLink:
    """Join ``world_id`` again, retrying while the world still holds the dropped connection."""
    async with asyncio.timeout(timeout):
        while True:
            link = await RawLink.open(side, port)
            reply = await link.handshake(world_id)
            if reply.result == CONNECTED:
                return link
            await link.close()
            assert "already has" in reply.result, reply.result
            await asyncio.sleep(0.01)  # poll interval of the retry loop, under the deadline


def unknown_query(side: Side, seqnum: int, unknown_id: int = 404):
    """A query for an id that does not exist: answered at once, with an error result."""
    if side is Side.AMAZON:
        return wa.AQuery(packageid=unknown_id, seqnum=seqnum)
    return wu.UQuery(truckid=unknown_id, seqnum=seqnum)


def errors_for(link: RawLink, origin: int) -> list:
    return [r for r in link.of_type(DIALECTS[link.side].error) if r.originseqnum == origin]


# -- (1) re-sends of unacked results ------------------------------------------------------


async def test_unacked_result_is_resent_until_acked(ports):
    ups, amazon = await raw_pair(ports)
    # Two errors made by one message share their re-send schedule.
    amazon.send(queries=[unknown_query(Side.AMAZON, 1, 401), unknown_query(Side.AMAZON, 2, 402)])
    await amazon.wait_for(lambda: errors_for(amazon, 1) and errors_for(amazon, 2))
    assert amazon.acks().count(1) >= 1 and amazon.acks().count(2) >= 1
    acked, kept = errors_for(amazon, 1)[0].seqnum, errors_for(amazon, 2)[0].seqnum
    assert acked != kept

    # Not acked: the same results (same world seqnums) come again, and again.
    await amazon.wait_for(lambda: amazon.result_seqnums().count(acked) >= 3)
    again = [r for r in amazon.results() if r.seqnum == acked]
    assert all(r == again[0] for r in again)
    assert again[0].err.startswith("error:") and "401" in again[0].err

    # Ack one of the two, in the same message as a new query: every copy of it sent
    # before the world read the ack arrives before the new query's result.
    amazon.send(acks=[acked], queries=[unknown_query(Side.AMAZON, 3, 403)])
    await amazon.wait_for(lambda: errors_for(amazon, 3))
    marker = amazon.result_seqnums().index(errors_for(amazon, 3)[0].seqnum)

    # The other one was due at the same times; once it has come again after the ack,
    # the acked one would have too, had the world not forgotten it.
    await amazon.wait_for(lambda: kept in amazon.result_seqnums()[marker:])
    assert acked not in amazon.result_seqnums()[marker:]
    await amazon.close()
    await ups.close()


async def test_results_of_both_sides_are_resent(ports):
    ups, amazon = await raw_pair(ports)
    ups.send(pickups=[wu.UGoPickup(truckid=1, whid=1, seqnum=1)])
    finished = await ups.wait_for(lambda: ups.of_type(wu.UFinished))
    await ups.wait_for(lambda: ups.result_seqnums().count(finished[0].seqnum) >= 2)
    assert ups.of_type(wu.UFinished)[1] == finished[0]
    assert (finished[0].truckid, finished[0].status) == (1, "ARRIVE WAREHOUSE")
    await amazon.close()
    await ups.close()


# -- (2) repeated commands ------------------------------------------------------------------


async def test_repeated_purchase_is_acked_each_time_and_counted_once(ports):
    ups, amazon = await raw_pair(ports)
    amazon.auto_ack = True
    buy = wa.APurchaseMore(whnum=1, things=[book(5)], seqnum=1)
    amazon.send(buy=[buy, buy])  # twice in one message
    await amazon.wait_for(lambda: 1 in amazon.acks())
    amazon.send(buy=[buy])  # and again in a later one
    await amazon.wait_for(lambda: amazon.acks().count(1) >= 2)
    await amazon.wait_for(lambda: amazon.of_type(wa.APurchaseMore))

    # Exactly five units: five can be packed, then not one more. The check for one
    # more is run after the first package is packed, which takes as long as a
    # purchase: a second purchase, had it run, would have arrived by then.
    amazon.send(topack=[wa.APack(whnum=1, things=[book(5)], shipid=1, seqnum=2)])
    await amazon.wait_for(lambda: amazon.of_type(wa.APacked))
    amazon.send(topack=[wa.APack(whnum=1, things=[book(1)], shipid=2, seqnum=3)])
    refused = await amazon.wait_for(lambda: errors_for(amazon, 3))
    assert "has 0 of product 7" in refused[0].err
    assert errors_for(amazon, 2) == []
    assert len({r.seqnum for r in amazon.of_type(wa.APurchaseMore)}) == 1
    await amazon.close()
    await ups.close()


async def test_repeated_pack_is_not_a_duplicate_shipid(ports):
    ups, amazon = await raw_pair(ports)
    amazon.auto_ack = True
    amazon.send(buy=[wa.APurchaseMore(whnum=1, things=[book(3)], seqnum=1)])
    await amazon.wait_for(lambda: amazon.of_type(wa.APurchaseMore))
    pack = wa.APack(whnum=1, things=[book(1)], shipid=11, seqnum=2)
    amazon.send(topack=[pack])
    await amazon.wait_for(lambda: 2 in amazon.acks())
    amazon.send(topack=[pack])
    amazon.send(topack=[pack], queries=[wa.AQuery(packageid=11, seqnum=3)])
    await amazon.wait_for(lambda: amazon.acks().count(2) >= 2)
    # The query came after every repeat: an error from a repeat would have come first.
    await amazon.wait_for(lambda: amazon.of_type(wa.APackage))
    await amazon.wait_for(lambda: amazon.of_type(wa.APacked))
    assert amazon.of_type(wa.AErr) == []
    assert {r.shipid for r in amazon.of_type(wa.APacked)} == {11}
    # Stock went down once: the two units left can be packed.
    amazon.send(topack=[wa.APack(whnum=1, things=[book(2)], shipid=12, seqnum=4)])
    packed = await amazon.wait_for(
        lambda: [r for r in amazon.of_type(wa.APacked) if r.shipid == 12] or errors_for(amazon, 4)
    )
    assert isinstance(packed[0], wa.APacked), packed[0]
    await amazon.close()
    await ups.close()


@pytest.mark.parametrize("side", [Side.AMAZON, Side.UPS])
async def test_duplicate_detection_survives_a_reconnect(ports, side):
    ups, amazon = await raw_pair(ports)
    link = amazon if side is Side.AMAZON else ups
    link.auto_ack = True
    link.send(queries=[unknown_query(side, 7)])
    first = (await link.wait_for(lambda: errors_for(link, 7)))[0]
    await link.close()

    again = await rejoin(side, ports[side], link.world_id)
    again.auto_ack = True
    again.send(queries=[unknown_query(side, 7)])  # the same seqnum, on a new connection
    await again.wait_for(lambda: 7 in again.acks())
    again.send(queries=[unknown_query(side, 8)])  # a new one, after it
    await again.wait_for(lambda: errors_for(again, 8))
    # Had seqnum 7 run again, its error (with a new world seqnum) would have come first.
    assert {r.seqnum for r in errors_for(again, 7)} <= {first.seqnum}
    assert len(errors_for(again, 8)) >= 1
    await again.close()
    await (ups if side is Side.AMAZON else amazon).close()


async def test_repeated_purchase_after_reconnect_is_not_run(ports):
    ups, amazon = await raw_pair(ports)
    amazon.auto_ack = True
    buy = wa.APurchaseMore(whnum=2, things=[book(4, product=9)], seqnum=1)
    amazon.send(buy=[buy])
    await amazon.wait_for(lambda: amazon.of_type(wa.APurchaseMore))
    amazon.abort()

    again = await rejoin(Side.AMAZON, ports[Side.AMAZON], amazon.world_id)
    again.auto_ack = True
    again.send(buy=[buy])
    await again.wait_for(lambda: 1 in again.acks())
    again.send(topack=[wa.APack(whnum=2, things=[book(4, product=9)], shipid=1, seqnum=2)])
    await again.wait_for(lambda: again.of_type(wa.APacked))
    again.send(topack=[wa.APack(whnum=2, things=[book(1, product=9)], shipid=2, seqnum=3)])
    refused = await again.wait_for(lambda: errors_for(again, 3))
    assert "has 0 of product 9" in refused[0].err
    await again.close()
    await ups.close()


# -- (3) reconnects -----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["abort", "close"])
async def test_reconnect_resends_every_unacked_result(ports, how):
    ups, amazon = await raw_pair(ports)
    amazon.send(buy=[wa.APurchaseMore(whnum=1, things=[book(2)], seqnum=1)])
    amazon.send(queries=[unknown_query(Side.AMAZON, n, 400 + n) for n in range(2, 7)])
    await amazon.wait_for(lambda: len(amazon.of_type(wa.AErr)) >= 5)
    await amazon.wait_for(lambda: amazon.of_type(wa.APurchaseMore))
    seen = {r.seqnum: r for r in amazon.results()}
    acked = {errors_for(amazon, 2)[0].seqnum, errors_for(amazon, 4)[0].seqnum}
    # Ack two; a last query tells us when the world has read the acks.
    amazon.send(acks=sorted(acked), queries=[unknown_query(Side.AMAZON, 7, 407)])
    await amazon.wait_for(lambda: errors_for(amazon, 7))
    seen.update({r.seqnum: r for r in amazon.results()})
    pending = set(seen) - acked
    assert len(pending) == 5  # the purchase, three errors, and the last error

    if how == "abort":
        amazon.abort()
    else:
        await amazon.close()
    again = await rejoin(Side.AMAZON, ports[Side.AMAZON], amazon.world_id)
    # At once: all of them come no later than the answer to a query sent right away.
    again.send(queries=[unknown_query(Side.AMAZON, 8, 408)])
    answer = (await again.wait_for(lambda: errors_for(again, 8)))[0]
    before_answer = again.result_seqnums()[: again.result_seqnums().index(answer.seqnum)]
    assert pending <= set(before_answer)
    for result in again.results():
        if result.seqnum != answer.seqnum:
            assert result == seen[result.seqnum]  # the very same results, not new ones
    assert not acked & set(again.result_seqnums())
    await again.close()
    await ups.close()


# -- (4) whole flows through injected faults ----------------------------------------------


async def full_flow(ups: WorldClient, amazon: WorldClient, timeout: float = 60.0) -> None:
    """Buy 3, pack 2, pick up, load, deliver; then exactly the one unit left can be packed."""
    amazon.send(wa.APurchaseMore(whnum=1, things=[book(3)]))
    await amazon.wait_result(wa.APurchaseMore, timeout=timeout)
    amazon.send(wa.APack(whnum=1, things=[book(2)], shipid=1))
    ups.send(wu.UGoPickup(truckid=1, whid=1))
    await amazon.wait_result(wa.APacked, lambda r: r.shipid == 1, timeout=timeout)
    arrived = await ups.wait_result(wu.UFinished, timeout=timeout)
    assert (arrived.truckid, arrived.status, arrived.x, arrived.y) == (
        1,
        "ARRIVE WAREHOUSE",
        10,
        10,
    )
    amazon.send(wa.APutOnTruck(whnum=1, truckid=1, shipid=1))
    await amazon.wait_result(wa.ALoaded, timeout=timeout)
    ups.send(wu.UGoDeliver(truckid=1, packages=[wu.UDeliveryLocation(packageid=1, x=3, y=4)]))
    made = await ups.wait_result(wu.UDeliveryMade, timeout=timeout)
    assert (made.truckid, made.packageid) == (1, 1)
    idle = await ups.wait_result(wu.UFinished, lambda r: r.status == "IDLE", timeout=timeout)
    assert (idle.x, idle.y) == (3, 4)
    amazon.send(wa.AQuery(packageid=1))
    status = await amazon.wait_result(wa.APackage, timeout=timeout)
    assert status.status == "DELIVERED"

    # Every purchase and pack ran once, however often it was sent.
    amazon.send(wa.APack(whnum=1, things=[book(1)], shipid=2))
    await amazon.wait_result(wa.APacked, lambda r: r.shipid == 2, timeout=timeout)
    one_more = amazon.send(wa.APack(whnum=1, things=[book(1)], shipid=3))
    refused = await amazon.wait_result(
        wa.AErr, lambda r: r.originseqnum == one_more, timeout=timeout
    )
    assert "has 0 of product 7" in refused.err
    assert [len(amazon.of_type(t)) for t in (wa.APurchaseMore, wa.ALoaded)] == [1, 1]
    assert len(amazon.of_type(wa.APacked)) == 2
    assert len(ups.of_type(wu.UDeliveryMade)) == 1
    assert len(ups.of_type(wu.UFinished)) == 2
    assert amazon.of_type(wa.AErr) == [refused]
    assert ups.of_type(wu.UErr) == []


async def open_pair(ports: dict[Side, int]) -> tuple[WorldClient, WorldClient]:
    ups = await WorldClient.open(
        Side.UPS, "127.0.0.1", ports[Side.UPS], places=TRUCKS, policy=QUICK
    )
    amazon = await WorldClient.open(
        Side.AMAZON,
        "127.0.0.1",
        ports[Side.AMAZON],
        world_id=ups.world_id,
        places=WAREHOUSES,
        policy=QUICK,
    )
    ups.set_simspeed(FAST)
    amazon.set_simspeed(FAST)
    return ups, amazon


async def test_order_flow_completes_through_flakiness(world_process):
    process = world_process("--flakiness", "50")
    # The flakiness is real: of 40 commands in one message, some are dropped, unacked.
    probe = await RawLink.join(Side.UPS, process.ports[Side.UPS], places=TRUCKS)
    probe.send(queries=[unknown_query(Side.UPS, n) for n in range(1, 41)])
    first = await probe.wait_for(lambda: [m for m in probe.messages if m.acks])
    assert 0 < len(first[0].acks) < 40
    await probe.close()

    ups, amazon = await open_pair(process.ports)
    await full_flow(ups, amazon)
    for client in (ups, amazon):
        assert len({r.seqnum for r in client.results}) == len(client.results)
    await amazon.close()
    await ups.close()
    assert process.alive()


async def test_order_flow_completes_through_response_faults(world_process):
    process = world_process(
        "--drop-responses",
        "0.3",
        "--duplicate-responses",
        "0.3",
        "--reorder-responses",
        "0.5",
        "--delay-responses",
        "0.3",
        "--max-delay",
        "0.05",
        "--seed",
        "7",
    )
    ups, amazon = await open_pair(process.ports)
    await full_flow(ups, amazon)
    for client in (ups, amazon):
        # Each result processed once, though copies came more than once.
        assert len({r.seqnum for r in client.results}) == len(client.results)
    assert ups.copies_received + amazon.copies_received > len(ups.results) + len(amazon.results)
    await amazon.close()
    await ups.close()
    assert process.alive()


# -- (5) seeded faults repeat -------------------------------------------------------------

FAULTY = FaultConfig(
    flakiness=50, drop=0.3, duplicate=0.3, reorder=0.5, delay=0.3, max_delay=0.05, seed=7
)


def fault_choices(faults: Faults, rounds: int = 40) -> list:
    """Run ``faults`` over the same traffic; every choice it made, in order."""
    side = faults.side
    dialect = DIALECTS[side]
    choices: list = []
    for round_ in range(rounds):
        commands = dialect.commands(acks=[1, 2, 3], simspeed=round_ + 1)
        commands.queries.extend(unknown_query(side, round_ * 10 + n) for n in range(10))
        dropped = faults.filter_commands(commands)
        # Acks and simspeed are never dropped.
        assert list(commands.acks) == [1, 2, 3] and commands.simspeed == round_ + 1
        assert dropped + len(commands.queries) == 10
        choices.append(("kept", [q.seqnum for q in commands.queries]))

        responses = dialect.responses(acks=list(range(round_, round_ + 5)))
        # The dialect's error goes in its own responses (mypy cannot pair the two unions).
        responses.error.extend(
            dialect.error(err=f"error: {n}", originseqnum=n, seqnum=round_ * 10 + n)  # type: ignore[misc]
            for n in range(8)
        )
        mangled = faults.mangle_responses(responses)
        choices.append(("sent", None if mangled is None else mangled.SerializeToString()))
        choices.append(("delay", faults.hold_back()))
    return choices


@pytest.mark.parametrize("side", [Side.AMAZON, Side.UPS])
def test_seeded_faults_make_the_same_choices(side):
    choices = fault_choices(Faults(FAULTY, 3, side))
    assert fault_choices(Faults(FAULTY, 3, side)) == choices
    # Another seed or another world: other choices.
    assert fault_choices(Faults(replace(FAULTY, seed=8), 3, side)) != choices
    assert fault_choices(Faults(FAULTY, 4, side)) != choices

    # And the choices are real faults, of every kind, within their bounds.
    kept = [len(c[1]) for c in choices if c[0] == "kept"]
    assert 0 < sum(kept) < 10 * len(kept)
    sent = [c[1] for c in choices if c[0] == "sent"]
    messages = [DIALECTS[side].responses.FromString(s) for s in sent if s is not None]
    errors = [[e.seqnum for e in m.error] for m in messages]
    assert any(len(e) < 8 for e in errors)  # some dropped
    assert any(len(e) != len(set(e)) for e in errors)  # some duplicated
    assert any(e != sorted(e) for e in errors)  # some reordered
    delays = [c[1] for c in choices if c[0] == "delay"]
    assert any(d > 0 for d in delays) and any(d == 0 for d in delays)
    assert all(0 <= d <= FAULTY.max_delay for d in delays)


def test_no_faults_configured_changes_nothing():
    faults = Faults(FaultConfig(), 1, Side.AMAZON)
    commands = wa.ACommands(queries=[wa.AQuery(packageid=n, seqnum=n) for n in range(20)])
    assert faults.filter_commands(commands) == 0 and len(commands.queries) == 20
    responses = wa.AResponses(acks=[1, 2], packagestatus=[wa.APackage(packageid=1, status="x")])
    assert faults.mangle_responses(responses) == responses
    assert faults.hold_back() == 0.0


# -- (6) disconnect=true ------------------------------------------------------------------


async def test_disconnect_finishes_closes_and_keeps_the_world(ports):
    ups, amazon = await raw_pair(ports)
    amazon.auto_ack = True
    amazon.send(buy=[wa.APurchaseMore(whnum=1, things=[book(2)], seqnum=1)])
    await amazon.wait_for(lambda: amazon.of_type(wa.APurchaseMore))
    amazon.send(topack=[wa.APack(whnum=1, things=[book(1)], shipid=5, seqnum=2)])
    await amazon.wait_for(lambda: amazon.of_type(wa.APacked))
    amazon.auto_ack = False

    # The commands sent with the goodbye are run and acked in the last message.
    amazon.send(queries=[wa.AQuery(packageid=5, seqnum=3)], disconnect=True)
    await amazon.wait_closed()
    last = amazon.messages[-1]
    assert last.finished
    assert 3 in amazon.acks()
    status = amazon.of_type(wa.APackage)
    assert [(s.packageid, s.status) for s in status] == [(5, "PACKED")]

    ups.send(disconnect=True)
    await ups.wait_closed()
    assert ups.messages[-1].finished

    # The world is kept: both sides join again; the unacked status comes again.
    world_id = amazon.world_id
    again = await rejoin(Side.AMAZON, ports[Side.AMAZON], world_id)
    await again.wait_for(lambda: status[0].seqnum in again.result_seqnums())
    again.auto_ack = True
    again.send(topack=[wa.APack(whnum=1, things=[book(1)], shipid=6, seqnum=4)])
    await again.wait_for(lambda: again.of_type(wa.APacked))
    again.send(topack=[wa.APack(whnum=1, things=[book(1)], shipid=5, seqnum=5)])
    duplicate = await again.wait_for(lambda: errors_for(again, 5))
    assert "package id 5 already exists" in duplicate[0].err  # it was kept

    ups_again = await rejoin(Side.UPS, ports[Side.UPS], world_id)
    ups_again.send(queries=[wu.UQuery(truckid=2, seqnum=1)])
    truck = (await ups_again.wait_for(lambda: ups_again.of_type(wu.UTruck)))[0]
    assert (truck.truckid, truck.status, truck.x, truck.y) == (2, "IDLE", 0, 0)
    await again.close()
    await ups_again.close()


async def test_world_client_close_then_open_again(ports):
    ups, amazon = await connect_pair(ports)
    world_id = ups.world_id
    await amazon.close()
    assert amazon.finished
    amazon = await WorldClient.open(Side.AMAZON, "127.0.0.1", ports[Side.AMAZON], world_id)
    assert amazon.world_id == world_id
    amazon.send(wa.APurchaseMore(whnum=2, things=[book(1)]))
    arrived = await amazon.wait_result(wa.APurchaseMore)
    assert arrived.whnum == 2  # warehouse 2 was kept from the first connection
    await amazon.close()
    await ups.close()
