from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "amazon_ups.amazon.accounts"
    label = "accounts"
