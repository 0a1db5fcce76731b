"""The world dashboard over real sockets: ``amazon-ups world --http-port 0`` as its own
process, clients on the world's ports, HTTP to the dashboard (JSON, the JSON-lines
export, the controls and their token, bad requests)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.world_messages import Side
from amazon_ups.testing.waiting import wait_until_async
from amazon_ups.world.client import ConnectRefused, WorldClient
from tests.support import FAST, RawLink, connect_pair


def http(url: str, body: dict | bytes | None = None, token: str | None = None):
    """(status, parsed JSON or text) of a GET, or a POST when ``body`` is given."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, kind, text = response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        status, kind, text = error.code, error.headers["Content-Type"], error.read()
    return status, json.loads(text) if kind == "application/json" else text.decode()


async def aget(url: str, body=None, token=None):
    return await asyncio.to_thread(http, url, body, token)


@pytest.fixture
def dashboard_world(world_process):
    return world_process("--http-port", "0")


async def order_flow(ups: WorldClient, amazon: WorldClient, shipid: int = 5) -> None:
    book = wa.AProduct(id=7, description="book", count=1)
    amazon.send(wa.APurchaseMore(whnum=1, things=[book]))
    await amazon.wait_result(wa.APurchaseMore)
    amazon.send(wa.APack(whnum=1, things=[book], shipid=shipid))
    ups.send(wu.UGoPickup(truckid=1, whid=1))
    await amazon.wait_result(wa.APacked, lambda r: r.shipid == shipid)
    await ups.wait_result(wu.UFinished, lambda r: r.status == "ARRIVE WAREHOUSE")
    amazon.send(wa.APutOnTruck(whnum=1, truckid=1, shipid=shipid))
    await amazon.wait_result(wa.ALoaded, lambda r: r.shipid == shipid)
    ups.send(wu.UGoDeliver(truckid=1, packages=[wu.UDeliveryLocation(packageid=shipid, x=3, y=4)]))
    await ups.wait_result(wu.UDeliveryMade, lambda r: r.packageid == shipid)


async def test_the_page_and_the_json_follow_an_order(dashboard_world):
    world, url = dashboard_world, dashboard_world.dashboard
    ups, amazon = await connect_pair(world.ports)
    await order_flow(ups, amazon)

    status, page = await aget(url)
    assert status == 200 and "<title>World dashboard</title>" in page
    status, listing = await aget(url + "api/worlds")
    (entry,) = listing["worlds"]
    assert entry["id"] == ups.world_id and entry["connected"] == ["amazon", "ups"]
    status, shown = await aget(url + f"api/worlds/{ups.world_id}")
    assert status == 200
    (package,) = shown["packages"]
    assert (package["id"], package["status"], package["truck"]) == (5, "DELIVERED", 1)
    assert {t["id"] for t in shown["trucks"]} == {1, 2}
    assert {w["id"]: (w["x"], w["y"]) for w in shown["warehouses"]} == {1: (10, 10), 2: (-20, 5)}
    connections = {c["side"]: c for c in shown["connections"]}
    assert connections["ups"]["connected"] and connections["ups"]["peer"].startswith("127.0.0.1:")
    assert shown["simspeed"] == {"amazon": FAST, "ups": FAST}

    # The log, by package: the commands and results about package 5, in order.
    status, log = await aget(url + f"api/worlds/{ups.world_id}/log?package=5")
    kinds = [(e["direction"], e["kind"]) for e in log["entries"]]
    assert kinds[0] == ("in", "topack") and ("out", "ready") in kinds
    assert ("in", "load") in kinds and ("out", "loaded") in kinds
    assert ("in", "deliveries") in kinds and kinds[-1] == ("out", "delivered")
    assert all(5 in e["packages"] for e in log["entries"])
    results = [e for e in log["entries"] if e["direction"] == "out"]
    ready = next(e for e in results if e["kind"] == "ready")
    assert ready["fields"]["seqnum"] == ready["seqnum"] == amazon.of_type(wa.APacked)[0].seqnum
    # By truck and kind.
    status, log = await aget(url + f"api/worlds/{ups.world_id}/log?truck=1&kind=completions")
    assert [e["fields"]["status"] for e in log["entries"]] == ["ARRIVE WAREHOUSE", "IDLE"]
    await wait_until_async(
        lambda: all(
            e["acked"]
            for e in http(url + f"api/worlds/{ups.world_id}/log?truck=1&kind=completions")[1][
                "entries"
            ]
        )
    )

    # The export: every row of the world as a JSON line, in the order of the messages.
    status, text = await aget(url + f"api/worlds/{ups.world_id}/log.jsonl")
    lines = [json.loads(line) for line in text.splitlines()]
    assert {e["kind"] for e in lines} >= {"buy", "arrived", "topack", "ready", "pickups", "acks"}
    assert {e["kind"] for e in lines} >= {"simspeed", "delivered"}
    assert [e["message"] for e in lines] == sorted(e["message"] for e in lines)
    assert all(e["world"] == ups.world_id for e in lines)
    # Every result the clients got is there with its seqnum, and every ack they sent.
    out = {e["seqnum"] for e in lines if e["direction"] == "out" and "seqnum" in e}
    assert {r.seqnum for r in amazon.results + ups.results} <= out
    acked = {a for e in lines if e["direction"] == "in" and e["kind"] == "acks" for a in e["acks"]}
    assert {r.seqnum for r in amazon.results + ups.results} - acked <= out
    await ups.close()
    await amazon.close()


async def test_controls_need_the_token(dashboard_world):
    url = dashboard_world.dashboard
    ups, amazon = await connect_pair(dashboard_world.ports)
    control = url + f"api/worlds/{ups.world_id}/simspeed"
    for token in (None, "wrong"):
        status, answer = await aget(control, {"simspeed": 5}, token)
        assert status == 403 and "token" in answer["error"]
    status, _ = await aget(control, {"simspeed": 5}, dashboard_world.token)
    assert status == 200
    status, shown = await aget(url + f"api/worlds/{ups.world_id}")
    assert shown["simspeed"] == {"amazon": 5, "ups": 5}
    await ups.close()
    await amazon.close()


async def test_flakiness_changes_live(dashboard_world):
    url, token = dashboard_world.dashboard, dashboard_world.token
    link = await RawLink.join(Side.UPS, dashboard_world.ports[Side.UPS], places=[(1, 0, 0)])
    link.auto_ack = True
    control = url + f"api/worlds/{link.world_id}/faults"
    status, answer = await aget(control, {"flakiness": 99}, token)
    assert status == 200 and answer["faults"]["flakiness"] == 99
    link.send(queries=[wu.UQuery(truckid=1, seqnum=n) for n in range(1, 41)])

    def dropped() -> int:
        shown = http(url + f"api/worlds/{link.world_id}")[1]
        return next(c for c in shown["connections"] if c["side"] == "ups").get("dropped", 0)

    assert await wait_until_async(lambda: dropped() >= 30)
    status, _ = await aget(control, {"flakiness": 0}, token)
    link.send(queries=[wu.UQuery(truckid=1, seqnum=n) for n in range(41, 61)])
    await link.wait_for(lambda: set(range(41, 61)) <= set(link.acks()))
    await link.close()


async def test_pause_and_resume_the_clock(dashboard_world):
    url, token = dashboard_world.dashboard, dashboard_world.token
    ups, amazon = await connect_pair(dashboard_world.ports, warehouses=[(1, 100, 0)])
    world = url + f"api/worlds/{ups.world_id}"
    ups.set_simspeed(1000)  # 1 grid unit per ms: 0.1 s to the warehouse
    await aget(world + "/pause", {}, token)
    ups.send(wu.UGoPickup(truckid=1, whid=1))
    await ups.wait_for(lambda: ups.acked)
    _status, shown = await aget(world)
    assert shown["paused"] and shown["trucks"][0]["status"] == "TRAVELING"
    # Standing still: a trip of 0.1 s is not over half a second later.
    await asyncio.sleep(0.5)
    assert not ups.of_type(wu.UFinished)
    _, shown = await aget(world)
    assert (shown["trucks"][0]["x"], shown["trucks"][0]["y"]) == (0, 0)
    await aget(world + "/resume", {}, token)
    (arrived,) = await ups.wait_for(lambda: ups.of_type(wu.UFinished))
    assert (arrived.x, arrived.y, arrived.status) == (100, 0, "ARRIVE WAREHOUSE")
    await ups.close()
    await amazon.close()


async def test_retire_a_world(dashboard_world):
    url, token = dashboard_world.dashboard, dashboard_world.token
    ups, amazon = await connect_pair(dashboard_world.ports)
    status, _ = await aget(url + f"api/worlds/{ups.world_id}/retire", {}, token)
    assert status == 200
    status, listing = await aget(url + "api/worlds")
    assert listing["worlds"] == []
    with pytest.raises(ConnectRefused, match="retired from the world's dashboard"):
        await WorldClient.open(Side.UPS, "127.0.0.1", dashboard_world.ports[Side.UPS], ups.world_id)
    await ups.abort()
    await amazon.abort()


async def test_bad_requests_get_clear_errors_and_the_world_serves_on(dashboard_world):
    url, token = dashboard_world.dashboard, dashboard_world.token
    ups, amazon = await connect_pair(dashboard_world.ports)
    world = url + f"api/worlds/{ups.world_id}"
    cases = [
        (url + "api/worlds/seven", None, 400, "world id must be a number"),
        (url + "api/worlds/999", None, 404, "world 999 does not exist"),
        (url + "nothing", None, 404, "no such page"),
        (world + "/faults", b"{not json", 400, "not JSON"),
        (world + "/faults", {"flakiness": 150}, 400, "flakiness must be 0-99"),
        (world + "/faults", {"loss": 1}, 400, "unknown fault"),
        (world + "/simspeed", {"simspeed": "fast"}, 400, "simspeed must be an integer"),
        (world + "/explode", {}, 404, "no such control"),
        (world + "/log?package=x", None, 400, "package must be a number"),
    ]
    for target, body, expected, text in cases:
        status, answer = await aget(target, body, token)
        assert (status, text in answer["error"]) == (expected, True), (target, answer)
    ups.send(wu.UQuery(truckid=1))
    await ups.wait_result(wu.UTruck)
    await ups.close()
    await amazon.close()


async def test_controls_are_journaled_and_survive_a_crash(world_process, tmp_path):
    """Simspeed and a paused clock are inputs like any other: after kill -9 the world
    replays them (fault settings are the process's, and are not)."""
    state = tmp_path / "controls.sqlite3"
    world = world_process("--http-port", "0", state=state)
    # No simspeed from the clients: sent without waiting, theirs could arrive after the
    # dashboard's (on a busy machine it did) and be the one journaled last.
    ups, amazon = await connect_pair(world.ports, warehouses=[(1, 100, 0)], simspeed=None)
    target = world.dashboard + f"api/worlds/{ups.world_id}"
    await aget(target + "/simspeed", {"simspeed": 1000}, world.token)
    await aget(target + "/pause", {}, world.token)
    ups.send(wu.UGoPickup(truckid=1, whid=1))
    await ups.wait_for(lambda: ups.acked)
    await ups.abort()
    await amazon.abort()
    world.kill()

    again = world_process("--http-port", "0", state=state)
    target = again.dashboard + f"api/worlds/{ups.world_id}"
    _, shown = await aget(target)
    assert shown["paused"] and shown["simspeed"] == {"amazon": 1000, "ups": 1000}
    assert shown["trucks"][0]["status"] == "TRAVELING"
    ups = await WorldClient.open(Side.UPS, "127.0.0.1", again.ports[Side.UPS], ups.world_id)
    await aget(target + "/resume", {}, again.token)
    (arrived,) = await ups.wait_for(lambda: ups.of_type(wu.UFinished))
    assert (arrived.x, arrived.y) == (100, 0)
    await ups.close()


async def test_the_json_lists_a_clients_mistakes(dashboard_world):
    link = await RawLink.join(Side.AMAZON, dashboard_world.ports[Side.AMAZON], places=[(1, 0, 0)])
    link.send(queries=[wa.AQuery(packageid=77, seqnum=1)], acks=[1])
    await link.wait_for(lambda: link.of_type(wa.AErr))
    _, shown = await aget(dashboard_world.dashboard + f"api/worlds/{link.world_id}")
    findings = {f["kind"]: f for f in shown["diagnostics"]["amazon"]["findings"]}
    assert findings["unknown_ack"]["count"] == 1
    assert findings["refused"]["example"].startswith("command 1: error: package id 77")
    assert shown["diagnostics"]["ups"]["findings"] == []
    await link.close()
