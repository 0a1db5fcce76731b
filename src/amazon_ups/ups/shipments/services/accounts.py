"""Carrier accounts: the numeric id a shopper gives the store."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from amazon_ups.ups.shipments.models import Account


def account_create(user) -> Account:
    """An account with a fresh random number (9 digits: short enough to type)."""
    while True:
        number = 100_000_000 + secrets.randbelow(900_000_000)
        if not Account.objects.filter(number=number).exists():
            return Account.objects.create(user=user, number=number)


@transaction.atomic
def demo_user_ensure(username: str, password: str) -> Account:
    """The demo user and its account; running it again only resets the password."""
    user, created = get_user_model().objects.get_or_create(username=username)
    if created or not user.check_password(password):
        user.set_password(password)
        user.save()
    account = Account.objects.filter(user=user).first()
    return account or account_create(user)
