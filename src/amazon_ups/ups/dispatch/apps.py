from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "amazon_ups.ups.dispatch"
    label = "dispatch"

    def ready(self) -> None:
        from amazon_ups.ups.dispatch import checks  # noqa: F401  (registers the checks)
