"""Rendered parts of pages that are the same for every visitor, rendered once per process
and kept in the ``fragments`` cache, with what is each visitor's own filled in per request.

A fragment's key must name everything it shows (for the store's catalog: the catalog's
version, which changes with any change to what the pages show), so a fragment is never
stale: a change makes a new key, and the old entry ages out unused.

What differs per visitor is left in the fragment as a *slot*, a marker no content can
guess, and filled per request (``filled``). Forms need one always: the CSRF token, which
is each visitor's own. A fragment is rendered with ``csrf_token`` set to the slot
(``FRAGMENT_CONTEXT``), so ``{% csrf_token %}`` writes it where the token goes, and
``filled`` puts the request's token there: one token for every form of a page, as
Django's own context processor gives.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TypeVar

from django.core.cache import caches
from django.middleware.csrf import get_token
from django.utils.crypto import salted_hmac
from django.utils.safestring import SafeString, mark_safe

# How long an unused fragment is kept: its key changes with its content, so this only
# frees the memory of old ones sooner than the cache's size limit would.
FRAGMENT_TTL = 600

T = TypeVar("T")


@functools.cache
def slot(name: str) -> str:
    """A marker for a per-visitor part named ``name``: derived from the secret key, so
    that no product name or search a visitor types can contain it by design."""
    return f"slot-{name}-{salted_hmac('fragments.slot', name).hexdigest()[:24]}"


def fragment_context() -> dict[str, str]:
    """What a fragment's template is rendered with besides its own context."""
    return {"csrf_token": slot("csrf")}


def kept(key: str, render: Callable[[], T]) -> T:
    """The fragment (or any picklable value) kept under ``key``; rendered now if absent."""
    cache = caches["fragments"]
    value = cache.get(key)
    if value is None:
        value = render()
        cache.set(key, value, FRAGMENT_TTL)
    return value


def filled(request, html: str, slots: Mapping[str, str] | None = None) -> dict[str, str]:
    """The page's context for ``html`` (a kept fragment): ``content``, with the request's
    CSRF token and ``slots`` (name -> HTML, escaped already: rendered by a template) put
    where ``slot(name)`` stands; and ``csrf_token``, that same token, for the rest of
    the page's forms (masking a token takes 64 random draws: one per page is enough)."""
    token = get_token(request)
    content = slots_filled(html, {"csrf": token, **(slots or {})})
    return {"content": content, "csrf_token": token}


def slots_filled(html: str, slots: Mapping[str, str]) -> SafeString:
    """``html`` (a kept fragment) with each ``slot(name)`` replaced by ``slots[name]``
    (HTML, escaped already)."""
    for name, value in slots.items():
        html = html.replace(slot(name), value)
    return mark_safe(html)  # rendered by templates, which escaped it
