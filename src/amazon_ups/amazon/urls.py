from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from amazon_ups.amazon.catalog import seller_urls
from amazon_ups.amazon.fulfilment import views as fulfilment_views
from amazon_ups.amazon.orders import seller_views as orders_seller_views
from amazon_ups.common.health import healthz

urlpatterns = [
    path("", include("amazon_ups.amazon.catalog.urls")),
    path("orders/", include("amazon_ups.amazon.orders.urls")),
    path("cart/", include("amazon_ups.amazon.cart.urls")),
    path("accounts/", include("amazon_ups.amazon.accounts.urls")),
    # The seller area: the catalog's pages, and the sales, which are the orders'.
    path(
        "sell/",
        include(
            (
                [
                    *seller_urls.urlpatterns,
                    path("sales/", orders_seller_views.sales, name="sales"),
                ],
                "sell",
            )
        ),
    ),
    # The seller area's restock button buys from the world: fulfilment's (see its views).
    path("sell/products/<int:product_id>/restock/", fulfilment_views.restock, name="restock"),
    path("admin/", admin.site.urls),
    path("operator/", include("amazon_ups.common.messaging.urls")),
    path("healthz", healthz, name="healthz"),
    # Browsers and bots ask for /favicon.ico whatever the page links; the icon is an
    # SVG among the static files.
    path("favicon.ico", RedirectView.as_view(url=static("amazon/favicon.svg"), permanent=True)),
]
