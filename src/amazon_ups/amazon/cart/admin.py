from django.contrib import admin

from amazon_ups.amazon.cart.models import CartItem


@admin.register(CartItem)
class CartItemAdmin(admin.ModelAdmin):
    list_display = ["user", "product", "quantity", "added_at"]
    list_select_related = ["user", "product"]
    search_fields = ["user__username", "product__name"]
    raw_id_fields = ["user", "product"]
