"""Client diagnostics: the world notices a client's protocol mistakes and lists them per
world side (and logs each new one), over real sockets against a live server."""

from __future__ import annotations

import logging

import pytest

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.world_messages import Side
from amazon_ups.testing.waiting import wait_until_async
from amazon_ups.world.diagnostics import RECENT, UNACKED_AFTER_SENDS, Mistake
from amazon_ups.world.server import ServerConfig, WorldServer
from tests.support import RawLink

SILENT_AFTER = 0.5


@pytest.fixture
async def server(tmp_path):
    server = WorldServer(
        ServerConfig(
            ups_port=0,
            amazon_port=0,
            state=tmp_path / "world.sqlite3",
            silent_after=SILENT_AFTER,
        )
    )
    await server.start()
    yield server
    await server.stop()


async def join(server: WorldServer, side: Side) -> RawLink:
    places = [(1, 0, 0)] if side is Side.UPS else [(1, 10, 10)]
    return await RawLink.join(side, server.ports[side], places=places)


def findings(server: WorldServer, link: RawLink, kind: Mistake) -> list:
    diagnostics = server.engine.diagnose(link.world_id, link.side)
    return [f for f in diagnostics.findings.values() if f.kind is kind]


async def test_results_never_acked_are_listed_with_their_sends(server, caplog):
    caplog.set_level(logging.INFO, "amazon_ups.world")
    ups = await join(server, Side.UPS)  # acks nothing
    ups.send(queries=[wu.UQuery(truckid=1, seqnum=1)])
    await ups.wait_for(lambda: len(ups.results()) >= UNACKED_AFTER_SENDS)
    await wait_until_async(lambda: findings(server, ups, Mistake.UNACKED), timeout=5)
    (finding,) = findings(server, ups, Mistake.UNACKED)
    (seqnum,) = set(ups.result_seqnums())
    assert f"result {seqnum} (truckstatus) sent {UNACKED_AFTER_SENDS} times" in finding.example
    session = server.engine.worlds[ups.world_id].sessions[Side.UPS]
    assert session.outbox.resent >= UNACKED_AFTER_SENDS - 1
    assert "client mistake (result never acked)" in caplog.text
    await ups.close()


async def test_a_client_that_acks_at_once_has_no_findings(server):
    ups = await join(server, Side.UPS)
    ups.auto_ack = True
    ups.send(queries=[wu.UQuery(truckid=1, seqnum=1)])
    await ups.wait_for(lambda: ups.of_type(wu.UTruck) and 1 in ups.acks())
    ups.send(queries=[wu.UQuery(truckid=1, seqnum=1)])  # a re-send of the same command
    await ups.wait_for(lambda: ups.acks().count(1) == 2)
    seqnum = ups.result_seqnums()[0]
    await ups.wait_for(lambda: seqnum in ups.sent_acks)
    ups.ack(seqnum)  # acked twice: the second is harmless
    ups.send(queries=[wu.UQuery(truckid=1, seqnum=2)])
    await ups.wait_for(lambda: 2 in ups.acks())
    assert server.engine.diagnose(ups.world_id, Side.UPS).findings == {}
    await ups.close()


async def test_one_seqnum_for_two_different_commands(server):
    amazon = await join(server, Side.AMAZON)
    amazon.auto_ack = True
    book = wa.AProduct(id=7, description="book", count=1)
    amazon.send(buy=[wa.APurchaseMore(whnum=1, things=[book], seqnum=4)])
    await amazon.wait_for(lambda: 4 in amazon.acks())
    amazon.send(queries=[wa.AQuery(packageid=7, seqnum=4)])
    await amazon.wait_for(lambda: amazon.acks().count(4) == 2)
    (finding,) = findings(server, amazon, Mistake.SEQNUM_REUSED)
    assert "seqnum 4 came again with a different command (queries" in finding.example
    assert not amazon.of_type(wa.APackage)  # not run
    await amazon.close()


async def test_acks_for_seqnums_the_world_never_sent(server):
    ups = await join(server, Side.UPS)
    # A client that acks its own commands' seqnums instead of the world's.
    ups.send(queries=[wu.UQuery(truckid=1, seqnum=1)], acks=[1])
    ups.send(queries=[wu.UQuery(truckid=1, seqnum=2)], acks=[2])
    await ups.wait_for(lambda: 2 in ups.acks())
    (finding,) = findings(server, ups, Mistake.UNKNOWN_ACK)
    assert finding.count == 2
    assert finding.example.startswith("ack 2 is not the seqnum of a result")
    await ups.close()


async def test_refused_commands_are_counted_by_cause(server):
    amazon = await join(server, Side.AMAZON)
    amazon.auto_ack = True
    amazon.send(queries=[wa.AQuery(packageid=5, seqnum=1), wa.AQuery(packageid=6, seqnum=2)])
    amazon.send(load=[wa.APutOnTruck(whnum=1, truckid=9, shipid=5, seqnum=3)])
    await amazon.wait_for(lambda: len(amazon.of_type(wa.AErr)) == 3)
    refused = {f.cause: f for f in findings(server, amazon, Mistake.REFUSED)}
    unknown = refused["command N: error: package id N does not exist in this world"]
    assert unknown.count == 2
    assert unknown.example == "command 2: error: package id 6 does not exist in this world"
    assert "command N: error: truck id N does not exist in this world" in refused
    await amazon.close()


async def test_a_silent_connection(server):
    ups = await join(server, Side.UPS)
    found = await wait_until_async(lambda: findings(server, ups, Mistake.SILENT), timeout=5)
    assert "sent nothing for" in found[0].example
    # Once per silent spell: heard again, then silent again, makes a second.
    ups.send(acks=[])
    await wait_until_async(lambda: findings(server, ups, Mistake.SILENT)[0].count == 2, timeout=5)
    await ups.close()


async def test_an_old_seqnum_again_after_many_newer(server):
    """A client that starts numbering from 1 again (after a restart, say): its new
    commands are acked and not run; the world says why."""
    amazon = await join(server, Side.AMAZON)
    amazon.auto_ack = True
    count = RECENT + 10
    amazon.send(queries=[wa.AQuery(packageid=9, seqnum=n) for n in range(1, count + 1)])
    await amazon.wait_for(lambda: count in amazon.acks())
    assert not findings(server, amazon, Mistake.SEQNUM_OLD)
    amazon.send(queries=[wa.AQuery(packageid=9, seqnum=1)])  # a new command, numbered 1
    await amazon.wait_for(lambda: amazon.acks().count(1) == 2)
    (finding,) = findings(server, amazon, Mistake.SEQNUM_OLD)
    assert finding.example.startswith("seqnum 1 came again long after it was first used")
    # A recent one repeated, the same command: a re-send, no mistake.
    amazon.send(queries=[wa.AQuery(packageid=9, seqnum=count)])
    await amazon.wait_for(lambda: amazon.acks().count(count) == 2)
    assert len(findings(server, amazon, Mistake.SEQNUM_OLD)) == 1
    assert not findings(server, amazon, Mistake.SEQNUM_REUSED)
    await amazon.close()
