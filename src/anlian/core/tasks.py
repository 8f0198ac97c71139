"""Housekeeping tasks run by the worker (`anlian worker`)."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from anlian.core.models import IdempotencyRecord, WorkerHeartbeat


@db_periodic_task(crontab(minute="*"))
def heartbeat() -> None:
    """Mark the worker alive once a minute; /healthz reports the age of the last beat."""
    WorkerHeartbeat.objects.update_or_create(name="worker", defaults={"beat_at": timezone.now()})


@db_periodic_task(crontab(minute="17"))
def purge_idempotency_records() -> int:
    """Forget stored API replies older than their 24-hour replay window."""
    cutoff = timezone.now() - settings.IDEMPOTENCY_TTL
    return IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()[0]


@db_task()
def ping(value: str) -> str:
    """A round trip through the queue, used by `anlian check_queue` and the tests."""
    return value
