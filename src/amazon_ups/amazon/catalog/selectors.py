"""Reads of the catalog."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias, TypedDict

from django.conf import settings
from django.db import models
from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce

from amazon_ups.amazon.catalog import delivery, search
from amazon_ups.amazon.catalog.models import Category, Product, Stock, Warehouse
from amazon_ups.common.queries import one_or_none
from amazon_ups.world import timing

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _Stock(TypedDict):
    on_hand_total: int


# A product with the units its warehouses hold in all (_with_stock).
ProductWithStock: TypeAlias = "WithAnnotations[Product, _Stock]"

# At or below this many units on hand a product page says "only N left".
LOW_STOCK = 5
# Longer search text than this is cut: no product name or description needs more.
MAX_QUERY_LENGTH = 100


class ProductSort(models.TextChoices):
    RELEVANCE = "relevance", "Best match"
    NAME = "name", "Name"
    PRICE = "price", "Price: low to high"
    PRICE_DESC = "-price", "Price: high to low"
    NEWEST = "newest", "Newest first"
    AVAILABILITY = "availability", "Most in stock"


# Every sort ends on the id, so a page never repeats or skips a product of a tie.
_ORDERINGS = {
    ProductSort.RELEVANCE: ("-relevance", "name", "id"),
    ProductSort.NAME: ("name", "id"),
    ProductSort.PRICE: ("price", "name", "id"),
    ProductSort.PRICE_DESC: ("-price", "name", "id"),
    # Product ids count up as sellers list (services.product_create): newest is highest.
    ProductSort.NEWEST: ("-id",),
    ProductSort.AVAILABILITY: ("-on_hand_total", "name", "id"),
}


def catalog_version() -> int:
    """The catalog's version (models.CatalogVersion): it changes with anything the
    catalog's pages show, so pages kept under it are never stale."""
    return search.catalog_version()


def content_version() -> int:
    """The version of what the catalog's pages show but the stock (models.CatalogVersion,
    its second row): a page kept under it reads its stock per request."""
    return search.content_version()


def catalog_versions() -> tuple[int, int]:
    """(``catalog_version``, ``content_version``), in one read."""
    return search.versions()


def product_list() -> QuerySet[Product]:
    return Product.objects.filter(listed=True).order_by("name", "id")


def _with_stock(products: QuerySet[Product]) -> QuerySet[ProductWithStock]:
    # Coalesce: a product no warehouse has ever held has no Stock rows at all.
    return products.select_related("category").annotate(
        on_hand_total=Coalesce(Sum("stock__on_hand"), 0)
    )


def product_sort(query: str, asked: ProductSort | None) -> ProductSort:
    """The order of a list: the one asked for, else the best match first for a query
    and by name without one (which has nothing to be a match for)."""
    if not query:
        return ProductSort.NAME if asked in (None, ProductSort.RELEVANCE) else asked
    return asked or ProductSort.RELEVANCE


def product_search(
    *,
    query: str = "",
    category: Category | None = None,
    sort: ProductSort | None = None,
    in_stock_only: bool = False,
) -> search.Found:
    """Listed products that match ``query`` (search.py: full text, stemmed, typos
    corrected when nothing matches), or all of them without one, with
    ``on_hand_total``, in the order ``sort`` says: by default the best match first
    for a query, else by name."""
    products = Product.objects.filter(listed=True)
    if category is not None:
        products = products.filter(category=category)
    query = query.strip()[:MAX_QUERY_LENGTH]
    found = search.search(products, query) if query else search.Found(products, "", False)
    products = _with_stock(found.products)
    if in_stock_only:
        products = products.filter(on_hand_total__gt=0)
    ordering = _ORDERINGS[product_sort(query, sort)]
    return search.Found(products.order_by(*ordering), found.searched_for, found.corrected)


def product_shown(product_id: int) -> Product | None:
    """A listed product, with its category and seller; None for an unlisted one."""
    return one_or_none(
        Product.objects.filter(id=product_id, listed=True).select_related("category", "seller")
    )


def on_hand_of(product_id: int) -> dict[int, int]:
    """The product's units on hand, per warehouse id: one plain query."""
    return dict(_on_hand_rows().filter(product_id=product_id))


@functools.cache
def _on_hand_rows() -> QuerySet:
    # Built once per process, as search._version_rows: read by every product page.
    return Stock.objects.values_list("warehouse_id", "on_hand")


def warehouses_stocking(needs: dict[int, int]) -> set[int]:
    """Ids of the warehouses holding all of ``needs`` (product id -> units)."""
    if not needs:
        return set()
    rows = Stock.objects.filter(product_id__in=list(needs)).values_list(
        "warehouse_id", "product_id", "on_hand"
    )
    enough: dict[int, int] = {}
    for warehouse_id, product_id, on_hand in rows:
        if on_hand >= needs[product_id]:
            enough[warehouse_id] = enough.get(warehouse_id, 0) + 1
    return {w for w, n in enough.items() if n == len(needs)}


def products_named(name: str, *, excluding: int | None = None) -> list[Product]:
    """Products with this name, any case (a seller about to list one twice)."""
    products = Product.objects.filter(name__iexact=name.strip())
    if excluding is not None:
        products = products.exclude(id=excluding)
    return list(products.select_related("seller").order_by("id"))


def category_list() -> list[Category]:
    return list(Category.objects.order_by("name"))


def category_get(slug: str) -> Category | None:
    return one_or_none(Category.objects.filter(slug=slug))


@dataclass(frozen=True)
class StockStatus:
    level: str  # "in", "low" or "out": a CSS hook
    text: str


def stock_status(on_hand: int) -> StockStatus:
    # An order for more than we hold still goes ahead: the fulfilment daemon buys the
    # shortfall from the world, so "out of stock" only means "slower".
    if on_hand <= 0:
        return StockStatus("out", "out of stock — ships when restocked")
    if on_hand <= LOW_STOCK:
        return StockStatus("low", f"only {on_hand} left")
    return StockStatus("in", "in stock")


def seller_products(seller) -> QuerySet[ProductWithStock]:
    return _with_stock(Product.objects.filter(seller=seller)).order_by("name", "id")


def seller_product_get(seller, product_id: int) -> Product | None:
    """The seller's own product (listed or not); None for anyone else's, like a missing one."""
    return one_or_none(Product.objects.filter(seller=seller, id=product_id))


def seller_stock(seller) -> dict[int, dict[int, tuple[int, int]]]:
    """Product id -> warehouse id -> (on hand, on order), for the seller's products."""
    rows = Stock.objects.filter(product__seller=seller).values_list(
        "product_id", "warehouse_id", "on_hand", "on_order"
    )
    levels: dict[int, dict[int, tuple[int, int]]] = {}
    for product_id, warehouse_id, on_hand, on_order in rows:
        levels.setdefault(product_id, {})[warehouse_id] = (on_hand, on_order)
    return levels


def product_get(product_id: int) -> Product | None:
    """Any product, listed or not (old orders and carts name unlisted ones too)."""
    return one_or_none(Product.objects.filter(id=product_id))


def products_by_id(product_ids: Iterable[int]) -> dict[int, Product]:
    return {p.id: p for p in Product.objects.filter(id__in=list(product_ids))}


def warehouse_list() -> list[Warehouse]:
    return list(Warehouse.objects.order_by("id"))


def warehouse_get(warehouse_id: int) -> Warehouse | None:
    return one_or_none(Warehouse.objects.filter(id=warehouse_id))


def stock_levels(product_ids: Iterable[int]) -> dict[tuple[int, int], tuple[int, int]]:
    """(warehouse id, product id) -> (on hand, on order), for rows that exist."""
    rows = Stock.objects.filter(product_id__in=list(product_ids)).values_list(
        "warehouse_id", "product_id", "on_hand", "on_order"
    )
    return {(w, p): (on_hand, on_order) for w, p, on_hand, on_order in rows}


def listed_product_ids() -> list[int]:
    return list(Product.objects.filter(listed=True).order_by("id").values_list("id", flat=True))


@dataclass(frozen=True)
class Shelves:
    """What a delivery estimate needs of the catalog for one order's products: every
    warehouse, and those that hold all the units (catalog data only: a page may keep it
    under the catalog's version)."""

    places: tuple[delivery.Place, ...]
    stocking: frozenset[int]


def shelves(needs: dict[int, int]) -> Shelves:
    return Shelves(places(), frozenset(warehouses_stocking(needs)))


def places() -> tuple[delivery.Place, ...]:
    """Every warehouse, as a delivery estimate needs it."""
    return tuple(delivery.Place(w.id, w.name, w.x, w.y) for w in warehouse_list())


def delivery_estimate(
    needs: dict[int, int], dest: tuple[int, int], now: datetime.datetime
) -> delivery.Estimate | None:
    """When an order of ``needs`` (product id -> units) to ``dest`` placed at ``now``
    would arrive; None when the store has no warehouse."""
    return estimate_from(shelves(needs), dest, now)


def estimate_from(
    shelves: Shelves, dest: tuple[int, int], now: datetime.datetime
) -> delivery.Estimate | None:
    """``delivery_estimate`` from the shelves read already."""
    chosen = delivery.ships_from(list(shelves.places), dest, set(shelves.stocking))
    if chosen is None:
        return None
    warehouse, in_stock = chosen
    simspeed = settings.WORLD_SIMSPEED or timing.DEFAULT_SIMSPEED
    return delivery.estimate(
        now=now, warehouse=warehouse, dest=dest, in_stock=in_stock, simspeed=simspeed
    )
