"""Every page of both sites on a phone: nothing may be wider than a 375 px screen
(``document.documentElement.scrollWidth <= 375``), whoever looks at it: a visitor, a
shopper (with an order, so that My orders, the order and its package have a row), a
seller, a recipient and the operators. From the pages listed (some are linked from
nowhere: an error page, "reset link sent") it follows every link within the site, so
a page added later is checked too. Each kind of page's screenshot is kept
(``narrow-<site>-<who>-<page>.png``)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.test_shopper import add_to_cart, demo_ups_account

WIDTH = 375
MAX_PAGES = 60  # kinds of page per site and visitor, a bound on the crawl
STAFF_PASSWORD = "operator-password-123"


@pytest.fixture(scope="module")
def staff(manage):
    for project in ("amazon", "ups"):
        manage(
            project,
            *("createsuperuser", "--noinput", "--username", "op", "--email", "op@example.com"),
            env={"DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD},
        )


@pytest.fixture
def phone_of(browser):
    """``phone_of()``: a fresh phone-sized page (its own cookies)."""
    contexts = []

    def make():
        context = browser.new_context(
            viewport={"width": WIDTH, "height": 740},
            is_mobile=True,
            has_touch=True,
            locale="en-GB",
            timezone_id="UTC",
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield make
    for context in contexts:
        context.close()


def log_in(page, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("load")


# Links not followed: Django's admin (its own look, dozens of pages), the JSON and
# health endpoints, static files.
NOT_FOLLOWED = re.compile(r"^/(admin|static)/|\.json$|^/healthz|^/favicon")


def shape(path: str) -> str:
    """Pages of one kind count once: /products/1/ and /products/2/ are one shape, and so
    are two tracking numbers; a query counts by its keys."""
    url = urlsplit(path)
    segments = ["*" if re.search(r"\d", part) else part for part in url.path.split("/")]
    keys = sorted({pair.split("=")[0] for pair in url.query.split("&") if pair})
    return "/".join(segments) + ("?" + "&".join(keys) if keys else "")


def too_wide(
    page, system, site: str, who: str, seeds: list[str], screenshot, follow: bool = True
) -> list[str]:
    """Visit ``seeds`` and (``follow``) every page of the site they link to, each shape
    once; returns the pages wider than the screen, each with its width."""
    origin = system.url(site, "")
    wide: list[str]
    seen: set[str]
    wide, seen, queue = [], set(), list(seeds)
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if shape(path) in seen:
            continue
        seen.add(shape(path))
        page.goto(origin + path, wait_until="load")
        width = page.evaluate("document.documentElement.scrollWidth")
        slug = re.sub(r"[^a-z0-9]+", "-", shape(path).replace("*", "id").lower()).strip("-")
        slug = slug or "home"
        screenshot(page, f"narrow-{site}-{who}-{slug}")
        if width > WIDTH:
            # What sticks out, to say where to look.
            culprit = page.evaluate(
                """w => { let found = '';
                    for (const e of document.querySelectorAll('body *')) {
                      const r = e.getBoundingClientRect();
                      if (r.right > w + 1) {
                        const cls = typeof e.className === 'string' && e.className
                          ? '.' + e.className.split(' ').join('.') : '';
                        found = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + cls;
                        break; } }
                    return found; }""",
                WIDTH,
            )
            wide.append(f"{site} {path} as {who}: {width} px (first too wide: {culprit})")
        if not follow:
            continue
        for href in page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)"):
            if not href.startswith(origin):
                continue
            url = urlsplit(href[len(origin) :])
            linked = url.path + (f"?{url.query}" if url.query else "")
            if not NOT_FOLLOWED.search(url.path) and shape(linked) not in seen:
                queue.append(linked)
    print(f"{site} as {who}: {len(seen)} kinds of page")
    return wide


def test_no_page_of_either_site_is_wider_than_a_phone(system, staff, phone_of, screenshot):
    wide: list[str] = []

    # The demo shopper orders, linked to the demo UPS account, so that every page that
    # lists orders or packages has one.
    shopper = phone_of()
    log_in(shopper, system.url("amazon", "/accounts/login/"), "demo", "demo-password-123")
    add_to_cart(shopper, "Kettle", 1)
    shopper.goto(system.url("amazon", "/cart/checkout/"))
    shopper.get_by_label("x", exact=True).fill("30")
    shopper.get_by_label("y", exact=True).fill("-12")
    shopper.get_by_label("UPS account id (optional)").fill(str(demo_ups_account(system)))
    shopper.get_by_role("button", name="Place order").click()
    expect(shopper.locator("#tracking-number")).not_to_be_empty(timeout=60_000)
    order = re.search(r"/orders/(\d+)/", shopper.url)[1]
    number = shopper.locator("#tracking-number").inner_text().replace(" ", "")
    add_to_cart(shopper, "Mug", 2)  # a cart with something in it
    shopper.goto(system.url("amazon", "/"))
    product = re.search(
        r"/products/(\d+)/", shopper.locator("a[href*='/products/']").first.get_attribute("href")
    )[1]
    wide += too_wide(
        shopper,
        system,
        "amazon",
        "shopper",
        [
            "/",
            "/?q=e",
            f"/products/{product}/",
            "/cart/",
            "/cart/checkout/",
            "/orders/",
            f"/orders/{order}/",
            "/accounts/profile/",
            "/accounts/password/change/",
            "/accounts/password/change/done/",
        ],
        screenshot,
    )

    visitor = phone_of()
    wide += too_wide(
        visitor,
        system,
        "amazon",
        "visitor",
        [
            "/",
            f"/products/{product}/",
            "/cart/",
            "/accounts/login/",
            "/accounts/signup/",
            "/accounts/password/reset/",
            "/accounts/password/reset/sent/",
            "/accounts/password/reset/done/",
            "/accounts/password/reset/MQ/bad-token/",
            "/no-such-page/",
        ],
        screenshot,
    )
    wide += too_wide(
        visitor,
        system,
        "ups",
        "visitor",
        [
            "/",
            "/track/",
            "/track/?number=NOPE",
            f"/track/{number}/",
            "/map/",
            "/accounts/login/",
            "/accounts/signup/",
            "/accounts/password-reset/",
            "/accounts/password-reset/sent/",
            "/accounts/password-reset/done/",
            "/accounts/password-reset/MQ/bad-token/",
            "/no-such-page/",
        ],
        screenshot,
    )

    seller = phone_of()
    log_in(seller, system.url("amazon", "/accounts/login/"), "seller", "seller-password-123")
    seller.goto(system.url("amazon", "/sell/"))
    edit = seller.locator("a[href*='/sell/products/'][href$='/edit/']").first.get_attribute("href")
    wide += too_wide(
        seller,
        system,
        "amazon",
        "seller",
        ["/sell/", "/sell/products/new/", edit, "/sell/sales/"],
        screenshot,
    )

    recipient = phone_of()
    log_in(recipient, system.url("ups", "/accounts/login/"), "demo", "demo-password-123")
    wide += too_wide(
        recipient,
        system,
        "ups",
        "recipient",
        ["/", "/packages/", f"/track/{number}/", "/accounts/profile/", "/map/"],
        screenshot,
    )

    for site in ("amazon", "ups"):
        operator = phone_of()
        log_in(operator, system.url(site, "/admin/login/?next=/operator/"), "op", STAFF_PASSWORD)
        wide += too_wide(
            operator,
            system,
            site,
            "staff",
            ["/operator/", "/map/"][: 2 if site == "ups" else 1],
            screenshot,
        )

    assert not wide, "wider than a phone:\n" + "\n".join(wide)
