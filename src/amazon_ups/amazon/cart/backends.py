"""The store's backend (settings.AUTHENTICATION_BACKENDS): the user of a request comes
with what every page's nav bar shows of them, in one query."""

from __future__ import annotations

from django.db.models import QuerySet

from amazon_ups.amazon.accounts.backends import ModelBackendWithProfile


class ShopperBackend(ModelBackendWithProfile):
    """Besides the profile, the user's ``Cart``: the units in their cart as the request
    began (``selectors.cart_count`` reads it; a page that changed the cart counts its
    lines itself)."""

    def users(self) -> QuerySet:
        return super().users().select_related("cart")
