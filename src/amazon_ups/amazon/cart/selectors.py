"""Reads of carts: the user's (database) if logged in, else the visitor's (session)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.sessions.backends.base import SessionBase

from amazon_ups.amazon.cart.models import Cart, CartItem
from amazon_ups.amazon.cart.services import session_cart
from amazon_ups.amazon.catalog import selectors as catalog_selectors
from amazon_ups.amazon.catalog.models import Product


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def total(self) -> Decimal:
        return self.product.price * self.quantity


def cart_total(lines: list[CartLine]) -> Decimal:
    """What the cart would cost at today's prices (nothing is charged: a demo store)."""
    return sum((line.total for line in lines), Decimal("0.00"))


def cart_lines(user, session: SessionBase) -> list[CartLine]:
    """What is in the cart, in the order it was put there."""
    if user.is_authenticated:
        items = CartItem.objects.filter(user=user).select_related("product")
        return [CartLine(item.product, item.quantity) for item in items]
    cart = session_cart(session)
    products = catalog_selectors.products_by_id(cart)
    # A product gone from the catalog since it was added is not shown (nor ordered).
    return [CartLine(products[p], n) for p, n in cart.items() if p in products]


def cart_count(user, session: SessionBase) -> int:
    """Units in the cart, for the nav bar: for the request's user, as the request began
    (read with the user, backends.py)."""
    if user.is_authenticated:
        if hasattr(user, "cart_units"):  # read with the user (backends.py)
            return user.cart_units or 0
        try:
            return user.cart.units
        except Cart.DoesNotExist:
            return 0
    return sum(session_cart(session).values())
