"""A store that looks like a store, in a real browser on the whole system, at 1280 px
and 375 px: a shopper sees prices, pictures, sorting, a stocked demo and a delivery
estimate; a seller restocks (the world delivers, the count grows) and uploads a picture."""

from __future__ import annotations

import io
import re
import time

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.test_seller import SELLER, log_in
from tests.e2e.harness import query

RESTOCK_TIMEOUT = 60.0  # seconds: one purchase takes about 1 s of the world's time


@pytest.fixture
def wide(browser):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="UTC"
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture(params=["1280", "375"])
def screen(request, wide, phone):
    """The same journey on a desktop and on a phone."""
    return request.param, (wide if request.param == "1280" else phone)


def fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"the page is {width} px wide on a {viewport} px screen"


def after_reloads(page, condition, what: str, timeout: float = RESTOCK_TIMEOUT) -> None:
    """Reload ``page`` until ``condition()`` holds: these pages do not update themselves."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        page.wait_for_timeout(250)
        page.reload()


def pictures_loaded(page, selector: str) -> int:
    """How many of the pictures matching ``selector`` the browser decoded."""
    return page.evaluate(
        f"""Array.from(document.querySelectorAll({selector!r}))
            .filter(img => img.complete && img.naturalWidth > 0).length"""
    )


def test_a_shopper_sees_prices_pictures_sorting_and_a_stocked_store(system, screen, screenshot):
    width, page = screen
    page.goto(system.url("amazon", "/"))
    cards = page.locator("section.product")
    expect(cards).to_have_count(12)
    expect(cards.first.locator(".price")).to_have_text(re.compile(r"^\$\d+\.\d\d$"))
    # Pictures load as they come near the screen (loading=lazy): scroll past each one.
    for picture in page.locator("img.product-image").all():
        picture.scroll_into_view_if_needed()
    page.wait_for_function(
        "Array.from(document.querySelectorAll('img.product-image'))"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    assert pictures_loaded(page, "img.product-image") == 12
    page.evaluate("window.scrollTo(0, 0)")

    # The demo starts stocked: the daemon bought every product when it joined the world.
    page.get_by_label("In stock only").check()
    page.get_by_label("Sort by").select_option(label="Price: low to high")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"sort=price"))
    after_reloads(page, lambda: cards.count() == 12, "the demo's first stock to arrive")
    prices = [float(p[1:]) for p in cards.locator(".price").all_inner_texts()]
    assert prices == sorted(prices) and prices[0] == 8.00  # the mug
    expect(page.locator(".stock[data-stock=out]")).to_have_count(0)
    fits(page)
    screenshot(page, f"store-catalog-by-price-{width}")

    page.get_by_label("Sort by").select_option(label="Price: high to low")
    page.get_by_role("button", name="Show").click()
    expect(cards.first.get_by_role("link", name="Headphones")).to_be_visible()

    # The product page: picture, price, stock and when it would arrive.
    cards.first.get_by_role("link", name="Headphones").click()
    expect(page.get_by_role("heading", name="Headphones", level=1)).to_be_visible()
    expect(page.locator(".price-big")).to_have_text("$89.00")
    expect(page.locator(".product-detail .stock")).to_have_text("in stock")
    expect(page.locator("#delivery-estimate")).to_contain_text(
        re.compile(r"arrives in about \d+ seconds, by .*\d\d:\d\d")
    )
    assert pictures_loaded(page, ".product-detail img.product-image") == 1
    expect(page.get_by_text("No payment is taken: a demo store.")).to_be_visible()
    fits(page)
    screenshot(page, f"store-product-{width}")


def _stock_cell(page, product: str, column: int):
    row = page.locator("table.stock-table tbody tr", has_text=product)
    return row.locator("td.num").nth(column)


def test_a_seller_restocks_and_sees_the_world_deliver(system, screen, screenshot):
    width, page = screen
    product = "Umbrella" if width == "1280" else "Houseplant"
    log_in(page, system, *SELLER)
    page.goto(system.url("amazon", "/sell/"))
    row = page.locator("table.stock-table tbody tr", has_text=product)
    # Columns: price, then North, West, East.
    north = _stock_cell(page, product, 1)
    # The demo's first stock has arrived (nothing on order any more).
    after_reloads(page, lambda: re.fullmatch(r"\d+", north.inner_text().strip()), "first stock")
    before = int(north.inner_text())

    row.get_by_label(f"Warehouse to restock {product} at").select_option(label="North")
    row.get_by_label(f"Units of {product} to buy").fill("15")
    row.get_by_role("button", name=f"Restock {product}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Bought 15 \u00d7 {product} for North")
    # Bought, not there yet, or already there: never less than before.
    expect(north).to_have_text(re.compile(rf"^({before} \(\+15\)|{before + 15})$"))
    fits(page)
    screenshot(page, f"store-seller-restocked-{width}")

    after_reloads(
        page, lambda: north.inner_text().strip() == str(before + 15), "the world to deliver"
    )
    screenshot(page, f"store-seller-stock-grew-{width}")
    # The world said so: the purchase came back through the daemon.
    rows = query(
        system.var / "amazon.sqlite3",
        "SELECT s.on_hand, s.on_order FROM catalog_stock s JOIN catalog_product p "
        f"ON p.id = s.product_id WHERE p.name = '{product}' AND s.warehouse_id = 1",
    )
    assert rows == [(before + 15, 0)]


def _png(path, colour) -> None:
    out = io.BytesIO()
    image = Image.new("RGB", (320, 320), colour)
    for x in range(80, 240):  # a square in the middle: something to see in the screenshot
        for y in range(80, 240):
            image.putpixel((x, y), (255, 255, 255))
    image.save(out, "PNG")
    path.write_bytes(out.getvalue())


def test_a_seller_uploads_a_picture_and_a_fake_one_is_refused(system, screen, screenshot, tmp_path):
    width, page = screen
    product = "Teapot" if width == "1280" else "Mug"
    log_in(page, system, *SELLER)
    page.goto(system.url("amazon", "/sell/"))
    page.get_by_role("link", name=f"Edit {product}").click()

    fake = tmp_path / "teapot.png"
    fake.write_text("not a picture at all")
    page.get_by_label("Picture (optional)").set_input_files(str(fake))
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field-errors")).to_contain_text("not a picture the store can show")
    fits(page)
    screenshot(page, f"store-seller-bad-picture-{width}")

    real = tmp_path / "real.png"
    _png(real, (30, 110, 160))
    page.get_by_label("Picture (optional)").set_input_files(str(real))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text(f"“{product}” is saved.")

    page.goto(system.url("amazon", "/"))
    card = page.locator("section.product", has=page.get_by_role("link", name=product, exact=True))
    image = card.locator("img.product-image")
    expect(image).to_have_attribute("src", re.compile(r"/image\?v=product-\d+-[0-9a-f]+\.png$"))
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 320", arg=image.element_handle()
    )
    screenshot(page, f"store-catalog-with-upload-{width}")
