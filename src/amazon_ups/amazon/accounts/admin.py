from django.contrib import admin

from amazon_ups.amazon.accounts.models import Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "is_seller", "default_x", "default_y", "ups_account"]
    list_filter = ["is_seller"]
    search_fields = ["user__username", "user__email", "=ups_account"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
