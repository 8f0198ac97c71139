"""A deleted export takes its PDF with it (retention deletes a job's exports with the job: a PDF left
on disk would keep what the policy removed)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from anlian.dossiers.models import DossierExport


@receiver(post_delete, sender=DossierExport, dispatch_uid="dossiers.export_file")
def remove_pdf(sender: Any, instance: DossierExport, **kwargs: Any) -> None:
    if instance.file:
        storage, name = instance.file.storage, instance.file.name
        transaction.on_commit(lambda: storage.delete(name))
