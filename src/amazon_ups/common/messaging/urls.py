from django.urls import path

from amazon_ups.common.messaging import views

app_name = "operator"
urlpatterns = [
    path("", views.operator_status, name="status"),
    path("status.json", views.operator_status_json, name="status_json"),
    path("metrics", views.metrics, name="metrics"),
]
