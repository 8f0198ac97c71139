"""After a step with photos is recorded: fingerprint its photos and pre-review each slot.

Runs in the worker (`flows.tasks.process_photo_steps`), never in the request: the vision model may
take seconds. The verdicts are reminders for the approver; nothing here changes the job.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from anlian.evidence.models import StoredFile
from anlian.trust.fingerprints import fingerprint
from anlian.trust.models import PhotoReview
from anlian.trust.review import Photo, ReviewRequest, default_reviewers, review_all

log = logging.getLogger(__name__)


def after_event(event_id: int, reviewers: list | None = None) -> int:
    """Fingerprint every photo of the event (so later near-duplicate look-ups see it) and keep one
    pre-review verdict per photo slot and reviewer. Safe to run again. Returns verdicts kept."""
    from anlian.flows.models import Event
    from anlian.flows.services import template_of

    event = Event.objects.select_related("instance__version", "instance__company").filter(pk=event_id).first()
    photos: dict[str, list[str]] = (event.payload.get("photos") or {}) if event else {}
    if not photos:
        return 0
    instance = event.instance
    files = {f.sha256: f for f in StoredFile.objects.filter(company_id=instance.company_id,
                                                             sha256__in={r for refs in photos.values() for r in refs})
             if not f.is_video}  # clips are kept and played, not fingerprinted or pre-reviewed
    prints = {sha: _fingerprint(f) for sha, f in files.items()}
    step = template_of(instance.version).by_key.get(event.step)
    if step is None:
        return 0
    labels = {f.key: f.label for f in step.fields}
    form = {labels.get(k, k): v for k, v in (instance_values(instance) | (event.payload.get("values") or {})).items()}
    kept = 0
    for slot in step.photos:
        refs = [r for r in photos.get(slot.key, []) if r in files]
        if not refs or PhotoReview.objects.filter(event=event, slot=slot.key).exists():
            continue
        request = ReviewRequest(step=step.name, instruction=slot.hint or slot.label, form=form,
                                photos=[_photo(files[r], prints.get(r), event) for r in refs])
        for verdict in review_all(request, reviewers if reviewers is not None else default_reviewers()):
            try:
                with transaction.atomic():
                    PhotoReview.objects.create(event=event, instance=instance, slot=slot.key,
                                               reviewer=verdict.reviewer, status=verdict.status,
                                               reason=verdict.reason[:500], details=verdict.details)
                kept += 1
            except IntegrityError:  # the same event reviewed twice at once: keep the first
                pass
    return kept


def instance_values(instance: Any) -> dict[str, Any]:
    """The job's form so far (the application's planned times matter to the rules)."""
    from anlian.flows.services import state_of

    return dict(state_of(instance).values)


def _fingerprint(stored: StoredFile):
    try:
        return fingerprint(stored)
    except Exception:  # noqa: BLE001 - an unreadable file must not stop the other photos
        log.exception("fingerprint of %s failed", stored.sha256[:12])
        return None


def _photo(stored: StoredFile, printed, event) -> Photo:
    with stored.file.open("rb") as handle:
        data = handle.read()
    meta = {"device_time": event.device_time}
    if printed is not None:
        meta.update(taken_at=printed.taken_at, lat=printed.gps_lat, lng=printed.gps_lng)
    if event.lat is not None and meta.get("lat") is None:
        meta.update(lat=event.lat, lng=event.lng)
    return Photo(data, stored.content_type, {k: v for k, v in meta.items() if v is not None})
