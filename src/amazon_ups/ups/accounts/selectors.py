from __future__ import annotations

from amazon_ups.ups.accounts.models import Account


def account_of(user) -> Account | None:
    if not user.is_authenticated:
        return None
    return Account.objects.filter(user=user).first()
