"""Worker tasks of the notifications app (huey discovers this module)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_periodic_task(crontab(minute="*"))
def send_deliveries() -> dict[str, int]:
    """Every minute: send what is due (new, or waiting for its retry) and recover interrupted sends."""
    from anlian.notify.delivery import send_due

    return send_due()


@db_task()
def send_message(message_id: int) -> dict[str, int]:
    """Right after a message is created (or a delivery resent): send its deliveries without waiting
    for the minute. The claim makes this and the periodic task never send one delivery twice."""
    from anlian.notify.delivery import send_due

    return send_due(message_id=message_id)
