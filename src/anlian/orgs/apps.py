from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OrgsConfig(AppConfig):
    name = "anlian.orgs"
    label = "orgs"

    def ready(self) -> None:
        from anlian.orgs.services import sync_builtin_roles

        # Built-in roles are code-defined data: keep the table in step with the catalogue.
        post_migrate.connect(lambda sender, **kw: sync_builtin_roles() if sender is self else None,
                             weak=False, dispatch_uid="orgs.sync_builtin_roles")
