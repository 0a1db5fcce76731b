from __future__ import annotations


def merge_session_cart(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    from amazon_ups.amazon.cart import services

    services.merge_session_cart(request.session, user)


# A product deleted (the admin's delete) takes its cart lines with it, past the cart's
# services: the carts that held it are counted again, in the deletion's transaction.
_HOLDERS = "_cart_holders"


def note_carts_holding(sender, instance, **kwargs) -> None:
    from amazon_ups.amazon.cart.models import CartItem

    holders = CartItem.objects.filter(product_id=instance.pk).values_list("user_id", flat=True)
    setattr(instance, _HOLDERS, list(holders))


def recount_carts_held(sender, instance, **kwargs) -> None:
    from amazon_ups.amazon.cart import services

    if holders := getattr(instance, _HOLDERS, None):
        services.recount_carts(holders)
