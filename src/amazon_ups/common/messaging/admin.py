from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from amazon_ups.common.messaging import services
from amazon_ups.common.messaging.models import (
    DeadLetter,
    IncomingMessage,
    LinkState,
    OutgoingMessage,
)


@admin.register(OutgoingMessage)
class OutgoingMessageAdmin(admin.ModelAdmin):
    list_display = ["peer", "seqnum", "field", "ref", "created_at", "acked_at"]
    list_filter = ["peer", "field"]
    search_fields = ["ref"]
    readonly_fields = [f.name for f in OutgoingMessage._meta.fields]


@admin.register(IncomingMessage)
class IncomingMessageAdmin(admin.ModelAdmin):
    list_display = ["peer", "seqnum", "field", "received_at"]
    list_filter = ["peer", "field"]


@admin.register(LinkState)
class LinkStateAdmin(admin.ModelAdmin):
    list_display = ["peer", "connected", "detail", "changed_at"]


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    """Messages and work items set aside by a defect. Operators read what failed and
    why, fix the cause, then retry them; the daemon does the retry on its next turn."""

    list_display = ["id", "kind", "peer", "subject", "short_error", "age", "attempts", "state"]
    list_filter = ["state", "kind", "peer"]
    search_fields = ["ref", "what", "error", "error_type"]
    ordering = ["-failed_at", "-id"]
    actions = ["retry", "discard"]
    # A tuple: the admin's types take one as fields and as read-only fields alike.
    fields = readonly_fields = (
        "kind",
        "state",
        "what",
        "peer",
        "field",
        "seqnum",
        "ref",
        "error_type",
        "error",
        "attempts",
        "created_at",
        "failed_at",
        "retry_requested_at",
        "resolved_at",
        "message",
        "traceback_text",
    )

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Retrying is the one change, an action on the list; a row itself is read-only.
        return obj is None and super().has_change_permission(request)

    @admin.display(description="what failed")
    def subject(self, letter: DeadLetter) -> str:
        return letter.subject

    @admin.display(description="error")
    def short_error(self, letter: DeadLetter) -> str:
        name = letter.error_type.rsplit(".", 1)[-1]
        text = f"{name}: {letter.error}"
        return text if len(text) <= 120 else text[:119] + "…"

    @admin.display(description="failed", ordering="failed_at")
    def age(self, letter: DeadLetter) -> str:
        return f"{timesince(letter.failed_at, timezone.now())} ago"

    @admin.display(description="the message")
    def message(self, letter: DeadLetter) -> str:
        if letter.kind != DeadLetter.Kind.MESSAGE:
            return "-"
        return format_html("<pre>{}</pre>", letter.content)

    @admin.display(description="traceback")
    def traceback_text(self, letter: DeadLetter) -> str:
        return format_html("<pre>{}</pre>", letter.traceback)

    @admin.action(description="Retry (after fixing the cause)", permissions=["change"])
    def retry(self, request, queryset) -> None:
        count = services.dead_letters_retry(queryset.values_list("id", flat=True))
        self.message_user(
            request,
            f"{count} dead letter(s) will be retried by the daemon on its next turn; "
            "those that fail again show their new error here.",
            messages.SUCCESS,
        )

    @admin.action(description="Discard (never handle them)", permissions=["change"])
    def discard(self, request, queryset) -> None:
        count = services.dead_letters_discard(queryset.values_list("id", flat=True))
        self.message_user(request, f"{count} dead letter(s) discarded.", messages.WARNING)
