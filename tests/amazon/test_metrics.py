"""The store's metrics for Prometheus (``/operator/metrics``): its orders by state, with
the figures both sites share (tests/ups/test_metrics.py tests those and the access)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db


def test_the_store_counts_its_orders_by_state(client, django_user_model, place):
    place()
    place()
    operator = django_user_model.objects.create_user(
        "op", password="op-password-123", is_staff=True
    )
    client.force_login(operator)
    response = client.get("/operator/metrics")
    assert response.status_code == 200
    orders = {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if sample.name == "amazon_ups_objects" and sample.labels["what"] == "orders"
    }
    assert orders["placed"] == 2 and orders["delivered"] == 0
    assert sum(orders.values()) == 2
