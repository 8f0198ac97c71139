from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HazardsConfig(AppConfig):
    name = "anlian.hazards"
    verbose_name = _("隐患排查治理")

    def ready(self) -> None:
        from anlian.flows.signals import event_recorded
        from anlian.hazards.services import on_event

        event_recorded.connect(on_event, weak=False, dispatch_uid="hazards.on_event")
