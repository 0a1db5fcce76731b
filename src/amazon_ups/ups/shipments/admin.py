from django.contrib import admin

from amazon_ups.ups.shipments.models import (
    Account,
    Package,
    PackageEvent,
    PackageItem,
    Truck,
    Warehouse,
)


class ReadOnlyMixin:
    """Statuses move in services.py only, never by hand in the admin."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ItemInline(ReadOnlyMixin, admin.TabularInline):
    model = PackageItem


class EventInline(ReadOnlyMixin, admin.TabularInline):
    model = PackageEvent


class ReadOnly(ReadOnlyMixin, admin.ModelAdmin):
    pass


@admin.register(Package)
class PackageAdmin(ReadOnly):
    list_display = [
        "id",
        "status",
        "warehouse",
        "truck",
        "dest_x",
        "dest_y",
        "account",
        "updated_at",
    ]
    list_filter = ["status"]
    search_fields = ["id"]
    inlines = [ItemInline, EventInline]


@admin.register(Truck)
class TruckAdmin(ReadOnly):
    list_display = ["id", "status", "x", "y", "warehouse", "updated_at"]
    list_filter = ["status"]


@admin.register(Warehouse)
class WarehouseAdmin(ReadOnly):
    list_display = ["id", "x", "y"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["number", "user"]
    search_fields = ["number", "user__username"]
