from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "amazon_ups.amazon.catalog"
    label = "catalog"
