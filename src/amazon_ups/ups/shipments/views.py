from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from amazon_ups.ups.shipments import selectors

MAX_PACKAGE_ID = 2**63 - 1


def package_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "shipments/package_list.html",
        {"packages": selectors.package_list(), "trucks": selectors.truck_list()},
    )


def package_detail(request: HttpRequest, package_id: int) -> HttpResponse:
    package = selectors.package_get(package_id) if package_id <= MAX_PACKAGE_ID else None
    if package is None:
        raise Http404(f"No package with tracking number {package_id}")
    return render(
        request,
        "shipments/package_detail.html",
        {
            "package": package,
            "items": selectors.package_items(package),
            "events": selectors.package_events(package),
        },
    )


def track(request: HttpRequest) -> HttpResponse:
    number = request.GET.get("number", "").strip()
    if number.isdigit() and int(number) <= MAX_PACKAGE_ID and selectors.package_get(int(number)):
        return redirect("shipments:detail", package_id=int(number))
    return render(
        request, "shipments/track.html", {"number": number}, status=404 if number else 200
    )
