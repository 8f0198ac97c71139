"""Background work on evidence files, run by the worker (`anlian worker`)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from anlian.evidence import services


@db_task(retries=2, retry_delay=30)
def watermark_event_task(event_id: int) -> int:
    """Make the watermarked display copies and thumbnails of an event's photos (idempotent).

    Queue it once the event is committed: transaction.on_commit(lambda: watermark_event_task(event.pk))."""
    return len(services.watermark_event(event_id))
