from amazon_ups.amazon.cart import selectors


def cart(request) -> dict:
    """``cart_count``: units in the visitor's cart, for the nav bar on every page."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if user is None or session is None:
        return {"cart_count": 0}
    return {"cart_count": selectors.cart_count(user, session)}
