"""The live map: its page, and what /map.json shows to whom."""

# Fixtures are shared by importing them from test_views (tests/ups/conftest.py is not
# this suite's to grow), which ruff takes for redefinitions.
from __future__ import annotations

import pytest

from amazon_ups.ups.shipments.models import Package
from tests.ups.helpers import arrive, login, make_user, number_of, pickup

pytestmark = pytest.mark.django_db


@pytest.fixture
def packages(fleet, alice, bob):
    pickup(5, alice, dest=(1, 2))
    pickup(6, bob, dest=(3, 4))
    pickup(7, dest=(5, 6))  # nobody's


def ids(data: dict) -> set[int]:
    by_number = dict(Package.objects.values_list("tracking_number", "id"))
    return {by_number[p["tracking_number"]] for p in data["packages"]}


def test_the_map_page_polls_the_json(client):
    page = client.get("/map/").content.decode()
    assert 'data-source="/map.json"' in page
    assert '<svg id="map"' in page and 'role="img"' in page
    assert 'data-truck-status="delivering"' in page  # the legend


def test_anonymous_users_see_trucks_and_warehouses_only(client, packages):
    response = client.get("/map.json")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    data = response.json()
    assert data["role"] == "anonymous"
    assert {t["id"] for t in data["trucks"]} == {1, 2}
    assert data["trucks"][0].keys() == {"id", "x", "y", "status", "label"}
    assert data["warehouses"] == [{"id": 1, "x": 10, "y": 0}]
    assert data["packages"] == []


def test_a_user_sees_their_own_packages_destinations(client, packages, alice):
    login(client, alice)
    data = client.get("/map.json").json()
    assert data["role"] == "user"
    assert data["packages"] == [
        {
            "tracking_number": number_of(5),
            "x": 1,
            "y": 2,
            "status": "truck dispatched",
            "truck": 1,
        }
    ]
    assert len(data["trucks"]) == 2


def test_staff_see_every_package_on_its_way(client, packages, django_user_model):
    login(client, make_user(django_user_model, "operator", staff=True))
    data = client.get("/map.json").json()
    assert data["role"] == "staff"
    assert ids(data) == {5, 6, 7}


def test_the_map_follows_the_trucks(client, packages):
    before = {
        t["id"]: (t["x"], t["y"], t["status"]) for t in client.get("/map.json").json()["trucks"]
    }
    arrive(1, 10, 0)
    after = {
        t["id"]: (t["x"], t["y"], t["status"]) for t in client.get("/map.json").json()["trucks"]
    }
    assert before[1] != after[1] == (10, 0, "arrive warehouse")
