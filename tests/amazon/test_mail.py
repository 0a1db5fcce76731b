"""The email queue: emails are rows written with the change they tell of, and the
daemon's mail thread sends them, retrying until the mail server takes them."""

from __future__ import annotations

import socket

import pytest
from django.core import mail
from django.db import transaction

from amazon_ups.common.mail import services
from amazon_ups.common.mail.models import OutgoingEmail
from amazon_ups.common.mail.sender import MailSender
from amazon_ups.testing.system import wait_until

TEMPLATES = {
    "note_subject.txt": "Order {{ number }}\n  is on its way",
    "note_body.txt": "Hello {{ name }}, order {{ number }} left the warehouse.",
}


@pytest.fixture(autouse=True)
def templates(settings):
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", TEMPLATES)]},
        }
    ]


def queue(ref: str = "note:1", to: str = "ann@example.com") -> None:
    with transaction.atomic():
        services.queue_email(to=to, template="note", context={"name": "Ann", "number": 7}, ref=ref)


def test_an_email_is_rendered_queued_and_sent_once(db):
    queue()
    queue()  # the same change handled again: still one email
    assert OutgoingEmail.objects.count() == 1
    assert mail.outbox == []  # nothing leaves before the sender runs

    assert services.send_pending() == 1
    assert services.send_pending() == 0
    [sent] = mail.outbox
    assert sent.subject == "Order 7 is on its way"  # one line, whatever the template
    assert sent.body == "Hello Ann, order 7 left the warehouse."
    assert sent.to == ["ann@example.com"]
    assert OutgoingEmail.objects.get().sent_at is not None


def test_no_address_no_email(db):
    queue(to="")
    assert OutgoingEmail.objects.count() == 0


def test_a_rolled_back_change_sends_nothing(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.queue_email(to="ann@example.com", template="note", context={}, ref="x")
        raise RuntimeError("the change failed")
    assert OutgoingEmail.objects.count() == 0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: refused


def test_a_mail_server_that_is_down_delays_the_email_without_losing_it(db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = closed_port()
    settings.EMAIL_TIMEOUT = 5
    queue()
    assert services.send_pending() == 0
    email = OutgoingEmail.objects.get()
    assert email.sent_at is None and email.attempts == 1
    assert "refused" in email.last_error.lower()
    assert email.next_attempt_at > email.created_at  # not retried in a tight loop
    assert services.send_pending() == 0  # not due yet

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    OutgoingEmail.objects.update(next_attempt_at=email.created_at)
    assert services.send_pending() == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_the_daemons_mail_thread_sends_what_is_committed():
    sender = MailSender(interval=0.05)
    sender.start()
    try:
        queue("note:a")
        queue("note:b")
        wait_until(lambda: len(mail.outbox) == 2, 10, "two emails sent by the mail thread")
    finally:
        sender.stop()
        sender.join(10)
    assert sorted(OutgoingEmail.objects.values_list("ref", flat=True)) == ["note:a", "note:b"]
    assert not OutgoingEmail.objects.filter(sent_at=None).exists()
