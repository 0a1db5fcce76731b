from django.apps import AppConfig


class ShipperConfig(AppConfig):
    """The carrier's gateway to its shipper (Amazon): every message UPS sends Amazon is
    built here."""

    name = "amazon_ups.ups.shipper"
    label = "shipper"
    verbose_name = "Shipper (Amazon)"
