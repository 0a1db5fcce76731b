"""Orders in the admin: to look at, not to edit. A status moves only through
``orders.services`` (the daemon and the shopper's pages), never by hand here."""

from django.contrib import admin

from amazon_ups.amazon.orders.models import Order, OrderEvent, OrderLine
from amazon_ups.common.admin import ReadOnlyAdminMixin


class _ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0


class OrderLineInline(_ReadOnlyInline):
    model = OrderLine
    # A tuple: the admin's types take one as fields and as read-only fields alike.
    fields = readonly_fields = ("product", "count", "price")


class OrderEventInline(_ReadOnlyInline):
    model = OrderEvent
    fields = readonly_fields = ("at", "kind", "status", "note")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "tracking_number",
        "user",
        "status",
        "dest_x",
        "dest_y",
        "warehouse",
        "truck_id",
        "created_at",
    ]
    list_filter = ["status", "warehouse"]
    list_select_related = ["user", "warehouse"]
    search_fields = ["=id", "user__username", "user__email"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, OrderEventInline]

    def get_search_results(self, request, queryset, search_term):
        # A tracking number is one term, spaces and all, as UPS wrote it: the admin's
        # own search would split it into words.
        number = search_term.strip()
        if number and (found := queryset.filter(tracking_number=number)).exists():
            return found, False
        return super().get_search_results(request, queryset, search_term)
