"""Reads of the catalog."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from amazon_ups.amazon.catalog.models import Category, Product, Stock, Warehouse
from amazon_ups.amazon.orders.models import OrderLine

# At or below this many units on hand a product page says "only N left".
LOW_STOCK = 5
# Longer search text than this is cut: no product name or description needs more.
MAX_QUERY_LENGTH = 100


def product_list() -> QuerySet[Product]:
    return Product.objects.order_by("name", "id")


def _with_stock(products: QuerySet[Product]) -> QuerySet[Product]:
    # Coalesce: a product no warehouse has ever held has no Stock rows at all.
    return products.select_related("category").annotate(
        on_hand_total=Coalesce(Sum("stock__on_hand"), 0)
    )


def product_search(*, query: str = "", category: Category | None = None) -> QuerySet[Product]:
    """Products whose name or description contains ``query`` (any case), with
    ``on_hand_total``. The ORM passes ``query`` as a parameter and escapes LIKE's
    wildcards, so ``%``, ``_`` and quotes match themselves."""
    products = Product.objects.all()
    query = query.strip()[:MAX_QUERY_LENGTH]
    if query:
        products = products.filter(Q(name__icontains=query) | Q(description__icontains=query))
    if category is not None:
        products = products.filter(category=category)
    return _with_stock(products).order_by("name", "id")


def product_detail(product_id: int) -> Product | None:
    return _with_stock(Product.objects.filter(id=product_id).select_related("seller")).first()


def category_list() -> list[Category]:
    return list(Category.objects.order_by("name"))


def category_get(slug: str) -> Category | None:
    return Category.objects.filter(slug=slug).first()


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


def seller_products(seller) -> QuerySet[Product]:
    return _with_stock(Product.objects.filter(seller=seller)).order_by("name", "id")


def seller_product_get(seller, product_id: int) -> Product | None:
    """The seller's own product; None for anyone else's, like a missing one."""
    return Product.objects.filter(seller=seller, id=product_id).first()


def seller_stock(seller) -> dict[int, dict[int, tuple[int, int]]]:
    """Product id -> warehouse id -> (on hand, on order), for the seller's products."""
    rows = Stock.objects.filter(product__seller=seller).values_list(
        "product_id", "warehouse_id", "on_hand", "on_order"
    )
    levels: dict[int, dict[int, tuple[int, int]]] = {}
    for product_id, warehouse_id, on_hand, on_order in rows:
        levels.setdefault(product_id, {})[warehouse_id] = (on_hand, on_order)
    return levels


def seller_sales(seller) -> QuerySet[OrderLine]:
    """Order lines of the seller's products, newest order first. The buyer's address
    and account are not the seller's business: only the order's id, date and status."""
    return (
        OrderLine.objects.filter(product__seller=seller)
        .select_related("order", "product")
        .only("count", "product__name", "order__id", "order__created_at", "order__status")
        .order_by("-order__created_at", "-order__id", "product__name")
    )


def product_get(product_id: int) -> Product | None:
    return Product.objects.filter(id=product_id).first()


def products_by_id(product_ids: Iterable[int]) -> dict[int, Product]:
    return {p.id: p for p in Product.objects.filter(id__in=list(product_ids))}


def warehouse_list() -> list[Warehouse]:
    return list(Warehouse.objects.order_by("id"))


def warehouse_get(warehouse_id: int) -> Warehouse | None:
    return Warehouse.objects.filter(id=warehouse_id).first()


def stock_levels(product_ids: Iterable[int]) -> dict[tuple[int, int], tuple[int, int]]:
    """(warehouse id, product id) -> (on hand, on order), for rows that exist."""
    rows = Stock.objects.filter(product_id__in=list(product_ids)).values_list(
        "warehouse_id", "product_id", "on_hand", "on_order"
    )
    return {(w, p): (on_hand, on_order) for w, p, on_hand, on_order in rows}
