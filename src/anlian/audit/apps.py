from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "anlian.audit"
    verbose_name = _("审计日志")

    def ready(self) -> None:
        from anlian.audit import capture

        capture.connect()
