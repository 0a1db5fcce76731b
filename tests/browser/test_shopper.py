"""A shopper's whole path in a real browser, on the whole system: sign up, search, fill
the cart, check out with a UPS account, and watch the order page reach "delivered" by
itself (no reload), with UPS confirming the account."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.e2e.harness import query

PASSWORD = "shopper-password-123"
DELIVERY_TIMEOUT_MS = 240_000  # simulated travel, with trucks shared by other tests


def demo_ups_account(system) -> int:
    """The number of the UPS demo account (``amazon-ups ups seed_demo`` made it)."""
    rows = query(
        system.var / "ups.sqlite3",
        "SELECT a.number FROM shipments_account a JOIN auth_user u ON u.id = a.user_id "
        "WHERE u.username = 'demo'",
    )
    assert rows, "the UPS demo account is missing"
    return int(rows[0][0])


def add_to_cart(page, product: str, quantity: int) -> None:
    page.get_by_role("searchbox", name="Search products").fill(product.lower())
    page.get_by_role("searchbox", name="Search products").press("Enter")
    card = page.locator("section.product", has=page.get_by_role("link", name=product, exact=True))
    expect(card).to_have_count(1)
    card.get_by_label("Quantity").fill(str(quantity))
    card.get_by_role("button", name=re.compile("Add to cart")).click()


def test_a_shopper_signs_up_fills_the_cart_checks_out_and_sees_the_delivery(
    system, page, screenshot
):
    ups_account = demo_ups_account(system)
    username = f"shopper-{uuid.uuid4().hex[:8]}"

    # Sign up: logged in at once.
    page.goto(system.url("amazon", "/accounts/signup/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name=f"Log out ({username})")).to_be_visible()

    # Search, and put two products in the cart.
    add_to_cart(page, "Kettle", 1)
    expect(page).to_have_url(re.compile(r"/cart/$"))
    add_to_cart(page, "Notebook", 2)
    lines = page.locator("#cart-lines tbody tr")
    expect(lines).to_have_count(2)
    expect(page.locator("#cart-units")).to_have_text("3 items")

    # Change a quantity: the cart and the count in the nav bar follow.
    kettle = page.locator("#cart-lines tbody tr", has_text="Kettle")
    kettle.get_by_label("Quantity of Kettle").fill("2")
    kettle.get_by_role("button", name="Update").click()
    expect(page.locator("#cart-units")).to_have_text("4 items")
    expect(page.locator("header .badge")).to_have_text("4")
    expect(page.get_by_text("Kettle: quantity is now 2.")).to_be_visible()
    screenshot(page, "shopper-cart")

    # Check out, with the UPS demo account.
    page.get_by_role("link", name="Proceed to checkout").click()
    expect(page.locator("#no-payment")).to_contain_text("No payment")
    expect(page.locator("#checkout-lines li")).to_have_text(
        ["2 \u00d7 Kettle at $34.90 = $69.80", "2 \u00d7 Notebook at $12.75 = $25.50"]
    )
    expect(page.locator("#checkout-total")).to_have_text("Total: $95.30 (not charged)")
    expect(page.locator("#checkout-estimate")).to_contain_text("Arrives in about")
    page.get_by_label("x", exact=True).fill("12")
    page.get_by_label("y", exact=True).fill("-7")
    page.get_by_label("UPS account id (optional)").fill(str(ups_account))
    screenshot(page, "shopper-checkout")
    page.get_by_role("button", name="Place order").click()

    # The order page: it must update itself from here on, never reload.
    expect(page).to_have_url(re.compile(r"/orders/\d+/$"))
    order_id = int(re.search(r"/orders/(\d+)/$", page.url)[1])
    assert order_id > 0
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#order-lines tbody tr")).to_have_count(2)
    expect(page.locator("header .badge")).to_have_count(0)  # the cart is empty now

    status = page.locator("#order-status")
    expect(status).not_to_have_attribute("data-status", "placed")
    expect(page.locator("#ups-account-status")).to_have_text(f"linked to UPS account {ups_account}")
    # UPS's tracking number comes in by itself, linked to the carrier's page of it.
    number = page.locator("#tracking-number")
    expect(number).to_have_text(re.compile(r"^MU[0-9A-Z]{2}( [0-9A-Z]{4}){3}$"))
    expect(page.locator("#tracking-link")).to_have_attribute(
        "href", re.compile(rf"/track/{number.inner_text().replace(' ', '%20')}/$")
    )
    expect(page.locator("#tracking-pending")).to_be_hidden()
    screenshot(page, "shopper-order-in-progress")

    expect(status).to_have_attribute("data-status", "delivered", timeout=DELIVERY_TIMEOUT_MS)
    expect(status).to_have_text("delivered")
    assert page.evaluate("window.__sameDocument") is True, "the order page was reloaded"
    # Every step of the pipeline is marked reached, most with their time.
    expect(page.locator("#order-steps li.reached")).to_have_count(7)
    expect(page.locator('#order-steps li[data-step="delivered"] time')).not_to_have_text("")
    expect(page.locator("#dest-label")).to_have_text("Delivered at")
    expect(page.locator("#order-events tbody tr").last).to_contain_text("delivered at")
    screenshot(page, "shopper-order-delivered")

    # The list of orders has it, delivered.
    page.get_by_role("link", name="My orders").click()
    row = page.locator("#order-list tbody tr", has=page.get_by_role("link", name=str(order_id)))
    expect(row.locator(".status")).to_have_text("delivered")
    expect(row).to_contain_text("2 \u00d7 Kettle, 2 \u00d7 Notebook")
    screenshot(page, "shopper-orders")


def test_a_visitors_cart_follows_them_into_their_account_and_an_unknown_ups_account_is_reported(
    system, phone, screenshot
):
    """On a phone: fill the cart before logging in, log in, check out with an account
    id UPS does not know; the order goes ahead, and the page says it travels unlinked."""
    page = phone
    page.goto(system.url("amazon", "/"))
    add_to_cart(page, "Umbrella", 3)
    expect(page.locator("#cart-units")).to_have_text("3 items")

    page.get_by_role("link", name="Proceed to checkout").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo-password-123")
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/cart/checkout/$"))
    expect(page.locator("#checkout-lines li")).to_have_text(
        ["3 \u00d7 Umbrella at $19.90 = $59.70"]
    )
    page.get_by_label("x", exact=True).fill("-3")
    page.get_by_label("y", exact=True).fill("4")
    unknown = 1  # UPS numbers its accounts from 100000000 up: 1 is no account
    page.get_by_label("UPS account id (optional)").fill(str(unknown))
    page.get_by_role("button", name="Place order").click()

    expect(page).to_have_url(re.compile(r"/orders/\d+/$"))
    expect(page.locator("#ups-account-status")).to_have_text(
        f"UPS does not know account {unknown} \u2014 your package travels unlinked"
    )
    expect(page.locator("#order-status")).not_to_have_attribute("data-status", "failed")
    screenshot(page, "shopper-phone-order-unknown-account")
