"""The world dashboard in a browser: a world with its dashboard on (``amazon-ups world
--http-port 0``), a store and a carrier (``WorldClient``, in a thread of their own: the
Playwright sync API holds this thread's event loop), and a page that follows one order
from purchase to delivery, filters the log by package, and turns flakiness up and down
again live, with screenshots of each stage."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

import pytest
from playwright.sync_api import expect

from amazon_ups.protocol import world_amazon_pb2 as wa
from amazon_ups.protocol import world_ups_pb2 as wu
from amazon_ups.protocol.framing import encode_frame
from amazon_ups.world.client import WorldClient
from tests.support import connect_pair

SHIPID = 5
BOOK = wa.AProduct(id=7, description="book", count=1)


class Clients:
    """A store and a carrier on an event loop in a thread; ``run(coro)`` waits for one step."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ups: WorldClient
        self.amazon: WorldClient

    def run(self, step: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(step, self.loop).result(timeout)

    def stop(self) -> None:
        for client in (self.amazon, self.ups):
            self.run(client.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def world(world_process):
    return world_process("--http-port", "0")


@pytest.fixture
def clients(world):
    clients = Clients()

    async def connect() -> None:
        # At simspeed 1000 a truck drives 100 grid units a second: the page sees it move.
        clients.ups, clients.amazon = await connect_pair(world.ports, simspeed=1000)

    clients.run(connect())
    yield clients
    clients.stop()


def package_row(page):
    return page.locator(f'#packages tr[data-package="{SHIPID}"]')


def test_the_dashboard_follows_an_order_and_changes_flakiness_live(
    world, clients, page, screenshot
):
    ups, amazon = clients.ups, clients.amazon
    page.goto(f"{world.dashboard}#world={ups.world_id}")
    expect(page.locator("#world-title")).to_contain_text(f"World {ups.world_id}")
    connections = page.locator("#connections")
    expect(connections.locator('tr[data-side="amazon"]')).to_contain_text("127.0.0.1:")
    expect(connections.locator('tr[data-side="ups"]')).to_contain_text("127.0.0.1:")

    async def buy_and_pack() -> None:
        amazon.send(wa.APurchaseMore(whnum=1, things=[BOOK]))
        await amazon.wait_result(wa.APurchaseMore)
        amazon.send(wa.APack(whnum=1, things=[BOOK], shipid=SHIPID))
        await amazon.wait_result(wa.APacked)

    clients.run(buy_and_pack())
    expect(package_row(page)).to_contain_text("PACKED")
    expect(page.locator("#warehouses")).to_contain_text("7: 0")
    screenshot(page, "world-dashboard-packed")

    # Flakiness up, live, with the token the world printed.
    page.get_by_label("token").fill(world.token)
    page.get_by_label("flakiness %").fill("99")
    page.get_by_role("button", name="Set faults").click()
    expect(page.locator("#status")).to_have_text("faults: done")
    # Re-sent by the client until it gets through; sent from the clients' own thread.
    clients.loop.call_soon_threadsafe(ups.send, wu.UGoPickup(truckid=1, whid=1))
    dropped = connections.locator('tr[data-side="ups"] td').nth(4)
    expect(dropped).not_to_have_text("0")
    expect(page.locator("#trucks tr[data-truck='1']")).to_contain_text("IDLE")
    screenshot(page, "world-dashboard-flaky")

    # And down again: the pickup gets through, the order goes on to delivery.
    page.get_by_label("flakiness %").fill("0")
    page.get_by_role("button", name="Set faults").click()
    expect(page.locator("#status")).to_have_text("faults: done")

    async def load_and_deliver() -> None:
        await ups.wait_result(wu.UFinished, lambda r: r.status == "ARRIVE WAREHOUSE")
        amazon.send(wa.APutOnTruck(whnum=1, truckid=1, shipid=SHIPID))
        await amazon.wait_result(wa.ALoaded)
        location = wu.UDeliveryLocation(packageid=SHIPID, x=300, y=200)
        ups.send(wu.UGoDeliver(truckid=1, packages=[location]))

    clients.run(load_and_deliver())
    expect(package_row(page)).to_contain_text("DELIVERING")
    expect(page.locator("#trucks tr[data-truck='1']")).to_contain_text("DELIVERING")
    screenshot(page, "world-dashboard-delivering")
    clients.run(ups.wait_result(wu.UDeliveryMade))
    expect(package_row(page)).to_contain_text("DELIVERED")

    # The log, filtered by the package: its story, commands and results.
    page.get_by_label("package", exact=True).fill(str(SHIPID))
    log = page.locator("#log tbody")
    for kind in ("topack", "ready", "load", "loaded", "deliveries", "delivered"):
        expect(log.locator(f'tr[data-kind="{kind}"]').first).to_be_visible()
    expect(log.locator('tr[data-kind="buy"]')).to_have_count(0)
    screenshot(page, "world-dashboard-log-by-package")

    # A client mistake shows: an ack of a seqnum the world never sent (the carrier's own).
    mistake = encode_frame(wu.UCommands(acks=[3]).SerializeToString())
    clients.loop.call_soon_threadsafe(ups.write_raw, mistake)
    row = page.locator('#diagnostics tr[data-mistake="unknown_ack"]')
    expect(row).to_contain_text("ack 3 is not the seqnum of a result")
    screenshot(page, "world-dashboard-mistakes")

    # Without the token, a control is refused, and the page says why.
    page.get_by_label("token").fill("wrong")
    page.get_by_role("button", name="Pause clock").click()
    expect(page.locator("#status")).to_contain_text("token")
