"""A logged-in shopper's cart. Anonymous visitors keep theirs in the session
(``cart.services``), which is merged into this table when they log in."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from amazon_ups.amazon.catalog.models import Product
from amazon_ups.amazon.orders.services import MAX_COUNT

# A cart holds what one order may: at most MAX_COUNT units of each product.
MAX_QUANTITY = MAX_COUNT


class Cart(models.Model):
    """How many units a logged-in shopper's cart holds. Every page's nav bar shows it, so
    it is kept with the lines, in the transaction that changes them (services.py), and
    read with the request's user (backends.py) at the cost of a join, not a count. A
    user without a row has never had anything in their cart."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="cart"
    )
    units = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user}'s cart: {self.units} units"


class CartItem(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cart_items"
    )
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    quantity = models.IntegerField()
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "product"], name="cartitem_unique_product"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1, quantity__lte=MAX_QUANTITY),
                name="cartitem_quantity_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product} in {self.user}'s cart"
