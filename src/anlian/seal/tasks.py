"""Worker tasks of the seal app (huey discovers this module)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="10", hour="2"))
def seal_daily() -> dict[str, int]:
    """Every night: a fresh signed checkpoint for every company — those whose jobs changed since their
    last checkpoint, and the unchanged ones too (the day is attested). Daily rather than hourly keeps a
    job's verification (which walks the company's checkpoint links) fast after years of checkpoints;
    on demand, a manager seals from /seal/ or the API."""
    from anlian.seal.checkpoints import seal_all

    return seal_all(force=True)
