from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("", include("amazon_ups.amazon.catalog.urls")),
    path("orders/", include("amazon_ups.amazon.orders.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("operator/", include("amazon_ups.common.messaging.urls")),
]
