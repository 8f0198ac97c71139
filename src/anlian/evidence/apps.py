from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "anlian.evidence"
    label = "evidence"

