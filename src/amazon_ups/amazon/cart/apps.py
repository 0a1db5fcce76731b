from django.apps import AppConfig


class CartConfig(AppConfig):
    name = "amazon_ups.amazon.cart"
    label = "cart"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_delete, pre_delete

        from amazon_ups.amazon.cart.signals import (
            merge_session_cart,
            note_carts_holding,
            recount_carts_held,
        )
        from amazon_ups.amazon.catalog.models import Product

        # Whatever the way in (the login page, the sign-up page logging the new
        # account in), the cart filled before it follows the shopper.
        user_logged_in.connect(merge_session_cart, dispatch_uid="cart-merge-session")
        pre_delete.connect(note_carts_holding, sender=Product, dispatch_uid="cart-holders")
        post_delete.connect(recount_carts_held, sender=Product, dispatch_uid="cart-recount")
