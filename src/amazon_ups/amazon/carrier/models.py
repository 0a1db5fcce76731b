"""What UPS said to the store that the store keeps."""

from __future__ import annotations

from django.db import models


class UpsAccount(models.Model):
    """UPS's latest answer about an account id a shopper gave (protocol 5.8)."""

    ups_account = models.BigIntegerField(primary_key=True)
    exists = models.BooleanField()
    # The latest answer wins; answers can arrive out of order.
    seqnum = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The table it has had since it was fulfilment's (moved in carrier 0001).
        db_table = "fulfilment_upsaccount"

    def __str__(self) -> str:
        return f"UPS account {self.ups_account}: {'exists' if self.exists else 'unknown'}"
