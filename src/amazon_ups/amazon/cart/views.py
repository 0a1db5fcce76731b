from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from amazon_ups.amazon.accounts import selectors as accounts_selectors
from amazon_ups.amazon.cart import selectors, services
from amazon_ups.amazon.cart.forms import (
    AddToCartForm,
    CheckoutForm,
    RemoveFromCartForm,
    UpdateCartForm,
)
from amazon_ups.amazon.catalog import selectors as catalog_selectors


def _cart_page(request, errors=(), status: int = 200):
    lines = selectors.cart_lines(request.user, request.session)
    rows = [
        (
            line,
            UpdateCartForm(
                initial={"product": line.product.id, "quantity": line.quantity},
                auto_id=f"line{line.product.id}_%s",
            ),
        )
        for line in lines
    ]
    context = {
        "rows": rows,
        "units": sum(line.quantity for line in lines),
        # The nav bar's count, from the lines read already (context_processors.cart).
        "cart_count": sum(line.quantity for line in lines),
        "total": selectors.cart_total(lines),
        "errors": list(errors),
    }
    return render(request, "cart/detail.html", context, status=status)


def _errors_of(form) -> list[str]:
    return [message for messages_ in form.errors.values() for message in messages_]


def _product_or_404(product_id: int):
    product = catalog_selectors.product_get(product_id)
    if product is None:
        raise Http404("No such product")
    return product


@require_GET
def cart_detail(request):
    return _cart_page(request)


@require_POST
def cart_add(request):
    form = AddToCartForm(request.POST)
    if not form.is_valid():
        return _cart_page(request, _errors_of(form), status=400)
    quantity = form.cleaned_data["quantity"]
    try:
        product, _ = services.cart_add(
            user=request.user,
            session=request.session,
            product_id=form.cleaned_data["product"],
            quantity=quantity,
        )
    except ValidationError as error:
        if error.code == "unknown_product":
            raise Http404("No such product") from None
        return _cart_page(request, error.messages, status=400)
    messages.success(request, f"Added {quantity} \u00d7 {product.name} to your cart.")
    after = request.POST.get("next", "")
    if after and url_has_allowed_host_and_scheme(
        after, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(after)
    return redirect("cart:detail")


@require_POST
def cart_update(request):
    form = UpdateCartForm(request.POST)
    if not form.is_valid():
        return _cart_page(request, _errors_of(form), status=400)
    product = _product_or_404(form.cleaned_data["product"])
    quantity = form.cleaned_data["quantity"]
    try:
        services.cart_set_quantity(
            user=request.user, session=request.session, product_id=product.id, quantity=quantity
        )
    except ValidationError as error:
        return _cart_page(request, error.messages, status=400)
    if quantity:
        messages.success(request, f"{product.name}: quantity is now {quantity}.")
    else:
        messages.success(request, f"Removed {product.name} from your cart.")
    return redirect("cart:detail")


@require_POST
def cart_remove(request):
    form = RemoveFromCartForm(request.POST)
    if not form.is_valid():
        return _cart_page(request, _errors_of(form), status=400)
    product_id = form.cleaned_data["product"]
    services.cart_remove(user=request.user, session=request.session, product_id=product_id)
    product = catalog_selectors.product_get(product_id)
    messages.success(request, f"Removed {product.name if product else 'it'} from your cart.")
    return redirect("cart:detail")


@login_required
@require_http_methods(["GET", "POST"])
def checkout(request):
    addresses = accounts_selectors.addresses_of(request.user)
    if request.method == "GET":
        form = CheckoutForm.fresh(accounts_selectors.profile_on(request.user), addresses)
        return _checkout_page(request, form)
    form = CheckoutForm(request.POST, addresses=addresses)
    if form.is_valid():
        data = form.cleaned_data
        try:
            order = services.checkout(
                user=request.user,
                token=data["token"],
                dest_x=data["dest_x"],
                dest_y=data["dest_y"],
                ups_account=data["ups_account"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect(order)
    return _checkout_page(request, form, status=400)


def _checkout_page(request, form, status: int = 200):
    lines = selectors.cart_lines(request.user, request.session)
    dest, own_address = accounts_selectors.delivery_point(request.user)
    needs = {line.product.id: line.quantity for line in lines}
    context = {
        "form": form,
        "lines": lines,
        "units": sum(line.quantity for line in lines),
        "cart_count": sum(line.quantity for line in lines),
        "addresses": form.addresses.values(),
        "saved_places": [{"name": a.name, "x": a.x, "y": a.y} for a in form.addresses.values()],
        "total": selectors.cart_total(lines),
        "estimate": (
            catalog_selectors.delivery_estimate(needs, dest, timezone.now()) if needs else None
        ),
        "dest": dest,
        "own_address": own_address,
    }
    return render(request, "cart/checkout.html", context, status=status)
