"""Store uploaded photos as evidence: checked image, original kept byte for byte by SHA-256.

Nothing partial is left when anything fails: the image is fully checked before any byte is written,
and if writing the file or its row fails, the file written so far is removed before the error goes on.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from anlian.core.errors import Invalid
from anlian.core.images import ImageRejected, mime_type, open_checked, read_upload
from anlian.evidence.models import StoredFile
from anlian.orgs.models import OrgUnit

log = logging.getLogger(__name__)

# Intake decodes JPEGs at the smallest scale libjpeg offers (1/8): every byte of the compressed data
# is still read and entropy-decoded, so a truncated or corrupt file is refused all the same; only the
# final inverse transform is smaller. See open_checked.
CHECK_FIT = 1


def store_photo(user: Any, company: OrgUnit, upload: Any) -> StoredFile:
    """Validate the image fully, then keep the original bytes once per company."""
    try:
        data = read_upload(upload)
        image = open_checked(data, fit=CHECK_FIT)
    except ImageRejected as exc:
        raise Invalid(exc.reason, field="file") from None
    width, height = getattr(image, "original_size", image.size)
    return _keep_once(user, company, data, content_type=mime_type(image), width=width, height=height)


def _keep_once(user: Any, company: OrgUnit, data: bytes, then: Any = None, **fields: Any) -> StoredFile:
    """The company's StoredFile of these bytes: the existing one, or a new one written all or
    nothing (with whatever `then(stored)` adds in the same transaction)."""
    digest = hashlib.sha256(data).hexdigest()
    existing = StoredFile.objects.filter(company=company, sha256=digest).first()
    if existing:
        return existing
    stored = StoredFile(sha256=digest, company=company, size=len(data),
                        uploaded_by=user if getattr(user, "pk", None) else None, **fields)
    try:
        with transaction.atomic():
            save_all_or_nothing(stored, data)
            if then is not None:
                try:
                    then(stored)
                except BaseException:
                    stored.file.storage.delete(stored.file.name)  # the row rolls back; the file goes too
                    raise
    except IntegrityError:  # the same file sent twice at once: the first one is kept
        return StoredFile.objects.get(company=company, sha256=digest)
    return stored


def store_upload(user: Any, company: OrgUnit, upload: Any) -> StoredFile:
    """A photo, or a short video clip (for slots that accept one), by what the bytes are."""
    from anlian.evidence.video import MAX_BYTES as MAX_VIDEO_BYTES
    from anlian.evidence.video import looks_like_video

    try:
        head = read_upload(upload, max_bytes=MAX_VIDEO_BYTES)
    except ImageRejected as exc:
        raise Invalid(exc.reason, field="file") from None
    if looks_like_video(head):
        return store_clip(user, company, head)
    return store_photo(user, company, ContentFile(head, name=getattr(upload, "name", "upload")))


def store_clip(user: Any, company: OrgUnit, data: bytes) -> StoredFile:
    """Check a short clip fully, keep its original bytes once per company and its first frame as
    the thumbnail (poster)."""
    from anlian.evidence.models import DerivedFile, DerivedKind
    from anlian.evidence.video import VideoRejected, check_clip

    try:
        clip = check_clip(data)
    except VideoRejected as exc:
        raise Invalid(exc.reason, field="file") from None

    def poster(stored: StoredFile) -> None:
        save_all_or_nothing(DerivedFile(original=stored, kind=DerivedKind.THUMB, event=None, width=clip.width,
                                        height=clip.height), clip.poster_jpeg)

    return _keep_once(user, company, data, then=poster, content_type=clip.content_type, width=clip.width,
                      height=clip.height, seconds=round(clip.seconds, 2))


def save_all_or_nothing(obj: Any, data: bytes, field: str = "file") -> None:
    """Write `data` as the file of `obj` and insert its row; on any failure neither is left behind.

    The name is chosen before writing, so a write that fails half-way can be found and removed
    (the storage's own choice of another name only happens if someone else takes that name in the
    same instant, and then that file is theirs, not ours to remove)."""
    fieldfile = getattr(obj, field)
    storage = fieldfile.storage
    max_length = fieldfile.field.max_length
    name = storage.get_available_name(fieldfile.field.generate_filename(obj, "upload"), max_length=max_length)
    saved = ""
    try:
        with transaction.atomic():
            saved = storage.save(name, ContentFile(data), max_length=max_length)
            setattr(obj, field, saved)
            obj.save()
    except BaseException:
        for leftover in {saved, name} - {""}:
            _remove_unless_owned(obj, field, storage, leftover)
        if saved:
            setattr(obj, field, None)
        raise


def _remove_unless_owned(obj: Any, field: str, storage: Any, name: str) -> None:
    try:
        if storage.exists(name) and not type(obj).objects.filter(**{field: name}).exists():
            storage.delete(name)
    except Exception:  # noqa: BLE001 - the original error matters more; the leftover is logged
        log.exception("could not remove the partial file %s", name)


# --- derived copies: watermarked display copy and thumbnail ----------------------------------------


def _stamp(event: Any, slot: str) -> Any:
    from django.utils.translation import gettext as _

    from anlian.evidence.watermark import Stamp
    from anlian.flows.core.schema import PRESENCE_SLOT
    from anlian.flows.services import template_of

    instance = event.instance
    tpl = template_of(instance.version)
    step = tpl.step(event.step) if event.step else None
    labels = {p.key: p.label for p in step.photos} if step is not None else {}
    labels.setdefault(PRESENCE_SLOT, _("到场照片"))
    return Stamp(company=instance.company.name, number=f"{tpl.name} {instance.number}",
                 step=step.name if step is not None else event.kind,
                 person=event.actor.name if event.actor_id else _("系统"),
                 server_time=event.server_time, device_time=event.device_time, lat=event.lat, lng=event.lng,
                 area=instance.area.name if instance.area_id else "", slot=labels.get(slot, ""))


def _photos_of(event: Any) -> list[tuple[str, str]]:
    """(slot, sha256) of every photo an event carries, in order, each once."""
    photos = (event.payload or {}).get("photos") or {}
    seen, out = set(), []
    if not isinstance(photos, dict):
        return out
    for slot, refs in photos.items():
        for ref in refs if isinstance(refs, list) else []:
            if isinstance(ref, str) and ref not in seen:
                seen.add(ref)
                out.append((slot, ref))
    return out


def _event(event_id: int) -> Any:
    from anlian.flows.models import Event

    return (Event.objects.select_related("instance__company", "instance__area", "instance__version", "actor")
            .filter(pk=event_id).first())


def derive(original: StoredFile, event: Any, slot: str) -> Any:
    """The display copy of `original` for `event` (made now if missing), and its thumbnail if missing.

    Idempotent: what exists is kept; two workers doing the same at once keep the first copy."""
    from anlian.evidence.models import DerivedFile, DerivedKind
    from anlian.evidence.watermark import (DISPLAY_MIN_EDGE, DISPLAY_QUALITY, THUMB_QUALITY, display_and_thumb,
                                           jpeg_bytes)

    display = DerivedFile.objects.filter(original=original, kind=DerivedKind.DISPLAY, event=event).first()
    has_thumb = DerivedFile.objects.filter(original=original, kind=DerivedKind.THUMB, event=None).exists()
    if display is not None and has_thumb:
        return display
    with original.file.open("rb") as handle:
        image = open_checked(handle.read(), fit=DISPLAY_MIN_EDGE)
    shown, thumb = display_and_thumb(image, _stamp(event, slot))
    made = []
    if not has_thumb:
        made.append((DerivedKind.THUMB, None, thumb, THUMB_QUALITY))
    if display is None:
        made.append((DerivedKind.DISPLAY, event, shown, DISPLAY_QUALITY))
    for kind, for_event, picture, quality in made:
        copy = DerivedFile(original=original, kind=kind, event=for_event, width=picture.width,
                           height=picture.height)
        try:
            save_all_or_nothing(copy, jpeg_bytes(picture, quality))
        except IntegrityError:  # made meanwhile by someone else: theirs is the same picture
            copy = DerivedFile.objects.get(original=original, kind=kind, event=for_event)
        if kind == DerivedKind.DISPLAY:
            display = copy
    return display


def watermark_event(event_id: int) -> list:
    """Make the watermarked display copy (and the thumbnail) of every photo of a flows Event.

    Safe to run again (nothing is made twice) and for events without photos (nothing to do). A
    photo that cannot be processed is logged and skipped: the others are still made."""
    event = _event(event_id)
    if event is None:
        return []
    made = []
    for slot, sha in _photos_of(event):
        original = StoredFile.objects.filter(company_id=event.instance.company_id, sha256=sha).first()
        if original is None or original.is_video:  # a clip is played as it is, with its poster
            continue
        try:
            made.append(derive(original, event, slot))
        except (ImageRejected, OSError):
            log.exception("could not watermark photo %s of event %s", sha[:12], event_id)
    return made


def display_for(original: StoredFile, event_id: int) -> Any:
    """The display copy of `original` in an event, made on demand; None unless the event is of the
    original's company and carries that photo."""
    from anlian.evidence.models import DerivedFile, DerivedKind

    if original.is_video:
        return None
    found = DerivedFile.objects.filter(original=original, kind=DerivedKind.DISPLAY, event_id=event_id).first()
    if found is not None:
        return found
    event = _event(event_id)
    if event is None or event.instance.company_id != original.company_id:
        return None
    slots = [slot for slot, sha in _photos_of(event) if sha == original.sha256]
    if not slots:
        return None
    return derive(original, event, slots[0])
