"""Live, linked tracking in a real browser, at a desktop's width and a phone's: from the
store's My orders, the tracking number leads to the carrier's page of the package, which
then goes from "label created" to "delivered" by itself (no reload), with an estimate
until then, the small map, and the redirect form gone once it is delivered."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from amazon_ups.testing.system import DEMO, System
from tests.browser.test_carrier import buy, grouped
from tests.browser.test_shopper import demo_ups_account

# These tests wait for whole deliveries: the world runs them 2.5 times as fast as the
# demo's simspeed 100.
SIMSPEED = 250
# Far from every demo warehouse (the nearest, North, is at (10, 80)): some 16 s of
# driving at SIMSPEED, so the page is open well before the delivery, and a redirect is
# sent while the truck is on its way.
FAR = (250, 250)
DELIVERY_TIMEOUT_MS = 240_000  # simulated travel, with trucks shared by other tests
UPS_DEMO_PASSWORD = "demo-password-123"
WIDTHS = {"desktop": (1280, 900), "phone": (375, 740)}


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """The whole system for this module's tests, at ``SIMSPEED`` (see conftest.system)."""
    system = System(
        tmp_path_factory.mktemp("browser") / "var", ["--trucks", "4", "--simspeed", str(SIMSPEED)]
    ).start()
    yield system
    system.stop()


@pytest.fixture(params=sorted(WIDTHS))
def screen(request, browser):
    """A page at one of the two widths, fixed clock and language (see conftest.page)."""
    width, height = WIDTHS[request.param]
    expect.set_options(timeout=60_000)
    context = browser.new_context(
        viewport={"width": width, "height": height},
        locale="en-GB",
        timezone_id="UTC",
        is_mobile=request.param == "phone",
        has_touch=request.param == "phone",
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page, request.param
    context.close()


def log_in(page, base: str, username: str, password: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_from_the_order_to_the_carriers_page_which_goes_to_delivered_by_itself(
    system, screen, screenshot
):
    page, width = screen
    tracking = buy(system, x=FAR[0], y=FAR[1], ups_account=demo_ups_account(system))
    # The same browser is signed in at both sites, as the shopper and the recipient are.
    log_in(page, system.url("ups").rstrip("/"), DEMO["username"], UPS_DEMO_PASSWORD)
    log_in(page, system.url("amazon").rstrip("/"), DEMO["username"], DEMO["password"])

    # My orders at the store links the tracking number to the carrier's page.
    page.goto(system.url("amazon", "/orders/"))
    # The number as the store shows it (UPS sends it grouped); the carrier's page takes
    # any form of it and settles on the compact one.
    link = page.get_by_role("link", name=grouped(tracking), exact=True)
    expect(link).to_have_attribute("href", system.url("ups", f"/track/{quote(grouped(tracking))}/"))
    assert fits(page), "My orders is wider than the screen"
    screenshot(page, f"amazon-my-orders-tracking-link-{width}")
    link.click()
    expect(page).to_have_url(system.url("ups", f"/track/{tracking}/"))
    expect(page.get_by_role("heading", name=f"Package {grouped(tracking)}")).to_be_visible()
    # A reload would make a new document and lose this mark.
    page.evaluate("window.sameDocument = true")

    steps = page.locator("#package-steps")
    expect(steps.locator('[data-step="created"]')).to_have_class(re.compile(r"\breached\b"))
    expect(steps.locator('[data-step="delivered"]')).not_to_have_class(re.compile(r"\breached\b"))
    expect(page.locator("#estimate")).to_be_visible()
    expect(page.locator("#estimate-text")).to_have_text(re.compile(r"^(in |within |any moment)"))
    expect(page.locator("#redirect-form")).to_be_visible()
    expect(page.locator("#package-map g.warehouse")).to_have_count(1)
    expect(page.locator("#package-map g.package")).to_have_count(1)  # the owner's exact point
    expect(page.locator("#store-orders-link")).to_have_attribute(
        "href", system.url("amazon", "/orders/")
    )
    assert fits(page), "the package page is wider than the screen"
    screenshot(page, f"ups-live-before-delivery-{width}")

    # Out for delivery, then delivered: the page follows by itself.
    expect(steps.locator('[data-step="out for delivery"]')).to_have_class(
        re.compile(r"\breached\b"), timeout=DELIVERY_TIMEOUT_MS
    )
    expect(page.locator("#package-map g.truck")).to_have_count(1)
    screenshot(page, f"ups-live-out-for-delivery-{width}")
    expect(steps.locator('[data-step="delivered"]')).to_have_class(
        re.compile(r"\breached\b"), timeout=DELIVERY_TIMEOUT_MS
    )
    badge = page.locator(f'#package .current [data-package="{tracking}"]')
    expect(badge).to_have_attribute("data-status", "delivered")
    expect(badge).to_have_text("Delivered")
    expect(page.locator("#delivered-when")).to_be_visible()
    expect(page.locator("#delivered-when")).to_contain_text("Delivered")
    expect(page.locator("#estimate")).to_be_hidden()
    expect(page.locator("#delivered-at")).to_have_text(f"({FAR[0]}, {FAR[1]})")
    expect(page.locator(".timeline")).to_contain_text(f"Delivered at ({FAR[0]}, {FAR[1]})")
    # Nothing left to redirect: the form is gone, without a reload.
    expect(page.locator("#redirect-section")).to_be_hidden()
    expect(page.locator("#redirect-form")).to_be_hidden()
    assert page.evaluate("window.sameDocument === true"), "the page was reloaded"
    assert fits(page), "the delivered package page is wider than the screen"
    screenshot(page, f"ups-live-delivered-{width}")


def test_a_stranger_follows_the_package_live_and_sees_only_its_area(system, screen, screenshot):
    page, width = screen
    tracking = buy(system, x=FAR[0] + 3, y=FAR[1] - 4)
    page.goto(system.url("ups", f"/track/{tracking}/"))
    page.evaluate("window.sameDocument = true")
    area = page.locator("#package-map g.area")
    expect(area).to_have_count(1)
    expect(area).to_have_attribute("data-x", "250")
    expect(area).to_have_attribute("data-y", "240")
    expect(page.locator("#package-map g.package")).to_have_count(0)
    expect(page.locator(f'#package .current [data-package="{tracking}"]')).to_have_attribute(
        "data-status", "delivered", timeout=DELIVERY_TIMEOUT_MS
    )
    expect(page.locator("#package-steps li.reached")).to_have_count(4)
    expect(page.locator(".timeline")).to_contain_text("Delivered in the area x 250 to 259")
    # Never the door: not in the text, not on the map (the truck stands there now).
    expect(page.locator("main")).not_to_contain_text(f"({FAR[0] + 3}, {FAR[1] - 4})")
    expect(page.locator("#package-map g.truck")).to_have_count(0)
    assert page.evaluate("window.sameDocument === true"), "the page was reloaded"
    assert fits(page)
    screenshot(page, f"ups-live-track-stranger-{width}")


def test_a_redirect_on_the_truck_is_confirmed_live_then_delivered_there(system, screen, screenshot):
    page, width = screen
    tracking = buy(system, x=FAR[0], y=FAR[1] + 5, ups_account=demo_ups_account(system))
    log_in(page, system.url("ups").rstrip("/"), DEMO["username"], UPS_DEMO_PASSWORD)

    # My packages follows its packages' statuses by itself too.
    page.goto(system.url("ups", "/packages/"))
    page.evaluate("window.sameDocument = true")
    badge = page.locator(f'#my-packages [data-package="{tracking}"]')
    expect(badge).to_have_attribute("data-status", "out for delivery", timeout=DELIVERY_TIMEOUT_MS)
    assert page.evaluate("window.sameDocument === true"), "My packages was reloaded"
    assert fits(page), "My packages is wider than the screen"

    page.get_by_role("link", name=grouped(tracking)).click()
    expect(page.locator("#redirect-race")).to_be_visible()
    new = (FAR[0] - 20, FAR[1] - 20)  # on the way: the truck gets there first
    page.get_by_label("New x").fill(str(new[0]))
    page.get_by_label("New y").fill(str(new[1]))
    page.get_by_role("button", name="Change the destination").click()
    expect(page.locator(".messages")).to_contain_text(f"({new[0]}, {new[1]})")
    page.evaluate("window.sameDocument = true")
    # The world takes the new place: the page says so by itself.
    expect(page.locator("#redirect-confirmed")).to_be_visible()
    expect(page.locator("#redirect-confirmed")).to_have_text(
        "The truck has confirmed the new address."
    )
    expect(page.locator(".timeline")).to_contain_text(
        f"The truck has confirmed the new address ({new[0]}, {new[1]})"
    )
    screenshot(page, f"ups-live-redirect-confirmed-{width}")
    expect(page.locator("#delivered-at")).to_have_text(
        f"({new[0]}, {new[1]})", timeout=DELIVERY_TIMEOUT_MS
    )
    expect(page.locator("#redirect-section")).to_be_hidden()
    assert page.evaluate("window.sameDocument === true"), "the page was reloaded"
