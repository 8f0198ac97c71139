"""Worker tasks of the sensors app (huey discovers this module)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="*"))
def sensor_tick() -> int:
    """Every minute: silence rules (no data is an alarm too) and sustained conditions whose next
    reading is late are evaluated on the server's clock."""
    from anlian.sensors.runner import tick

    return tick()
