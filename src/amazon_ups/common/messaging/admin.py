from django.contrib import admin

from amazon_ups.common.messaging.models import IncomingMessage, LinkState, OutgoingMessage


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
