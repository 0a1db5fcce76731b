from django.apps import AppConfig


class CartConfig(AppConfig):
    name = "amazon_ups.amazon.cart"
    label = "cart"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from amazon_ups.amazon.cart.signals import merge_session_cart

        # Whatever the way in (the login page, the sign-up page logging the new
        # account in), the cart filled before it follows the shopper.
        user_logged_in.connect(merge_session_cart, dispatch_uid="cart-merge-session")
