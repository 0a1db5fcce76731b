"""The carrier's pages: home, tracking by number (anyone), My packages and a package's
page (its owner only), the frame and its stylesheet, the admin."""

from __future__ import annotations

import re

import pytest

from amazon_ups.ups.shipments import services
from tests.ups.helpers import (
    EVENTS_WHEN_ALL_GOES_WELL,
    arrive,
    finish,
    login,
    out_for_delivery,
    pickup,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipments(fleet, alice):
    """Alice's package 5 delivered by truck 1; package 6 (nobody's) waiting for its truck
    at warehouse 2."""
    pickup(5, alice)
    pickup(6, warehouse=(2, 90, 0))
    arrive(1, 10, 0)
    out_for_delivery(5)
    services.package_delivered(1, 5)


def statuses(page: str) -> dict[str, str]:
    spans = re.findall(r'<span class="package-status[^"]*"([^>]*)>', page)
    found = {}
    for attributes in spans:
        package = re.search(r'data-package="(\d+)"', attributes)[1]
        found[package] = re.search(r'data-status="([^"]*)"', attributes)[1]
    return found


def timeline(page: str) -> list[str]:
    return re.findall(r'data-kind="([^"]+)"', page)


# -- the frame -----------------------------------------------------------------------


def test_the_home_page_offers_tracking_and_sign_up(client):
    page = client.get("/").content.decode()
    assert 'action="/track/"' in page
    assert 'href="/accounts/signup/"' in page and 'href="/accounts/login/"' in page
    assert '<meta name="viewport"' in page
    for link in ("/track/", "/packages/", "/map/"):
        assert f'href="{link}"' in page


def test_a_signed_in_user_sees_profile_and_log_out(client, alice):
    login(client, alice)
    page = client.get("/").content.decode()
    assert 'href="/accounts/profile/"' in page
    assert 'action="/accounts/logout/"' in page and "csrfmiddlewaretoken" in page
    assert 'href="/accounts/login/"' not in page


def test_the_stylesheet_and_script_are_served_by_the_app(client):
    page = client.get("/").content.decode()
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', page)[1]
    assert href == "/static/ups/ups.css"
    response = client.get(href)
    assert response.status_code == 200
    assert b"package-status" in b"".join(response.streaming_content)
    script = re.search(r'<script src="([^"]+)"', client.get("/map/").content.decode())[1]
    assert client.get(script).status_code == 200


# -- tracking, for anyone ------------------------------------------------------------


def test_tracking_shows_status_and_timeline_in_plain_words(client, shipments):
    response = client.get("/track/", {"number": " 5 "})
    assert response.status_code == 200
    page = response.content.decode()
    assert statuses(page) == {"5": "delivered"}
    assert timeline(page) == EVENTS_WHEN_ALL_GOES_WELL
    assert "Label created" in page
    assert "Picked up at warehouse 1 (10, 0)" in page
    assert "Out for delivery" in page
    assert "Delivered at (20, -20)" in page
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT', page)


def test_anonymous_tracking_hides_the_contents_and_the_owner(client, shipments, alice):
    page = client.get("/track/", {"number": "5"}).content.decode()
    assert "Kettle" not in page
    assert "alice" not in page and str(alice.number) not in page
    assert "/packages/5/" not in page


def test_the_owner_tracking_gets_a_link_to_the_details(client, shipments, alice):
    login(client, alice)
    assert 'href="/packages/5/"' in client.get("/track/", {"number": "5"}).content.decode()


@pytest.mark.parametrize("number", ["999", "abc", "-5", "5.0", "0x5", str(2**70), "9" * 40])
def test_tracking_a_wrong_number_says_so(client, shipments, number):
    response = client.get("/track/", {"number": number})
    assert response.status_code == 404
    page = response.content.decode()
    assert "No package has the tracking number" in page
    assert 'role="alert"' in page
    assert statuses(page) == {}


def test_the_tracking_page_without_a_number_asks_for_one(client):
    response = client.get("/track/")
    assert response.status_code == 200
    assert "Enter the tracking number" in response.content.decode()


# -- my packages -------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/packages/", "/packages/5/", "/accounts/profile/"])
def test_anonymous_users_are_sent_to_log_in(client, shipments, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_my_packages_lists_only_mine(client, shipments, alice, bob):
    pickup(7, bob)
    login(client, alice)
    page = client.get("/packages/").content.decode()
    assert statuses(page) == {"5": "delivered"}
    assert str(alice.number) in page


def test_my_packages_says_when_there_are_none(client, fleet, bob):
    login(client, bob)
    page = client.get("/packages/").content.decode()
    assert "No packages yet" in page and str(bob.number) in page


@pytest.mark.parametrize(
    "query, shown",
    [
        ({}, {"5", "8", "9"}),
        ({"state": "in_transit"}, {"8", "9"}),
        ({"state": "delivered"}, {"5"}),
        ({"status": "truck at warehouse"}, {"8"}),
        ({"q": "9"}, {"9"}),
        ({"q": " 8 "}, {"8"}),
        ({"q": "12345"}, set()),
    ],
)
def test_my_packages_filters(client, shipments, alice, query, shown):
    pickup(8, alice)
    pickup(9, alice, warehouse=(2, 90, 0))
    finish(1, 20, -20)  # truck 1 delivered package 5: it is free for package 8
    services.serve_waiting()
    arrive(1, 10, 0)
    login(client, alice)
    page = client.get("/packages/", query).content.decode()
    assert set(statuses(page)) == shown
    if not shown:
        assert "No package matches these filters" in page


@pytest.mark.parametrize("query", [{"q": "abc"}, {"status": "teleported"}, {"state": "lost"}])
def test_bad_filters_are_explained_not_crashed_on(client, shipments, alice, query):
    login(client, alice)
    response = client.get("/packages/", query)
    assert response.status_code == 200
    assert 'class="errorlist"' in response.content.decode()


def test_my_packages_are_paginated(client, fleet, alice):
    for package_id in range(100, 125):
        pickup(package_id, alice, dest=(package_id, 0))
    login(client, alice)
    first = client.get("/packages/").content.decode()
    second = client.get("/packages/", {"page": 2, "state": "in_transit"}).content.decode()
    assert len(statuses(first)) == 20 and len(statuses(second)) == 5
    assert "Page 1 of 2" in first
    assert 'href="?page=2"' in first
    assert 'href="?state=in_transit&amp;page=1"' in second
    assert set(statuses(first)).isdisjoint(statuses(second))
    assert client.get("/packages/", {"page": "zzz"}).status_code == 200


def test_a_package_page_shows_contents_origin_destination_and_history(client, shipments, alice):
    login(client, alice)
    page = client.get("/packages/5/").content.decode()
    assert statuses(page) == {"5": "delivered"}
    assert "2 \u00d7 Kettle &lt;b&gt;" in page  # escaped
    assert "warehouse 1 at (10, 0)" in page
    assert re.search(r'id="delivered-at">\(20, -20\)', page)
    assert timeline(page)[-1] == "delivered"
    assert 'action="/packages/5/redirect/"' not in page  # delivered: nothing to change


def test_another_users_package_is_not_found(client, shipments, bob):
    login(client, bob)
    assert client.get("/packages/5/").status_code == 404
    assert client.get("/packages/6/").status_code == 404  # nobody's
    assert client.get("/packages/999/").status_code == 404
    assert client.get(f"/packages/{2**70}/").status_code == 404


# -- admin ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["package", "truck", "warehouse", "account"])
def test_the_admin_lists_the_carriers_records(admin_client, shipments, model):
    assert admin_client.get(f"/admin/shipments/{model}/").status_code == 200


def test_the_admin_shows_a_package_read_only_with_items_and_events(admin_client, shipments):
    page = admin_client.get("/admin/shipments/package/5/change/").content.decode()
    assert "Kettle &lt;b&gt;" in page
    assert "out for delivery" in page
    assert 'name="status"' not in page


def test_the_admin_finds_packages_by_account_and_shows_accounts(admin_client, shipments, alice):
    page = admin_client.get("/admin/shipments/package/", {"q": alice.number}).content.decode()
    assert "/admin/shipments/package/5/change/" in page
    assert "/admin/shipments/package/6/change/" not in page
    account = admin_client.get(f"/admin/shipments/account/{alice.pk}/change/").content.decode()
    assert str(alice.number) in account and 'name="number"' not in account
    assert admin_client.get("/admin/shipments/truck/1/change/").status_code == 200
