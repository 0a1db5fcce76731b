"""``__in`` as one array parameter on PostgreSQL (common/backends/postgresql/lookups.py):
the rows found are Django's, on both databases; on PostgreSQL a list of any length is
one statement, which psycopg can prepare."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from amazon_ups.amazon.catalog.models import Product, Stock, Warehouse

pytestmark = pytest.mark.django_db

POSTGRES = connection.vendor == "postgresql"


@pytest.fixture
def shelves(catalog):
    for warehouse_id in (1, 2):
        for product_id in (1, 2, 3):
            Stock.objects.create(
                warehouse_id=warehouse_id, product_id=product_id, on_hand=product_id
            )


def names(products) -> list[str]:
    return sorted(products.values_list("name", flat=True))


def test_the_rows_found_are_djangos_whatever_the_list(shelves):
    assert names(Product.objects.filter(id__in=[1, 3])) == ["Kettle", "Mug"]
    assert names(Product.objects.filter(id__in=[3])) == ["Mug"]
    # Repeats and None (never equal to anything) change nothing; a set or a generator
    # is a list too.
    assert names(Product.objects.filter(id__in=[2, 2, None, 3])) == ["Mug", "Teapot"]
    assert names(Product.objects.filter(id__in={1, 2})) == ["Kettle", "Teapot"]
    assert names(Product.objects.filter(id__in=(n for n in (1, 99)))) == ["Kettle"]
    assert names(Product.objects.exclude(id__in=[1, 2])) == ["Mug"]
    # Nothing to match: no query at all, as in Django.
    with CaptureQueriesContext(connection) as queries:
        assert names(Product.objects.filter(id__in=[])) == []
        assert names(Product.objects.filter(id__in=[None])) == []
    assert len(queries) == 0
    # Strings, and values as the field takes them ("2" for an integer column).
    assert names(Product.objects.filter(name__in=["Mug", "Kettle", "Pan"])) == ["Kettle", "Mug"]
    assert names(Product.objects.filter(id__in=["2"])) == ["Teapot"]


def test_a_foreign_key_takes_ids_or_rows_and_a_subquery_stays_one(shelves):
    north = Warehouse.objects.get(id=1)
    stock = Stock.objects.filter(warehouse__in=[north], product_id__in=[2, 3])
    assert sorted(stock.values_list("product_id", "on_hand")) == [(2, 2), (3, 3)]
    stock = Stock.objects.filter(product__in=Product.objects.filter(name="Mug"))
    assert sorted(stock.values_list("warehouse_id", flat=True)) == [1, 2]
    # An expression among the values: Django's own IN, on both databases.
    from django.db.models import Value

    assert names(Product.objects.filter(id__in=[Value(2), 3])) == ["Mug", "Teapot"]


@pytest.mark.skipif(not POSTGRES, reason="the array is PostgreSQL's; SQLite keeps IN")
def test_on_postgresql_a_list_of_any_length_is_one_statement(shelves):
    statements: list[str] = []  # as sent: placeholders, not values

    def sent(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(sent):
        for ids in ([1], [1, 2], [1, 2, 3]):
            list(Product.objects.filter(id__in=ids))
            list(Stock.objects.filter(product_id__in=ids, warehouse__in=[1, 2]))
        Product.objects.filter(id__in=[1, 2]).update(listed=True)
    assert all(" IN (" not in sql for sql in statements), statements
    assert len({sql for sql in statements if "catalog_stock" in sql}) == 1, statements
    assert '"catalog_product"."id" = ANY(' in statements[0]
