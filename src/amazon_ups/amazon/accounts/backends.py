"""How the store finds the user of a request."""

from __future__ import annotations

import copy
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import F, QuerySet

from amazon_ups.amazon.accounts import selectors

UserModel = get_user_model()

# Users kept by this process: user id -> (their stamp when read, the user as read). Never
# handed out itself: each request gets its own copy. Bounded: emptied when full.
_kept: dict[Any, tuple[int, Any]] = {}
KEPT_MOST = 10_000


class ModelBackendWithProfile(ModelBackend):
    """Django's own backend, whose user of a request comes with the store's profile in
    the same query: every page's nav bar reads it (``user.profile.is_seller``), and the
    product and checkout pages the default address. A user without a profile has none
    there either (``user.profile`` raises, as without this).

    The user is kept by the process under their stamp (``models.UserStamp``, which
    database triggers change with the user's row, profile and cart, whoever writes
    them), read in the same query: a later request of the user reads only the stamp (a
    query Django builds at a third of the cost, no join, no object), and gets a copy of
    the kept user while the stamp is unchanged; else the user is read again. So a
    password changed anywhere still ends the user's other sessions at their next
    request (Django's session hash is checked against the user as read now), and a
    changed profile, name or cart is shown at once."""

    def get_user(self, user_id):
        kept = _kept.get(user_id)
        if kept is not None and selectors.user_stamp(user_id) == kept[0]:
            user = copy.deepcopy(kept[1])
        else:
            found = list(self.users().filter(pk=user_id).annotate(kept_stamp=F("stamp__value")))
            if not found:
                _kept.pop(user_id, None)
                return None
            user = found[0]
            if user.kept_stamp is not None:
                if len(_kept) >= KEPT_MOST:
                    _kept.clear()
                _kept[user_id] = (user.kept_stamp, copy.deepcopy(user))
        return user if self.user_can_authenticate(user) else None

    def users(self) -> QuerySet:
        """The query a request's user is read with."""
        return UserModel._default_manager.select_related("profile")


def forget_kept_users() -> None:
    """Drop the users this process keeps (tests: a test's users are not the last one's)."""
    _kept.clear()
