from django.apps import AppConfig


class CommonConfig(AppConfig):
    """What both projects share and no one app owns: here, the checks of the settings
    both read (``checks.py``), and ``__in`` written as one array on PostgreSQL
    (``backends/postgresql/lookups.py``)."""

    name = "amazon_ups.common"
    label = "common"
    verbose_name = "Shared"

    def ready(self) -> None:
        from amazon_ups.common import checks  # noqa: F401  (registers the checks)
        from amazon_ups.common.backends.postgresql import lookups

        lookups.register()
