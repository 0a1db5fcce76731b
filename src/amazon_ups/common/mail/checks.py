"""System checks of the outgoing mail settings (see ``amazon_ups.common.checks``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.utils.module_loading import import_string

from amazon_ups.common.checks import port_errors

EMAIL_PORT_OUT_OF_RANGE = "common_mail.E001"
UNKNOWN_EMAIL_BACKEND = "common_mail.E002"


@register(Tags.compatibility)
def check_mail_settings(app_configs=None, **kwargs) -> list[Error]:
    errors = port_errors("EMAIL_PORT", settings.EMAIL_PORT, EMAIL_PORT_OUT_OF_RANGE)
    # Otherwise a misspelt backend shows only when the mail thread first sends.
    try:
        import_string(settings.EMAIL_BACKEND)
    except ImportError as error:
        errors.append(
            Error(
                f"EMAIL_BACKEND is {settings.EMAIL_BACKEND!r}: cannot import it ({error})",
                hint="Set EMAIL_BACKEND to a dotted path such as "
                "django.core.mail.backends.smtp.EmailBackend, or leave it unset (files).",
                id=UNKNOWN_EMAIL_BACKEND,
            )
        )
    return errors
