from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "amazon_ups.ups.accounts"
    label = "ups_accounts"
    verbose_name = "UPS accounts"
