from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("operator/", include("amazon_ups.common.messaging.urls")),
    path("", include("amazon_ups.ups.shipments.urls")),
]
