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

# Intake decodes JPEGs at a reduced scale (every byte is still decoded and checked; see open_checked).
CHECK_FIT = 1024


def store_photo(user: Any, company: OrgUnit, upload: Any) -> StoredFile:
    """Validate the image fully, then keep the original bytes once per company."""
    try:
        data = read_upload(upload)
        image = open_checked(data, fit=CHECK_FIT)
    except ImageRejected as exc:
        raise Invalid(exc.reason, field="file") from None
    digest = hashlib.sha256(data).hexdigest()
    existing = StoredFile.objects.filter(company=company, sha256=digest).first()
    if existing:
        return existing
    width, height = getattr(image, "original_size", image.size)
    stored = StoredFile(sha256=digest, company=company, content_type=mime_type(image), size=len(data),
                        width=width, height=height, uploaded_by=user if getattr(user, "pk", None) else None)
    try:
        save_all_or_nothing(stored, data)
    except IntegrityError:  # the same photo sent twice at once: the first one is kept
        return StoredFile.objects.get(company=company, sha256=digest)
    return stored


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
