from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "amazon_ups.amazon.catalog"
    label = "catalog"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from amazon_ups.amazon.catalog.models import Product
        from amazon_ups.amazon.catalog.search import forget_vocabulary

        # However a product changes (a seller, the admin, the demo seed), typos are
        # next corrected against the words it has now.
        post_save.connect(forget_vocabulary, sender=Product, dispatch_uid="catalog-vocabulary")
        post_delete.connect(forget_vocabulary, sender=Product, dispatch_uid="catalog-vocabulary")
