"""The seller's sales, in the seller area (/sell/sales/): order lines are the orders' own."""

from __future__ import annotations

from django.shortcuts import render

from amazon_ups.amazon.catalog.seller_views import seller_required
from amazon_ups.amazon.orders import selectors


@seller_required
def sales(request):
    context = {
        "lines": selectors.seller_sales(request.user),
        "totals": selectors.seller_sales_totals(request.user),
    }
    return render(request, "orders/sales.html", context)
