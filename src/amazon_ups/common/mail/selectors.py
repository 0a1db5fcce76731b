"""Reads of the email queue, for the operators' page."""

from __future__ import annotations

from amazon_ups.common.mail.models import MAX_ATTEMPTS, OutgoingEmail


def waiting() -> list[OutgoingEmail]:
    """Emails not sent yet, oldest first (the ones failing show their last error)."""
    return list(OutgoingEmail.objects.filter(sent_at=None).order_by("id")[:100])


def waiting_count() -> int:
    """Emails still to be sent (those given up on are ``given_up_count``)."""
    return OutgoingEmail.objects.filter(sent_at=None, attempts__lt=MAX_ATTEMPTS).count()


def given_up_count() -> int:
    """Emails not sent after ``MAX_ATTEMPTS`` tries: for an operator to look at."""
    return OutgoingEmail.objects.filter(sent_at=None, attempts__gte=MAX_ATTEMPTS).count()
