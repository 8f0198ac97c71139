"""Periodic work of the flows app, run by the worker (`anlian worker`)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from anlian.flows import services


@db_periodic_task(crontab(minute="*"))
def expire_permits() -> int:
    """Mark permits past their validity as expired, once a minute."""
    return services.expire_due()


@db_periodic_task(crontab(minute="*"))
def process_photo_steps(limit: int = 200) -> int:
    """Steps recorded with photos since the last run: their watermarked display copies, then the
    fingerprints and pre-review. Swept once a minute rather than queued per step, so a submission
    does not pay for queueing (display copies are also made on demand when someone looks first)."""
    from anlian.evidence.services import watermark_event
    from anlian.flows.models import Event
    from anlian.trust.services import after_event

    # Only steps with pictures: a step whose only evidence is a clip gets no pre-review, and would
    # otherwise be picked up again every minute.
    pending = list(Event.objects.filter(photo_uses__file__content_type__startswith="image/",
                                        photo_reviews__isnull=True)
                   .order_by("pk").values_list("pk", flat=True).distinct()[:limit])
    for event_id in pending:
        watermark_event(event_id)
        after_event(event_id)
    return len(pending)


@db_periodic_task(crontab(hour="3", minute="30"))
def apply_retention() -> int:
    """Daily at 03:30 when ANLIAN_RETENTION_AUTO is on: delete ended jobs past their retention."""
    from django.conf import settings

    from anlian.flows import retention

    if not settings.ANLIAN_RETENTION_AUTO:
        return 0
    return len(retention.apply())
