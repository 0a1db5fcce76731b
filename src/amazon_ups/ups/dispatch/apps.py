from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "amazon_ups.ups.dispatch"
    label = "dispatch"
