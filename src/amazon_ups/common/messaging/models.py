from __future__ import annotations

from django.db import models


class OutgoingMessage(models.Model):
    """A sub-message owed to a peer, until the peer acks its seqnum."""

    peer = models.CharField(max_length=64, help_text='e.g. "world:7" or "ups"')
    seqnum = models.BigIntegerField()
    field = models.CharField(max_length=32, help_text="the container field that carries it")
    body = models.BinaryField(help_text="the serialized sub-message, seqnum included")
    ref = models.CharField(
        max_length=64, blank=True, db_index=True, help_text='what it is about, e.g. "order:12"'
    )
    created_at = models.DateTimeField(auto_now_add=True)
    acked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["peer", "seqnum"], name="outgoing_peer_seqnum")
        ]
        indexes = [models.Index(fields=["peer", "acked_at", "id"], name="outgoing_unacked")]

    def __str__(self) -> str:
        return f"{self.field} #{self.seqnum} to {self.peer}"


class IncomingMessage(models.Model):
    """A sub-message received and acted upon; its seqnum is never acted upon again."""

    peer = models.CharField(max_length=64)
    seqnum = models.BigIntegerField()
    field = models.CharField(max_length=32)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["peer", "seqnum"], name="incoming_peer_seqnum")
        ]

    def __str__(self) -> str:
        return f"{self.field} #{self.seqnum} from {self.peer}"


class SeqnumCounter(models.Model):
    """The next seqnum we give a message to ``peer``."""

    peer = models.CharField(max_length=64, primary_key=True)
    next_seqnum = models.BigIntegerField(default=1)

    def __str__(self) -> str:
        return f"{self.peer}: next {self.next_seqnum}"


class LinkState(models.Model):
    """What a daemon last knew of a link, for the operators' status page."""

    peer = models.CharField(max_length=64, primary_key=True)
    connected = models.BooleanField(default=False)
    detail = models.CharField(max_length=300, blank=True)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.peer}: {'up' if self.connected else 'down'}"


class Setting(models.Model):
    """A small durable fact a daemon needs across restarts, e.g. the world id."""

    key = models.CharField(max_length=64, primary_key=True)
    value = models.CharField(max_length=300)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"
