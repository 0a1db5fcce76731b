from django.contrib import admin

from amazon_ups.amazon.fulfilment.models import UpsAccount


@admin.register(UpsAccount)
class UpsAccountAdmin(admin.ModelAdmin):
    """UPS's answers about account ids shoppers gave: written by the daemon only."""

    list_display = ["ups_account", "exists", "seqnum", "updated_at"]
    list_filter = ["exists"]
    search_fields = ["=ups_account"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
