from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DossiersConfig(AppConfig):
    name = "anlian.dossiers"
    verbose_name = _("档案与监管")

    def ready(self) -> None:
        from anlian.dossiers import signals  # noqa: F401 - connects the receivers
