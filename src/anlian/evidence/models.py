"""Files kept as evidence: stored once by content hash, never changed, never served as uploaded."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def stored_file_path(instance: StoredFile, filename: str) -> str:
    # Content-addressed: the name is the SHA-256, sharded so no folder grows too large.
    return f"evidence/{instance.sha256[:2]}/{instance.sha256[2:4]}/{instance.sha256}"


class StoredFile(models.Model):
    """An original upload, byte for byte, under its SHA-256, owned by one company."""

    sha256 = models.CharField(max_length=64, editable=False)
    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+")
    content_type = models.CharField(max_length=50)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField(null=True)
    height = models.PositiveIntegerField(null=True)
    seconds = models.FloatField(null=True, blank=True)  # a video's length
    file = models.FileField(upload_to=stored_file_path, max_length=200)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    scope_path_lookup = "company__path"
    readable_company_wide = True

    class Meta:
        verbose_name = _("证据文件")
        verbose_name_plural = _("证据文件")
        constraints = [models.UniqueConstraint(fields=["company", "sha256"], name="storedfile_unique_per_company")]

    def __str__(self) -> str:
        return self.sha256[:12]

    @property
    def is_video(self) -> bool:
        return self.content_type.startswith("video/")


def derived_file_path(instance: DerivedFile, filename: str) -> str:
    sha = instance.original.sha256
    event = f"-e{instance.event_id}" if instance.event_id else ""
    return f"derived/{sha[:2]}/{sha[2:4]}/{sha}-{instance.original_id}-{instance.kind}{event}.jpg"


class DerivedKind(models.TextChoices):
    DISPLAY = "display", _("水印展示图")
    THUMB = "thumb", _("缩略图")


class DerivedFile(models.Model):
    """A JPEG made from an original, never the original itself: the watermarked display copy of a
    photo as submitted in one event, or the photo's thumbnail (no event: it is the same for all)."""

    original = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="derived")
    kind = models.CharField(max_length=10, choices=DerivedKind.choices)
    event = models.ForeignKey("flows.Event", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    file = models.FileField(upload_to=derived_file_path, max_length=200)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("派生图片")
        verbose_name_plural = _("派生图片")
        constraints = [
            models.UniqueConstraint(fields=["original", "kind", "event"], condition=models.Q(event__isnull=False),
                                    name="derivedfile_unique_per_event"),
            models.UniqueConstraint(fields=["original", "kind"], condition=models.Q(event__isnull=True),
                                    name="derivedfile_unique_without_event"),
        ]

    def __str__(self) -> str:
        return f"{self.original} {self.kind}"
