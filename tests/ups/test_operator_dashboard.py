"""The carrier's operators' dashboard: packages and trucks by state, and what stays in a
waiting state much longer than usual, linked."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from amazon_ups.ups.shipments.models import Package, PackageEvent, Truck
from tests.ups.helpers import make_user, number_of, pickup


@pytest.fixture
def staff(db, django_user_model):
    return make_user(django_user_model, "op", staff=True)


def ago(seconds: float) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(seconds=seconds)


def test_packages_and_trucks_are_counted_by_state(client, staff, fleet):
    for package_id in (1, 2, 3):
        pickup(package_id)
    client.force_login(staff.user)
    counts = client.get("/operator/status.json").json()["dashboard"]["counts"]
    by_what = {group["what"]: {r["state"]: r["count"] for r in group["states"]} for group in counts}
    assert sum(by_what["packages"].values()) == 3
    assert sum(by_what["trucks"].values()) == Truck.objects.count() > 0
    page = client.get("/operator/").content.decode()
    assert 'id="counts-packages"' in page and 'id="counts-trucks"' in page


def test_a_package_much_longer_than_usual_is_listed_with_a_link_to_it(client, staff, fleet):
    # Five packages that left "created" after 10 s each: usual p95 10 s, limit 30 s.
    for package_id in (1, 2, 3, 4, 5, 7, 8):
        pickup(package_id)
    # Their histories as the test wants them, whatever dispatching did at once.
    PackageEvent.objects.all().delete()
    for package_id in range(1, 6):
        Package.objects.filter(id=package_id).update(
            created_at=ago(500), status="delivered", status_changed_at=ago(480)
        )
        PackageEvent.objects.create(package_id=package_id, kind="truck dispatched", at=ago(490))
        PackageEvent.objects.create(package_id=package_id, kind="delivered", at=ago(480))
    for package_id, waiting in ((7, 45), (8, 15)):
        Package.objects.filter(id=package_id).update(
            status="created", truck=None, status_changed_at=ago(waiting)
        )
    client.force_login(staff.user)
    dashboard = client.get("/operator/status.json").json()["dashboard"]
    assert dashboard["usual"]["created"] == {"limit": 30.0, "p95": 10.0, "samples": 5}
    slow = [item for item in dashboard["slow"]["items"] if item["what"].startswith("package")]
    assert [item["what"] for item in slow] == ["package 7, truck -"]
    assert slow[0]["url"] == f"/track/{number_of(7)}/"
    page = client.get("/operator/").content.decode()
    assert f'href="/track/{number_of(7)}/"' in page
