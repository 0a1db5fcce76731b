"""How each process connects to PostgreSQL (common/settings.databases)."""

from __future__ import annotations

import pytest
from django.db import connection

from amazon_ups.amazon.catalog.models import Product
from amazon_ups.common import settings as settings_module

URL = "postgres://store@db.internal:5432/store"


@pytest.mark.django_db
def test_a_statement_run_again_and_again_is_prepared_once(catalog):
    """PostgreSQL plans it once per connection, not on every run: Django leaves
    psycopg's preparing off unless its options turn it on."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    for product_id in range(settings_module.PREPARE_THRESHOLD + 1):
        list(Product.objects.filter(id=product_id).values_list("name", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%"catalog_product"."name"%'],
        )
        assert cursor.fetchone() == (1,)


@pytest.mark.parametrize(
    ("query", "threshold"),
    [("", settings_module.PREPARE_THRESHOLD), ("?prepare_threshold=0", 0)]
    + [(f"?prepare_threshold={none}", None) for none in ("none", "None")],
)
def test_the_url_may_change_or_turn_off_preparing(monkeypatch, query, threshold):
    """Off behind a pooler that cannot keep a session's prepared statements."""
    monkeypatch.setenv("DATABASE_URL", URL + query)
    options = settings_module.databases("amazon")["default"]["OPTIONS"]
    assert options["prepare_threshold"] == threshold
    assert options["server_side_binding"] is True


def test_a_postgresql_url_gets_the_backend_whose_health_check_costs_no_round_trip(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", URL)
    default = settings_module.databases("amazon")["default"]
    assert default["ENGINE"] == "amazon_ups.common.backends.postgresql"
    assert default["CONN_HEALTH_CHECKS"] is True
