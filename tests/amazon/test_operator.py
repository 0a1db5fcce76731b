"""The operators' page: staff only; shows links and what waits for an ack."""

from __future__ import annotations

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from amazon_ups.amazon.orders.models import Order
from amazon_ups.common.messaging import services as messaging
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
