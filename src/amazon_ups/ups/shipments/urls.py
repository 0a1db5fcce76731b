from django.urls import path

from amazon_ups.ups.shipments import views

app_name = "shipments"

urlpatterns = [
    path("", views.home, name="home"),
    path("track/", views.track, name="track"),
    path("packages/", views.mine, name="mine"),
    path("packages/<int:package_id>/", views.package_detail, name="detail"),
    path("packages/<int:package_id>/redirect/", views.package_redirect, name="redirect"),
    path("map/", views.live_map, name="map"),
    path("map.json", views.map_json, name="map_json"),
]
