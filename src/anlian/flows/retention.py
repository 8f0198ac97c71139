"""Retention: ended jobs (permits, hazards…) are kept at least as long as the rules require and are
deleted only here, each leaving a tombstone in the company's chain.

GB 30871-2022 asks for permits to be kept at least a year; most companies keep them (and the
hazard ledger) longer. `ANLIAN_RETENTION_DAYS` sets the days per template kind (`permit`, `hazard`,
others fall back to `default`), never below `MIN_DAYS` (a system check refuses a shorter setting).
A job is due when it has ended (closed, cancelled, rejected, expired) and its last event is older
than its kind's days.

Deleting a job removes its events, their photo links, reviews and findings, its refusal log, the
hazard row and its escalations, dossier exports and share links; other optional references (an
endorsement, a later hazard's "recurrence of") are cleared, not deleted. Evidence
files that nothing references any more are deleted with their derived copies. The job's
`Tombstone` keeps its number, dates, event count and last hash, chained to the company's previous
tombstone; the company is sealed again at once (`anlian.seal`), so the next checkpoint records the
removal and `anlian verify` can tell a retention deletion from a deleted job.

`anlian retention` lists what is due; `anlian retention --apply` deletes it. The worker does it
daily only when `ANLIAN_RETENTION_AUTO` is on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.db import models, transaction
from django.db.models import Max

from anlian.core import clock
from anlian.flows.core.events import _utc
from anlian.flows.models import Event, Instance, InstanceStatus, Tombstone

log = logging.getLogger(__name__)

MIN_DAYS = 365  # GB 30871-2022: permits kept at least one year
DEFAULT_DAYS = {"permit": 3 * 365, "hazard": 3 * 365, "default": 3 * 365}
ENDED = (InstanceStatus.CLOSED, InstanceStatus.CANCELLED, InstanceStatus.REJECTED, InstanceStatus.EXPIRED)
GENESIS = "0" * 64


def days_for(kind: str) -> int:
    configured = {**DEFAULT_DAYS, **getattr(settings, "ANLIAN_RETENTION_DAYS", {})}
    return max(int(configured.get(kind, configured["default"])), MIN_DAYS)


@register()
def check_retention_days(app_configs: Any, **kwargs: Any) -> list[Error]:
    configured = getattr(settings, "ANLIAN_RETENTION_DAYS", {})
    return [Error(f"ANLIAN_RETENTION_DAYS[{kind!r}] = {days}: jobs must be kept at least {MIN_DAYS} days",
                  id="anlian.E010")
            for kind, days in configured.items() if not isinstance(days, int) or days < MIN_DAYS]


@dataclass(frozen=True)
class Due:
    instance_id: int
    company_id: int
    number: str
    kind: str
    ended_at: datetime


def due(now: datetime | None = None, company_id: int | None = None) -> list[Due]:
    """Ended jobs older than their kind's retention, oldest first."""
    now = now or clock.now()
    jobs = Instance.objects.filter(status__in=ENDED)
    if company_id is not None:
        jobs = jobs.filter(company_id=company_id)
    jobs = jobs.annotate(ended=Max("events__server_time")).values_list(
        "pk", "company_id", "number", "version__template__kind", "ended").order_by("ended", "pk")
    return [Due(pk, company, number, kind, ended) for pk, company, number, kind, ended in jobs.iterator()
            if ended is not None and ended <= now - timedelta(days=days_for(kind))]


def apply(now: datetime | None = None, company_id: int | None = None, progress=None) -> list[Tombstone]:
    """Delete every due job, each in its own transaction with its tombstone; then seal the companies."""
    from anlian.seal.checkpoints import seal_company

    now = now or clock.now()
    items = due(now, company_id)
    stones = []
    for n, item in enumerate(items, start=1):
        stones.append(delete_job(item, now))
        if progress:
            progress(n, len(items))
    for company in sorted({s.company_id for s in stones}):
        seal_company(company)
    return stones


def stone_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def stone_fields(stone: Tombstone) -> dict[str, Any]:
    """What a tombstone's hash covers (times in UTC, as the event chain writes them)."""
    return {"company": stone.company_id, "instance": stone.instance_id, "number": stone.number,
            "template": stone.template_key, "kind": stone.kind, "status": stone.status,
            "started_at": _utc(stone.started_at), "ended_at": _utc(stone.ended_at), "events": stone.events,
            "last_hash": stone.last_hash, "retention_days": stone.retention_days, "deleted_at": _utc(stone.deleted_at)}


def delete_job(item: Due, now: datetime) -> Tombstone:
    with transaction.atomic():
        job = Instance.objects.select_for_update(of=("self",)).select_related("version__template").get(
            pk=item.instance_id)
        previous = Tombstone.objects.select_for_update().filter(company_id=job.company_id).order_by("-pk").first()
        stone = Tombstone(company_id=job.company_id, instance_id=job.pk, number=job.number,
                          template_key=job.version.template.key, kind=job.version.template.kind, status=job.status,
                          started_at=job.started_at, ended_at=item.ended_at, events=job.last_seq,
                          last_hash=job.last_hash, retention_days=days_for(job.version.template.kind),
                          deleted_at=now, prev_hash=previous.hash if previous else GENESIS)
        stone.hash = stone_hash(stone.prev_hash, stone_fields(stone))
        files = _purge(job)
        stone.save()
        _drop_unreferenced(files)
    log.info("retention: deleted job %s (%s) of company %s", job.number, job.pk, job.company_id)
    return stone


def _purge(job: Instance) -> set[int]:
    """Delete the job and what belongs to it; returns the ids of the evidence files it used."""
    from anlian.flows.models import EventPhoto

    event_ids = list(Event.objects.filter(instance=job).values_list("pk", flat=True))
    files = set(EventPhoto.objects.filter(event_id__in=event_ids).values_list("file_id", flat=True))
    _delete_with_dependents(Event, event_ids)
    _delete_with_dependents(Instance, [job.pk])
    return files


# Rows that belong to the job though their reference may be empty (a refusal before the job
# existed, a finding on an upload not yet used): deleted with it rather than unlinked.
OWNED = {"trust.photofinding", "permits.refusal"}


def _reverse(model: type[models.Model]) -> list[Any]:
    """Every relation pointing at `model`, those hidden with related_name="+" included."""
    return [f for f in model._meta.get_fields(include_hidden=True) if f.auto_created and not f.concrete]


def _delete_with_dependents(model: type[models.Model], pks: list[int]) -> None:
    """Rows pointing at these by a required reference (or of an OWNED model) belong to them and go
    first, recursively; other optional references are cleared; CASCADE and SET_NULL are left to the
    delete itself."""
    if not pks:
        return
    for rel in _reverse(model):
        if rel.many_to_many or rel.on_delete in (models.CASCADE, models.SET_NULL, models.DO_NOTHING):
            continue
        related = rel.related_model
        rows = related._base_manager.filter(**{f"{rel.field.name}__in": pks})
        if rel.field.null and related._meta.label_lower not in OWNED:
            rows.update(**{rel.field.name: None})
        else:
            _delete_with_dependents(related, list(rows.values_list("pk", flat=True)))
    model._base_manager.filter(pk__in=pks).delete()


def _drop_unreferenced(file_ids: set[int]) -> None:
    """Delete the evidence files nothing references any more (bytes and derived copies too)."""
    from anlian.evidence.models import StoredFile

    if not file_ids:
        return
    still = set()
    for rel in _reverse(StoredFile):
        if rel.on_delete is models.CASCADE and not rel.many_to_many:
            continue  # derived copies go with their original
        if rel.many_to_many:
            through = rel.through if hasattr(rel, "through") else rel.field.remote_field.through
            column = next(f.name for f in through._meta.fields if f.related_model is StoredFile)
            still |= set(through.objects.filter(**{f"{column}__in": file_ids}).values_list(f"{column}_id", flat=True))
        else:
            still |= set(rel.related_model._base_manager.filter(**{f"{rel.field.name}__in": file_ids})
                         .values_list(f"{rel.field.name}_id", flat=True))
    gone = list(StoredFile.objects.filter(pk__in=file_ids - still).prefetch_related("derived"))
    names = [(f.file.storage, f.file.name) for stored in gone for f in (stored, *stored.derived.all()) if f.file]
    StoredFile.objects.filter(pk__in=[f.pk for f in gone]).delete()
    # Bytes are stored by content: another company's copy of the same picture shares them.
    shared = set(StoredFile.objects.filter(file__in=[name for _s, name in names]).values_list("file", flat=True))
    names = [(storage, name) for storage, name in names if name not in shared]
    # The bytes go only once the rows are gone for good: a rolled-back deletion keeps its files.
    transaction.on_commit(lambda: [storage.delete(name) for storage, name in names])
