"""Worker tasks of the seal app (huey discovers this module)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="10", hour="2"))
def seal_daily() -> dict[str, int]:
    """Every night: a fresh signed checkpoint for every company, changed or not (the day is attested)."""
    from anlian.seal.checkpoints import seal_all

    return seal_all(force=True)


@db_periodic_task(crontab(minute="40"))
def seal_changed() -> dict[str, int]:
    """Every hour: seal the companies whose jobs changed since their last checkpoint, so a deletion of
    the newest events is caught within the hour rather than the day."""
    from anlian.seal.checkpoints import seal_all

    return seal_all(force=False)
