from django.apps import AppConfig


class PermitsConfig(AppConfig):
    name = "anlian.permits"
    label = "permits"
