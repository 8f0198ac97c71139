"""Health of the parts an installation depends on: database, media storage and task queue."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection
from django.utils import timezone

HEARTBEAT_STALE_AFTER = timedelta(minutes=3)


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "engine": connection.vendor}


def check_storage() -> dict[str, Any]:
    storage = storages["default"]  # the real backend (default_storage is a lazy wrapper around it)
    name = storage.save(f"healthz/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with storage.open(name) as handle:
            ok = handle.read() == b"ok"
    finally:
        storage.delete(name)
    return {"ok": ok, "backend": type(storage).__name__}


def check_queue() -> dict[str, Any]:
    from huey.contrib.djhuey import HUEY

    from anlian.core.models import WorkerHeartbeat

    pending = HUEY.pending_count()  # reaches the queue storage (SQLite file or Redis)
    beat = WorkerHeartbeat.objects.filter(name="worker").values_list("beat_at", flat=True).first()
    age = (timezone.now() - beat).total_seconds() if beat else None
    worker_ok = age is not None and age < HEARTBEAT_STALE_AFTER.total_seconds()
    return {"ok": True, "backend": type(HUEY).__name__, "pending": pending,
            "worker_seen_seconds_ago": round(age) if age is not None else None, "worker_ok": worker_ok}


CHECKS = {"database": check_database, "storage": check_storage, "queue": check_queue}


def run_checks() -> dict[str, Any]:
    report: dict[str, Any] = {}
    for name, check in CHECKS.items():
        try:
            report[name] = check()
        except Exception as exc:  # a health check reports failures, it does not raise them
            report[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    report["ok"] = all(part["ok"] for part in report.values() if isinstance(part, dict))
    return report
