from django.contrib import admin

from amazon_ups.common.admin import ReadOnlyAdminMixin
from amazon_ups.ups.shipments import tracking
from amazon_ups.ups.shipments.models import (
    Package,
    PackageEvent,
    PackageItem,
    Truck,
    TruckEvent,
    Warehouse,
)
from amazon_ups.ups.shipments.package_lifecycle import NOT_FINAL
from amazon_ups.ups.shipments.tracking import InvalidTrackingNumber


class ItemInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PackageItem


class EventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PackageEvent


class ReadOnly(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


@admin.register(Package)
class PackageAdmin(ReadOnly):
    list_display = [
        "id",
        "tracking_number",
        "status",
        "warehouse",
        "truck",
        "dest_x",
        "dest_y",
        "account",
        "updated_at",
    ]
    list_filter = ["status", "warehouse"]
    list_select_related = ["warehouse", "truck", "account"]
    search_fields = ["id", "tracking_number", "account__number", "account__user__username"]
    readonly_fields = ["tracking_number"]  # not editable, so not shown unless named
    date_hierarchy = "created_at"
    inlines = [ItemInline, EventInline]

    def get_search_results(self, request, queryset, search_term):
        # A number as the recipient reads it out ("mu4k 7q9x ...") finds its package.
        try:
            number = tracking.parse(search_term)
        except InvalidTrackingNumber:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(tracking_number=number), False


class TruckPackageInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Package
    fk_name = "truck"
    fields = ["id", "status", "dest_x", "dest_y"]
    verbose_name_plural = "packages on or assigned to it"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status__in=NOT_FINAL)


class TruckEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TruckEvent
    fields = ["at", "kind", "status", "x", "y", "world_seqnum", "note"]

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-at", "-id")


@admin.register(Truck)
class TruckAdmin(ReadOnly):
    list_display = ["id", "status", "x", "y", "warehouse", "needs_query", "status_changed_at"]
    list_filter = ["status", "needs_query"]
    inlines = [TruckPackageInline, TruckEventInline]


@admin.register(Warehouse)
class WarehouseAdmin(ReadOnly):
    list_display = ["id", "x", "y"]
