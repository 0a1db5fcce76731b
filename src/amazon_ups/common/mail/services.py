"""Queueing and sending of emails. ``queue_email`` is called inside the transaction of
the state change the email tells of; ``send_pending`` runs in the daemon's mail thread.

Emails are sent at least once: a crash after the mail server took one and before its
row says so sends it again. Each copy carries the same Message-ID (``message_id``), so
mail clients show the repeat as the one email it is."""

from __future__ import annotations

import datetime
import logging
import string
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.utils import DNS_NAME
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from amazon_ups.common.mail.models import MAX_ATTEMPTS, OutgoingEmail
from amazon_ups.protocol.session import ResendPolicy

logger = logging.getLogger(__name__)

RETRY = ResendPolicy(first=5.0, factor=2.0, ceiling=3600.0)


def queue_email(*, to: str, template: str, context: dict, ref: str) -> None:
    """Owe ``to`` the email rendered from ``<template>_subject.txt`` and ``_body.txt``.

    A second call with the same ``ref`` queues nothing: a message handled again after a
    crash, or a form posted twice, tells the person once."""
    if not to:
        return
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    body = render_to_string(f"{template}_body.txt", context)
    # One INSERT ... ON CONFLICT DO NOTHING on the unique ref: no read first, and no
    # savepoint around the insert for the race a read-then-insert would have.
    OutgoingEmail.objects.bulk_create(
        [OutgoingEmail(ref=ref, to=to, subject=subject[:300], body=body)], ignore_conflicts=True
    )


_ATOM_SAFE = frozenset(string.ascii_letters + string.digits + "-_")


def _atom(text: str) -> str:
    """``text`` as RFC 5322 dot-atom text, one-to-one: letters, digits, "-" and "_" stay,
    every other byte of its UTF-8 becomes ``=XX`` ("=" itself included)."""
    return "".join(chr(b) if chr(b) in _ATOM_SAFE else f"={b:02X}" for b in text.encode())


def _message_id_domain() -> str:
    if domain := getattr(settings, "EMAIL_MESSAGE_ID_DOMAIN", ""):
        return domain
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return address.rpartition("@")[2] or str(DNS_NAME)


def message_id(email: OutgoingEmail) -> str:
    """The Message-ID of every copy of ``email``: its ref, made safe, and the site that
    sends it. The row's creation time keeps it unique when a database starts again from
    nothing and an old ref (``order-placed:1``) comes back for another email."""
    site = getattr(settings, "PROJECT", "")
    created = email.created_at.strftime("%Y%m%d%H%M%S%f")
    return f"<{_atom(email.ref)}.{created}.{_atom(site)}@{_message_id_domain()}>"


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
    one duplicate email cannot rule out (with the same Message-ID)."""
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
                EmailMessage(
                    email.subject,
                    email.body,
                    to=[email.to],
                    headers={"Message-ID": message_id(email)},
                ).send()
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
