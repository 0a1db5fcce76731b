"""``/healthz``: the process serves HTTP. No database, no template: load balancers and
the store benchmark's baseline (the cheapest request Django can answer) use it."""

from django.http import HttpResponse
from django.views.decorators.http import require_safe


@require_safe
def healthz(request):
    return HttpResponse("ok\n", content_type="text/plain")
