"""The carrier's live pages: a package's ``status.json`` (who sees what), the progress
strip, the redirect's confirmation, My packages' statuses, the links back to the store
and the absolute links in the carrier's emails."""

from __future__ import annotations

import json
import re

import pytest
from django.core import mail
from django.utils import timezone

from amazon_ups.common.mail.services import send_pending
from amazon_ups.ups.dispatch import services as dispatch
from amazon_ups.ups.shipments.models import Package
from tests.ups.helpers import (
    ack_all,
    arrive,
    login,
    make_user,
    number_of,
    out_for_delivery,
    page_of,
    pickup,
)

pytestmark = pytest.mark.django_db


def status_of(client, package_id: int):
    return client.get(page_of(package_id) + "status.json")


def exact_places(data: dict) -> list:
    """Every exact place of the destination the data names, wherever it is."""
    text = json.dumps(data)
    return re.findall(r"\(23, -17\)|\"x\": 23, \"y\": -17", text)


@pytest.fixture
def on_its_way(fleet, alice):
    """Alice's package 5 (to (23, -17), in the area from (20, -20)) out for delivery on
    truck 1."""
    pickup(5, alice, dest=(23, -17))
    arrive(1, 10, 0)
    out_for_delivery(5)


def test_anyone_with_the_number_gets_the_status_and_the_area_only(client, on_its_way):
    response = status_of(client, 5)
    assert response.status_code == 200
    assert (
        response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    )
    data = response.json()
    assert data["status"] == "out for delivery"
    assert "destination" not in data and "delivered_place" not in data
    assert data["map"]["packages"] == []
    assert data["map"]["areas"] == [{"x": 20, "y": -20, "size": 10}]
    assert data["redirect"] is None
    assert exact_places(data) == []
    assert data["estimate"]["text"]
    assert [s["reached"] for s in data["steps"]] == [True, True, True, False]

    dispatch.package_delivered(1, 5, now=timezone.now())
    data = status_of(client, 5).json()
    assert data["final"] and data["estimate"] is None and data["delivered"]["at"]
    # The truck now stands at the door: a stranger is not shown it.
    assert data["map"]["trucks"] == []
    assert exact_places(data) == []
    assert [s["reached"] for s in data["steps"]] == [True] * 4


def test_another_user_sees_what_a_stranger_sees(client, on_its_way, bob):
    login(client, bob)
    data = status_of(client, 5).json()
    assert "destination" not in data and data["redirect"] is None
    assert exact_places(data) == []


def test_the_owner_and_staff_see_the_exact_place(client, on_its_way, alice, django_user_model):
    login(client, alice)
    data = status_of(client, 5).json()
    assert data["destination"] == {"x": 23, "y": -17}
    assert data["map"]["packages"][0]["x"] == 23 and data["map"]["areas"] == []
    assert data["redirect"] == {"can": True, "pending": False, "confirmed": False}

    staff = make_user(django_user_model, "op", staff=True)
    login(client, staff)
    data = status_of(client, 5).json()
    assert data["destination"] == {"x": 23, "y": -17}
    assert data["redirect"] is None  # only the owner may send it elsewhere


@pytest.mark.parametrize("number", ["not-a-number", "MU4K7Q9XD2H8RTC6", "x" * 500])
def test_no_package_no_status_and_never_a_500(client, fleet, number):
    assert client.get(f"/track/{number}/status.json").status_code == 404


def test_the_status_is_read_only(client, on_its_way):
    assert client.post(page_of(5) + "status.json").status_code == 405


def test_a_redirect_on_the_truck_is_confirmed_when_the_world_takes_it(client, on_its_way, alice):
    login(client, alice)
    response = client.post(page_of(5) + "redirect/", {"x": 30, "y": 30})
    assert response.status_code == 302
    data = status_of(client, 5).json()
    assert data["redirect"] == {"can": True, "pending": True, "confirmed": False}
    page = client.get(page_of(5)).content.decode()
    assert re.search(r'<form id="redirect-form"[^>]* hidden>', page)
    assert re.search(r'<p id="redirect-pending">', page)

    ack_all()
    assert dispatch.redirects_settle(timezone.now()) == 1
    data = status_of(client, 5).json()
    assert data["redirect"] == {"can": True, "pending": False, "confirmed": True}
    assert data["events"][-1]["what"] == "The truck has confirmed the new address (30, 30)"
    page = client.get(page_of(5)).content.decode()
    assert re.search(r'<p id="redirect-confirmed" class="confirmed" role="status">', page)

    dispatch.package_delivered(1, 5, now=timezone.now())
    page = client.get(page_of(5)).content.decode()
    assert 'id="redirect-form"' not in page  # delivered: nothing to change


def test_the_pages_link_back_to_the_stores_orders(client, on_its_way, alice, settings):
    settings.AMAZON_PUBLIC_URL = "https://shop.example/"
    link = '<a id="store-orders-link" href="https://shop.example/orders/">'
    assert link in client.get(page_of(5)).content.decode()
    login(client, alice)
    assert link in client.get(page_of(5)).content.decode()


def test_my_packages_statuses_are_the_users_own_only(client, fleet, alice, bob):
    pickup(5, alice)
    pickup(6, bob)
    numbers = {"n": [number_of(5), number_of(6), "nonsense"]}
    assert client.get("/packages/status.json", numbers).status_code == 302  # log in first
    login(client, alice)
    data = client.get("/packages/status.json", numbers).json()
    assert data == {
        "packages": {
            number_of(5): {
                "status": "truck dispatched",
                "status_label": "Truck on its way to the warehouse",
            }
        }
    }


def test_the_carriers_emails_link_to_the_package_page(fleet, alice, settings):
    settings.UPS_PUBLIC_URL = "https://ups.example"
    pickup(5, alice)
    arrive(1, 10, 0)
    out_for_delivery(5)
    dispatch.package_delivered(1, 5, now=timezone.now())
    send_pending()
    out, delivered = mail.outbox
    link = f"https://ups.example/track/{number_of(5)}/"
    assert link in out.body and link in delivered.body
    assert Package.objects.get(id=5).status == "delivered"
