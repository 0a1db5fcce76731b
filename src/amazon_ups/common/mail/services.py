"""Queueing and sending of emails. ``queue_email`` is called inside the transaction of
the state change the email tells of; ``send_pending`` runs in the daemon's mail thread."""

from __future__ import annotations

import datetime
import logging

from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from amazon_ups.common.mail.models import OutgoingEmail
from amazon_ups.protocol.session import ResendPolicy

logger = logging.getLogger("amazon_ups.mail")

RETRY = ResendPolicy(first=5.0, factor=2.0, ceiling=3600.0)
MAX_ATTEMPTS = 20


def queue_email(*, to: str, template: str, context: dict, ref: str) -> None:
    """Owe ``to`` the email rendered from ``<template>_subject.txt`` and ``_body.txt``.

    A second call with the same ``ref`` queues nothing: a message handled again after a
    crash, or a form posted twice, tells the person once."""
    if not to:
        return
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    body = render_to_string(f"{template}_body.txt", context)
    OutgoingEmail.objects.get_or_create(
        ref=ref, defaults={"to": to, "subject": subject[:300], "body": body}
    )


def _due_ids(limit: int) -> list[int]:
    return list(
        OutgoingEmail.objects.filter(sent_at=None, next_attempt_at__lte=timezone.now())
        .filter(attempts__lt=MAX_ATTEMPTS)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


def send_pending(limit: int = 50) -> int:
    """Send what is due, each in its own transaction; returns how many were sent.

    The row stays locked while it is sent, so two daemons (a standby) never send the
    same email twice; a crash after sending and before the commit sends it again, the
    one duplicate email cannot rule out."""
    sent = 0
    skip_locked = connection.features.has_select_for_update_skip_locked
    for email_id in _due_ids(limit):
        with transaction.atomic():
            email = (
                OutgoingEmail.objects.select_for_update(skip_locked=skip_locked)
                .filter(id=email_id, sent_at=None)
                .first()
            )
            if email is None:
                continue
            try:
                EmailMessage(email.subject, email.body, to=[email.to]).send()
            except Exception as error:  # SMTP and file errors alike: retry later
                email.attempts += 1
                email.last_error = f"{type(error).__name__}: {error}"[:2000]
                delay = RETRY.delay(email.attempts)
                email.next_attempt_at = timezone.now() + datetime.timedelta(seconds=delay)
                email.save(update_fields=["attempts", "last_error", "next_attempt_at"])
                logger.warning("email %s not sent (try %d): %s", email.ref, email.attempts, error)
                continue
            email.sent_at = timezone.now()
            email.attempts += 1
            email.save(update_fields=["sent_at", "attempts"])
            sent += 1
    return sent
