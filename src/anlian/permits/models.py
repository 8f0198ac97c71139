"""What the permit pages keep besides the engine's events: the submissions the engine refused.

A refused action records no event (the chain only holds what happened), but a supervisor wants to
see that someone tried to skip the gas analysis or uploaded no photo; pages write one row here.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Refusal(models.Model):
    """One refused submission on a permit page: who tried what, when, and the rule that refused.

    `instance` is empty when the refused action was the start of a job (no job was created)."""

    instance = models.ForeignKey("flows.Instance", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="refusals")
    version = models.ForeignKey("flows.TemplateVersion", on_delete=models.PROTECT, related_name="+")
    area = models.ForeignKey("orgs.Area", on_delete=models.PROTECT, related_name="+")
    step = models.CharField(_("步骤"), max_length=60, blank=True)
    action = models.CharField(_("操作"), max_length=20)
    actor = models.ForeignKey("orgs.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    code = models.CharField(_("规则"), max_length=40)
    field = models.CharField(max_length=100, blank=True)
    message = models.CharField(_("原因"), max_length=500)
    at = models.DateTimeField(_("时间"))

    scope_path_lookup = "area__org_unit__path"

    class Meta:
        verbose_name = _("被拒绝的提交")
        verbose_name_plural = _("被拒绝的提交")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
