"""Sign-up: a user and the numeric UPS account a shopper gives the store, together."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from amazon_ups.ups.shipments import services as shipments
from amazon_ups.ups.shipments.models import Account


@transaction.atomic
def user_signup(*, username: str, email: str, password: str):
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    shipments.account_create(user)
    return user


@transaction.atomic
def account_ensure(user) -> Account:
    """Users made another way (createsuperuser, the admin) get their number on demand."""
    account = Account.objects.select_for_update().filter(user=user).first()
    return account or shipments.account_create(user)
