"""Worker tasks of the workforce app (huey discovers this module)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task()
def sweep_people(person_ids: list[int]) -> int:
    """Take these people off live jobs whose qualification guards they no longer pass."""
    from anlian.flows.services import withdraw_unqualified

    return withdraw_unqualified(set(person_ids))


@db_periodic_task(crontab(minute="*/5"))
def sweep_all() -> int:
    """Certificates run out at midnight and training goes stale with time, with nobody changing a
    record: look at every live job's named people every five minutes."""
    from anlian.flows.services import withdraw_unqualified

    return withdraw_unqualified()


@db_periodic_task(crontab(minute="*/10"))
def resume_checks() -> int:
    """A sheet whose check was lost with a stopped worker is checked again (checking only reads,
    so running it twice is harmless); an import is never restarted this way."""
    from datetime import timedelta

    from anlian.core import clock
    from anlian.workforce.models import ImportBatch, ImportKind, ImportStatus

    # Only this app's kinds: the hazards app keeps its ledger imports in the same table.
    stale = ImportBatch.objects.filter(status=ImportStatus.CHECKING, kind__in=ImportKind.values,
                                       created_at__lt=clock.now() - timedelta(minutes=10))
    ids = list(stale.values_list("pk", flat=True))
    for pk in ids:
        check_import(pk)
    return len(ids)


# Tasks defined next to the code they run, imported here so the worker registers them.
from anlian.workforce.importing import check_import, run_import  # noqa: E402, F401
from anlian.workforce.reminders import expiry_reminders  # noqa: E402, F401
