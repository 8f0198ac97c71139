from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class WorkforceConfig(AppConfig):
    name = "anlian.workforce"
    verbose_name = _("人员资格")

    def ready(self) -> None:
        from anlian.workforce.shipped import sync_shipped

        post_migrate.connect(lambda sender, **kw: sync_shipped() if sender is self else None,
                             weak=False, dispatch_uid="workforce.sync_shipped")
