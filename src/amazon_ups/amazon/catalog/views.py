from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from amazon_ups.amazon.catalog import selectors
from amazon_ups.common.parsing import parse_int
from amazon_ups.protocol.limits import INT64_MAX

PRODUCTS_PER_PAGE = 12


def page_number(value: str | None, num_pages: int) -> int:
    """The page asked for, kept in range: anything that is not a page number gives the
    first page, a page past the end the last one."""
    number = parse_int(value, 1, INT64_MAX)
    return 1 if number is None else min(number, num_pages)


def product_list(request):
    slug = request.GET.get("category", "")
    category = selectors.category_get(slug) if slug else None
    if slug and category is None:
        raise Http404("No such category")
    query = request.GET.get("q", "").strip()[: selectors.MAX_QUERY_LENGTH]
    paginator = Paginator(
        selectors.product_search(query=query, category=category), PRODUCTS_PER_PAGE
    )
    page = paginator.page(page_number(request.GET.get("page"), paginator.num_pages))
    rows = [(product, selectors.stock_status(product.on_hand_total)) for product in page]
    context = {
        "rows": rows,
        "page": page,
        "query": query,
        "category": category,
        "categories": selectors.category_list(),
    }
    return render(request, "catalog/product_list.html", context)


def product_detail(request, product_id: int):
    product = selectors.product_detail(product_id)
    if product is None:
        raise Http404("No such product")
    context = {"product": product, "stock": selectors.stock_status(product.on_hand_total)}
    return render(request, "catalog/product_detail.html", context)


@require_GET
def warehouses_json(request):
    """Where the store's warehouses are, for the maps a shopper picks a destination on."""
    return JsonResponse(
        {
            "warehouses": [
                {"id": w.id, "name": w.name, "x": w.x, "y": w.y} for w in selectors.warehouse_list()
            ]
        }
    )
