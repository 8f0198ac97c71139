"""Dossier exports (the PDF made in the worker), share links for one job, and regulator accounts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("生成中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


def export_path(export: DossierExport, filename: str) -> str:
    # Never from user input: the job's id and the export's own id.
    return f"dossiers/{export.instance_id}/dossier-{export.instance_id}-{export.pk or 'new'}.pdf"


class DossierExport(models.Model):
    """One PDF dossier of a permit or hazard, made by the worker; the request is answered at once."""

    scope_path_lookup = "instance__org_unit__path"

    instance = models.ForeignKey("flows.Instance", on_delete=models.PROTECT, related_name="dossier_exports")
    status = models.CharField(_("状态"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    done = models.PositiveIntegerField(default=0)  # photos/events rendered so far
    total = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to=export_path, max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    # The chain head the PDF was made from: a newer event makes it out of date.
    head = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("档案导出")
        verbose_name_plural = _("档案导出")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["instance", "status"], name="dossierexport_running")]

    def __str__(self) -> str:
        return f"{self.instance_id}#{self.pk}"

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class ShareLink(models.Model):
    """A signed, expiring, revocable read-only link to one job's dossier (the token carries the id)."""

    scope_path_lookup = "instance__org_unit__path"

    instance = models.ForeignKey("flows.Instance", on_delete=models.PROTECT, related_name="share_links")
    days = models.PositiveSmallIntegerField(_("有效天数"))
    expires_at = models.DateTimeField(_("有效期至"))
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    opened = models.PositiveIntegerField(default=0)
    last_opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("分享链接")
        verbose_name_plural = _("分享链接")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.instance_id}#{self.pk}"


class RegulatorAccount(models.Model):
    """A read-only login for a regulator, with `regulator` grants on the chosen companies.

    Its regulator role makes the account read-only everywhere (dossiers.middleware); revoking it
    removes the grants and ends the login."""

    scope_path_lookup = "person__org_unit__path"

    person = models.OneToOneField("orgs.Person", on_delete=models.PROTECT, related_name="regulator_account")
    agency = models.CharField(_("监管单位"), max_length=100)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("监管账号")
        verbose_name_plural = _("监管账号")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return str(self.person)
