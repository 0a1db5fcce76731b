from django.contrib import admin

from amazon_ups.amazon.carrier.models import UpsAccount
from amazon_ups.common.admin import ReadOnlyAdminMixin


@admin.register(UpsAccount)
class UpsAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """UPS's answers about account ids shoppers gave: written by the daemon only."""

    list_display = ["ups_account", "exists", "seqnum", "updated_at"]
    list_filter = ["exists"]
    search_fields = ["=ups_account"]
