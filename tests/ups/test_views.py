"""The carrier's pages: home, tracking by number (anyone sees the status and areas; the
owner and staff everything), My packages, the frame and its stylesheet, the admin."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from amazon_ups.ups.dispatch import services as dispatch
from amazon_ups.ups.shipments import services, tracking
from amazon_ups.ups.shipments.models import Package
from tests.ups.helpers import (
    EVENTS_WHEN_ALL_GOES_WELL,
    arrive,
    finish,
    login,
    make_user,
    number_of,
    out_for_delivery,
    page_of,
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
    dispatch.package_delivered(1, 5, now=timezone.now())


def statuses(page: str) -> dict[int, str]:
    """The status shown for each package on the page, by package id (the page itself
    names them by tracking number)."""
    ids = dict(Package.objects.values_list("tracking_number", "id"))
    spans = re.findall(r'<span class="package-status[^"]*"([^>]*)>', page)
    found = {}
    for attributes in spans:
        number = re.search(r'data-package="([^"]+)"', attributes)
        status = re.search(r'data-status="([^"]*)"', attributes)
        assert number is not None and status is not None, attributes
        found[ids[number[1]]] = status[1]
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


def test_the_form_leads_to_the_packages_page_whatever_the_way_the_number_is_written(
    client, shipments
):
    number = number_of(5)
    for written in (number, f" {tracking.grouped(number).lower()} ", "-".join(number)):
        response = client.get("/track/", {"number": written})
        assert response.status_code == 302
        assert response["Location"] == f"/track/{number}/"


def test_a_page_written_with_spaces_or_lower_case_goes_to_its_one_address(client, shipments):
    number = number_of(5)
    # The store links to the number as UPS sent it: in groups.
    for written in (number.lower(), quote(tracking.grouped(number))):
        response = client.get(f"/track/{written}/")
        assert response.status_code == 302 and response["Location"] == f"/track/{number}/"


def test_tracking_shows_status_and_timeline_in_plain_words(client, shipments):
    response = client.get(page_of(5))
    assert response.status_code == 200
    page = response.content.decode()
    assert statuses(page) == {5: "delivered"}
    assert timeline(page) == EVENTS_WHEN_ALL_GOES_WELL
    assert tracking.grouped(number_of(5)) in page
    assert "Label created" in page
    assert "Picked up at warehouse 1 (10, 0)" in page  # warehouses are on the public map
    assert "Out for delivery" in page
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT', page)


def test_a_stranger_sees_the_area_not_the_place_nor_the_contents_nor_the_owner(
    client, shipments, alice
):
    page = client.get(page_of(5)).content.decode()
    assert "Delivered in the area x 20 to 29, y -20 to -11" in page
    assert 'id="area">the area x 20 to 29, y -20 to -11<' in page
    assert "(20, -20)" not in page and "20, -20" not in page
    assert "Kettle" not in page
    assert "alice" not in page and str(alice.number) not in page
    assert "truck 1" not in page.lower()  # the public map would show where it stops
    assert 'action="/track/' in page  # the form, not a redirect form
    assert "redirect/" not in page


def test_another_signed_in_user_is_a_stranger_too(client, shipments, bob):
    login(client, bob)
    page = client.get(page_of(5)).content.decode()
    assert "Kettle" not in page and "(20, -20)" not in page
    assert "the area x 20 to 29" in page


def test_a_redirect_is_shown_to_strangers_as_an_area(client, fleet, alice):
    pickup(5, alice, dest=(-3, 47))
    services.package_redirect(
        Package.objects.get(id=5), x=-31, y=7, by_user=alice.user, now=timezone.now()
    )
    page = client.get(page_of(5)).content.decode()
    assert "New delivery address in the area x -40 to -31, y 0 to 9" in page
    assert "-31, 7" not in page and "-3, 47" not in page and "instead of" not in page
    login(client, alice)
    assert "New delivery address: (-31, 7)" in client.get(page_of(5)).content.decode()


def test_the_owner_sees_everything_and_may_redirect(client, fleet, alice):
    pickup(5, alice)
    login(client, alice)
    page = client.get(page_of(5)).content.decode()
    assert "2 \u00d7 Kettle &lt;b&gt;" in page
    assert 'id="destination">(20, -20)<' in page
    assert f'action="{page_of(5)}redirect/"' in page


def test_staff_see_everything_but_may_not_redirect(client, shipments, django_user_model):
    login(client, make_user(django_user_model, "operator", staff=True))
    page = client.get(page_of(5)).content.decode()
    assert "Kettle" in page and 'id="delivered-at">(20, -20)<' in page
    page = client.get(page_of(6)).content.decode()
    assert "Kettle" in page and "redirect/" not in page


@pytest.mark.parametrize(
    "number",
    [
        "999",
        "5",
        "abc",
        "-5",
        "5.0",
        "0x5",
        str(2**70),
        "9" * 40,
        "\u0665",  # an Arabic-Indic five
        "MU" + "\u0664" * 14,
        "MU" + "\uff10" * 13 + "\uff11",  # full-width digits: read as digits, check fails
        "MU\U0001f4e6",
        "\x00",
        "x" * 100_000,
        "MUUUUUUUUUUUUUUU",
    ],
)
def test_what_is_no_tracking_number_is_said_to_be_none(client, shipments, number):
    response = client.get("/track/", {"number": number})
    assert response.status_code == 400
    page = response.content.decode()
    assert "is not a valid tracking number" in page
    assert "No package has" not in page
    assert 'role="alert"' in page
    assert statuses(page) == {}
    assert len(page) < 20_000  # a huge input is not echoed whole


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=120))
def test_no_text_typed_into_the_form_or_the_address_is_a_server_error(client, fleet, text):
    assert client.get("/track/", {"number": text}).status_code in (200, 302, 400, 404)
    path = quote(text, safe="")
    assert client.get(f"/track/{path}/").status_code in (302, 404)


def test_a_typo_is_caught_by_the_check_character_before_any_lookup(client, shipments):
    number = number_of(5)
    swapped = number[:-2] + number[-1] + number[-2]
    if swapped == number:  # the last two are the same: change one instead
        swapped = number[:-1] + ("0" if number[-1] != "0" else "1")
    response = client.get("/track/", {"number": swapped})
    assert response.status_code == 400
    page = response.content.decode()
    assert "is not a valid tracking number" in page and "two are swapped" in page


def test_a_valid_number_of_no_package_is_told_apart(client, shipments):
    unknown = tracking.new_number()
    response = client.get("/track/", {"number": unknown})
    assert response.status_code == 404
    page = response.content.decode()
    assert "No package has the tracking number" in page
    assert "not a valid" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/track/5/",
        "/track/MU4K7Q9XD2H8RTC6/",  # valid, nobody's
        "/track/MU4K7Q9XD2H8RTC7/",  # a typo
        "/track/%D9%A5/",
        "/track/%00/",
        f"/track/{'9' * 5000}/",
        "/packages/5/",  # sequential ids lead nowhere
        "/packages/5/redirect/",
    ],
)
def test_a_package_page_that_is_none_is_not_found(client, shipments, path):
    assert client.get(path).status_code == 404


def test_no_page_or_endpoint_tells_a_stranger_where_a_package_goes(client, fleet, alice):
    pickup(15, alice, dest=(1234, -5678))
    pickup(16, dest=(4321, -8765))  # nobody's
    arrive(1, 10, 0)
    urls = [
        "/",
        "/track/",
        page_of(15),
        page_of(16),
        f"/track/?number={number_of(15)}",
        "/packages/",
        "/map/",
        "/map.json",
        "/operator/",
        "/operator/status.json",
        "/healthz",
        "/admin/shipments/package/",
        "/admin/shipments/package/15/change/",
    ]
    for url in urls:
        response = client.get(url, follow=True)
        assert response.status_code < 500, url
        body = response.content.decode()
        assert "Kettle" not in body, url
        for secret in ("1234", "5678", "4321", "8765"):
            # A coordinate as a number of its own: not four digits inside another number
            # (a timestamp's microseconds, "20:04:47.876534", held "8765" once).
            assert not re.search(rf"(?<![\d.]){secret}(?!\d)", body), (url, secret)


def test_the_tracking_page_without_a_number_asks_for_one(client):
    response = client.get("/track/")
    assert response.status_code == 200
    assert "Enter the tracking number" in response.content.decode()


def test_numbers_are_unique_random_and_not_the_ids(fleet):
    for package_id in range(1, 41):
        pickup(package_id)
    numbers = dict(Package.objects.values_list("id", "tracking_number"))
    assert len(set(numbers.values())) == 40
    for number in numbers.values():
        assert tracking.parse(number) == number
    ordered = [numbers[package_id] for package_id in sorted(numbers)]
    assert ordered != sorted(ordered)


def test_the_database_refuses_a_number_twice(fleet):
    pickup(5)
    pickup(6)
    with pytest.raises(IntegrityError), transaction.atomic():
        Package.objects.filter(id=6).update(tracking_number=number_of(5))


# -- my packages -------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/packages/", "/accounts/profile/"])
def test_anonymous_users_are_sent_to_log_in(client, shipments, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_my_packages_lists_only_mine_by_tracking_number(client, shipments, alice, bob):
    pickup(7, bob)
    login(client, alice)
    page = client.get("/packages/").content.decode()
    assert statuses(page) == {5: "delivered"}
    assert str(alice.number) in page
    assert f'href="{page_of(5)}"' in page and tracking.grouped(number_of(5)) in page


def test_my_packages_says_when_there_are_none(client, fleet, bob):
    login(client, bob)
    page = client.get("/packages/").content.decode()
    assert "No packages yet" in page and str(bob.number) in page


@pytest.mark.parametrize(
    "query, shown",
    [
        ({}, {5, 8, 9}),
        ({"state": "in_transit"}, {8, 9}),
        ({"state": "delivered"}, {5}),
        ({"status": "truck at warehouse"}, {8}),
        ({"q": 9}, {9}),
        ({"q": 8}, {8}),
        ({"q": "unknown"}, set()),
    ],
)
def test_my_packages_filters(client, shipments, alice, query, shown):
    pickup(8, alice)
    pickup(9, alice, warehouse=(2, 90, 0))
    finish(1, 20, -20)  # truck 1 delivered package 5: it is free for package 8
    dispatch.serve_waiting(timezone.now())
    arrive(1, 10, 0)
    login(client, alice)
    if "q" in query:
        # The number as a person types it: lower case, in groups.
        number = number_of(query["q"]) if query["q"] != "unknown" else tracking.new_number()
        query = {"q": f" {tracking.grouped(number).lower()} "}
    page = client.get("/packages/", query).content.decode()
    assert set(statuses(page)) == shown
    if not shown:
        assert "No package matches these filters" in page


@pytest.mark.parametrize(
    "query",
    [{"q": "abc"}, {"q": "5"}, {"q": "\u0665"}, {"status": "teleported"}, {"state": "lost"}],
)
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
    page = client.get(page_of(5)).content.decode()
    assert statuses(page) == {5: "delivered"}
    assert "2 \u00d7 Kettle &lt;b&gt;" in page  # escaped
    assert "warehouse 1 at (10, 0)" in page
    assert re.search(r'id="delivered-at">\(20, -20\)', page)
    assert timeline(page)[-1] == "delivered"
    assert "redirect/" not in page  # delivered: nothing to change


# -- admin ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["shipments/package", "shipments/truck", "shipments/warehouse", "ups_accounts/account"]
)
def test_the_admin_lists_the_carriers_records(admin_client, shipments, model):
    assert admin_client.get(f"/admin/{model}/").status_code == 200


def test_the_admin_shows_a_package_read_only_with_items_and_events(admin_client, shipments):
    page = admin_client.get("/admin/shipments/package/5/change/").content.decode()
    assert "Kettle &lt;b&gt;" in page
    assert number_of(5) in page
    assert "out for delivery" in page
    assert 'name="status"' not in page


def test_the_admin_finds_a_package_by_its_tracking_number_as_read_out(admin_client, shipments):
    spoken = tracking.grouped(number_of(5)).lower()
    page = admin_client.get("/admin/shipments/package/", {"q": spoken}).content.decode()
    assert "/admin/shipments/package/5/change/" in page
    assert "/admin/shipments/package/6/change/" not in page


def test_the_admin_finds_packages_by_account_and_shows_accounts(admin_client, shipments, alice):
    page = admin_client.get("/admin/shipments/package/", {"q": alice.number}).content.decode()
    assert "/admin/shipments/package/5/change/" in page
    assert "/admin/shipments/package/6/change/" not in page
    account = admin_client.get(f"/admin/ups_accounts/account/{alice.pk}/change/").content.decode()
    assert str(alice.number) in account and 'name="number"' not in account
    assert admin_client.get("/admin/shipments/truck/1/change/").status_code == 200
