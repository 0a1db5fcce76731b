"""SQLite's full-text engine (FTS5) in the ORM's terms, so its queries stay ORM queries
with parameters.

An FTS5 table has a hidden column named after the table itself; ``<table> MATCH ?`` on
it searches every column, and its hidden ``rank`` column is then the row's bm25 score
(lower is better). A model maps the table (unmanaged: a migration creates it), a
`Fts5DocumentField` maps that hidden column, and its ``__match`` lookup writes the
``MATCH``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Lookup


class Fts5DocumentField(models.TextField):
    """The FTS5 table's hidden column of its own name: only ever filtered on."""


@Fts5DocumentField.register_lookup
class Match(Lookup):
    lookup_name = "match"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} MATCH {rhs}", [*lhs_params, *rhs_params]


def fts_query(words: list[str]) -> str:
    """An FTS5 query that finds rows holding every one of ``words``, the last one also
    as the start of a word, each taken literally: quoted, so that no word is read as an
    operator (AND, NEAR, ``*``, ``:``...)."""
    quoted = ['"' + word.replace('"', '""') + '"' for word in words]
    return " ".join(quoted) + "*" if quoted else ""
