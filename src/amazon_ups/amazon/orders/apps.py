from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "amazon_ups.amazon.orders"
    label = "orders"
