"""Background work of the trust app, run by the worker (`anlian worker`)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from anlian.trust import services


@db_task(retries=1, retry_delay=60)
def after_event_task(event_id: int) -> int:
    """Fingerprints and pre-reviews of a recorded step's photos."""
    return services.after_event(event_id)
