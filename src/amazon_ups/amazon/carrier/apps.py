from django.apps import AppConfig


class CarrierConfig(AppConfig):
    """The store's gateway to its carrier (UPS): every message Amazon sends UPS is built
    here, and what UPS said about account ids is kept here."""

    name = "amazon_ups.amazon.carrier"
    label = "carrier"
    verbose_name = "Carrier (UPS)"
