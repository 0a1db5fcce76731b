"""Product search that finds what people mean: a real full-text engine on each database.

- PostgreSQL: ``to_tsvector('english', ...)`` of the name (weight A) and description
  (weight B), matched by ``plainto_tsquery`` and ranked with ``ts_rank``; a GIN index
  on that very expression (migration 0004) makes it an index scan.
- SQLite: an FTS5 table with the porter stemmer (``ProductSearchEntry``, kept in step by
  triggers), ranked by bm25, the name counting ten times the description.

Both stem ("Mugs" finds "mug"), take every word wherever it stands ("pot tea"), search
the description too, read the last word as the start of one ("kett" finds the kettle,
as people type), and take the text literally: only runs of letters and digits are
words, so quotes, ``%``, ``*``, ``AND`` or ``:`` are never operators.

When nothing matches, each word the catalog does not hold is replaced by the nearest
one it does (``difflib``, over the words of the listed products), and the search runs
once more: "mgu" finds the mugs, and the page says what it searched for instead.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.core.cache import cache
from django.db import connections
from django.db.models import F, QuerySet, Value

from amazon_ups.amazon.catalog.models import CatalogVersion, Product
from amazon_ups.common.sqlite_fts import fts_query

# Letters and digits only, as both engines' tokenizers read a text.
WORD = re.compile(r"[^\W_]+")
# More words than this in one search are not needed and only cost the engine.
MAX_WORDS = 12
# How alike a typo and a catalog word must be (difflib's ratio): "mgu" ~ "mug" is 0.67.
NEAR_ENOUGH = 0.66
# The catalog's words are kept per version of its content (models.CatalogVersion): read
# again after any change but the stock's, in every process. The time only frees an old
# version's sooner.
VOCABULARY_TTL = 600
VOCABULARY_KEY = "catalog:search:vocabulary"

POSTGRES_CONFIG = "english"
POSTGRES_VECTOR = SearchVector("name", weight="A", config=POSTGRES_CONFIG) + SearchVector(
    "description", weight="B", config=POSTGRES_CONFIG
)
# bm25 weights of the FTS5 table's columns (name, description).
SQLITE_WEIGHTS = (10.0, 1.0)


@dataclass(frozen=True)
class Found:
    products: QuerySet[Product]  # annotated with ``relevance``: higher is better
    searched_for: str  # the words searched for: the query's own, or their corrections
    corrected: bool  # whether a typo was corrected


def words_of(text: str) -> list[str]:
    return WORD.findall(text.lower())[:MAX_WORDS]


def search(products: QuerySet[Product], query: str) -> Found:
    """The products of ``products`` that hold every word of ``query``, with
    ``relevance``; failing that, the same search with each unknown word corrected."""
    words = words_of(query)
    if not words:
        return Found(products.none().annotate(relevance=Value(0.0)), "", False)
    found = _match(products, words)
    if found.exists():
        return Found(found, " ".join(words), False)
    corrected = _corrected(words)
    if corrected == words:
        return Found(found, " ".join(words), False)
    return Found(_match(products, corrected), " ".join(corrected), True)


def _match(products: QuerySet[Product], words: list[str]) -> QuerySet[Product]:
    vendor = connections[products.db].vendor
    if vendor == "postgresql":
        # Raw tsquery syntax is safe here: every word is letters and digits only.
        terms = [f"'{word}'" for word in words[:-1]] + [f"'{words[-1]}':*"]
        query = SearchQuery(" & ".join(terms), config=POSTGRES_CONFIG, search_type="raw")
        return (
            products.annotate(document=POSTGRES_VECTOR)
            .filter(document=query)
            .annotate(relevance=SearchRank(POSTGRES_VECTOR, query))
        )
    if vendor == "sqlite":
        # bm25 is lower for a better match, and its weights are given to `rank` by the
        # table's configuration (migration 0004); negated, higher is better here too.
        return products.filter(search_entry__document__match=fts_query(words)).annotate(
            relevance=-F("search_entry__rank")
        )
    raise NotImplementedError(f"no product search for the {vendor} database")


def _corrected(words: list[str]) -> list[str]:
    vocabulary = catalog_vocabulary()
    corrected = []
    for word in words:
        if word in vocabulary or len(word) < 3:
            corrected.append(word)
            continue
        near = difflib.get_close_matches(word, vocabulary, n=1, cutoff=NEAR_ENOUGH)
        corrected.append(near[0] if near else word)
    return corrected


def catalog_vocabulary() -> frozenset[str]:
    """Every word of the listed products' names and descriptions, kept per version of
    the catalog's content (not rebuilt because something sold)."""
    key = f"{VOCABULARY_KEY}:{content_version()}"
    vocabulary = cache.get(key)
    if vocabulary is None:
        vocabulary = frozenset(
            word
            for name, description in Product.objects.filter(listed=True).values_list(
                "name", "description"
            )
            for word in WORD.findall(f"{name} {description}".lower())
        )
        cache.set(key, vocabulary, VOCABULARY_TTL)
    return vocabulary


# The row of the catalog's content (migration 0006): every change but the stock's.
CONTENT_ROW = 2


def catalog_version() -> int:
    """The catalog's version (``selectors.catalog_version``, which imports this module):
    it changes with anything the catalog's pages show, the stock included."""
    return versions()[0]


def content_version() -> int:
    """The version of the catalog's content (``selectors.content_version``): it changes
    with anything the pages show but the stock, which a sale changes."""
    return versions()[1]


def versions() -> tuple[int, int]:
    """(whole, content), in one read. The table holds the rows the triggers write (ids 1
    and 2): it is read whole, with no WHERE, which Django would build anew on every call
    (on a page kept per version, half the read's cost). The whole version is made of
    every row, so a row added by hand does not make it stale; without the content's row
    (a database emptied by a flush, until its next change) the content's is the whole."""
    rows = sorted(_version_rows().all())
    whole = rows[0][1] if len(rows) == 1 else hash(tuple(rows))
    return whole, dict(rows).get(CONTENT_ROW, whole)


@functools.cache
def _version_rows() -> QuerySet:
    # Built once per process and cloned per read: Django resolves a values list anew each
    # time one is built, nearly a third of this read's cost, paid by every page.
    return CatalogVersion.objects.values_list("id", "value")
