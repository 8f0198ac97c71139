from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SensorsConfig(AppConfig):
    name = "anlian.sensors"
    verbose_name = _("设备报警")

    def ready(self) -> None:
        from django.utils.translation import gettext

        from anlian.sensors.engine import set_translator

        # The rule engine has no Django; its messages are translated when read, per request language.
        set_translator(gettext)
