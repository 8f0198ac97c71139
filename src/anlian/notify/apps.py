from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotifyConfig(AppConfig):
    name = "anlian.notify"
    verbose_name = _("通知")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from anlian.notify.texts import sync_shipped_texts

        # Shipped message texts are data: keep the table in step with shipped_texts.yaml.
        post_migrate.connect(lambda sender, **kw: sync_shipped_texts() if sender is self else None,
                             weak=False, dispatch_uid="notify.sync_shipped_texts")
