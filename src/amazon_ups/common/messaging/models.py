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
    # Connections that did not prove themselves (the link's handshake), e.g. a stranger
    # on UPS's port, or a peer with another secret.
    refused = models.PositiveBigIntegerField(default=0)
    last_refusal = models.CharField(max_length=300, blank=True)
    last_refusal_at = models.DateTimeField(null=True, blank=True)
    # An open socket does not say the peer is alive (a frozen process keeps it open):
    # when it last sent anything, and how often our peers send at least an empty
    # message (null: a peer that may stay silent while idle, like the world).
    heard_at = models.DateTimeField(null=True, blank=True)
    keepalive = models.FloatField(
        null=True, blank=True, help_text="seconds between the peer's messages when idle"
    )

    def __str__(self) -> str:
        return f"{self.peer}: {'up' if self.connected else 'down'}"


class Setting(models.Model):
    """A small durable fact a daemon needs across restarts, e.g. the world id."""

    key = models.CharField(max_length=64, primary_key=True)
    value = models.CharField(max_length=300)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class DeadLetter(models.Model):
    """A received sub-message, or an item of a daemon's periodic work, that failed with
    a defect (a bug, a row the database rejects) rather than an outage.

    It is set aside so that the daemon keeps serving everything else: a message is
    recorded as received and acked (its repeats are only acked), a work item is skipped.
    Nothing retries it by itself, since the same code on the same data fails the same
    way; an operator fixes the cause and asks for a retry in the admin, and the daemon
    takes the request up on its next turn."""

    class Kind(models.TextChoices):
        MESSAGE = "message", "received message"
        WORK_ITEM = "work item", "work item"

    class State(models.TextChoices):
        OPEN = "open", "open"
        RETRY = "retry", "retry requested"
        RESOLVED = "resolved", "resolved"
        DISCARDED = "discarded", "discarded"

    UNRESOLVED = (State.OPEN, State.RETRY)

    kind = models.CharField(max_length=16, choices=Kind)
    what = models.CharField(
        max_length=120, blank=True, help_text='what was being done, e.g. "take in orders"'
    )
    peer = models.CharField(max_length=64, blank=True, help_text="who sent the message")
    field = models.CharField(max_length=32, blank=True, help_text="the container field")
    seqnum = models.BigIntegerField(null=True, blank=True)
    body = models.BinaryField(blank=True, default=b"", help_text="the serialized sub-message")
    content = models.TextField(blank=True, help_text="the sub-message, readable")
    ref = models.CharField(
        max_length=120, blank=True, db_index=True, help_text='the work item, e.g. "order:12"'
    )
    error_type = models.CharField(max_length=200)
    error = models.TextField()
    traceback = models.TextField()
    attempts = models.PositiveIntegerField(default=1, help_text="failures so far")
    state = models.CharField(max_length=16, choices=State, default=State.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    failed_at = models.DateTimeField(help_text="the latest failure")
    retry_requested_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A message is recorded as received when it is set aside, so it can fail once.
            models.UniqueConstraint(
                fields=["peer", "seqnum"],
                condition=models.Q(kind="message"),
                name="deadletter_message_once",
            )
        ]
        indexes = [models.Index(fields=["state", "kind"], name="deadletter_state")]

    def __str__(self) -> str:
        return f"dead letter {self.id}: {self.subject} ({self.get_state_display()})"

    @property
    def subject(self) -> str:
        """What failed, in a few words: the work item's ref or the message's place."""
        if self.kind == self.Kind.WORK_ITEM:
            return f"{self.what} {self.ref}".strip()
        return f"{self.field} #{self.seqnum} from {self.peer}"


class DaemonProcess(models.Model):
    """A daemon process of this side, for the operators: the one that leads (holds the
    side's links) and those on standby, ready to take over (``common/daemon/lead.py``)."""

    class Role(models.TextChoices):
        ACTIVE = "active", "active"
        STANDBY = "standby", "standby"
        STOPPED = "stopped", "stopped"

    name = models.CharField(max_length=32, help_text='"amazon" or "ups"')
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=Role)
    started_at = models.DateTimeField(auto_now_add=True)
    role_since = models.DateTimeField()
    seen_at = models.DateTimeField(help_text="when it last said it is alive")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "host", "pid"], name="daemon_process_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} daemon {self.host}:{self.pid} ({self.role})"
