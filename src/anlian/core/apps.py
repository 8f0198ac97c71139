from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "anlian.core"
    label = "core"
    verbose_name = "Anlian core"

    def ready(self) -> None:
        from anlian.core import tasks  # noqa: F401  (registers periodic tasks with huey)
