import functools

from amazon_ups.amazon.cart import selectors


def cart(request) -> dict:
    """``cart_count``: units in the visitor's cart, for the nav bar on every page.

    Counted when the template first reads it (templates call a callable), once: a page
    that has the cart's lines already gives its own ``cart_count``, and no query runs."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if user is None or session is None:
        return {"cart_count": 0}
    return {"cart_count": functools.cache(lambda: selectors.cart_count(user, session))}
