"""Carrier accounts: sign-up, a user and the numeric UPS account a shopper gives the
store, together; the number made on demand for users made another way; the demo user."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from amazon_ups.ups.accounts.models import Account


def account_create(user) -> Account:
    """An account with a fresh random number (9 digits: short enough to type)."""
    while True:
        number = 100_000_000 + secrets.randbelow(900_000_000)
        if not Account.objects.filter(number=number).exists():
            return Account.objects.create(user=user, number=number)


@transaction.atomic
def user_signup(*, username: str, email: str, password: str):
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    account_create(user)
    return user


@transaction.atomic
def account_ensure(user) -> Account:
    """Users made another way (createsuperuser, the admin) get their number on demand."""
    account = Account.objects.select_for_update().filter(user=user).first()
    return account or account_create(user)


@transaction.atomic
def demo_user_ensure(username: str, password: str) -> Account:
    """The demo user and its account; running it again only resets the password."""
    user, created = get_user_model().objects.get_or_create(username=username)
    if created or not user.check_password(password):
        user.set_password(password)
        user.save()
    account = Account.objects.filter(user=user).first()
    return account or account_create(user)
