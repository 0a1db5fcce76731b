from django.urls import path

from amazon_ups.ups.shipments import views

app_name = "shipments"

# A package's page is found by its tracking number only: its id counts 1, 2, 3...
urlpatterns = [
    path("", views.home, name="home"),
    path("track/", views.track, name="track"),
    path("track/<str:number>/", views.package_detail, name="detail"),
    path("track/<str:number>/status.json", views.package_status, name="status"),
    path("track/<str:number>/redirect/", views.package_redirect, name="redirect"),
    path("packages/", views.mine, name="mine"),
    path("packages/status.json", views.mine_status, name="mine_status"),
    path("map/", views.live_map, name="map"),
    path("map.json", views.map_json, name="map_json"),
]
