from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "anlian.evidence"
    label = "evidence"

    def ready(self) -> None:
        from anlian.evidence import tasks  # noqa: F401  (registers the watermark task with huey)

