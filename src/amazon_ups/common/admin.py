"""Admin pieces both sites use."""

from __future__ import annotations


class ReadOnlyAdminMixin:
    """For rows whose state moves only through ``services.py`` (statuses, the daemon's
    records): operators look at them in the admin, never edit them by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
