"""The audit log: one row per change to a configuration or administration object.

Rows are written by the signal receivers in `capture` and never edited afterwards (the only
exception: m2m changes made right after a save of the same object, in the same transaction, are
folded into that save's row so one edit is one row). Neither the pages nor the API can change
or delete a row.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _


class UnicodeJSONEncoder(DjangoJSONEncoder):
    """Chinese stored as itself, not as \\u escapes, so the text filter finds it on SQLite too."""

    def __init__(self, *args, **kwargs):
        kwargs["ensure_ascii"] = False
        super().__init__(*args, **kwargs)


class Action(models.TextChoices):
    CREATE = "create", _("新增")
    UPDATE = "update", _("修改")
    DELETE = "delete", _("删除")


class AuditEntry(models.Model):
    """Who changed what, when, from where, and each field's old and new value."""

    # Entries outlive what they describe: the company, the account and the object may be deleted,
    # so these links carry no database constraint and deleting them never touches the log.
    scope_path_lookup = "org_path"

    company = models.ForeignKey("orgs.OrgUnit", verbose_name=_("公司"), null=True, blank=True,
                                on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    org_path = models.CharField(max_length=255, blank=True, default="")
    at = models.DateTimeField(_("时间"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True,
                              on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    actor_name = models.CharField(_("操作人"), max_length=150, blank=True)  # kept if the account goes
    ip = models.GenericIPAddressField(_("IP 地址"), null=True, blank=True)
    request_id = models.CharField(_("请求编号"), max_length=64, blank=True)
    action = models.CharField(_("操作"), max_length=10, choices=Action.choices)
    model = models.CharField(_("对象类型"), max_length=100)  # app label and model name: "orgs.person"
    object_id = models.CharField(_("对象编号"), max_length=64)
    object_repr = models.CharField(_("对象"), max_length=200)
    # {field name: [old, new]}; secrets appear only as masks (see registry.MASK).
    changes = models.JSONField(_("变更内容"), default=dict, encoder=UnicodeJSONEncoder)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["org_path"], name="audit_org_path", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["company", "-at"], name="audit_company_at"),
            models.Index(fields=["model", "object_id"], name="audit_object"),
            models.Index(fields=["-at"], name="audit_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.model}#{self.object_id}"
