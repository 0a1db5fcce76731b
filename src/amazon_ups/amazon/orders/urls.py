from django.urls import path

from amazon_ups.amazon.orders import views

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="list"),
    path("new/", views.order_place, name="place"),
    path("<int:order_id>/", views.order_detail, name="detail"),
    path("<int:order_id>/status.json", views.order_status, name="status"),
]
