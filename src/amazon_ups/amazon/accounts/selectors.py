"""Reads of accounts."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from amazon_ups.amazon.accounts.models import Address, Profile
from amazon_ups.common.queries import one_or_none


def profile_of(user) -> Profile | None:
    """The user's profile; None for anonymous visitors and users who never saved one."""
    if user is None or not user.is_authenticated:
        return None
    return one_or_none(Profile.objects.filter(user=user))


def profile_on(user) -> Profile | None:
    """The user's profile through the user's related accessor, which keeps the row on the
    user: a request's user has it from its own query (accounts/backends.py), and the nav
    bar (base.html reads user.profile) and the page share it. For the request's user; a
    user object kept across changes of its profile would show the old one."""
    if user is None or not user.is_authenticated:
        return None
    try:
        return user.profile
    except Profile.DoesNotExist:
        return None


def is_seller(user) -> bool:
    if user is None or not user.is_authenticated:
        return False
    return Profile.objects.filter(user=user, is_seller=True).exists()


def user_get(username: str):
    return one_or_none(get_user_model().objects.filter(username=username))


def addresses_of(user) -> list[Address]:
    if user is None or not user.is_authenticated:
        return []
    return list(Address.objects.filter(user=user).order_by("name", "id"))


# Where an estimate goes for a visitor with no address of their own: the grid's middle.
GRID_MIDDLE = (0, 0)


def delivery_point(user) -> tuple[tuple[int, int], bool]:
    """The user's default delivery address, else the grid's middle; and whether it was
    theirs (for delivery estimates before an address is chosen)."""
    profile = profile_on(user)
    if profile is not None and profile.has_default_address:
        x, y = profile.default_x, profile.default_y
        assert x is not None and y is not None  # has_default_address
        return (x, y), True
    return GRID_MIDDLE, False
