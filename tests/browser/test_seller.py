"""A seller lists a product in a browser; shoppers find it in the catalog. Screenshots
of the catalog, a product page and the seller area."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from amazon_ups.testing.system import query

SELLER = ("seller", "seller-password-123")  # seeded by `amazon seed_demo`


def log_in(page, system, username: str, password: str) -> None:
    page.goto(system.url("amazon", "/accounts/login/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=f"Log out ({username})")).to_be_visible()


def test_a_seller_lists_a_product_that_shoppers_then_find(system, page, screenshot):
    page.goto(system.url("amazon", "/"))
    expect(page.get_by_role("heading", name="Products")).to_be_visible()
    expect(page.locator("section.product")).to_have_count(12)
    screenshot(page, "amazon-catalog")

    log_in(page, system, *SELLER)
    page.get_by_role("link", name="Sell").click()
    expect(page.get_by_role("heading", name="Your products")).to_be_visible()
    # The demo products are the seeded seller's, with a column per warehouse.
    expect(page.locator("table.stock-table tbody tr")).to_have_count(12)
    expect(page.locator("table.stock-table thead th", has_text="North")).to_be_visible()

    name = f"Solar lantern {uuid.uuid4().hex[:6]}"
    page.get_by_role("link", name="List a product").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Description").fill("Charges by day, glows all night.")
    page.get_by_label("Category").select_option(label="Travel & outdoors")
    screenshot(page, "amazon-sell-new-product")
    page.get_by_role("button", name="List it").click()

    expect(page.get_by_role("status")).to_contain_text(f"“{name}” is on sale")
    row = page.locator("table.stock-table tbody tr", has_text=name)
    expect(row).to_contain_text("out of stock")
    screenshot(page, "amazon-sell-products")
    product_id = int(re.search(r"#(\d+)", row.locator("th").inner_text())[1])
    rows = query(
        system.var / "amazon.sqlite3",
        "SELECT p.name, u.username FROM catalog_product p "
        f"JOIN auth_user u ON u.id = p.seller_id WHERE p.id = {product_id:d}",
    )
    assert rows == [(name, "seller")]

    # A visitor who is not logged in finds it by a word of its description, any case.
    visitor = page.context.browser.new_context(viewport={"width": 1200, "height": 900})
    shopper_page = visitor.new_page()
    shopper_page.goto(system.url("amazon", "/"))
    shopper_page.get_by_label("Search products").fill("GLOWS ALL")
    shopper_page.get_by_role("button", name="Search").click()
    expect(shopper_page.get_by_role("heading", name="Results for “GLOWS ALL”")).to_be_visible()
    expect(shopper_page.locator("section.product")).to_have_count(1)
    shopper_page.get_by_role("link", name=name).click()
    expect(shopper_page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(shopper_page.locator(".stock")).to_have_text("out of stock — ships when restocked")
    expect(shopper_page.get_by_role("button", name=re.compile("Add to cart"))).to_be_visible()
    screenshot(shopper_page, "amazon-product")
    visitor.close()


def test_the_catalog_fits_a_phone(system, phone, screenshot):
    phone.goto(system.url("amazon", "/?q=kettle"))
    expect(phone.locator("section.product")).to_have_count(1)
    # Nothing wider than the screen: no sideways scrolling to reach a button.
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width} px wide on a 375 px screen"
    screenshot(phone, "amazon-catalog-phone")
    phone.goto(system.url("amazon", "/products/1/"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(phone, "amazon-product-phone")


def test_a_shopper_is_turned_away_from_the_seller_area(system, page):
    log_in(page, system, "demo", "demo-password-123")
    expect(page.get_by_role("link", name="Sell")).to_have_count(0)
    response = page.goto(system.url("amazon", "/sell/"))
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_signing_up_as_a_seller(system, page, screenshot):
    username = f"maker{uuid.uuid4().hex[:6]}"
    page.goto(system.url("amazon", "/"))
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill("lantern-maker-42")
    page.get_by_label("Password confirmation").fill("lantern-maker-43")
    page.get_by_label("I want to sell on mini-Amazon").check()
    page.get_by_role("button", name="Sign up").click()
    # The mistake is said next to the field, and announced.
    expect(page.get_by_role("alert")).to_contain_text("The two password fields didn")
    screenshot(page, "amazon-sign-up-error")

    page.get_by_label("Password", exact=True).fill("lantern-maker-42")
    page.get_by_label("Password confirmation").fill("lantern-maker-42")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Your products")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"Welcome, {username}")
    expect(page.get_by_text("You have no products yet.")).to_be_visible()
