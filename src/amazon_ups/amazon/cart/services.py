"""Every change of a cart, and checkout (the cart becomes one order).

A logged-in shopper's cart is in the database (``CartItem``); an anonymous
visitor's is in the session, as ``{"<product id>": quantity}``, and moves into the
account at login (``merge_session_cart``, run by the ``user_logged_in`` signal).
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from amazon_ups.amazon.cart.models import MAX_QUANTITY, Cart, CartItem
from amazon_ups.amazon.catalog import selectors as catalog_selectors
from amazon_ups.amazon.catalog.models import Product
from amazon_ups.amazon.orders import services as orders_services
from amazon_ups.amazon.orders.models import Order
from amazon_ups.common.parsing import parse_int
from amazon_ups.common.queries import one_or_none
from amazon_ups.protocol.limits import INT64_MAX

SESSION_KEY = "cart"


def _check_quantity(quantity: object, *, low: int) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationError("The quantity must be a whole number.", code="invalid")
    if not low <= quantity <= MAX_QUANTITY:
        raise ValidationError(
            f"The quantity must be a whole number between {low} and {MAX_QUANTITY}.",
            code="out_of_range",
        )
    return quantity


def _check_product(product_id: int) -> Product:
    product = catalog_selectors.product_get(product_id)
    if product is None:
        raise ValidationError(f"No such product: {product_id}.", code="unknown_product")
    if not product.listed:
        raise ValidationError(f"{product.name} is no longer sold.", code="unlisted_product")
    return product


def _too_many(product_id: int, total: int) -> ValidationError:
    return ValidationError(
        f"A cart holds at most {MAX_QUANTITY} of a product; this would make {total}.",
        code="out_of_range",
    )


def session_cart(session: SessionBase) -> dict[int, int]:
    """The anonymous cart as product id -> quantity, whatever the session holds."""
    raw = session.get(SESSION_KEY)
    if not isinstance(raw, dict):
        return {}
    cart = {}
    for key, value in raw.items():
        product_id = parse_int(str(key), 1, INT64_MAX)
        if product_id is not None and isinstance(value, int) and 1 <= value <= MAX_QUANTITY:
            cart[product_id] = value
    return cart


def _save_session_cart(session: SessionBase, cart: dict[int, int]) -> None:
    session[SESSION_KEY] = {str(product_id): n for product_id, n in cart.items()}


def _locked_cart(user) -> Cart:
    """The user's ``Cart``, locked until the transaction ends: a user's cart changes one
    change at a time, and each counts the lines the one before it left."""
    cart, _ = Cart.objects.select_for_update().get_or_create(user=user)
    return cart


def _recount(cart: Cart) -> None:
    """After a change of the lines, in its transaction: the units they hold now."""
    lines = CartItem.objects.filter(user_id=cart.user_id)
    cart.units = lines.aggregate(units=Sum("quantity"))["units"] or 0
    cart.save(update_fields=["units"])


def recount_carts(user_ids) -> None:
    """The units of these users' carts, after their lines changed other than through
    this module (a product deleted takes its lines with it)."""
    for cart in Cart.objects.select_for_update().filter(user_id__in=list(user_ids)):
        _recount(cart)


# -- changes (the user's cart if logged in, else the session's) -----------------------------


def cart_add(*, user, session: SessionBase, product_id: int, quantity: int) -> tuple[Product, int]:
    """Put ``quantity`` more of the product in the cart; returns the product and the
    quantity now there."""
    _check_quantity(quantity, low=1)
    # Read before the transaction, which on SQLite holds the database's one write lock
    # that every other writer waits for: the product, and the user (a request's is read
    # when first asked).
    product = _check_product(product_id)
    if user.is_authenticated:
        with transaction.atomic():
            locked = _locked_cart(user)
            item = one_or_none(
                CartItem.objects.select_for_update().filter(user=user, product_id=product_id)
            )
            total = (item.quantity if item else 0) + quantity
            if total > MAX_QUANTITY:
                raise _too_many(product_id, total)
            if item is None:
                CartItem.objects.create(user=user, product_id=product_id, quantity=total)
            else:
                item.quantity = total
                item.save(update_fields=["quantity"])
            # The row is locked: counting on from it needs no recount.
            locked.units += quantity
            locked.save(update_fields=["units"])
        return product, total
    cart = session_cart(session)
    total = cart.get(product_id, 0) + quantity
    if total > MAX_QUANTITY:
        raise _too_many(product_id, total)
    cart[product_id] = total
    _save_session_cart(session, cart)
    return product, total


@transaction.atomic
def cart_set_quantity(*, user, session: SessionBase, product_id: int, quantity: int) -> None:
    """Make the product's quantity ``quantity``; 0 takes it out of the cart."""
    _check_quantity(quantity, low=0)
    if quantity == 0:
        cart_remove(user=user, session=session, product_id=product_id)
        return
    _check_product(product_id)
    if user.is_authenticated:
        locked = _locked_cart(user)
        CartItem.objects.update_or_create(
            user=user, product_id=product_id, defaults={"quantity": quantity}
        )
        _recount(locked)
        return
    cart = session_cart(session)
    cart[product_id] = quantity
    _save_session_cart(session, cart)


@transaction.atomic
def cart_remove(*, user, session: SessionBase, product_id: int) -> None:
    if user.is_authenticated:
        locked = _locked_cart(user)
        CartItem.objects.filter(user=user, product_id=product_id).delete()
        _recount(locked)
        return
    cart = session_cart(session)
    if cart.pop(product_id, None) is not None:
        _save_session_cart(session, cart)


@transaction.atomic
def merge_session_cart(session: SessionBase, user) -> None:
    """Add what the visitor put in the cart before logging in to the account's cart.

    Quantities of a product in both add up, to at most MAX_QUANTITY; products gone
    from the catalog meanwhile are dropped."""
    cart = session_cart(session)
    if not cart:
        session.pop(SESSION_KEY, None)
        return
    existing = catalog_selectors.products_by_id(cart)
    locked = _locked_cart(user)
    for product_id, quantity in cart.items():
        if product_id not in existing:
            continue
        item = one_or_none(
            CartItem.objects.select_for_update().filter(user=user, product_id=product_id)
        )
        if item is None:
            CartItem.objects.create(user=user, product_id=product_id, quantity=quantity)
        else:
            item.quantity = min(MAX_QUANTITY, item.quantity + quantity)
            item.save(update_fields=["quantity"])
    _recount(locked)
    # A failure above raises before this: the visitor's cart stays where it was (the
    # session of a request that fails is not saved).
    session.pop(SESSION_KEY, None)


# -- checkout -------------------------------------------------------------------------------


@transaction.atomic
def checkout(
    *, user, token: str, dest_x: int, dest_y: int, ups_account: int | None = None
) -> Order:
    """Order everything in the user's cart as one order, and empty the cart.

    The order and the emptied cart commit together. A form posted again (same
    ``token``) gets the order it made the first time, even though the cart is
    empty by then."""
    # Locking the cart first queues a concurrent second post of the same form behind
    # this one; it then finds the order by its token below.
    locked = _locked_cart(user)
    # The lines with their products in one query: place_order needs both.
    lines = list(CartItem.objects.filter(user=user).select_related("product"))
    # Looked up once, here, before the cart is found empty: place_order is told so.
    existing = orders_services.order_of_token(user, token) if token else None
    if existing is not None:
        return existing
    if not lines:
        raise ValidationError("Your cart is empty: add a product before checking out.")
    order = orders_services.place_order(
        user=user,
        items={line.product_id: line.quantity for line in lines},
        dest_x=dest_x,
        dest_y=dest_y,
        ups_account=ups_account,
        token=token,
        products={line.product_id: line.product for line in lines},
        token_looked_up=True,
    )
    CartItem.objects.filter(user=user).delete()
    locked.units = 0
    locked.save(update_fields=["units"])
    return order
