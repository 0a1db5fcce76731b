from __future__ import annotations


def merge_session_cart(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    from amazon_ups.amazon.cart import services

    services.merge_session_cart(request.session, user)
