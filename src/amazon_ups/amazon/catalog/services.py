"""State changes of the catalog: stock moves here and nowhere else."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, IntegerField, Max, Value
from django.db.models.expressions import Combinable
from django.db.models.functions import Greatest

from amazon_ups.amazon.catalog import images
from amazon_ups.amazon.catalog.exceptions import InsufficientStock
from amazon_ups.amazon.catalog.models import Category, Product, Stock, Warehouse
from amazon_ups.common.models import ValueOfKey


def _row(warehouse_id: int, product_id: int) -> Stock:
    stock, _ = Stock.objects.select_for_update().get_or_create(
        warehouse_id=warehouse_id, product_id=product_id
    )
    return stock


def reserve(warehouse_id: int, counts: Mapping[int, int]) -> None:
    """Take units off the shelf for a package about to be packed (all or nothing: on
    ``InsufficientStock`` the caller's transaction, or its savepoint, is rolled back).
    No savepoint of its own: nobody goes on after a refusal here (it is a defect of
    the order's unit of work, set aside whole), and it would cost two statements per
    order packed. Within ``reserved_together``, taken at its end with the batch's."""
    held = _reserved.get()
    if held is not None and len(transaction.get_connection().savepoint_ids) == held.savepoints:
        for product_id, count in counts.items():
            key = (warehouse_id, product_id)
            held.counts[key] = held.counts.get(key, 0) + count
        return
    with transaction.atomic(savepoint=False):
        for product_id, count in sorted(counts.items()):
            _take(warehouse_id, {product_id: count})


@dataclass
class _Reserved:
    savepoints: int  # open when the batch began: a unit in one more is rolled back alone
    counts: dict[tuple[int, int], int] = field(default_factory=dict)  # (warehouse, product)


_reserved: ContextVar[_Reserved | None] = ContextVar("stock_reserved_together", default=None)


@contextlib.contextmanager
def reserved_together() -> Iterator[None]:
    """Inside a transaction, for a batch of work (a turn's new orders, a container of
    purchases arriving): the units ``reserve`` takes are added up, and taken at the
    end, in one UPDATE per warehouse, each row only if it holds them all; not one
    UPDATE per order and product.

    Only while the batch's units of work cannot be rolled back alone (its first pass,
    as ``orders.lifecycle.moves_written_together``): one in a savepoint of its own (the
    pass after a defect) takes its units at once, lest a later unit rolled back with
    it drop them. The orders were planned from stock levels read in the batch, and
    only the daemon takes units off the shelf, so the end finds them there; if it does
    not (a defect), ``InsufficientStock`` is raised there, the batch is rolled back
    and runs again unit by unit, and the order short of units is set aside alone."""
    held = _Reserved(len(transaction.get_connection().savepoint_ids))
    token = _reserved.set(held)
    try:
        yield
    finally:
        _reserved.reset(token)
    by_warehouse: dict[int, dict[int, int]] = {}
    for (warehouse_id, product_id), count in held.counts.items():
        by_warehouse.setdefault(warehouse_id, {})[product_id] = count
    for warehouse_id, counts in sorted(by_warehouse.items()):
        _take(warehouse_id, counts)


def reserved_not_taken(warehouse_id: int, product_id: int) -> int:
    """Units of the product the batch under way has reserved at the warehouse and will
    take at its end (``reserved_together``): a level read in the batch still counts
    them as on hand."""
    held = _reserved.get()
    return held.counts.get((warehouse_id, product_id), 0) if held is not None else 0


def _take(warehouse_id: int, counts: Mapping[int, int]) -> None:
    """``counts`` units of each product off the warehouse's shelf, or ``InsufficientStock``
    (and nothing taken: the caller's transaction is rolled back). The condition in the
    UPDATE makes the check and the decrement one step."""
    if len(counts) == 1:
        [(product_id, count)] = counts.items()
        rows = Stock.objects.filter(product_id=product_id, on_hand__gte=count)
        units: Any = count
    else:
        product = Stock._meta.get_field("product")
        pairs = sorted(counts.items())
        units = ValueOfKey(product, pairs, output_field=IntegerField())
        rows = Stock.objects.filter(
            product_id__in=list(counts),
            on_hand__gte=ValueOfKey(product, pairs, output_field=IntegerField()),
        )
    taken = rows.filter(warehouse_id=warehouse_id).update(on_hand=F("on_hand") - units)
    if taken < len(counts):
        wanted = ", ".join(f"{n} of product {p}" for p, n in sorted(counts.items()))
        raise InsufficientStock(f"warehouse {warehouse_id} has too few for {wanted}")


def order_more(warehouse_id: int, counts: Mapping[int, int]) -> None:
    """We have asked the world for these units; they count as coming."""
    with transaction.atomic(savepoint=False):
        for product_id, count in counts.items():
            _change(warehouse_id, product_id, on_order=F("on_order") + count)


def receive(warehouse_id: int, counts: Mapping[int, int]) -> None:
    """A purchase arrived at the warehouse."""
    with transaction.atomic(savepoint=False):
        for product_id, count in counts.items():
            # A purchase we did not count as coming (made by an earlier database) must
            # not drive the count negative.
            _change(
                warehouse_id,
                product_id,
                on_hand=F("on_hand") + count,
                on_order=Greatest(F("on_order") - count, Value(0)),
            )


def order_refused(warehouse_id: int, counts: Mapping[int, int]) -> None:
    """The world refused a purchase: those units are not coming."""
    with transaction.atomic(savepoint=False):
        for product_id, count in counts.items():
            _change(warehouse_id, product_id, on_order=Greatest(F("on_order") - count, Value(0)))


def _change(warehouse_id: int, product_id: int, **columns: Combinable) -> None:
    """One UPDATE of the product's row at the warehouse, computed from what the row holds
    (and locking it until the transaction ends); the row is made first if there is none
    yet. Not a read and a write of the row, nor a savepoint of its own (as ``reserve``):
    a purchase's arrival is handled with every other sub-message of its container, and
    each of those costs as much as a small query."""
    rows = Stock.objects.filter(warehouse_id=warehouse_id, product_id=product_id)
    if not rows.update(**columns):
        _row(warehouse_id, product_id)  # the first units of it there
        rows.update(**columns)


@transaction.atomic
def forget_stock() -> None:
    """A new world starts with empty warehouses."""
    Stock.objects.update(on_hand=0, on_order=0)


def _clean_and_save(product: Product) -> Product:
    product.full_clean()
    product.save()
    return product


def product_create(
    *,
    seller,
    name: str,
    description: str = "",
    category: Category | None = None,
    price: Decimal = Decimal("0.00"),
) -> Product:
    """A new product with no stock: the world has none until an order makes the
    fulfilment daemon buy it, so it can be ordered at once."""
    # Our product ids are the world's, so we choose them: the next one up. Two sellers
    # listing at once may pick the same id; the loser takes the next.
    for _attempt in range(5):
        try:
            with transaction.atomic():
                next_id = (Product.objects.aggregate(top=Max("id"))["top"] or 0) + 1
                product = Product(
                    id=next_id,
                    name=name,
                    description=description,
                    category=category,
                    seller=seller,
                    price=price,
                )
                product.full_clean(validate_unique=False)
                product.save(force_insert=True)
                return product
        except IntegrityError:
            continue
    raise RuntimeError("could not choose a product id: too many listings at once")


@transaction.atomic
def product_update(
    product: Product,
    *,
    name: str,
    description: str,
    category: Category | None,
    price: Decimal | None = None,
) -> Product:
    # Renaming changes what shoppers see; the world keeps its ``world_name``. A new
    # price is for orders from now on: each order line keeps the price it was sold at.
    product.name = name
    product.description = description
    product.category = category
    if price is not None:
        product.price = price
    return _clean_and_save(product)


@transaction.atomic
def product_set_listed(product: Product, listed: bool) -> Product:
    """Unlisted, a product leaves the catalog and cannot be bought; orders already
    placed for it go ahead, and relisting brings it back as it was."""
    product.listed = listed
    product.save(update_fields=["listed"])
    return product


def product_set_image(product: Product, data: bytes) -> Product:
    """Check the upload (``images.check_upload``: a ValidationError says what is
    wrong), keep it, and show it from now on; the previous one is removed."""
    checked = images.check_upload(data)
    name = images.store(product.id, checked)
    previous = product.image_file
    try:
        with transaction.atomic():
            product.image_file = name
            product.image_type = checked.content_type
            product.save(update_fields=["image_file", "image_type"])
    except BaseException:
        images.remove(name)
        raise
    # Only once the new one is committed: a failure above keeps the old picture shown.
    transaction.on_commit(lambda: images.remove(previous))
    return product


DEMO_WAREHOUSES = [
    (1, "North", 10, 80),
    (2, "West", -60, -20),
    (3, "East", 70, -40),
]

DEMO_CATEGORIES = [
    ("kitchen", "Kitchen"),
    ("stationery", "Stationery"),
    ("home", "Home"),
    ("outdoors", "Travel & outdoors"),
    ("electronics", "Electronics"),
    ("games", "Games"),
]

DEMO_PRODUCTS = [
    (1, "Kettle", "A 1.7 litre electric kettle that switches itself off.", "kitchen", "34.90"),
    (
        2,
        "Teapot",
        "Glazed stoneware, six cups, with a removable steel infuser.",
        "kitchen",
        "28.50",
    ),
    (3, "Mug", "A plain white mug that holds a generous 350 ml.", "kitchen", "8.00"),
    (4, "Notebook", "A5, dotted pages, lies flat when open.", "stationery", "12.75"),
    (
        5,
        "Fountain pen",
        "Steel nib, refillable converter, blue-black ink included.",
        "stationery",
        "42.00",
    ),
    (6, "Desk lamp", "LED, three colour temperatures, folds flat.", "home", "39.99"),
    (7, "Headphones", "Closed-back, wired, with a detachable cable.", "electronics", "89.00"),
    (8, "Backpack", "20 litres, padded laptop sleeve, water-resistant.", "outdoors", "64.00"),
    (9, "Water bottle", "Insulated steel, keeps drinks cold for a day.", "outdoors", "24.50"),
    (10, "Umbrella", "Compact, opens and closes with one button.", "outdoors", "19.90"),
    (
        11,
        "Board game",
        "A cooperative game for two to four players, about an hour.",
        "games",
        "45.00",
    ),
    (12, "Houseplant", "A snake plant in a 12 cm pot; hard to kill.", "home", "16.00"),
]


@transaction.atomic
def seed_demo(seller=None) -> tuple[int, int]:
    """Demo warehouses, categories and products (sold by ``seller``); running it again
    changes nothing."""
    for warehouse_id, name, x, y in DEMO_WAREHOUSES:
        Warehouse.objects.update_or_create(id=warehouse_id, defaults={"name": name, "x": x, "y": y})
    categories = {
        slug: Category.objects.update_or_create(slug=slug, defaults={"name": name})[0]
        for slug, name in DEMO_CATEGORIES
    }
    for product_id, name, description, category, price in DEMO_PRODUCTS:
        Product.objects.update_or_create(
            id=product_id,
            defaults={
                "name": name,
                "description": description,
                "category": categories[category],
                "seller": seller,
                "price": Decimal(price),
            },
        )
    return len(DEMO_WAREHOUSES), len(DEMO_PRODUCTS)
