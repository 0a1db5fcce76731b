"""The store's backend (settings.AUTHENTICATION_BACKENDS): the user of a request comes
with what every page's nav bar shows of them, in one query."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery, Sum

from amazon_ups.amazon.accounts.backends import ModelBackendWithProfile
from amazon_ups.amazon.cart.models import CartItem


class ShopperBackend(ModelBackendWithProfile):
    """Besides the profile, ``cart_units``: the units in the user's cart as the request
    began (``selectors.cart_count`` reads it; a page that changed the cart counts its
    lines itself)."""

    def users(self) -> QuerySet:
        units = (
            CartItem.objects.filter(user=OuterRef("pk"))
            .order_by()
            .values("user")
            .annotate(units=Sum("quantity"))
            .values("units")
        )
        return super().users().annotate(cart_units=Subquery(units))
