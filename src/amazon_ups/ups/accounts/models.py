from __future__ import annotations

from django.conf import settings
from django.db import models


class Account(models.Model):
    """A carrier account: the number a shopper gives the store, so that the packages
    Amazon sends with it are theirs to follow and redirect."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ups_account"
    )
    number = models.BigIntegerField(unique=True, help_text="what a shopper gives the store")

    class Meta:
        db_table = "shipments_account"  # made by the shipments app, where it began

    def __str__(self) -> str:
        return f"account {self.number}"
