"""The site's URLs and two that fail, for the error page tests only: production has no
URL that raises on purpose."""

from django.core.exceptions import PermissionDenied
from django.urls import path

from amazon_ups.ups.urls import urlpatterns as site_urls


def forbidden(request):
    raise PermissionDenied


def broken(request):
    raise RuntimeError("a defect")


urlpatterns = [
    path("test-forbidden/", forbidden),
    path("test-broken/", broken),
    *site_urls,
]
