"""Cross-cutting records: idempotent API replies and worker heartbeats."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """The stored reply to a POST made with an `Idempotency-Key`, replayed for 24 hours."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)  # null while the first request runs
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_key_per_user")]


class WorkerHeartbeat(models.Model):
    """Written by a periodic task so /healthz can tell a running worker from a stopped one."""

    name = models.CharField(max_length=50, unique=True)
    beat_at = models.DateTimeField()


class Notice(models.Model):
    """A message in a person's in-app inbox (站内消息).

    `key` makes a notice idempotent: a reminder or alert computed again by a later worker run
    finds its key taken and is not sent twice.
    """

    person = models.ForeignKey("orgs.Person", on_delete=models.CASCADE, related_name="notices")
    key = models.CharField(max_length=200)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    scope_path_lookup = "person__org_unit__path"

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["person", "key"], name="notice_unique_key_per_person")]
