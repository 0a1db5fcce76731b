from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from amazon_ups.common.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("operator/", include("amazon_ups.common.messaging.urls")),
    path("healthz", healthz, name="healthz"),
    # Browsers and bots ask for /favicon.ico whatever the page links; the icon is an
    # SVG among the static files.
    path("favicon.ico", RedirectView.as_view(url=static("ups/favicon.svg"), permanent=True)),
    path("accounts/", include("amazon_ups.ups.accounts.urls")),
    path("", include("amazon_ups.ups.shipments.urls")),
]
