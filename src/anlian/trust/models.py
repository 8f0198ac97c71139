"""What the server learned about each evidence photo, and what its checks found.

`PhotoFingerprint` is computed once per stored file (perceptual hash, sharpness, brightness and the
EXIF capture time and position); `PhotoFinding` is one check's verdict on one photo of one step,
kept for the approver (soft findings) and as the record of what was checked.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class PhotoFingerprint(models.Model):
    """The perceptual hash of a stored photo, split into four 16-bit bands for near-duplicate look-up.

    Two 64-bit hashes within Hamming distance d differ in at most d // 4 bits in at least one band
    (pigeonhole), so candidates are the rows whose band equals, or is within d // 4 bits of, the
    query's band in any of the four indexed columns; the exact distance is then computed in Python."""

    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+")
    file = models.OneToOneField("evidence.StoredFile", on_delete=models.CASCADE, related_name="fingerprint")
    phash = models.BigIntegerField()  # signed two's complement of the unsigned 64-bit pHash
    band0 = models.IntegerField()  # bits 0-15 of the unsigned hash
    band1 = models.IntegerField()  # bits 16-31
    band2 = models.IntegerField()  # bits 32-47
    band3 = models.IntegerField()  # bits 48-63
    sharpness = models.FloatField(null=True)  # variance of the Laplacian, greyscale, long edge 512
    brightness = models.FloatField(null=True)  # mean luminance 0-255
    taken_at = models.DateTimeField(null=True)  # EXIF DateTimeOriginal
    taken_zone_assumed = models.BooleanField(default=False)  # no OffsetTimeOriginal: the site's zone
    gps_lat = models.FloatField(null=True)
    gps_lng = models.FloatField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_path_lookup = "company__path"
    readable_company_wide = True

    class Meta:
        verbose_name = _("照片指纹")
        verbose_name_plural = _("照片指纹")
        # (company, band, phash): each probe is one index seek and the hash is read from the index.
        indexes = [models.Index(fields=["company", f"band{i}", "phash"], name=f"fingerprint_band{i}")
                   for i in range(4)]

    def __str__(self) -> str:
        return f"{self.phash & 0xFFFFFFFFFFFFFFFF:016x}"


class Level(models.TextChoices):
    OK = "ok", _("通过")
    WARN = "warn", _("提醒")
    FAIL = "fail", _("不通过")


class PhotoFinding(models.Model):
    """One check's verdict on one photo of a step submission."""

    file = models.ForeignKey("evidence.StoredFile", on_delete=models.PROTECT, related_name="+")
    instance = models.ForeignKey("flows.Instance", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="photo_findings")
    event = models.ForeignKey("flows.Event", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="photo_findings")
    slot = models.CharField(_("照片项"), max_length=60)
    check_name = models.CharField(_("检查"), max_length=20)
    level = models.CharField(_("结果"), max_length=4, choices=Level.choices)
    reason = models.TextField(_("原因"))
    details = models.JSONField(default=dict)
    hard = models.BooleanField(_("强制"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_path_lookup = "file__company__path"
    readable_company_wide = True

    class Meta:
        verbose_name = _("照片检查结果")
        verbose_name_plural = _("照片检查结果")
        ordering = ["instance", "event", "slot", "id"]

    def __str__(self) -> str:
        return f"{self.check_name}:{self.level}"


class PhotoReview(models.Model):
    """A pre-review verdict (rules or a vision model) on one photo slot of a recorded step.

    Never an approval: "concern" is a red reminder to the approver, "not_reviewed" says the
    reviewer could not answer (time-out, not configured), "pass" only means no reminder."""

    event = models.ForeignKey("flows.Event", on_delete=models.CASCADE, related_name="photo_reviews")
    instance = models.ForeignKey("flows.Instance", on_delete=models.CASCADE, related_name="photo_reviews")
    slot = models.CharField(max_length=60)
    reviewer = models.CharField(max_length=40)
    status = models.CharField(max_length=20)  # pass | concern | not_reviewed
    reason = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_path_lookup = "instance__org_unit__path"

    class Meta:
        verbose_name = _("照片预审")
        verbose_name_plural = _("照片预审")
        constraints = [models.UniqueConstraint(fields=["event", "slot", "reviewer"], name="photoreview_unique")]
