from django.apps import AppConfig


class ShipmentsConfig(AppConfig):
    name = "amazon_ups.ups.shipments"
    label = "shipments"
