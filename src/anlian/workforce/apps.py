from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class WorkforceConfig(AppConfig):
    name = "anlian.workforce"
    verbose_name = _("人员资格")

    def ready(self) -> None:
        from anlian.workforce.shipped import sync_shipped
        from anlian.workforce.signals import qualification_changed

        post_migrate.connect(lambda sender, **kw: sync_shipped() if sender is self else None,
                             weak=False, dispatch_uid="workforce.sync_shipped")
        qualification_changed.connect(sweep_after_commit, weak=False, dispatch_uid="workforce.sweep")


def sweep_after_commit(sender, person, **kwargs) -> None:
    """Once the change is stored, the worker takes the person off jobs that now refuse them."""
    from django.db import transaction

    from anlian.workforce.tasks import sweep_people

    transaction.on_commit(lambda: sweep_people([person.pk]))
