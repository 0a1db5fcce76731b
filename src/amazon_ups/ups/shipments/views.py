from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from amazon_ups.common import links
from amazon_ups.common.parsing import parse_int
from amazon_ups.ups.accounts import selectors as accounts
from amazon_ups.ups.shipments import live, selectors, services, tracking
from amazon_ups.ups.shipments.forms import PackageFilterForm, RedirectForm
from amazon_ups.ups.shipments.models import TruckStatus
from amazon_ups.ups.shipments.package_lifecycle import NOT_FINAL
from amazon_ups.ups.shipments.tracking import InvalidTrackingNumber

PAGE_SIZE = 20


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "shipments/home.html")


def track(request: HttpRequest) -> HttpResponse:
    """The tracking form. A number that is one leads to its package's page; a typo and
    an unknown number are told apart, so the recipient knows which to check."""
    text = request.GET.get("number", "")
    if not text.strip():
        return render(request, "shipments/track.html", {"number": ""})
    shown = text[: tracking.MAX_INPUT]
    try:
        number = tracking.parse(text)
    except InvalidTrackingNumber as error:
        context = {"number": shown, "invalid": str(error)}
        return render(request, "shipments/track.html", context, status=400)
    if selectors.package_by_tracking_number(number) is None:
        return render(request, "shipments/track.html", {"number": shown}, status=404)
    return redirect("shipments:detail", number=number)


def _package_or_404(number: str):
    """The package of the tracking number written in the URL, or a 404."""
    try:
        compact = tracking.parse(number)
    except InvalidTrackingNumber:
        raise Http404("That is not a tracking number.") from None
    package = selectors.package_by_tracking_number(compact)
    if package is None:
        raise Http404("No package has that tracking number.")
    return package


def _live_context(request: HttpRequest, package) -> dict:
    """What both package pages show and their script keeps up to date."""
    state = live.package_live(package, request.user, timezone.now())
    return {
        "package": package,
        "live": state,
        "steps": live.progress_steps(package),
        "store_orders_url": links.store_orders_page(),
    }


def package_detail(request: HttpRequest, number: str) -> HttpResponse:
    """Anyone with the number sees the status, the history and the areas it goes to;
    its owner and staff see the contents and the exact places too."""
    package = _package_or_404(number)
    if number != package.tracking_number:
        return redirect("shipments:detail", number=package.tracking_number)
    if not selectors.sees_everything(package, request.user):
        return render(
            request,
            "shipments/track.html",
            {
                **_live_context(request, package),
                "timeline": selectors.package_timeline(package, exact=False),
                "area": selectors.destination_area(package),
            },
        )
    return _detail(
        request, package, RedirectForm(initial={"x": package.dest_x, "y": package.dest_y})
    )


def _detail(request: HttpRequest, package, form: RedirectForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "shipments/package_detail.html",
        {
            **_live_context(request, package),
            "items": selectors.package_items(package),
            "timeline": selectors.package_timeline(package),
            "too_late": selectors.redirect_too_late(package),
            "delivered_place": selectors.delivered_place(package),
            "can_redirect": package.status in NOT_FINAL
            and selectors.is_owner(package, request.user),
            "redirect_pending": package.redirect_seqnum is not None,
            "form": form,
        },
        status=status,
    )


@never_cache
@require_GET
def package_status(request: HttpRequest, number: str) -> JsonResponse:
    """The package page's live data: to anyone with the number what its page shows them
    (areas only), to its owner and staff the exact places too."""
    package = _package_or_404(number)
    return JsonResponse(live.package_live(package, request.user, timezone.now()))


@login_required
@require_POST
def package_redirect(request: HttpRequest, number: str) -> HttpResponse:
    package = _package_or_404(number)
    if not selectors.is_owner(package, request.user):
        # Only the owner may send it elsewhere; to anyone else it is not theirs to see.
        raise Http404("No package of yours has that tracking number.")
    form = RedirectForm(request.POST)
    if not form.is_valid():
        return _detail(request, package, form, status=400)
    result = services.package_redirect(
        package,
        x=form.cleaned_data["x"],
        y=form.cleaned_data["y"],
        by_user=request.user,
        now=timezone.now(),
    )
    if result.accepted:
        messages.success(request, result.message)
    else:
        messages.error(request, result.message)
    return redirect("shipments:detail", number=package.tracking_number)


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
            "account": accounts.account_of(request.user),
            "filtered": bool(filters and any(filters.values())),
        },
    )


@never_cache
@login_required
@require_GET
def mine_status(request: HttpRequest) -> JsonResponse:
    """The statuses of the signed-in user's packages among the numbers asked (``n``,
    one per package shown on My packages); others' packages are simply left out."""
    numbers = request.GET.getlist("n")[:PAGE_SIZE]
    return JsonResponse({"packages": selectors.statuses_of_user(request.user, numbers)})


def live_map(request: HttpRequest) -> HttpResponse:
    return render(request, "shipments/map.html", {"truck_statuses": TruckStatus.choices})


@never_cache
def map_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(selectors.map_data(request.user))
