from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_GET

from amazon_ups.amazon.accounts import selectors as accounts_selectors
from amazon_ups.amazon.catalog import delivery, images, selectors
from amazon_ups.amazon.catalog.forms import CatalogQueryForm
from amazon_ups.amazon.catalog.templatetags.stock import stock_badge
from amazon_ups.common import fragments
from amazon_ups.common.dates import human_datetime
from amazon_ups.common.parsing import parse_int
from amazon_ups.protocol.limits import INT64_MAX

PRODUCTS_PER_PAGE = 12


def page_number(value: str | None, num_pages: int) -> int:
    """The page asked for, kept in range: anything that is not a page number gives the
    first page, a page past the end the last one."""
    number = parse_int(value, 1, INT64_MAX)
    return 1 if number is None else min(number, num_pages)


# The list's query parameters: they name a kept page, and its links carry them on (any
# other parameter is dropped, so it cannot make new pages to keep).
LIST_PARAMETERS = ("q", "category", "sort", "available", "page")


@dataclass(frozen=True)
class ListPage:
    """A list page's content as kept (fragments.kept): the same for every visitor."""

    html: str
    query: str
    category_name: str
    found: bool  # False: the category asked for does not exist


@dataclass(frozen=True)
class DetailPage:
    """A product page's content as kept: the same for every visitor and whatever is on
    the shelves (its stock is read per request, as a sale changes it)."""

    html: str
    name: str
    listed: bool = True


def product_list(request):
    asked = QueryDict(mutable=True)
    for name in LIST_PARAMETERS:
        if values := request.GET.getlist(name):
            asked.setlist(name, values)
    # Search, count, page and rendering happen once per catalog version and query in
    # each process; every visitor after that only gets the CSRF token filled in.
    query = hashlib.sha256(asked.urlencode().encode()).hexdigest()
    key = f"catalog:list:{selectors.catalog_version()}:{query}"
    page = fragments.kept(key, lambda: _list_content(asked))
    if not page.found:
        raise Http404("No such category")
    context = {
        **fragments.filled(request, page.html),
        "query": page.query,
        "category_name": page.category_name,
    }
    return render(request, "catalog/product_list.html", context)


def _list_content(asked: QueryDict) -> ListPage:
    slug = asked.get("category", "")
    category = selectors.category_get(slug) if slug else None
    if slug and category is None:
        return ListPage("", "", "", found=False)
    query = asked.get("q", "").strip()[: selectors.MAX_QUERY_LENGTH]
    options = CatalogQueryForm(asked)
    asked_sort, in_stock_only = options.options()
    found = selectors.product_search(
        query=query, category=category, sort=asked_sort, in_stock_only=in_stock_only
    )
    sort = selectors.product_sort(query, asked_sort)
    paginator = Paginator(found.products, PRODUCTS_PER_PAGE)
    page = paginator.page(page_number(asked.get("page"), paginator.num_pages))
    # on_hand_total is an annotation (selectors._with_stock): search.Found's type does
    # not carry it, and the django-stubs plugin would not find it on a Page's rows.
    rows = [
        (product, selectors.stock_status(product.on_hand_total))  # type: ignore[attr-defined]
        for product in page
    ]
    # Links to other pages and categories keep the rest of the query as it is.
    keep = asked.copy()
    keep.pop("page", None)
    keep_category = keep.copy()
    keep_category.pop("category", None)
    context = {
        "rows": rows,
        "page": page,
        "query": query,
        "category": category,
        "categories": selectors.category_list(),
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
        **fragments.fragment_context(),
    }
    html = render_to_string("catalog/_product_list.html", context)
    return ListPage(html, query, category.name if category else "", found=True)


def product_detail(request, product_id: int):
    # The page is kept per version of the catalog's content, which a sale leaves as it
    # is; its stock per version of the whole catalog, which a sale changes: after one,
    # the stock alone is read again.
    whole, content = selectors.catalog_versions()
    page = fragments.kept(
        f"catalog:product:{content}:{product_id}", lambda: _detail_content(product_id)
    )
    if not page.listed:
        raise Http404("No such product")
    on_hand = fragments.kept(
        f"catalog:stock:{whole}:{product_id}", lambda: selectors.on_hand_of(product_id)
    )
    # The warehouses are the same for every product: read once per version.
    places = fragments.kept(f"catalog:places:{content}", selectors.places)
    shelves = selectors.Shelves(places, frozenset(w for w, n in on_hand.items() if n >= 1))
    dest, own_address = accounts_selectors.delivery_point(request.user)
    # The estimate is the visitor's own (their address, this moment): not kept.
    estimate = selectors.estimate_from(shelves, dest, timezone.now())
    slots = {
        STOCK_SLOT: stock_badge(selectors.stock_status(sum(on_hand.values()))),
        ESTIMATE_SLOT: _estimate_html(estimate, dest, own_address, request.user.is_authenticated),
    }
    context = {**fragments.filled(request, page.html, slots), "name": page.name}
    return render(request, "catalog/product_detail.html", context)


STOCK_SLOT = "stock"


ESTIMATE_SLOT = "estimate"


def _estimate_html(
    estimate: delivery.Estimate | None,
    dest: tuple[int, int],
    own_address: bool,
    signed_in: bool,
) -> str:
    """A product page's delivery estimate, for this visitor's address and this moment:
    written here, escaped by ``format_html``, not by a template (rendering the few lines
    of one cost a tenth of a kept page)."""
    if estimate is None:
        return ""
    if own_address:
        yours = ""
    elif signed_in:
        yours = format_html('; <a href="{}">save your address</a> for yours', reverse("profile"))
    else:
        yours = "; log in for yours"
    return format_html(
        '<dt>Delivery</dt><dd id="delivery-estimate">arrives in {}, by '
        '<time datetime="{}" data-local>{}</time>\n'
        '      <span class="muted">(to ({}, {}) from {}{})</span></dd>',
        estimate.text,
        timezone.localtime(estimate.at).isoformat(),
        human_datetime(estimate.at),
        dest[0],
        dest[1],
        estimate.warehouse_name,
        yours,
    )


# A product id with no listed product is kept too (the ids asked for are bounded by the
# cache's size): a missing product costs no more than a present one.
NOT_LISTED = DetailPage("", "", listed=False)


def _detail_content(product_id: int) -> DetailPage:
    product = selectors.product_shown(product_id) if product_id <= INT64_MAX else None
    if product is None:
        return NOT_LISTED
    context = {
        "product": product,
        "stock_slot": fragments.slot(STOCK_SLOT),
        "estimate_slot": fragments.slot(ESTIMATE_SLOT),
        **fragments.fragment_context(),
    }
    html = render_to_string("catalog/_product_detail.html", context)
    return DetailPage(html, product.name)


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
