"""One order end to end, through the real processes that ``amazon-ups up`` starts:
bought over HTTP on the store, delivered through our UPS and our world, seen as
delivered on both web sites. On SQLite and on PostgreSQL, with a reliable world and
with one that drops 30% of the commands it receives."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.parse

import pytest

from amazon_ups.testing.system import (
    Browser,
    System,
    buy,
    shopper_for,
    status_of,
    tracking_number_of,
    wait_until,
)

SIMSPEED = "2000"  # fast, but trucks still take a visible moment to move


@pytest.mark.parametrize("flakiness", [0, 30])
def test_an_order_goes_from_the_buy_button_to_delivered(start_system, flakiness):
    system = start_system("--simspeed", SIMSPEED, "--flakiness", str(flakiness), "--trucks", "3")
    shopper = shopper_for(system)
    order = buy(shopper, quantity=2, x=7, y=-3)
    try:
        tracking = tracking_number_of(shopper, order, 120)
        wait_until(
            lambda: status_of(shopper, order) == "delivered", 120, "the order to be delivered"
        )
    except AssertionError:
        print(system.log())
        raise
    assert re.fullmatch(r"MU[0-9A-Z]{14}", tracking), tracking
    grouped = " ".join(tracking[i : i + 4] for i in range(0, 16, 4))
    # The order page links the number to the carrier's page of the package.
    link = system.url("ups", f"/track/{urllib.parse.quote(grouped)}/")
    assert f'href="{link}"' in shopper.get(order)
    carrier = Browser(system.url("ups", ""), "ups_csrftoken")
    status, url, _ = carrier.request(urllib.parse.urlsplit(link).path)
    assert (status, url) == (200, system.url("ups", f"/track/{tracking}/"))
    # As a recipient types it: lower case, in groups.
    written = grouped.lower()
    shipments = carrier.get(f"/track/?{urllib.parse.urlencode({'number': written})}")
    assert re.search(rf'data-package="{tracking}"[^>]*data-status="delivered"', shipments), (
        shipments[:3000]
    )
    # A stranger learns the area of the delivery, not the place.
    assert "the area x 0 to 9, y -10 to -1" in shipments and "(7, -3)" not in shipments


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
