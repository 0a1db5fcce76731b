"""What the store sells and where the world keeps it for us."""

from __future__ import annotations

from django.db import models


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


class Product(models.Model):
    id = models.BigIntegerField(primary_key=True, help_text="the world's product id")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def world_description(self) -> str:
        # The world keeps the first description it sees for a product id; the name is
        # short and stable, so every buy and pack repeats exactly the same text.
        return self.name


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
