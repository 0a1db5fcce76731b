"""How the store finds the user of a request."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import QuerySet

UserModel = get_user_model()


class ModelBackendWithProfile(ModelBackend):
    """Django's own backend, whose user of a request comes with the store's profile in
    the same query: every page's nav bar reads it (``user.profile.is_seller``), and the
    product and checkout pages the default address. A user without a profile has none
    there either (``user.profile`` raises, as without this)."""

    def get_user(self, user_id):
        try:
            user = self.users().get(pk=user_id)
        except UserModel.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None

    def users(self) -> QuerySet:
        """The query a request's user is read with."""
        return UserModel._default_manager.select_related("profile")
