"""Reads of the email queue, for the operators' page."""

from __future__ import annotations

from amazon_ups.common.mail.models import OutgoingEmail


def waiting() -> list[OutgoingEmail]:
    """Emails not sent yet, oldest first (the ones failing show their last error)."""
    return list(OutgoingEmail.objects.filter(sent_at=None).order_by("id")[:100])


def waiting_count() -> int:
    return OutgoingEmail.objects.filter(sent_at=None).count()
