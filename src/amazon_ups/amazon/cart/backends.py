"""The store's backend (settings.AUTHENTICATION_BACKENDS): the user of a request comes
with what every page's nav bar shows of them, in one query."""

from __future__ import annotations

from typing import ClassVar

from amazon_ups.amazon.accounts.backends import ModelBackendWithProfile


class ShopperBackend(ModelBackendWithProfile):
    """Besides the profile, the units in the user's ``Cart`` as the request began
    (``cart_units``, None without a cart row; ``selectors.cart_count`` reads it; a page
    that changed the cart counts its lines itself). Read on every request, with the
    user's stamp when the user is kept: a cart changes too often to keep."""

    read_each_time: ClassVar[dict[str, str]] = {"cart_units": "cart__units"}
