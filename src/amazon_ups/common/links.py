"""Absolute links from the sites' public URLs (``AMAZON_PUBLIC_URL``, ``UPS_PUBLIC_URL``):
each site's links to the other, and every link in an email, which is read far from any
request. The few paths one site links to on the other are the sites' contract, kept
here, next to each other."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from django.conf import settings
from django.urls import reverse

SCHEMES = ("http", "https")


def url_problem(value) -> str | None:
    """Why ``value`` cannot be a site's public URL, or None: an http(s) URL with a host,
    and neither a query nor a fragment (paths are appended to it)."""
    if not isinstance(value, str) or not value.strip():
        return "it is empty"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a port that is no number or out of range)
    except ValueError as error:
        return f"it is not a URL ({error})"
    if parts.scheme not in SCHEMES:
        return "it does not start with http:// or https://"
    if not parts.hostname:
        return "it names no host"
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        return "it has a query or a fragment"
    return None


def join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


def own_site(path: str) -> str:
    """``path`` of this site (``settings.PROJECT``), absolute."""
    return join(getattr(settings, f"{settings.PROJECT.upper()}_PUBLIC_URL"), path)


def own_site_reverse(name: str, *args, **kwargs) -> str:
    return own_site(reverse(name, args=args or None, kwargs=kwargs or None))


def carrier_tracking_page(number: str) -> str:
    """The carrier's page of the package with this tracking number."""
    return join(settings.UPS_PUBLIC_URL, f"/track/{quote(number, safe='')}/")


def store_orders_page() -> str:
    """The store's list of the signed-in shopper's orders. The carrier does not know
    which order a package is (the protocol names packages only), so it links here."""
    return join(settings.AMAZON_PUBLIC_URL, "/orders/")
