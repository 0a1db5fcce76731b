from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "amazon_ups.common.messaging"
    label = "messaging"
    verbose_name = "Messaging"
