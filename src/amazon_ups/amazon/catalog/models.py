"""What the store sells and where the world keeps it for us."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from amazon_ups.common.sqlite_fts import Fts5DocumentField


class Warehouse(models.Model):
    # The world knows warehouses by this id, so it is ours to choose, not the database's.
    id = models.IntegerField(primary_key=True, help_text="the world's warehouse id (int32)")
    name = models.CharField(max_length=100)
    x = models.IntegerField()
    y = models.IntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            # For UPS the same (x, y) is the same warehouse (protocol 5.2).
            models.UniqueConstraint(fields=["x", "y"], name="warehouse_unique_place"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.id} at {self.x}, {self.y})"


class Category(models.Model):
    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


MAX_PRICE = Decimal("99999.99")


class Product(models.Model):
    id = models.BigIntegerField(primary_key=True, help_text="the world's product id")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    # Money is Decimal end to end: no float ever holds a price.
    price = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0.00")), MaxValueValidator(MAX_PRICE)],
    )
    # An unlisted product is not shown or sold; its orders and stock stay as they are.
    listed = models.BooleanField(default=True)
    # The seller's picture: a file name in settings.MEDIA_DIR, chosen by the store (never
    # by the uploader), with its content type. Empty: the store draws one (an SVG).
    image_file = models.CharField(max_length=100, blank=True, default="", editable=False)
    image_type = models.CharField(max_length=20, blank=True, default="", editable=False)
    # What the world knows the product as: set once, kept through renames (see below).
    world_name = models.CharField(max_length=100, blank=True, editable=False)
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="products"
    )
    # PROTECT: a seller with products (and so, perhaps, sales) is not deleted by accident.
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products_sold",
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gte=0), name="product_price_gte_0"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:product_detail", args=[self.id])

    def get_image_url(self) -> str:
        return image_url(self.id, self.image_file)

    @property
    def world_description(self) -> str:
        # The world keeps the first description it sees for a product id, so every buy
        # and pack repeats exactly the same text, even after a seller renames the product.
        return self.world_name or self.name

    def save(self, *args, **kwargs):
        if not self.world_name:
            self.world_name = self.name
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "world_name"}
        super().save(*args, **kwargs)


class Stock(models.Model):
    """Our units of one product at one warehouse, as far as the store knows."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="stock")
    on_hand = models.IntegerField(default=0, help_text="held by the world, minus what we packed")
    on_order = models.IntegerField(default=0, help_text="bought from the world, not arrived yet")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "product"], name="stock_unique"),
            models.CheckConstraint(condition=models.Q(on_hand__gte=0), name="stock_on_hand_gte_0"),
            models.CheckConstraint(
                condition=models.Q(on_order__gte=0), name="stock_on_order_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} at {self.warehouse}: {self.on_hand} (+{self.on_order} on order)"


class CatalogVersion(models.Model):
    """One row whose ``value`` changes, in the same transaction, with every change to what
    the catalog's pages show: products, stock, categories, warehouses, a seller's name.
    Database triggers move it (migration 0005), so no way of writing those tables (a
    service, the admin, a bulk update, another process) can forget to: the web keeps
    rendered pages per value (``selectors.catalog_version``) and never serves a stale one.

    The value is drawn at random rather than counted up: a database restored to an older
    state (or a test's rolled-back transaction) never brings back a value whose pages a
    process still keeps for other contents."""

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"catalog version {self.value}"


class ProductSearchEntry(models.Model):
    """A product's row in SQLite's full-text index (FTS5, porter stemming), kept in step
    with the product by triggers (migration 0004). Only SQLite has this table; on
    PostgreSQL the search is an expression index on the product itself (search.py)."""

    product = models.OneToOneField(
        Product,
        primary_key=True,
        db_column="rowid",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="search_entry",
    )
    name = models.TextField()
    description = models.TextField()
    document = Fts5DocumentField(db_column="catalog_product_fts")
    rank = models.FloatField()

    class Meta:
        managed = False
        db_table = "catalog_product_fts"


def image_url(product_id: int, image_file: str) -> str:
    """The URL of a product's picture (``Product.get_image_url``, for pages that read the
    two columns alone). The file's name is in it: a new upload is a new URL, so caches
    never show an old one."""
    return reverse("catalog:product_image", args=[product_id]) + (
        f"?v={image_file}" if image_file else ""
    )
