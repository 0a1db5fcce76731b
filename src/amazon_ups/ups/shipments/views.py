from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from amazon_ups.common.parsing import parse_int
from amazon_ups.ups.shipments import selectors, services
from amazon_ups.ups.shipments.forms import PackageFilterForm, RedirectForm
from amazon_ups.ups.shipments.models import TruckStatus
from amazon_ups.ups.shipments.package_lifecycle import NOT_FINAL

PAGE_SIZE = 20


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "shipments/home.html")


def track(request: HttpRequest) -> HttpResponse:
    """Anyone with the number sees where a package is; not what is inside, nor whose."""
    text = request.GET.get("number", "").strip()
    if not text:
        return render(request, "shipments/track.html", {"number": ""})
    number = selectors.tracking_number(text)
    package = selectors.package_get(number) if number is not None else None
    if package is None:
        return render(request, "shipments/track.html", {"number": text}, status=404)
    owned = selectors.package_of_user(package.id, request.user) is not None
    return render(
        request,
        "shipments/track.html",
        {
            "number": text,
            "package": package,
            "timeline": selectors.package_timeline(package),
            "owned": owned,
        },
    )


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    form = PackageFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    packages = selectors.packages_of_user(
        request.user,
        status=filters.get("status") or "",
        state=filters.get("state") or "",
        number=filters.get("q"),
    )
    page = Paginator(packages, PAGE_SIZE).get_page(parse_int(request.GET.get("page"), 1, 2**63 - 1))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "shipments/mine.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "account": selectors.account_of(request.user),
            "filtered": bool(filters and any(filters.values())),
        },
    )


def _owned_or_404(request: HttpRequest, package_id: int):
    package = selectors.package_of_user(package_id, request.user)
    if package is None:
        raise Http404("No package of yours has that tracking number.")
    return package


@login_required
def package_detail(request: HttpRequest, package_id: int) -> HttpResponse:
    package = _owned_or_404(request, package_id)
    return _detail(
        request, package, RedirectForm(initial={"x": package.dest_x, "y": package.dest_y})
    )


def _detail(request: HttpRequest, package, form: RedirectForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "shipments/package_detail.html",
        {
            "package": package,
            "items": selectors.package_items(package),
            "timeline": selectors.package_timeline(package),
            "too_late": selectors.redirect_too_late(package),
            "delivered_place": selectors.delivered_place(package),
            "can_redirect": package.status in NOT_FINAL,
            "redirect_pending": package.redirect_seqnum is not None,
            "form": form,
        },
        status=status,
    )


@login_required
@require_POST
def package_redirect(request: HttpRequest, package_id: int) -> HttpResponse:
    package = _owned_or_404(request, package_id)
    form = RedirectForm(request.POST)
    if not form.is_valid():
        return _detail(request, package, form, status=400)
    result = services.package_redirect(
        package, x=form.cleaned_data["x"], y=form.cleaned_data["y"], by_user=request.user
    )
    if result.accepted:
        messages.success(request, result.message)
    else:
        messages.error(request, result.message)
    return redirect("shipments:detail", package_id=package.id)


def live_map(request: HttpRequest) -> HttpResponse:
    return render(request, "shipments/map.html", {"truck_statuses": TruckStatus.choices})


@never_cache
def map_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(selectors.map_data(request.user))
