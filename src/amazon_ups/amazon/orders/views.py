from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from amazon_ups.amazon.carrier import selectors as carrier_selectors
from amazon_ups.amazon.catalog import selectors as catalog_selectors
from amazon_ups.amazon.orders import selectors, services
from amazon_ups.amazon.orders.forms import PlaceOrderForm
from amazon_ups.common.dates import human_datetime
from amazon_ups.common.parsing import parse_int
from amazon_ups.protocol.limits import INT64_MAX

ORDERS_PER_PAGE = 20


@login_required
@require_http_methods(["GET", "POST"])
def order_place(request):
    """Buy one product at once (the cart's checkout buys several)."""
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
                products={product.id: product},
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect(order)
    return render(request, "orders/place.html", {"form": form, "product": product}, status=400)


@login_required
@require_GET
def order_list(request):
    page = Paginator(selectors.order_list_for(request.user), ORDERS_PER_PAGE).get_page(
        parse_int(request.GET.get("page"), 1, INT64_MAX)
    )
    return render(request, "orders/list.html", {"page": page, "orders": page.object_list})


@login_required
@require_GET
def order_detail(request, order_id: int):
    found = (
        selectors.order_with_lines_for(request.user, order_id) if order_id <= INT64_MAX else None
    )
    if found is None:
        raise Http404("No such order")
    order, lines = found
    events = selectors.order_events(order)
    context = {
        "order": order,
        "lines": lines,
        "total": selectors.lines_total(lines),
        "events": events,
        "steps": selectors.order_steps(order, events),
        "account": _account_state(order),
        "final": order.status in selectors.FINAL,
        "tracking_url": selectors.tracking_url(order),
    }
    return render(request, "orders/detail.html", context)


@login_required
@require_GET
def order_status(request, order_id: int):
    """What the order page shows, for its script to update it without a reload."""
    order = _order_or_404(request, order_id)
    events = selectors.order_events(order)
    account = _account_state(order)
    data = {
        "id": order.id,
        "tracking_number": order.tracking_number or None,
        "tracking_url": selectors.tracking_url(order),
        "status": order.status,
        "status_label": order.status_label,
        "final": order.status in selectors.FINAL,
        "waiting_for_stock": order.waiting_for_stock,
        "failure": order.failure,
        "destination": {"x": order.dest_x, "y": order.dest_y},
        "steps": [
            {
                "status": step.status,
                "label": step.label,
                "reached": step.reached,
                "at": step.at.isoformat() if step.at else None,
                "at_text": human_datetime(step.at),
            }
            for step in selectors.order_steps(order, events)
        ],
        "events": [
            {
                "status": event.status,
                "kind": event.kind,
                "at": event.at.isoformat(),
                "at_text": human_datetime(event.at),
                "note": event.what,
            }
            for event in events
        ],
        "ups_account": (
            {"number": account.number, "state": account.state, "text": account.text}
            if account
            else None
        ),
    }
    response = JsonResponse(data)
    response["Cache-Control"] = "no-store"
    return response


def _order_or_404(request, order_id: int) -> selectors.OrderShown:
    order = selectors.order_get_for(request.user, order_id) if order_id <= INT64_MAX else None
    if order is None:
        raise Http404("No such order")
    return order


def _account_state(order: selectors.OrderShown):
    if order.ups_account is None:
        return None
    return carrier_selectors.ups_account_state(order.ups_account)


def _product_or_404(value: str | None):
    product_id = parse_int(value, 1, INT64_MAX)
    product = catalog_selectors.product_get(product_id) if product_id is not None else None
    if product is None:
        raise Http404("No such product")
    return product
