from django.contrib import admin

from amazon_ups.ups.accounts.models import Account


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    """The number is the link between a user and their packages: it never changes."""

    list_display = ["number", "user", "email", "packages"]
    list_select_related = ["user"]
    search_fields = ["number", "user__username", "user__email"]
    readonly_fields = ["number"]
    raw_id_fields = ["user"]

    def has_add_permission(self, request, obj=None):
        return False  # accounts are made by sign-up (or by a user's profile page)

    @admin.display(description="email")
    def email(self, account: Account) -> str:
        return account.user.email

    @admin.display(description="packages")
    def packages(self, account: Account) -> int:
        return account.packages.count()
