"""What operators see of dead letters: the count and the newest on ``/operator/`` and in
``status.json``, the admin's list and detail (with the traceback), and the Retry and
Discard actions, which only mark the rows for the daemon."""

from __future__ import annotations

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import DeadLetter
from amazon_ups.protocol import au_pb2
from amazon_ups.ups.shipments.models import Package, Truck
from tests.ups.helpers import pickup

CHANGELIST = "/admin/messaging/deadletter/"


def failure() -> Exception:
    """A real exception, raised and caught, with its traceback."""
    try:
        {}["truck"]  # type: ignore[index]  # a KeyError: the point
    except KeyError as error:
        return error
    raise AssertionError("unreachable")


@pytest.fixture
def letters(db) -> tuple[DeadLetter, DeadLetter]:
    with transaction.atomic():
        message = messaging.set_aside_message(
            peer="amazon",
            field="pickups",
            message=au_pb2.PickupRequest(
                seqnum=7,
                package_id=13,
                warehouse=au_pb2.Warehouse(id=1, x=10, y=10),
                dest_x=3,
                dest_y=4,
            ),
            error=failure(),
        )
        assert message is not None  # the message's first receipt
        work = messaging.set_aside_work(
            what="serve waiting packages", ref="truck:3", error=failure()
        )
    return message, work


@pytest.fixture
def operator(client, django_user_model):
    user = django_user_model.objects.create_superuser("op", "op@example.com", "op-password-123")
    client.force_login(user)
    return client


def test_the_operator_page_counts_dead_letters_and_says_what_to_do(operator, letters):
    page = operator.get("/operator/").content.decode()
    assert 'id="dead-letters-open" data-count="2"' in page
    assert "pickups #7 from amazon" in page and "serve waiting packages truck:3" in page
    assert "KeyError: &#x27;truck&#x27;" in page
    assert "fix the cause" in page and "<em>Retry</em>" in page
    assert CHANGELIST in page

    status = operator.get("/operator/status.json").json()["dead_letters"]
    assert status["open"] == 2
    newest = {row["subject"]: row for row in status["newest"]}
    assert set(newest) == {"pickups #7 from amazon", "serve waiting packages truck:3"}
    row = newest["pickups #7 from amazon"]
    assert (row["kind"], row["peer"], row["field"], row["seqnum"]) == (
        "message",
        "amazon",
        "pickups",
        7,
    )
    assert row["error"] == "KeyError: 'truck'"
    assert row["state"] == DeadLetter.State.OPEN and row["age_seconds"] >= 0
    assert newest["serve waiting packages truck:3"]["ref"] == "truck:3"


def test_nothing_set_aside_says_so(operator, db):
    page = operator.get("/operator/").content.decode()
    assert 'data-count="0"' in page and "every message received" in page
    assert operator.get("/operator/status.json").json()["dead_letters"] == {"open": 0, "newest": []}


def test_the_admin_lists_them_and_shows_the_traceback_and_the_message(operator, letters):
    message, _ = letters
    listing = operator.get(CHANGELIST).content.decode()
    assert "pickups #7 from amazon" in listing and "truck:3" in listing
    assert "KeyError: &#x27;truck&#x27;" in listing and " ago" in listing

    detail = operator.get(f"{CHANGELIST}{message.id}/change/").content.decode()
    assert "Traceback (most recent call last)" in detail and "in failure" in detail
    assert "package_id: 13" in detail  # the sub-message, readable
    assert 'name="_save"' not in detail  # read-only: retrying is the one change


def test_retry_and_discard_only_mark_the_rows_for_the_daemon(operator, letters):
    message, work = letters
    response = operator.post(
        CHANGELIST, {"action": "retry", "_selected_action": [message.id]}, follow=True
    )
    assert "will be retried by the daemon on its next turn" in response.content.decode()
    message.refresh_from_db()
    assert message.state == DeadLetter.State.RETRY and message.retry_requested_at is not None
    assert operator.get("/operator/status.json").json()["dead_letters"]["open"] == 2

    operator.post(CHANGELIST, {"action": "discard", "_selected_action": [work.id]})
    work.refresh_from_db()
    assert work.state == DeadLetter.State.DISCARDED
    assert operator.get("/operator/status.json").json()["dead_letters"]["open"] == 1


def test_staff_without_the_change_permission_cannot_retry(client, django_user_model, letters):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user(
        "viewer", password="a-long-password-9", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_deadletter"))
    client.force_login(viewer)
    message, _ = letters
    assert "pickups #7 from amazon" in client.get(CHANGELIST).content.decode()
    client.post(CHANGELIST, {"action": "retry", "_selected_action": [message.id]})
    message.refresh_from_db()
    assert message.state == DeadLetter.State.OPEN


def test_packages_and_trucks_waiting_far_longer_than_usual_are_listed(operator, fleet, settings):
    pickup(5)
    pickup(6)
    long_ago = timezone.now() - datetime.timedelta(seconds=settings.STUCK_AFTER + 60)
    Package.objects.filter(id=5).update(status_changed_at=long_ago)
    Truck.objects.filter(id=1).update(status_changed_at=long_ago)

    stuck = operator.get("/operator/status.json").json()["stuck"]
    assert stuck["count"] == 2
    assert {(item["what"], item["status"]) for item in stuck["items"]} == {
        ("package 5, truck 1", "truck dispatched"),
        ("truck 1", "traveling"),
    }
    page = operator.get("/operator/").content.decode()
    assert 'id="stuck-count" data-count="2"' in page
    assert "its truck to arrive at the warehouse" in page
