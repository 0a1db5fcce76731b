from django.contrib import admin

from amazon_ups.amazon.accounts.models import Address, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "is_seller", "default_x", "default_y", "ups_account"]
    list_filter = ["is_seller"]
    search_fields = ["user__username", "user__email", "=ups_account"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]


@admin.register(Address)
class AddressAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "x", "y", "created_at"]
    search_fields = ["user__username", "name"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
