from zoneinfo import ZoneInfo

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate


class FlowsConfig(AppConfig):
    name = "anlian.flows"
    label = "flows"

    def ready(self) -> None:
        from django.utils.translation import gettext

        from anlian.flows import retention  # noqa: F401 - registers its system check
        from anlian.flows.core import set_translator
        from anlian.flows.core.clock import set_display_zone
        from anlian.flows.services import sync_shipped_templates

        # The engine core has no Django; refusals are translated when read, per request language.
        set_translator(gettext)
        set_display_zone(ZoneInfo(settings.TIME_ZONE))
        # Shipped templates are data that comes with the code: keep the table in step after migrate.
        post_migrate.connect(lambda sender, **kw: sync_shipped_templates() if sender is self else None,
                             weak=False, dispatch_uid="flows.sync_shipped_templates")
