"""common.queries.one_or_none: the row a unique key names, without first()'s ordering."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from amazon_ups.amazon.catalog.models import Product
from amazon_ups.common.queries import one_or_none

pytestmark = pytest.mark.django_db


def test_the_row_a_key_names_or_none(catalog):
    with CaptureQueriesContext(connection) as queries:
        assert one_or_none(Product.objects.filter(id=2)).name == "Teapot"
        assert one_or_none(Product.objects.filter(id=99)) is None
        assert one_or_none(Product.objects.filter(id=3).values_list("name", flat=True)) == "Mug"
    # first() would order by the primary key, compiled anew each time.
    assert len(queries) == 3 and not any("ORDER BY" in q["sql"] for q in queries)


def test_a_key_that_finds_several_rows_is_our_mistake(catalog):
    with pytest.raises(Product.MultipleObjectsReturned):
        one_or_none(Product.objects.filter(id__in=[1, 2]))
