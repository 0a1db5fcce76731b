from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "amazon_ups.common.mail"
    label = "mail"
    verbose_name = "Outgoing email"
