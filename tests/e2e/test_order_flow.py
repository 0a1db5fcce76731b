"""One order end to end, through the real processes that ``amazon-ups up`` starts:
bought over HTTP on the store, delivered through our UPS and our world, seen as
delivered on both web sites. On SQLite and on PostgreSQL, with a reliable world and
with one that drops 30% of the commands it receives."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.e2e.harness import Browser, System, buy, shopper_for, status_of, wait_until

SIMSPEED = "2000"  # fast, but trucks still take a visible moment to move


@pytest.mark.parametrize("flakiness", [0, 30])
def test_an_order_goes_from_the_buy_button_to_delivered(start_system, flakiness):
    system = start_system("--simspeed", SIMSPEED, "--flakiness", str(flakiness), "--trucks", "3")
    shopper = shopper_for(system)
    order = buy(shopper, quantity=2, x=7, y=-3)
    page = shopper.get(order)
    tracking = re.search(r'<span id="tracking-number">(\d+)</span>', page)
    assert tracking, page[:2000]
    try:
        wait_until(
            lambda: status_of(shopper, order) == "delivered", 120, "the order to be delivered"
        )
    except AssertionError:
        print(system.log())
        raise
    carrier = Browser(system.url("ups", ""), "ups_csrftoken")
    shipments = carrier.get(f"/track/?number={tracking.group(1)}")
    assert re.search(
        rf'data-package="{tracking.group(1)}"[^>]*data-status="delivered"', shipments
    ), shipments[:3000]


def test_the_daemons_wait_for_a_world_that_starts_after_them(tmp_path):
    system = System(tmp_path / "var", ["--no-world", "--simspeed", SIMSPEED]).start()
    world = None
    try:
        shopper = shopper_for(system)
        order = buy(shopper, quantity=1, x=-4, y=9)  # the shop takes orders with no world
        assert status_of(shopper, order) == "placed"
        world = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "amazon_ups.cli",
                "world",
                "--ups-port",
                str(system.ports["world-ups"]),
                "--amazon-port",
                str(system.ports["world-amazon"]),
                "--state",
                str(tmp_path / "world.sqlite3"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: status_of(shopper, order) == "delivered", 120, "delivery")
    except AssertionError:
        print(system.log())
        raise
    finally:
        system.stop()
        if world is not None:
            world.terminate()
            world.wait(30)
