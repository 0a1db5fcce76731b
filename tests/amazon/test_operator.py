"""The operators' page: staff only; shows links and what waits for an ack."""

from __future__ import annotations

import datetime
import time

import pytest
from django.db import transaction
from django.utils import timezone

from amazon_ups.amazon.orders.models import Order
from amazon_ups.common.mail.models import MAX_ATTEMPTS, OutgoingEmail
from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import LinkState, OutgoingMessage
from amazon_ups.protocol import au_pb2


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user("op", password="op-password-123", is_staff=True)


@pytest.fixture
def traffic(db):
    with transaction.atomic():
        messaging.set_link_state("world:5", True, "connected")
        messaging.set_link_state("ups", False, "closed by the peer")
        for number in (11, 12):
            messaging.send("ups", "accounts", au_pb2.AccountCheck(ups_account=number))
        acked = messaging.send("ups", "accounts", au_pb2.AccountCheck(ups_account=13))
        messaging.acknowledge("ups", [acked.seqnum])
        messaging.put_setting("world_id", 5)


@pytest.mark.parametrize("path", ["/operator/", "/operator/status.json"])
def test_anonymous_and_shoppers_are_sent_to_the_admin_login(client, django_user_model, path):
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(django_user_model.objects.create_user("shopper", password="pw-1"))
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_see_links_and_unacked_messages(client, staff, traffic):
    client.force_login(staff)
    page = client.get("/operator/").content.decode()
    assert 'data-peer="world:5" data-connected="true"' in page
    assert 'data-peer="ups" data-connected="false"' in page
    assert "closed by the peer" in page
    assert 'data-peer="ups" data-count="2"' in page

    status = client.get("/operator/status.json").json()
    assert {link["peer"]: link["connected"] for link in status["links"]} == {
        "ups": False,
        "world:5": True,
    }
    assert [(row["peer"], row["count"]) for row in status["unacked"]] == [("ups", 2)]
    assert status["settings"] == {"world_id": "5"}
    assert status["emails_waiting"] == 0


def test_staff_see_orders_waiting_far_longer_than_usual(client, staff, place, settings):
    waiting, moving = place(), place()
    long_ago = timezone.now() - datetime.timedelta(seconds=settings.STUCK_AFTER + 60)
    Order.objects.filter(id=waiting.id).update(status_changed_at=long_ago)
    client.force_login(staff)

    stuck = client.get("/operator/status.json").json()["stuck"]
    assert stuck["count"] == 1
    [item] = stuck["items"]
    assert (item["what"], item["status"]) == (f"order {waiting.id}", "placed")
    assert item["waiting_for"] == "stock, or the daemon to take it in"
    assert item["waiting_seconds"] >= settings.STUCK_AFTER + 60
    page = client.get("/operator/").content.decode()
    assert 'id="stuck-count" data-count="1"' in page and f"order {waiting.id}" in page
    assert f"order {moving.id}<" not in page


def test_nothing_waiting_too_long_says_so(client, staff):
    client.force_login(staff)
    assert client.get("/operator/status.json").json()["stuck"] == {"count": 0, "items": []}
    assert "Nothing: everything is moving." in client.get("/operator/").content.decode()


def test_staff_see_connections_that_failed_to_prove_themselves(client, staff, traffic):
    with transaction.atomic():
        messaging.record_refusals("ups", 3, "handshake with 10.0.0.7:34567 failed: wrong proof")
        messaging.record_refusals("ups", 2, "handshake with 10.0.0.7:34567 failed: refused")
    client.force_login(staff)
    page = client.get("/operator/").content.decode()
    assert '<span class="bad">5</span>: handshake with 10.0.0.7:34567 failed: refused' in page
    [ups] = [
        link
        for link in client.get("/operator/status.json").json()["links"]
        if link["peer"] == "ups"
    ]
    assert ups["refused"] == 5
    assert ups["last_refusal"].endswith("refused")
    assert ups["last_refusal_at"] is not None
    [world] = [
        link
        for link in client.get("/operator/status.json").json()["links"]
        if link["peer"] == "world:5"
    ]
    assert world["refused"] == 0


# -- the dashboard: counts by state, much longer than usual, silent peers -------------------


def _history(order, placed_for: float, ago: float) -> None:
    """``order`` was placed ``ago`` s ago and stayed placed ``placed_for`` s."""
    start = timezone.now() - datetime.timedelta(seconds=ago)
    order.events.all().delete()
    order.events.create(kind="placed", status="placed", at=start)
    order.events.create(
        kind="packing", status="packing", at=start + datetime.timedelta(seconds=placed_for)
    )
    Order.objects.filter(id=order.id).update(
        status="delivered", status_changed_at=start + datetime.timedelta(seconds=placed_for)
    )


def _waiting(order, seconds: float) -> None:
    Order.objects.filter(id=order.id).update(
        status="placed", status_changed_at=timezone.now() - datetime.timedelta(seconds=seconds)
    )


def test_the_dashboard_counts_orders_by_state(client, staff, place):
    for _ in range(3):
        place()
    _history(place(), placed_for=4, ago=100)
    client.force_login(staff)
    [orders] = client.get("/operator/status.json").json()["dashboard"]["counts"]
    counts = {row["state"]: row["count"] for row in orders["states"]}
    assert orders["what"] == "orders"
    assert counts["placed"] == 3 and counts["delivered"] == 1 and counts["failed"] == 0
    page = client.get("/operator/").content.decode()
    assert '<tr data-state="placed" data-count="3">' in page


def test_an_order_much_longer_than_usual_in_its_state_is_listed_with_a_link(client, staff, place):
    # Orders usually leave "placed" within 4 s: the floor (30 s) is the limit.
    for _ in range(5):
        _history(place(), placed_for=4, ago=300)
    slow, fine = place(), place()
    _waiting(slow, 45)
    _waiting(fine, 20)
    client.force_login(staff)
    dashboard = client.get("/operator/status.json").json()["dashboard"]
    assert dashboard["usual"]["placed"] == {"limit": 30.0, "p95": 4.0, "samples": 5}
    assert dashboard["slow"]["count"] == 1
    [item] = dashboard["slow"]["items"]
    assert item["what"] == f"order {slow.id}"
    assert item["url"] == f"/admin/orders/order/{slow.id}/change/"
    assert item["usual_seconds"] == 4.0
    page = client.get("/operator/").content.decode()
    assert f'<a href="/admin/orders/order/{slow.id}/change/">order {slow.id}</a>' in page
    assert "45 s" in page


def test_usual_is_learnt_from_recent_orders(client, staff, place):
    # Here orders usually stay placed for 60 s: 45 s is nothing unusual, 150 s is.
    for _ in range(5):
        _history(place(), placed_for=60, ago=300)
    patient, slow = place(), place()
    _waiting(patient, 45)
    _waiting(slow, 150)
    client.force_login(staff)
    dashboard = client.get("/operator/status.json").json()["dashboard"]
    assert dashboard["usual"]["placed"]["limit"] == 120.0
    assert [item["what"] for item in dashboard["slow"]["items"]] == [f"order {slow.id}"]


def _quiet(peer: str, seconds: float) -> None:
    with transaction.atomic():
        messaging.record_heard(peer, time.time() - seconds)
    LinkState.objects.filter(peer=peer).update(
        changed_at=timezone.now() - datetime.timedelta(seconds=seconds)
    )


def _links(client) -> dict:
    return {link["peer"]: link for link in client.get("/operator/status.json").json()["links"]}


def test_a_peer_that_keeps_the_link_alive_is_silent_after_a_few_missed_beats(client, staff):
    with transaction.atomic():
        messaging.set_link_state("ups", True, "connected", keepalive=3.0)
    client.force_login(staff)
    _quiet("ups", 2)
    assert _links(client)["ups"]["silent"] is False
    _quiet("ups", 40)  # its socket is open, but it has said nothing for 40 s
    ups = _links(client)["ups"]
    assert ups["connected"] is True and ups["silent"] is True
    assert ups["quiet_seconds"] >= 40
    page = client.get("/operator/").content.decode()
    assert 'data-peer="ups" data-connected="true" data-silent="true"' in page
    assert '<span class="bad">silent</span>' in page


def test_a_peer_that_may_idle_is_silent_only_while_our_messages_wait_for_it(client, staff):
    with transaction.atomic():
        messaging.set_link_state("world:5", True, "connected")
    _quiet("world:5", 60)
    client.force_login(staff)
    assert _links(client)["world:5"]["silent"] is False  # idle: nothing to say
    with transaction.atomic():
        messaging.send("world:5", "buy", au_pb2.AccountCheck(ups_account=1))
    OutgoingMessage.objects.update(created_at=timezone.now() - datetime.timedelta(seconds=30))
    assert _links(client)["world:5"]["silent"] is True


def test_a_link_down_is_down_not_silent(client, staff):
    with transaction.atomic():
        messaging.set_link_state("ups", False, "closed by the peer", keepalive=3.0)
    _quiet("ups", 60)
    client.force_login(staff)
    assert _links(client)["ups"]["silent"] is False
    assert '<span class="bad">down</span>' in client.get("/operator/").content.decode()


def test_staff_see_emails_being_tried_apart_from_those_given_up(client, staff):
    mail = {"to": "a@example.com", "subject": "s", "body": "b"}
    OutgoingEmail.objects.create(ref="trying", attempts=1, **mail)
    OutgoingEmail.objects.create(ref="given-up", attempts=MAX_ATTEMPTS, **mail)
    client.force_login(staff)
    status = client.get("/operator/status.json").json()
    assert (status["emails_waiting"], status["emails_given_up"]) == (1, 1)
    page = client.get("/operator/").content.decode()
    assert '<span id="emails-waiting">1</span> being tried' in page
    assert f"{MAX_ATTEMPTS} (given up)" in page
