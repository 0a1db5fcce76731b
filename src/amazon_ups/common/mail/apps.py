from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "amazon_ups.common.mail"
    label = "mail"
    verbose_name = "Outgoing email"

    def ready(self) -> None:
        from amazon_ups.common.mail import checks  # noqa: F401  (registers the checks)
