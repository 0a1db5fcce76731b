"""The seller area: a seller's own products, their stock and the orders for them.
Every view needs a seller; another seller's product is a 404."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from amazon_ups.amazon.accounts import selectors as accounts_selectors
from amazon_ups.amazon.catalog import selectors, services
from amazon_ups.amazon.catalog.forms import ProductForm


def seller_required(view):
    @login_required
    @wraps(view)
    def checked(request, *args, **kwargs):
        if not accounts_selectors.is_seller(request.user):
            raise PermissionDenied("Only sellers have a seller area.")
        return view(request, *args, **kwargs)

    return checked


@seller_required
def home(request):
    products = list(selectors.seller_products(request.user))
    warehouses = selectors.warehouse_list()
    levels = selectors.seller_stock(request.user)
    rows = [
        (
            product,
            selectors.stock_status(product.on_hand_total),
            [levels.get(product.id, {}).get(w.id, (0, 0)) for w in warehouses],
        )
        for product in products
    ]
    context = {"rows": rows, "warehouses": warehouses}
    return render(request, "catalog/sell/home.html", context)


@seller_required
@require_http_methods(["GET", "POST"])
def product_create(request):
    form = ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        product = services.product_create(seller=request.user, **form.cleaned_data)
        messages.success(request, f"“{product.name}” is on sale as product {product.id}.")
        return redirect("sell:home")
    status = 400 if form.is_bound else 200
    return render(request, "catalog/sell/product_form.html", {"form": form}, status=status)


@seller_required
@require_http_methods(["GET", "POST"])
def product_edit(request, product_id: int):
    product = selectors.seller_product_get(request.user, product_id)
    if product is None:
        raise Http404("No such product of yours")
    if request.method == "POST":
        form = ProductForm(request.POST)
        if form.is_valid():
            services.product_update(product, **form.cleaned_data)
            messages.success(request, f"“{product.name}” is saved.")
            return redirect("sell:home")
        status = 400
    else:
        form = ProductForm(
            initial={
                "name": product.name,
                "description": product.description,
                "category": product.category_id,
            }
        )
        status = 200
    context = {"form": form, "product": product}
    return render(request, "catalog/sell/product_form.html", context, status=status)


@seller_required
def sales(request):
    return render(
        request, "catalog/sell/sales.html", {"lines": selectors.seller_sales(request.user)}
    )
