from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from amazon_ups.amazon.catalog import selectors as catalog_selectors
from amazon_ups.amazon.orders import selectors, services
from amazon_ups.amazon.orders.forms import PlaceOrderForm


@login_required
@require_http_methods(["GET", "POST"])
def order_place(request):
    if request.method == "GET":
        product = _product_or_404(request.GET.get("product"))
        form = PlaceOrderForm.for_product(product.id)
        return render(request, "orders/place.html", {"form": form, "product": product})
    form = PlaceOrderForm(request.POST)
    product = _product_or_404(request.POST.get("product"))
    if form.is_valid():
        data = form.cleaned_data
        try:
            order = services.place_order(
                user=request.user,
                items={product.id: data["quantity"]},
                dest_x=data["dest_x"],
                dest_y=data["dest_y"],
                ups_account=data["ups_account"],
                token=data["token"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect(order)
    return render(request, "orders/place.html", {"form": form, "product": product}, status=400)


@login_required
def order_list(request):
    return render(request, "orders/list.html", {"orders": selectors.order_list_for(request.user)})


@login_required
def order_detail(request, order_id: int):
    order = selectors.order_get_for(request.user, order_id)
    if order is None:
        raise Http404("No such order")
    events = selectors.order_events(order)
    return render(request, "orders/detail.html", {"order": order, "events": events})


def _product_or_404(value: str | None):
    product = catalog_selectors.product_get(int(value)) if value and value.isdigit() else None
    if product is None:
        raise Http404("No such product")
    return product
