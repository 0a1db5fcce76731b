"""Operators: the status page of each site shows its daemon's links up, and a frozen
daemon as silent (red) though its sockets stay open, in a browser."""

from __future__ import annotations

import os
import signal
import time

import pytest
from playwright.sync_api import expect

from amazon_ups.testing.system import wait_until

PASSWORD = "operator-password-123"
# Each site's --bad colour, as the browser computes it.
RED = {"amazon": "rgb(179, 38, 30)", "ups": "rgb(168, 35, 27)"}


@pytest.fixture(scope="module")
def operators(manage):
    """A superuser ``op`` on both sites."""
    for project in ("amazon", "ups"):
        manage(
            project,
            *("createsuperuser", "--noinput", "--username", "op", "--email", "op@example.com"),
            env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD},
        )


@pytest.mark.parametrize(
    ("site", "peers"), [("amazon", ["ups", "world:"]), ("ups", ["amazon", "world:"])]
)
def test_the_operator_page_shows_the_daemons_links_up(
    system, operators, page, screenshot, site, peers
):
    page.goto(system.url(site, "/operator/"))
    # Not staff yet: the admin's login form, which comes back to the page.
    page.get_by_label("Username").fill("op")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="System status")).to_be_visible()
    for peer in peers:
        # The page is not live: reload until the daemon has connected.
        row = page.locator(f'#links tr[data-peer^="{peer}"]')

        def link_up(row=row) -> bool:
            page.reload()
            return row.count() > 0 and row.first.get_attribute("data-connected") == "true"

        wait_until(link_up, 60, f"the {site} daemon's link to {peer} to be up", every=0.5)
    screenshot(page, f"{site}-operator")


def _staff_page(browser, system, site: str, width: int):
    """A page of ``site``'s /operator/, logged in as ``op``, ``width`` px wide."""
    context = browser.new_context(
        viewport={"width": width, "height": 900}, locale="en-GB", timezone_id="UTC"
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(system.url(site, "/operator/"))
    page.get_by_label("Username").fill("op")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="System status")).to_be_visible()
    return page


def _link(page, peer: str) -> dict:
    """The link's row as the page shows it now (the page reloads itself every 5 s;
    reloading here only makes the wait shorter)."""
    page.reload()
    row = page.locator(f'#links tr[data-peer="{peer}"]')
    if not row.count():
        return {}
    return {
        "connected": row.get_attribute("data-connected") == "true",
        "silent": row.get_attribute("data-silent") == "true",
        "state": row.locator("td.state").inner_text(),
    }


@pytest.mark.parametrize("width", [1280, 375])
def test_a_frozen_ups_daemon_turns_red_on_both_dashboards_and_green_again(
    system, operators, browser, screenshot, width
):
    """With the UPS daemon frozen (SIGSTOP) its sockets stay open, so both sites still
    call the link connected; the dashboards must call it silent, in red, within a
    deadline (Amazon's: silent, then down once Amazon has dropped the silent
    connection to dial again), and up again once it runs (SIGCONT)."""
    amazon = _staff_page(browser, system, "amazon", width)
    ups = _staff_page(browser, system, "ups", width)
    dashboards = ((amazon, "ups", RED["amazon"]), (ups, "amazon", RED["ups"]))
    for page, peer, _ in dashboards:
        wait_until(
            lambda page=page, peer=peer: _link(page, peer).get("state") == "up",
            60,
            f"{peer} up and heard on the other site's dashboard",
            every=0.5,
        )
    daemon = system.pid("ups-d")
    os.kill(daemon, signal.SIGSTOP)
    try:
        frozen_at = time.monotonic()
        for page, peer, red in dashboards:
            link = wait_until(
                lambda page=page, peer=peer: (
                    (found := _link(page, peer)).get("state") in ("silent", "down") and found
                ),
                30,
                f"{peer} shown silent (or down) while the UPS daemon is frozen",
                every=0.5,
            )
            if peer == "amazon":  # UPS's own record: the frozen daemon drops nothing
                assert link["connected"] and link["state"] == "silent"
            cell = page.locator(f'#links tr[data-peer="{peer}"] td.state span')
            assert cell.evaluate("e => getComputedStyle(e).color") == red
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        print(f"silent on both dashboards {time.monotonic() - frozen_at:.1f} s after SIGSTOP")
        screenshot(amazon, f"amazon-operator-ups-frozen-{width}")
        screenshot(ups, f"ups-operator-daemon-frozen-{width}")
    finally:
        os.kill(daemon, signal.SIGCONT)
    for page, peer, _ in dashboards:
        wait_until(
            lambda page=page, peer=peer: _link(page, peer).get("state") == "up",
            30,
            f"{peer} up again after SIGCONT",
            every=0.5,
        )
    screenshot(amazon, f"amazon-operator-dashboard-{width}")
    screenshot(ups, f"ups-operator-dashboard-{width}")
    amazon.context.close()
    ups.context.close()
