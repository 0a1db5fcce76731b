from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "amazon_ups.amazon.orders"
    label = "orders"

    def ready(self) -> None:
        from amazon_ups.amazon.orders import checks  # noqa: F401  (registers the checks)
