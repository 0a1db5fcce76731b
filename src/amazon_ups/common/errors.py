"""The page a form without a valid CSRF token gets (``CSRF_FAILURE_VIEW``).

Django's own ``csrf_failure`` renders ``403_csrf.html`` without the request, so the
site's frame would not know who is logged in; each site has its own ``403_csrf.html``
in its look, rendered here like any page.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    # The reason is for developers (Django's debug page shows it); a person only
    # needs to know that nothing was done and how to try again.
    return render(request, "403_csrf.html", status=403)
