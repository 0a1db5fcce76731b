"""The seller area: a seller's own products, their stock and the orders for them.
Every view needs a seller; another seller's product is a 404."""

from __future__ import annotations

from decimal import Decimal
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from amazon_ups.amazon.accounts import selectors as accounts_selectors
from amazon_ups.amazon.catalog import selectors, services
from amazon_ups.amazon.catalog.forms import ProductForm
from amazon_ups.amazon.catalog.models import Product


def seller_required(view):
    @login_required
    @wraps(view)
    def checked(request, *args, **kwargs):
        if not accounts_selectors.is_seller(request.user):
            raise PermissionDenied("Only sellers have a seller area.")
        return view(request, *args, **kwargs)

    return checked


def own_product_or_404(seller, product_id: int) -> Product:
    """The seller's own product; another seller's is a 404 like a missing one."""
    product = selectors.seller_product_get(seller, product_id)
    if product is None:
        raise Http404("No such product of yours")
    return product


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


def _duplicate_warning(form: ProductForm, seller, product: Product | None) -> str | None:
    """What to tell a seller about to give a product a name already in the catalog,
    unless they have said to go ahead."""
    if form.cleaned_data.get("list_anyway"):
        return None
    name = form.cleaned_data["name"]
    if product is not None and name.casefold() == product.name.casefold():
        return None  # keeping its own name is no news
    twins = selectors.products_named(name, excluding=product.id if product else None)
    if not twins:
        return None
    mine = [t for t in twins if t.seller_id == seller.pk]
    if mine:
        ids = ", ".join(f"#{t.id}" for t in mine)
        return (
            f"You already sell a product named “{name}” ({ids}). Shoppers may not tell them apart."
        )
    return f"Another product in the catalog is named “{name}”. Shoppers may not tell them apart."


def _product_page(request, form, product=None, warning=None, status=200):
    context = {"form": form, "product": product, "warning": warning}
    return render(request, "catalog/sell/product_form.html", context, status=status)


def _save_image(request, product: Product, form: ProductForm) -> None:
    image = form.cleaned_data.get("image")
    if image is not None:
        services.product_set_image(product, image.data)


@seller_required
@require_http_methods(["GET", "POST"])
def product_create(request):
    form = ProductForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        warning = _duplicate_warning(form, request.user, None)
        if warning:
            again = ProductForm(request.POST, ask_duplicate=True)
            return _product_page(request, again, warning=warning)
        data = {k: form.cleaned_data[k] for k in ("name", "description", "category")}
        price = form.cleaned_data["price"]
        product = services.product_create(
            seller=request.user, price=Decimal("0.00") if price is None else price, **data
        )
        _save_image(request, product, form)
        messages.success(request, f"“{product.name}” is on sale as product {product.id}.")
        return redirect("sell:home")
    return _product_page(request, form, status=400 if form.is_bound else 200)


@seller_required
@require_http_methods(["GET", "POST"])
def product_edit(request, product_id: int):
    product = own_product_or_404(request.user, product_id)
    if request.method == "POST":
        form = ProductForm(request.POST, request.FILES)
        if form.is_valid():
            warning = _duplicate_warning(form, request.user, product)
            if warning:
                again = ProductForm(request.POST, ask_duplicate=True)
                return _product_page(request, again, product, warning)
            data = {k: form.cleaned_data[k] for k in ("name", "description", "category", "price")}
            services.product_update(product, **data)
            _save_image(request, product, form)
            messages.success(request, f"“{product.name}” is saved.")
            return redirect("sell:home")
        return _product_page(request, form, product, status=400)
    form = ProductForm(
        initial={
            "name": product.name,
            "description": product.description,
            "category": product.category_id,
            "price": product.price,
        }
    )
    return _product_page(request, form, product)


@seller_required
@require_POST
def product_listing(request, product_id: int):
    """Unlist (take off sale) or relist one of the seller's products."""
    product = own_product_or_404(request.user, product_id)
    listed = request.POST.get("listed") == "1"
    services.product_set_listed(product, listed)
    if listed:
        messages.success(request, f"“{product.name}” is on sale again.")
    else:
        messages.success(
            request,
            f"“{product.name}” is off sale: shoppers no longer see it. Orders placed go ahead.",
        )
    return redirect("sell:home")
