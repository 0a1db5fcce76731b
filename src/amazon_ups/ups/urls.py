from django.contrib import admin
from django.urls import include, path

from amazon_ups.common.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("operator/", include("amazon_ups.common.messaging.urls")),
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("amazon_ups.ups.accounts.urls")),
    path("", include("amazon_ups.ups.shipments.urls")),
]
