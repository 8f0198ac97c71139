from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrainingConfig(AppConfig):
    name = "anlian.training"
    verbose_name = _("培训")

    def ready(self) -> None:
        # New people owe three-level education; the receiver runs inside save_person's
        # transaction, so a person is never stored without what they owe.
        from anlian.orgs.services import person_hired
        from anlian.training.services import on_person_hired

        person_hired.connect(on_person_hired, dispatch_uid="training.assign_education")
