"""/healthz: JSON about database, storage and queue; 503 naming the part that fails."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from anlian.core.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def test_healthz_all_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    body = response.json()
    assert body["ok"] is True
    assert body["database"] == {"ok": True, "engine": connection.vendor}
    assert body["storage"]["ok"] is True and body["storage"]["backend"] == "FileSystemStorage"
    assert body["queue"]["ok"] is True and isinstance(body["queue"]["pending"], int)
    assert body["queue"]["worker_ok"] is False and body["queue"]["worker_seen_seconds_ago"] is None


def test_healthz_needs_no_login_and_only_answers_get(client):
    assert client.get("/healthz").status_code == 200  # anonymous
    assert client.post("/healthz").status_code == 405


def test_healthz_leaves_no_files_behind(client, settings):
    client.get("/healthz")
    leftovers = list((settings.MEDIA_ROOT / "healthz").glob("*")) if (settings.MEDIA_ROOT / "healthz").exists() else []
    assert leftovers == []


def test_storage_on_an_unwritable_path_is_reported(client, settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the media folder should be")
    settings.MEDIA_ROOT = blocker / "media"  # cannot be created, not even by root
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["storage"]["ok"] is False and body["storage"]["error"]
    assert body["database"]["ok"] is True and body["queue"]["ok"] is True


def test_storage_that_raises_is_reported(client):
    broken = mock.Mock()
    broken.save.side_effect = OSError("No space left on device")
    with mock.patch.dict("django.core.files.storage.storages._storages", {"default": broken}):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["storage"] == {"ok": False, "error": "OSError: No space left on device"}
    assert body["database"]["ok"] is True


def test_storage_that_returns_other_bytes_is_not_ok(client):
    from django.core.files.base import ContentFile

    liar = mock.Mock()
    liar.save.return_value = "healthz/x.txt"
    liar.open.return_value = ContentFile(b"not ok")
    with mock.patch.dict("django.core.files.storage.storages._storages", {"default": liar}):
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["storage"]["ok"] is False
    liar.delete.assert_called_once_with("healthz/x.txt")


def test_queue_failure_is_reported(client):
    from huey.contrib.djhuey import HUEY

    with mock.patch.object(HUEY, "pending_count", side_effect=ConnectionError("Redis is down")):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["queue"]["ok"] is False and "Redis is down" in body["queue"]["error"]
    assert body["storage"]["ok"] is True


def test_database_failure_is_reported(client):
    with mock.patch("anlian.core.health.connection") as conn:
        conn.cursor.side_effect = RuntimeError("database unreachable")
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == {"ok": False, "error": "RuntimeError: database unreachable"}


def test_worker_heartbeat_age(client):
    WorkerHeartbeat.objects.create(name="worker", beat_at=timezone.now() - timedelta(seconds=30))
    queue = client.get("/healthz").json()["queue"]
    assert queue["worker_ok"] is True and 25 <= queue["worker_seen_seconds_ago"] <= 60
    WorkerHeartbeat.objects.filter(name="worker").update(beat_at=timezone.now() - timedelta(minutes=10))
    response = client.get("/healthz")
    queue = response.json()["queue"]
    assert queue["worker_ok"] is False and queue["worker_seen_seconds_ago"] >= 600
    assert response.status_code == 200  # the queue itself is reachable; the stale worker is reported


def test_heartbeat_task_writes_the_heartbeat():
    from anlian.core.tasks import heartbeat, ping

    heartbeat.call_local()
    first = WorkerHeartbeat.objects.get(name="worker").beat_at
    heartbeat.call_local()
    assert WorkerHeartbeat.objects.count() == 1
    assert WorkerHeartbeat.objects.get(name="worker").beat_at >= first
    assert ping.call_local("x") == "x"


def test_purge_idempotency_records():
    from django.contrib.auth import get_user_model

    from anlian.core.models import IdempotencyRecord
    from anlian.core.tasks import purge_idempotency_records

    user = get_user_model().objects.create_user("u", password="x-very-long-secret-1")
    old = IdempotencyRecord.objects.create(user=user, key="old", method="POST", path="/api/v1/x", request_hash="h")
    new = IdempotencyRecord.objects.create(user=user, key="new", method="POST", path="/api/v1/x", request_hash="h")
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    assert purge_idempotency_records.call_local() == 1
    assert list(IdempotencyRecord.objects.values_list("pk", flat=True)) == [new.pk]
