"""Reading the one row a unique key names."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import QuerySet

Row = TypeVar("Row")


def one_or_none(rows: QuerySet[Any, Row]) -> Row | None:
    """The row ``rows`` finds by a unique key (a primary key, a unique field), or None.

    ``first()`` finds it too, but orders by the primary key and limits to one, and
    Django compiles that anew on every call: for a row read on every page or every
    message, a third of the query's cost in the process (0.54 against 0.31 ms for the
    catalog's version, on this machine). A key that finds several rows is a mistake of
    ours: ``MultipleObjectsReturned``."""
    try:
        return rows.get()
    except rows.model.DoesNotExist:
        return None
