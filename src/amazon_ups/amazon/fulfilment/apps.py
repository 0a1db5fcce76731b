from django.apps import AppConfig


class FulfilmentConfig(AppConfig):
    name = "amazon_ups.amazon.fulfilment"
    label = "fulfilment"
