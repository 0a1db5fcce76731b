from django.contrib import admin

from amazon_ups.common.mail.models import OutgoingEmail


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(admin.ModelAdmin):
    list_display = ["ref", "to", "subject", "created_at", "sent_at", "attempts"]
    list_filter = ["sent_at"]
    search_fields = ["ref", "to", "subject"]
    readonly_fields = [f.name for f in OutgoingEmail._meta.fields]
