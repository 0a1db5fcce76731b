"""The carrier's site in a browser: tracking by number without an account; signing up,
ordering at the store with the UPS account number, finding the package under My
packages, redirecting it and seeing it delivered at the new place; the live map."""

from __future__ import annotations

import re
import urllib.parse
import uuid
from datetime import UTC, datetime

from playwright.sync_api import expect

from amazon_ups.testing.system import Browser, shopper_for, tracking_number_of, wait_until
from tests.support import HUMAN_TIME

PASSWORD = "carrier-test-password-42"


def buy(system, *, x: int, y: int, ups_account: int | None = None) -> str:
    """The demo shopper buys the first product for delivery at (x, y); returns the
    package's tracking number, once UPS has told the store."""
    shopper: Browser = shopper_for(system)
    catalog = shopper.get("/")
    product = re.search(r'name="product" value="(\d+)"', catalog)
    assert product, "no product form on the catalog page"
    order = {
        "product": product.group(1),
        "token": uuid.uuid4().hex,
        "quantity": 1,
        "dest_x": x,
        "dest_y": y,
    }
    if ups_account is not None:
        order["ups_account"] = ups_account
    status, url, page = shopper.post("/orders/new/", order)
    path = urllib.parse.urlparse(url).path
    assert status == 200 and re.fullmatch(r"/orders/\d+/", path), page[:2000]
    return tracking_number_of(shopper, path)


def grouped(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def nav(page):
    return page.get_by_role("navigation", name="Main")


def sign_up(page, system, username: str) -> int:
    """Sign up on the carrier's site; returns the account number the profile shows."""
    page.goto(system.url("ups", "/"))
    nav(page).get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    number = page.locator(".account-number").inner_text().strip()
    assert re.fullmatch(r"\d{9}", number), number
    return int(number)


def test_anyone_tracks_a_package_by_its_number(system, page, phone, screenshot):
    tracking = buy(system, x=12, y=-7)
    page.goto(system.url("ups", "/"))
    page.get_by_label("Tracking number").fill(grouped(tracking).lower())
    page.get_by_role("button", name="Track").click()
    expect(page.get_by_role("heading", name=f"Package {grouped(tracking)}")).to_be_visible()
    expect(page).to_have_url(system.url("ups", f"/track/{tracking}/"))
    expect(page.locator(".timeline")).to_contain_text("Label created")
    # It goes all the way, in words a recipient knows.
    expect(page.locator(f'[data-package="{tracking}"]')).to_have_attribute(
        "data-status", re.compile(".+")
    )

    def delivered() -> bool:
        page.reload()
        return page.locator(f'[data-package="{tracking}"]').get_attribute("data-status") == (
            "delivered"
        )

    wait_until(delivered, 120, "the package to be delivered", every=0.5)
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("Picked up at warehouse")
    expect(timeline).to_contain_text("Out for delivery")
    # A stranger with the number learns the area, not the door.
    expect(timeline).to_contain_text("Delivered in the area x 10 to 19, y -10 to -1")
    expect(page.locator("main")).not_to_contain_text("(12, -7)")
    expect(page.locator(".items")).to_have_count(0)  # the contents are the owner's to see
    screenshot(page, "ups-track")

    page.get_by_label("Tracking number").fill(tracking[:-2] + tracking[-1] + tracking[-2])
    page.get_by_role("button", name="Track").click()
    if tracking[-1] != tracking[-2]:
        expect(page.get_by_role("alert")).to_contain_text("is not a valid tracking number")
    page.get_by_label("Tracking number").fill("MU4K 7Q9X D2H8 RTC6")  # valid, nobody's
    page.get_by_role("button", name="Track").click()
    expect(page.get_by_role("alert")).to_contain_text("No package has the tracking number")

    phone.goto(system.url("ups", f"/track/?number={tracking}"))
    expect(phone.get_by_role("heading", name=f"Package {grouped(tracking)}")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "ups-track-phone")


def test_sign_up_order_with_the_number_redirect_and_see_it_delivered_there(
    system, page, screenshot
):
    number = sign_up(page, system, "rita")
    screenshot(page, "ups-profile")
    tracking = buy(system, x=150, y=150, ups_account=number)

    nav(page).get_by_role("link", name="My packages").click()
    row = page.get_by_role("link", name=grouped(tracking))

    def listed() -> bool:
        page.reload()
        return row.count() == 1

    wait_until(listed, 60, "the package to be listed under My packages", every=0.5)
    screenshot(page, "ups-my-packages")
    row.click()
    expect(page.get_by_role("heading", name=f"Package {grouped(tracking)}")).to_be_visible()
    expect(page.locator(".items")).to_contain_text("\u00d7")  # the contents, for the owner
    page.get_by_label("New x").fill("-33")
    page.get_by_label("New y").fill("abc")
    page.get_by_role("button", name="Change the destination").click()
    expect(page.get_by_text("Enter a whole number, like 12 or -4.")).to_be_visible()
    page.get_by_label("New x").fill("-33")
    page.get_by_label("New y").fill("21")
    page.get_by_role("button", name="Change the destination").click()
    expect(page.locator(".messages")).to_contain_text("(-33, 21)")
    screenshot(page, "ups-package-redirected")

    # The page follows the package by itself, to its delivery at the new place.
    expect(page.locator("#delivered-at")).to_have_text("(-33, 21)", timeout=120_000)
    expect(page.locator("#delivered-at")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("New delivery address: (-33, 21)")
    expect(page.locator(".timeline")).to_contain_text("Delivered at (-33, 21)")
    screenshot(page, "ups-package-detail")

    # Another user sees what anyone with the number sees: no contents, no place.
    page.get_by_role("button", name=re.compile("Log out")).click()
    sign_up(page, system, "sam")
    page.goto(system.url("ups", f"/track/{tracking}/"))
    expect(page.locator(".timeline")).to_contain_text("Delivered in the area x -40 to -31")
    expect(page.locator(".items")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("(-33, 21)")
    expect(page.locator("#delivered-at")).to_have_count(0)


def test_the_map_shows_the_trucks_moving(system, page, screenshot):
    page.goto(system.url("ups", "/map/"))
    trucks = page.locator("#map g.truck")
    expect(trucks.first).to_be_attached()

    def positions() -> dict[str, tuple[str, str]]:
        return {
            g.get_attribute("data-truck"): (g.get_attribute("data-x"), g.get_attribute("data-y"))
            for g in trucks.all()
        }

    before = positions()
    assert before, "no trucks on the map"
    buy(system, x=-60, y=45)
    wait_until(lambda: positions() != before, 120, "a truck to move on the map", every=0.3)
    expect(page.locator("#map g.warehouse").first).to_be_attached()
    screenshot(page, "ups-map")


def test_too_many_failed_logins_say_when_to_try_again(system, page, screenshot):
    sign_up(page, system, "lou")
    page.get_by_role("button", name="Log out").click()
    page.goto(system.url("ups", "/accounts/login/"))
    for attempt in range(5):  # LOGIN_FAILURE_LIMIT's default
        page.get_by_label("Username").fill("lou")
        page.get_by_label("Password").fill(f"not-the-password-{attempt}")
        with page.expect_navigation():  # each attempt is a page of its own
            page.get_by_role("button", name="Log in").click()
        if attempt < 4:
            expect(page.get_by_text("Please enter a correct username")).to_be_visible()
    expect(page.get_by_role("heading", name="Too many login attempts")).to_be_visible()
    # The one format of both sites; the <time> element carries the ISO value.
    expect(page.locator("#locked-out")).to_contain_text(re.compile(f"Try again after {HUMAN_TIME}"))
    until = page.locator("#locked-out time")
    expect(until).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:"))
    screenshot(page, "ups-login-locked-out")

    # A visitor elsewhere reads it on their own clock; the UTC text stays in the title.
    tokyo = page.context.browser.new_context(locale="en-GB", timezone_id="Asia/Tokyo")
    try:
        there = tokyo.new_page()
        there.goto(system.url("ups", "/accounts/login/"))
        there.get_by_label("Username").fill("lou")
        there.get_by_label("Password").fill("not-the-password-5")
        with there.expect_navigation():
            there.get_by_role("button", name="Log in").click()
        time = there.locator("#locked-out time")
        expect(time).to_contain_text(re.compile(r"^\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d GMT\+9$"))
        expect(time).to_have_attribute("title", re.compile(f"^{HUMAN_TIME}$"))
        iso = time.get_attribute("datetime")
        tokyo_hour = (datetime.fromisoformat(iso).astimezone(UTC).hour + 9) % 24
        assert f", {tokyo_hour:02d}:" in time.inner_text()
    finally:
        tokyo.close()
