"""The catalog's part of the seller area, at /sell/ (``amazon/urls.py`` puts it together
with the sales, which are the orders', and the restock button, fulfilment's)."""

from django.urls import path

from amazon_ups.amazon.catalog import seller_views

urlpatterns = [
    path("", seller_views.home, name="home"),
    path("products/new/", seller_views.product_create, name="product_create"),
    path("products/<int:product_id>/edit/", seller_views.product_edit, name="product_edit"),
    path(
        "products/<int:product_id>/listing/", seller_views.product_listing, name="product_listing"
    ),
]
