"""Periodic work of the flows app, run by the worker (`anlian worker`)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from anlian.flows import services


@db_periodic_task(crontab(minute="*"))
def expire_permits() -> int:
    """Mark permits past their validity as expired, once a minute."""
    return services.expire_due()
