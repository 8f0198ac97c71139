"""Worker tasks of the hazards app (huey discovers this module)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="*"))
def hazard_timers() -> dict[str, int]:
    """Every minute: reminders before a deadline, the overdue mark, escalation tier by tier."""
    from anlian.hazards.timers import run_timers

    return run_timers()


# Tasks defined next to the code they run, imported here so the worker registers them.
from anlian.hazards.importing import check_import, run_import  # noqa: E402, F401
