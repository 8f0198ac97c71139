from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "anlian.accounts"
    label = "accounts"
