"""Operators: the status page of each site shows its daemon's links up, in a browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from amazon_ups.testing.system import wait_until

PASSWORD = "operator-password-123"


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
