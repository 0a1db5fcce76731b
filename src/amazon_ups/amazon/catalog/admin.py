from django.contrib import admin
from django.db.models import Sum

from amazon_ups.amazon.catalog.models import Category, Product, Stock, Warehouse


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class StockInline(admin.TabularInline):
    model = Stock
    extra = 0
    fields = ["warehouse", "on_hand", "on_order"]
    # Stock follows the world (purchases, packing); edits here would disagree with it.
    readonly_fields = ["warehouse", "on_hand", "on_order"]
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "price", "listed", "category", "seller", "on_hand_total"]
    list_display_links = ["id", "name"]
    list_filter = ["listed", "category", ("seller", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "description", "=id"]
    list_select_related = ["category", "seller"]
    autocomplete_fields = ["seller"]
    readonly_fields = ["world_name", "image_file", "image_type"]
    inlines = [StockInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_on_hand=Sum("stock__on_hand"))

    @admin.display(description="on hand", ordering="_on_hand")
    def on_hand_total(self, product) -> int:
        return product._on_hand or 0


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "x", "y"]
    search_fields = ["name", "=id"]


@admin.register(Stock)
class StockAdmin(admin.ModelAdmin):
    list_display = ["product", "warehouse", "on_hand", "on_order"]
    list_filter = ["warehouse"]
    search_fields = ["product__name", "=product__id"]
    list_select_related = ["product", "warehouse"]
    autocomplete_fields = ["product"]
