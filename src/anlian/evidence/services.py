"""Store uploaded photos as evidence: checked image, original kept byte for byte by SHA-256."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from anlian.core.errors import Invalid
from anlian.core.images import ImageRejected, open_checked, read_upload
from anlian.evidence.models import StoredFile
from anlian.orgs.models import OrgUnit

IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "MPO": "image/jpeg"}


def store_photo(user: Any, company: OrgUnit, upload: Any) -> StoredFile:
    """Validate the image fully, then keep the original bytes once per company."""
    try:
        data = read_upload(upload)
        image = open_checked(data)
    except ImageRejected as exc:
        raise Invalid(exc.reason, field="file") from None
    digest = hashlib.sha256(data).hexdigest()
    existing = StoredFile.objects.filter(company=company, sha256=digest).first()
    if existing:
        return existing
    stored = StoredFile(sha256=digest, company=company, content_type=IMAGE_TYPES.get(image.format, "image/jpeg"),
                        size=len(data), width=image.width, height=image.height,
                        uploaded_by=user if getattr(user, "pk", None) else None)
    try:
        with transaction.atomic():
            stored.file.save(digest, ContentFile(data), save=True)
    except IntegrityError:  # the same photo sent twice at once: keep the first, drop our copy
        if stored.file.name:
            stored.file.storage.delete(stored.file.name)
        return StoredFile.objects.get(company=company, sha256=digest)
    return stored
