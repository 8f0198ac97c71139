"""Periodic work of the permits app, run by the worker (`anlian worker`)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from anlian.permits import timers


@db_periodic_task(crontab(minute="*"))
def permit_timers() -> dict[str, int]:
    """Escalate permit steps past their deadline, once a minute."""
    return timers.run_timers()
