from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from amazon_ups.amazon.accounts import selectors as accounts_selectors
from amazon_ups.amazon.catalog import images, selectors
from amazon_ups.amazon.catalog.forms import CatalogQueryForm
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
    options = CatalogQueryForm(request.GET)
    asked_sort, in_stock_only = options.options()
    found = selectors.product_search(
        query=query, category=category, sort=asked_sort, in_stock_only=in_stock_only
    )
    sort = selectors.product_sort(query, asked_sort)
    paginator = Paginator(found.products, PRODUCTS_PER_PAGE)
    page = paginator.page(page_number(request.GET.get("page"), paginator.num_pages))
    # on_hand_total is an annotation (selectors._with_stock): search.Found's type does
    # not carry it, and the django-stubs plugin would not find it on a Page's rows.
    rows = [
        (product, selectors.stock_status(product.on_hand_total))  # type: ignore[attr-defined]
        for product in page
    ]
    # Links to other pages and categories keep the rest of the query as it is.
    keep = request.GET.copy()
    keep.pop("page", None)
    keep_category = keep.copy()
    keep_category.pop("category", None)
    context = {
        "rows": rows,
        "page": page,
        "query": query,
        "category": category,
        "categories": selectors.category_list(),
        "options": options,
        "sort": sort,
        "in_stock_only": in_stock_only,
        "sorts": [
            choice
            for choice in selectors.ProductSort.choices
            if query or choice[0] != selectors.ProductSort.RELEVANCE
        ],
        # A typo corrected: what was searched for instead.
        "searched_for": found.searched_for if found.corrected else "",
        "keep": keep.urlencode(),
        "keep_category": keep_category.urlencode(),
    }
    return render(request, "catalog/product_list.html", context)


def product_detail(request, product_id: int):
    product = selectors.product_detail(product_id) if product_id <= INT64_MAX else None
    if product is None:
        raise Http404("No such product")
    dest, own_address = accounts_selectors.delivery_point(request.user)
    context = {
        "product": product,
        "stock": selectors.stock_status(product.on_hand_total),
        "estimate": selectors.delivery_estimate({product.id: 1}, dest, timezone.now()),
        "dest": dest,
        "own_address": own_address,
    }
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


@require_GET
def product_image(request, product_id: int):
    """The product's picture: the seller's upload, or one the store draws. Unlisted
    products keep theirs (old orders show them). The file is found by the product's
    row, never by a name from the request."""
    product = selectors.product_get(product_id) if product_id <= INT64_MAX else None
    if product is None:
        raise Http404("No such product")
    path = images.stored_path(product.image_file) if product.image_file else None
    if path is not None:
        response = HttpResponse(path.read_bytes(), content_type=product.image_type)
    else:
        slug = product.category.slug if product.category is not None else ""
        response = HttpResponse(images.drawn_svg(product.name, slug), content_type="image/svg+xml")
    # An image is only ever an image: no script in an SVG runs, nothing is sniffed.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=300"
    return response
