from django.urls import path

from amazon_ups.amazon.catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.product_list, name="product_list"),
    path("products/<int:product_id>/", views.product_detail, name="product_detail"),
    path("products/<int:product_id>/image", views.product_image, name="product_image"),
]
