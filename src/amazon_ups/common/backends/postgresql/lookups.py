"""``__in`` on PostgreSQL as one array parameter: ``col = ANY(%s::bigint[])``.

Django writes ``col IN (%s, %s, ...)``, one placeholder per value, so each length of list
is a statement of its own. The daemons' batches read and write rows by lists of ids whose
length changes from turn to turn: the server parsed and planned most of those statements
anew each time (psycopg prepares a statement once it has seen it five times, which a
shape of its own per length seldom reaches), and the lengths seen crowded the statements
that recur out of psycopg's count of them. In a run of 500 orders, 44% of the Amazon
daemon's statements and 30% of UPS's went unprepared. With one array, a statement has
one shape whatever the length, is prepared like any other, and a plan of it serves every
batch.

``x IN (a, b)`` and ``x = ANY('{a, b}')`` are the same predicate (NULL on a NULL ``x``);
None is taken out of the list as Django's ``In`` does. Only columns of the plain types
below, and lists of plain values, are written this way; the rest (expressions in the
list, a subquery, a composite key, other types) stays Django's. Other databases are not
touched: Django calls ``as_postgresql`` on PostgreSQL only.
"""

from __future__ import annotations

import re

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, lookups
from django.db.models.expressions import ColPairs
from django.db.models.fields.related_lookups import RelatedIn
from django.utils.datastructures import OrderedSet

# Column types an array parameter is cast to as they are: integers and strings.
ARRAY_TYPES = re.compile(r"(smallint|integer|bigint|text|varchar\(\d+\))")


class In(lookups.In):
    """Django's ``in``, written on PostgreSQL as one array where the list allows."""

    def as_postgresql(self, compiler, connection):
        # A composite key (Django's tuples) or a subquery: Django's.
        if isinstance(self.lhs, ColPairs) or not self.rhs_is_direct_value():
            return self.as_sql(compiler, connection)
        db_type = self.lhs.output_field.db_type(connection) or ""
        if not ARRAY_TYPES.fullmatch(db_type):
            return self.as_sql(compiler, connection)
        try:
            values = OrderedSet(self.rhs)
            values.discard(None)
        except TypeError:  # unhashable values: Django's
            return self.as_sql(compiler, connection)
        if not values:
            raise EmptyResultSet
        sqls, params = self.batch_process_rhs(compiler, connection, values)
        if any(sql != "%s" for sql in sqls) or len(params) != len(values):
            return self.as_sql(compiler, connection)  # expressions among the values
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs_sql} = ANY(%s::{db_type}[])", (*lhs_params, list(params))


class ForeignKeyIn(In, RelatedIn):
    """The same on a foreign key (``RelatedIn`` normalizes its values: rows to ids)."""


def register() -> None:
    """In place of Django's ``in`` on every field and on every foreign key (which
    normalize their values as before: these only write the SQL)."""
    Field.register_lookup(In)
    ForeignObject.register_lookup(ForeignKeyIn)
