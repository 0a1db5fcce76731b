"""A destination people can pick, in a real browser at a desktop's and a phone's width:
a named address saved from the profile's map, then at checkout the map (with the
store's warehouses) filling x and y where it is clicked, the saved address chosen, UPS
saying before the order is placed whether it knows the account given, and the order
going to the place picked."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.test_shopper import add_to_cart, demo_ups_account

PASSWORD = "shopper-password-123"


def sign_up(page, system) -> str:
    username = f"picker-{uuid.uuid4().hex[:8]}"
    page.goto(system.url("amazon", "/accounts/signup/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name=f"Log out ({username})")).to_be_visible()
    return username


def click_map_at(page, map_id: str, fx: float, fy: float) -> tuple[float, float]:
    """Click the map at fractions (fx, fy) of its width and height; returns the world
    point there, from the map's own viewBox (SVG's y grows downwards, the world's up)."""
    svg = page.locator(f"#{map_id} svg")
    box = svg.bounding_box()
    x0, y0, side, _ = (float(v) for v in svg.get_attribute("viewBox").split())
    svg.click(position={"x": box["width"] * fx, "y": box["height"] * fy})
    return x0 + side * fx, -(y0 + side * fy)


def fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("width", [1280, 375])
def test_a_shopper_picks_the_destination_on_the_map(system, browser, screenshot, width):
    context = browser.new_context(
        viewport={"width": width, "height": 900}, locale="en-GB", timezone_id="UTC"
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    with urllib.request.urlopen(system.url("amazon", "/warehouses.json")) as response:
        warehouses = json.load(response)["warehouses"]
    assert warehouses
    sign_up(page, system)

    # The profile: a named address, its place clicked on the map.
    page.goto(system.url("amazon", "/accounts/profile/"))
    expect(page.locator("#address-map")).to_have_attribute("data-loaded", "1")
    page.get_by_label("Name").fill("home")
    home = click_map_at(page, "address-map", 0.3, 0.7)
    x = int(page.locator("#address_x").input_value())
    y = int(page.locator("#address_y").input_value())
    assert abs(x - home[0]) <= 1 and abs(y - home[1]) <= 1, (x, y, home)
    fits(page, width)
    screenshot(page, f"destination-profile-{width}")
    page.get_by_role("button", name="Save the address").click()
    expect(page.locator('li[data-address="home"]')).to_contain_text(f"home: ({x}, {y})")
    home = (x, y)

    # Checkout: the warehouses on the map; a click fills x and y.
    add_to_cart(page, "Kettle", 1)
    page.goto(system.url("amazon", "/cart/checkout/"))
    checkout_map = page.locator("#checkout-map")
    expect(checkout_map).to_have_attribute("data-loaded", "1")
    expect(checkout_map.locator("g.warehouse")).to_have_count(len(warehouses))
    expect(page.locator("#checkout-map-help")).to_contain_text("e.g. x 25, y -40")
    first = warehouses[0]
    checkout_map.locator(f'g.warehouse[data-warehouse="{first["id"]}"] rect').click()
    x = int(page.get_by_label("x", exact=True).input_value())
    y = int(page.get_by_label("y", exact=True).input_value())
    assert abs(x - first["x"]) <= 1 and abs(y - first["y"]) <= 1, (x, y, first)
    expect(checkout_map.locator("g.chosen")).to_have_attribute("data-x", str(x))
    picked = click_map_at(page, "checkout-map", 0.62, 0.41)
    x = int(page.get_by_label("x", exact=True).input_value())
    y = int(page.get_by_label("y", exact=True).input_value())
    assert abs(x - picked[0]) <= 1 and abs(y - picked[1]) <= 1, (x, y, picked)
    # Typing moves the point on the map.
    page.get_by_label("y", exact=True).fill(str(y - 1))
    expect(checkout_map.locator("g.chosen")).to_have_attribute("data-y", str(y - 1))
    page.get_by_label("y", exact=True).fill(str(y))

    # The saved address fills them too; then back to the picked place.
    page.get_by_label("A saved address").select_option(label=f"home ({home[0]}, {home[1]})")
    expect(page.get_by_label("x", exact=True)).to_have_value(str(home[0]))
    expect(page.get_by_label("y", exact=True)).to_have_value(str(home[1]))
    page.get_by_label("x", exact=True).fill(str(x))
    page.get_by_label("y", exact=True).fill(str(y))

    # An unknown UPS account is said before the order is placed; a known one too.
    status = page.locator("#ups-account-status")
    page.get_by_label("UPS account id (optional)").fill("1")
    page.get_by_label("UPS account id (optional)").blur()
    expect(status).to_have_attribute("data-state", "unknown", timeout=15_000)
    expect(status).to_contain_text("UPS does not know account 1")
    fits(page, width)
    screenshot(page, f"destination-checkout-unknown-account-{width}")
    known = demo_ups_account(system)
    page.get_by_label("UPS account id (optional)").fill(str(known))
    page.get_by_label("UPS account id (optional)").blur()
    expect(status).to_have_attribute("data-state", "linked", timeout=15_000)
    screenshot(page, f"destination-checkout-map-{width}")

    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#dest-x")).to_have_text(str(x))
    expect(page.locator("#dest-y")).to_have_text(str(y))
    context.close()


def test_an_out_of_range_x_is_said_under_x_and_y_stays_level_with_it(system, browser, screenshot):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    sign_up(page, system)
    add_to_cart(page, "Kettle", 1)
    page.goto(system.url("amazon", "/cart/checkout/"))
    page.get_by_label("x", exact=True).fill("99999999999")
    page.get_by_label("y", exact=True).fill("5")
    page.get_by_role("button", name="Place order").click()
    x_field = page.locator(".xy .field").nth(0)
    expect(x_field.locator(".field-errors")).to_contain_text("x must be a whole number between")
    x_top = page.get_by_label("x", exact=True).bounding_box()["y"]
    y_top = page.get_by_label("y", exact=True).bounding_box()["y"]
    assert abs(x_top - y_top) < 2, (x_top, y_top)
    fits(page, 375)
    screenshot(page, "destination-checkout-x-error-375")
    context.close()
