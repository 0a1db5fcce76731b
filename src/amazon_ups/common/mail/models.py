from __future__ import annotations

from django.db import models
from django.utils import timezone

# Tries before an email is given up on (left for an operator to look at).
MAX_ATTEMPTS = 20


class OutgoingEmail(models.Model):
    """An email owed to someone: written in the transaction of the change it tells of,
    sent by the daemon afterwards, so a rolled-back change sends nothing and a crash
    between commit and send loses nothing."""

    ref = models.CharField(
        max_length=120, unique=True, help_text='what it tells of, e.g. "order-placed:12"'
    )
    to = models.EmailField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["sent_at", "next_attempt_at"], name="mail_due")]

    def __str__(self) -> str:
        state = "sent" if self.sent_at else "waiting"
        return f"{self.ref} to {self.to} ({state})"
