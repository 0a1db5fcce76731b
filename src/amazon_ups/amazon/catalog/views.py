from django.shortcuts import render

from amazon_ups.amazon.catalog import selectors
from amazon_ups.amazon.orders.forms import PlaceOrderForm


def product_list(request):
    products = list(selectors.product_list())
    rows = [(product, PlaceOrderForm.for_product(product.id)) for product in products]
    return render(request, "catalog/product_list.html", {"rows": rows})
