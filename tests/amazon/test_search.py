"""Product search (catalog/search.py): a real full-text engine on each database, run on
both by the suite (SQLite's FTS5, PostgreSQL's tsvector with its GIN index)."""

from __future__ import annotations

import html
import re

import pytest
from django.db import connection
from django.urls import reverse

from amazon_ups.amazon.catalog import selectors
from amazon_ups.amazon.catalog.models import Category, Product, Stock, Warehouse

pytestmark = pytest.mark.django_db

LIST = reverse("catalog:product_list")


def found(query: str, **options) -> list[str]:
    return [p.name for p in selectors.product_search(query=query, **options).products]


def names_on(response) -> list[str]:
    assert response.status_code == 200
    shown = re.findall(r'<h2><a href="/products/\d+/">([^<]*)</a></h2>', response.content.decode())
    return [html.unescape(name) for name in shown]


@pytest.fixture
def catalog(db):
    kitchen = Category.objects.create(name="Kitchen", slug="kitchen")
    Warehouse.objects.create(id=1, name="North", x=0, y=0)
    rows = [
        (1, "Coffee mug", "Stoneware, holds 300 ml.", kitchen),
        (2, "Electric kettle", "Boils water in two minutes.", kitchen),
        (3, "Tea pot", "Glazed clay, six cups.", kitchen),
        (4, "Notebook", "Lies flat; a mug-shaped bookmark.", None),
        (5, "Travel cup", "Keeps coffee hot for hours.", None),
        (6, "AND OR NOT", "A board game of logic.", None),
    ]
    for product_id, name, description, category in rows:
        Product.objects.create(id=product_id, name=name, description=description, category=category)
    Stock.objects.create(warehouse_id=1, product_id=5, on_hand=40)
    Stock.objects.create(warehouse_id=1, product_id=1, on_hand=3)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Mugs", {"Coffee mug", "Notebook"}),  # a plural finds the singular
        ("kettles", {"Electric kettle"}),
        ("tea pot", {"Tea pot"}),
        ("pot tea", {"Tea pot"}),  # the words in another order
        ("kettle electric", {"Electric kettle"}),
        ("boiling", {"Electric kettle"}),  # a word only in the description, stemmed
        ("kett", {"Electric kettle"}),  # the start of a word, as people type
        ("water kettle", {"Electric kettle"}),  # name and description together
        ("kettle mug", set()),  # every word must be there
    ],
)
def test_search_finds_what_people_mean(catalog, query, expected):
    assert set(found(query)) == expected


@pytest.mark.parametrize(
    "query",
    [
        "'; DROP TABLE catalog_product; --",
        '" OR 1=1 --',
        "%",
        "_",
        "*",
        'mug" OR "kettle',
        "NEAR(mug kettle)",
        "name:mug",
        "mug AND kettle",
        "-mug",
        "mug | kettle & !tea",
        "mug:*",
        "\\",
        "x" * 5000,
        "🫖",
    ],
)
def test_operators_of_sql_and_of_either_engine_are_taken_literally(catalog, query):
    result = found(query)
    # Only the query's letters and digits are words: never an error, never everything.
    assert len(result) < Product.objects.count()
    assert Product.objects.count() == 6  # nothing was dropped


def test_operator_words_are_plain_words(catalog):
    assert found("mug AND kettle") == []  # "and" is a word too: no product has all three
    assert found("board game") == ["AND OR NOT"]
    assert found("name:mug") == []  # "name" is not a column filter
    assert set(found('mug" OR "kettle')) == set()


def test_a_typo_is_corrected_and_the_page_says_so(client, catalog):
    result = selectors.product_search(query="mgu")
    assert {p.name for p in result.products} == {"Coffee mug", "Notebook"}
    assert result.corrected and result.searched_for == "mug"
    page = client.get(LIST, {"q": "mgu"}).content.decode()
    assert "Nothing matched “mgu”: showing results for “<strong>mug</strong>”" in page
    assert found("electric kettel") == ["Electric kettle"]


def test_a_word_found_as_typed_is_not_corrected(client, catalog):
    result = selectors.product_search(query="mug")
    assert not result.corrected
    assert "showing results for" not in client.get(LIST, {"q": "mug"}).content.decode()


def test_nothing_near_enough_finds_nothing(client, catalog):
    assert found("zzzzqx") == []
    page = client.get(LIST, {"q": "zzzzqx"}).content.decode()
    assert "Nothing matches “zzzzqx”" in page and "showing results for" not in page


def test_a_new_product_is_found_at_once_and_corrects_typos_too(catalog):
    assert found("mgu")  # the vocabulary is now cached
    Product.objects.create(id=7, name="Skillet", description="Cast iron.")
    assert found("skillet") == ["Skillet"]
    assert found("skilet") == ["Skillet"]


def test_typos_follow_a_change_made_by_another_process(catalog):
    # An UPDATE sends no signal in this process (as a change by the admin in another
    # process, or by the daemon): the words are kept per catalog version.
    assert found("mgu")  # the vocabulary is now cached
    Product.objects.filter(id=2).update(name="Skillet")
    assert found("skilet") == ["Skillet"]


def test_a_renamed_or_unlisted_product_follows(catalog):
    kettle = Product.objects.get(id=2)
    kettle.name = "Water boiler"
    kettle.save()
    assert found("kettle") == []
    assert found("boiler") == ["Water boiler"]
    kettle.listed = False
    kettle.save()
    assert found("boiler") == []
    Product.objects.filter(id=2).delete()
    assert found("boiler") == []


def test_the_best_match_comes_first_by_default(catalog):
    # "mug" in the name outranks "mug" in the description.
    assert found("mug") == ["Coffee mug", "Notebook"]
    assert found("coffee") == ["Coffee mug", "Travel cup"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("relevance", ["Coffee mug", "Travel cup"]),
        ("name", ["Coffee mug", "Travel cup"]),
        ("newest", ["Travel cup", "Coffee mug"]),
        ("availability", ["Travel cup", "Coffee mug"]),
    ],
)
def test_results_can_be_sorted(client, catalog, sort, expected):
    assert names_on(client.get(LIST, {"q": "coffee", "sort": sort})) == expected


def test_best_match_is_offered_only_for_a_search(client, catalog):
    with_query = client.get(LIST, {"q": "coffee"}).content.decode()
    assert '<option value="relevance" selected>Best match</option>' in with_query
    without = client.get(LIST).content.decode()
    assert 'value="relevance"' not in without
    # Asked for anyway (an old link): the list is by name.
    assert names_on(client.get(LIST, {"sort": "relevance"}))[0] == "AND OR NOT"


def test_search_within_a_category_and_in_stock(catalog):
    assert found("coffee", category=Category.objects.get(slug="kitchen")) == ["Coffee mug"]
    assert found("coffee", in_stock_only=True) == ["Coffee mug", "Travel cup"]
    assert found("mug", in_stock_only=True) == ["Coffee mug"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's query plan")
def test_postgresql_searches_through_its_gin_index(catalog):
    from django.db import connection as pg

    products = selectors.product_search(query="kettle").products
    with pg.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            plan = products.explain()
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "catalog_product_search" in plan
