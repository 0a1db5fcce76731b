"""The seller's "restock" button: the one page action that buys from the world. It
lives here, above the catalog, because the purchase is the fulfilment daemon's
message; the web only writes it (with the stock it adds) and wakes the daemon."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from amazon_ups.amazon.catalog import selectors as catalog_selectors
from amazon_ups.amazon.catalog.seller_views import own_product_or_404, seller_required
from amazon_ups.amazon.fulfilment import services
from amazon_ups.amazon.fulfilment.forms import RestockForm


@seller_required
@require_POST
def restock(request, product_id: int):
    product = own_product_or_404(request.user, product_id)
    form = RestockForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"{product.name}: {error}")
        return redirect("sell:home")
    warehouse = catalog_selectors.warehouse_get(form.cleaned_data["warehouse"])
    if warehouse is None:
        messages.error(request, f"{product.name}: no such warehouse.")
        return redirect("sell:home")
    count = form.cleaned_data["count"]
    try:
        services.restock(product_id=product.id, warehouse_id=warehouse.id, count=count)
    except services.CannotRestock as problem:
        messages.error(request, f"{product.name}: {problem}")
    else:
        messages.success(
            request,
            f"Bought {count} \u00d7 {product.name} for {warehouse.name}: on its way.",
        )
    return redirect("sell:home")
