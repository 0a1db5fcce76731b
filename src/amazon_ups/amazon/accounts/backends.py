"""How the store finds the user of a request."""

from __future__ import annotations

import functools
import pickle
from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import F, QuerySet

UserModel = get_user_model()

# Users kept by this process: (backend, user id) -> (their stamp when read, the user as
# read, pickled). Each request gets its own copy, unpickled: a quarter of what a deep
# copy of the user and its profile costs. Emptied when full.
_kept: dict[tuple[type, Any], tuple[int, bytes]] = {}
KEPT_MOST = 10_000
# The reads of the stamps of this many users, the latest seen, are kept built.
STAMP_QUERIES_KEPT = 1_024


class ModelBackendWithProfile(ModelBackend):
    """Django's own backend, whose user of a request comes with the store's profile in
    the same query: every page's nav bar reads it (``user.profile.is_seller``), and the
    product and checkout pages the default address. A user without a profile has none
    there either (``user.profile`` raises, as without this).

    The user is kept by the process under their stamp (``models.UserStamp``, which
    database triggers change with the user's row and profile, whoever writes them),
    read in the same query: a later request of the user reads only the stamp (and
    ``read_each_time``) in a query Django builds at a fraction of the cost, and gets a
    copy of the kept user while the stamp is unchanged; else the user is read again. So
    a password changed anywhere still ends the user's other sessions at their next
    request (Django's session hash is checked against the user as read now), and a
    changed profile or name is shown at once."""

    # What is read with the user on every request, kept or not (attribute -> lookup from
    # the user): what changes too often to be worth keeping.
    read_each_time: ClassVar[dict[str, str]] = {}

    def get_user(self, user_id):
        kept = _kept.get((type(self), user_id))
        if kept is not None:
            now = list(self._stamp_of(user_id).all())
            if now and now[0][0] is not None and now[0][0] == kept[0]:
                user = pickle.loads(kept[1])
                for name, value in zip(self.read_each_time, now[0][1:], strict=True):
                    setattr(user, name, value)
                return user if self.user_can_authenticate(user) else None
        found = list(
            self.users()
            .filter(pk=user_id)
            .annotate(
                kept_stamp=F("stamp__value"),
                **{name: F(lookup) for name, lookup in self.read_each_time.items()},
            )
        )
        if not found:
            _kept.pop((type(self), user_id), None)
            return None
        user = found[0]
        if user.kept_stamp is not None:
            if len(_kept) >= KEPT_MOST:
                _kept.clear()
            _kept[type(self), user_id] = (
                user.kept_stamp,
                pickle.dumps(user, pickle.HIGHEST_PROTOCOL),
            )
        return user if self.user_can_authenticate(user) else None

    @classmethod
    @functools.cache
    def _stamp_query(cls) -> QuerySet:
        """What a kept user's request reads: built once per backend and process, cloned
        per request (Django resolves a values list with its joins anew each time one is
        built: nearly a third of this read's cost, paid by every signed-in page)."""
        return UserModel._default_manager.values_list("stamp__value", *cls.read_each_time.values())

    @classmethod
    @functools.lru_cache(maxsize=STAMP_QUERIES_KEPT)
    def _stamp_of(cls, user_id) -> QuerySet:
        """The read of this user's stamp, built once for the users seen most lately and
        cloned per request: filtering anew costs a third of the read."""
        return cls._stamp_query().filter(pk=user_id)

    def users(self) -> QuerySet:
        """The query a request's user is read with."""
        return UserModel._default_manager.select_related("profile")


def forget_kept_users() -> None:
    """Drop the users this process keeps (tests: a test's users are not the last one's)."""
    _kept.clear()
