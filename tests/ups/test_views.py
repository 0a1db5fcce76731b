"""The carrier's pages: the shipment list and tracking a package by number."""

from __future__ import annotations

import re

import pytest

from amazon_ups.common.messaging import services as messaging
from amazon_ups.ups.shipments import services
from amazon_ups.ups.shipments.models import PackageStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipments():
    """Package 5 delivered by truck 1; package 6 waiting for its truck at warehouse 2."""
    messaging.put_setting("world_id", 1)
    services.fleet_reset([(1, 0, 0), (2, 100, 0)])
    for package_id, warehouse in ((5, (1, 10, 0)), (6, (2, 90, 0))):
        services.pickup_request(
            seqnum=package_id,
            package_id=package_id,
            warehouse_id=warehouse[0],
            warehouse_x=warehouse[1],
            warehouse_y=warehouse[2],
            dest_x=20,
            dest_y=-20,
            items=[services.Item(7, "Kettle <b>", 2)],
        )
    services.truck_arrived(1, 10, 0)
    services.package_loaded(5, 1)
    services.package_delivered(1, 5)


def statuses(page: str) -> dict[str, str]:
    spans = re.findall(r'<span class="package-status[^"]*"([^>]*)>', page)
    found = {}
    for attributes in spans:
        package = re.search(r'data-package="(\d+)"', attributes)[1]
        found[package] = re.search(r'data-status="([^"]*)"', attributes)[1]
    return found


def test_the_list_shows_each_package_with_its_status(client, shipments):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert statuses(page) == {"5": "delivered", "6": PackageStatus.TRUCK_DISPATCHED}
    assert 'href="/packages/5/"' in page
    assert 'data-truck="2" data-status="traveling"' in page


def test_the_list_says_when_there_is_nothing_yet(client):
    page = client.get("/").content.decode()
    assert "No shipments yet" in page
    assert statuses(page) == {}


def test_a_package_page_shows_status_contents_and_history(client, shipments):
    page = client.get("/packages/5/").content.decode()
    assert statuses(page) == {"5": "delivered"}
    assert "2 \u00d7 Kettle &lt;b&gt;" in page  # escaped
    kinds = re.findall(r'data-kind="([^"]+)"', page)
    assert kinds == ["created", "truck dispatched", "truck at warehouse", "loaded", "delivered"]
    assert "at (20, -20)" in page


def test_an_unknown_package_is_not_found(client, shipments):
    assert client.get("/packages/999/").status_code == 404
    assert client.get(f"/packages/{2**70}/").status_code == 404


def test_tracking_by_number_leads_to_the_package(client, shipments):
    response = client.get("/track/", {"number": " 6 "})
    assert response.status_code == 302
    assert response["Location"] == "/packages/6/"


@pytest.mark.parametrize("number", ["999", "abc", "-5", str(2**70)])
def test_tracking_a_wrong_number_says_so(client, shipments, number):
    response = client.get("/track/", {"number": number})
    assert response.status_code == 404
    assert "No package has the tracking number" in response.content.decode()


def test_the_stylesheet_is_served_by_the_app(client):
    page = client.get("/").content.decode()
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', page)[1]
    assert href == "/static/shipments/ups.css"
    response = client.get(href)
    assert response.status_code == 200
    assert b"package-status" in b"".join(response.streaming_content)


@pytest.mark.parametrize("model", ["package", "truck", "warehouse", "account"])
def test_the_admin_lists_the_carriers_records(admin_client, shipments, model):
    assert admin_client.get(f"/admin/shipments/{model}/").status_code == 200


def test_the_admin_shows_a_package_read_only(admin_client, shipments):
    page = admin_client.get("/admin/shipments/package/5/change/").content.decode()
    assert "Kettle &lt;b&gt;" in page
    assert 'name="status"' not in page
