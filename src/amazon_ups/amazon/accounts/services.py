"""State changes of accounts: users and profiles are created and changed here only."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from amazon_ups.amazon.accounts.models import Address, Profile
from amazon_ups.amazon.carrier import services as carrier


@transaction.atomic
def profile_update(
    user, *, default_x: int | None, default_y: int | None, ups_account: int | None
) -> Profile:
    """Save the user's defaults (None clears one); validated like a form would."""
    profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
    asked_before = profile.ups_account
    profile.default_x = default_x
    profile.default_y = default_y
    profile.ups_account = ups_account
    profile.full_clean()
    profile.save(update_fields=["default_x", "default_y", "ups_account"])
    if ups_account is not None and ups_account != asked_before:
        # Asked now, so the profile page and the next checkout can say whether UPS knows it.
        carrier.account_check_waking(ups_account)
    return profile


@transaction.atomic
def user_sign_up(*, username: str, email: str, password: str, is_seller: bool = False):
    """A new account with its profile. The password is hashed by ``create_user``."""
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    Profile.objects.create(user=user, is_seller=is_seller)
    return user


def _user_ensure(username: str, password: str):
    user, created = get_user_model().objects.get_or_create(username=username)
    user.set_password(password)
    user.save()
    return user, created


@transaction.atomic
def shopper_ensure(username: str, password: str) -> bool:
    """The account exists with this password; True if it was created (demo data)."""
    return _user_ensure(username, password)[1]


@transaction.atomic
def seller_ensure(username: str, password: str) -> bool:
    """The account exists with this password and sells; True if it was created."""
    user, created = _user_ensure(username, password)
    Profile.objects.update_or_create(user=user, defaults={"is_seller": True})
    return created


# A shopper's named addresses: enough for home, work and a few friends, not a database.
MAX_ADDRESSES = 20


@transaction.atomic
def address_save(user, *, name: str, x: int, y: int) -> Address:
    """Save a named address; a name the user already has is moved to the new place."""
    name = name.strip()
    address = Address.objects.select_for_update().filter(user=user, name=name).first()
    if address is None:
        if Address.objects.filter(user=user).count() >= MAX_ADDRESSES:
            raise ValidationError(
                f"You have {MAX_ADDRESSES} saved addresses already: delete one first."
            )
        address = Address(user=user, name=name)
    address.x, address.y = x, y
    address.full_clean()
    address.save()
    return address


@transaction.atomic
def address_delete(user, address_id: int) -> bool:
    """Delete the user's address; False when they have none by that id."""
    deleted, _ = Address.objects.filter(user=user, id=address_id).delete()
    return bool(deleted)


@transaction.atomic
def ups_account_ask(ups_account: int):
    """Ask UPS about an account a shopper is typing at checkout (unless we asked or heard
    lately); the answer comes later, over the link, and the page polls for it."""
    return carrier.account_ask(ups_account)
