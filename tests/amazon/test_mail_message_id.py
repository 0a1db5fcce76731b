"""Emails are sent at least once, so each carries a Message-ID that is the same for every
copy: a repeat after a crash folds into the first email in the reader's mail client."""

from __future__ import annotations

import email
import email.policy

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from amazon_ups.common.mail import services
from amazon_ups.common.mail.models import OutgoingEmail

TEMPLATES = {"note_subject.txt": "Order {{ number }}", "note_body.txt": "Order {{ number }}."}


@pytest.fixture(autouse=True)
def templates(settings):
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", TEMPLATES)]},
        }
    ]


def queue(ref: str) -> OutgoingEmail:
    with transaction.atomic():
        services.queue_email(to="ann@example.com", template="note", context={"number": 7}, ref=ref)
    return OutgoingEmail.objects.get(ref=ref)


def header(sent: mail.EmailMessage) -> str:
    """The Message-ID as a mail client reads it, after checking it parses cleanly."""
    parsed = email.message_from_bytes(sent.message().as_bytes(), policy=email.policy.default)
    value = parsed["Message-ID"]
    assert not value.defects, value.defects
    return str(value).strip()  # a long one is folded onto the next line


class Crash(Exception):
    pass


def test_a_copy_sent_again_after_a_crash_has_the_same_message_id(db):
    row = queue("order-placed:12")
    # The daemon dies after the mail server took the email, before the commit that says
    # so: the row is still due, and the next sender sends it again.
    with pytest.raises(Crash), transaction.atomic():
        assert services.send_pending() == 1
        raise Crash
    assert OutgoingEmail.objects.get().sent_at is None
    assert services.send_pending() == 1

    first, again = mail.outbox
    assert header(first) == header(again) == services.message_id(row)
    assert header(first) == f"<order-placed=3A12.{row.created_at:%Y%m%d%H%M%S%f}.amazon@localhost>"


REFS = ["order:12", "order-12", "order=3A12", "order:12 ", "päckchen <12> @ home", "a.b", "a_b"]


def test_refs_that_differ_give_message_ids_that_differ():
    # The same creation time for all: only the ref can tell them apart.
    created = timezone.now()
    ids = [services.message_id(OutgoingEmail(ref=ref, created_at=created)) for ref in REFS]
    assert len(set(ids)) == len(REFS)


def test_any_ref_gives_a_message_id_mail_clients_parse(db):
    for ref in REFS:
        queue(ref)
    assert services.send_pending() == len(REFS)
    for ref, sent in zip(REFS, mail.outbox, strict=True):  # sent in the order queued
        assert header(sent) == services.message_id(OutgoingEmail.objects.get(ref=ref))


def test_the_domain_comes_from_the_sender_address_or_a_setting(db, settings):
    row = queue("order-delivered:3")
    settings.DEFAULT_FROM_EMAIL = "The Store <orders@store.example>"
    assert services.message_id(row).endswith(".amazon@store.example>")
    settings.EMAIL_MESSAGE_ID_DOMAIN = "mail.store.example"
    assert services.message_id(row).endswith(".amazon@mail.store.example>")
