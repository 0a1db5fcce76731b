"""Reads of the catalog."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from amazon_ups.amazon.catalog.models import Product, Stock, Warehouse


def product_list() -> QuerySet[Product]:
    return Product.objects.order_by("name", "id")


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
