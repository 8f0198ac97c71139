from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SealConfig(AppConfig):
    name = "anlian.seal"
    verbose_name = _("证据链")
