"""``{% load site_header %}{% site_header %}``: base.html's header (``_site_header.html``),
the same on every page but for the visitor. Rendered once per kind of visitor (anonymous,
shopper, seller, staff) and kept (``common/fragments.py``): its eight links are reversed
once per process, not on every page. What is each visitor's own is filled in per request:
their name, their cart's count, the search they typed, and the logout form's CSRF token
(the page's own, as ``{% csrf_token %}`` would write)."""

from __future__ import annotations

from django import template
from django.core.exceptions import ObjectDoesNotExist
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString

from amazon_ups.common import fragments

register = template.Library()


@register.simple_tag(takes_context=True)
def site_header(context) -> SafeString:
    # A page rendered without the request's context (none of ours extends base.html so,
    # but the template allowed it) gets the anonymous header, as the template gave.
    request, user = context.get("request"), context.get("user")
    signed_in = user is not None and user.is_authenticated
    seller = signed_in and _is_seller(user)
    staff = signed_in and user.is_staff
    # Every link depends on the script prefix (a site served under a path) too.
    key = f"site-header:{get_script_prefix()}:{signed_in:d}{seller:d}{staff:d}"
    html = fragments.kept(key, lambda: _render(signed_in, seller, staff))
    query = request.GET.get("q", "") if request is not None else ""
    slots = {"query": escape(query), "cart-badge": _cart_badge(context)}
    if signed_in:
        # Only the logout form needs the token: no token is made for an anonymous header.
        slots |= {"username": escape(user.username), "csrf": str(context.get("csrf_token", ""))}
    return fragments.slots_filled(html, slots)


def _render(signed_in: bool, seller: bool, staff: bool) -> str:
    return render_to_string(
        "_site_header.html",
        {
            "signed_in": signed_in,
            "seller": seller,
            "staff": staff,
            "query": fragments.slot("query"),
            "cart_badge": fragments.slot("cart-badge"),
            "username": fragments.slot("username"),
            **fragments.fragment_context(),
        },
    )


def _is_seller(user) -> bool:
    try:
        return user.profile.is_seller
    except ObjectDoesNotExist:  # no profile: no seller, as the template took it
        return False


def _cart_badge(context) -> str:
    # The page's own count if it gives one (it read the cart's lines), else the context
    # processor's, counted only now (cart/context_processors.py).
    count = context.get("cart_count", 0)
    if callable(count):
        count = count()
    if not count:
        return ""
    return format_html(' <span class="badge" aria-label="{} items">{}</span>', count, count)
