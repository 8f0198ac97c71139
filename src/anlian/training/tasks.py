"""The annual refresher, assigned on January 1 (`anlian worker` runs huey's periodic tasks)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from anlian.training import services


# huey matches crontabs in UTC, while January 1 is a date at the site (Asia/Shanghai by default):
# the task wakes hourly on the days around the new year and acts only on the local January 1.
# Assigning is idempotent, so the later wake-ups that day find nothing left to do.
@db_periodic_task(crontab(month="12,1", day="31,1", minute="5"))
def assign_refreshers() -> int:
    day = services.today()
    if (day.month, day.day) != (1, 1):
        return 0
    return services.assign_refreshers(day.year)
