from django.urls import path

from amazon_ups.ups.shipments import views

app_name = "shipments"

urlpatterns = [
    path("", views.package_list, name="list"),
    path("track/", views.track, name="track"),
    path("packages/<int:package_id>/", views.package_detail, name="detail"),
]
