"""Devices, points, rules, the rule engine's saved state and the alarms it raises (issue 9).

The rule engine (sensors/engine) is pure Python; these rows are what it needs around it: which
device may report which points (its ingest token), the rules as data, one saved engine state per
company, and the alarm lifecycle raised → acknowledged → cleared → resolved.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Device(models.Model):
    """A gateway, PLC or detector that sends readings, authenticated by its own ingest token."""

    scope_path_lookup = "org_unit__path"

    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+", editable=False)
    org_unit = models.ForeignKey("orgs.OrgUnit", verbose_name=_("所属单位"), on_delete=models.PROTECT,
                                 related_name="sensor_devices")
    area = models.ForeignKey("orgs.Area", verbose_name=_("区域"), null=True, blank=True, on_delete=models.PROTECT,
                             related_name="sensor_devices")
    code = models.CharField(_("设备编号"), max_length=64)
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=40, blank=True)
    # Only a hash is kept, like personal API tokens: the secret is shown once when issued.
    token_prefix = models.CharField(max_length=16, blank=True)
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    is_active = models.BooleanField(_("启用"), default=True)
    last_seen_at = models.DateTimeField(_("最近上报"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("监测设备")
        verbose_name_plural = _("监测设备")
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="sensor_device_code_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class PointKind(models.TextChoices):
    GAS = "gas", _("气体")
    TEMPERATURE = "temperature", _("温度")
    PRESSURE = "pressure", _("压力")
    LEVEL = "level", _("液位")
    WIND = "wind", _("风速")
    OTHER = "other", _("其他")


class Point(models.Model):
    """One measured tag of a device; its code is the engine's point key (e.g. TT-101)."""

    scope_path_lookup = "device__org_unit__path"

    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+", editable=False)
    device = models.ForeignKey(Device, verbose_name=_("设备"), on_delete=models.CASCADE, related_name="points")
    code = models.CharField(_("位号"), max_length=128)
    name = models.CharField(_("名称"), max_length=100, blank=True)
    unit = models.CharField(_("单位"), max_length=20, blank=True)
    kind = models.CharField(_("类型"), max_length=20, choices=PointKind.choices, default=PointKind.OTHER)
    set_point = models.FloatField(_("设定值"), null=True, blank=True)

    class Meta:
        verbose_name = _("测点")
        verbose_name_plural = _("测点")
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="sensor_point_code_unique")]

    def __str__(self) -> str:
        return self.code


class Rule(models.Model):
    """One engine rule as data (validated with engine.load_rule); its code is the rule's key."""

    scope_path_lookup = "company__path"

    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("规则编号"), max_length=64)
    name = models.CharField(_("名称"), max_length=200)
    definition = models.JSONField(_("规则"))
    area = models.ForeignKey("orgs.Area", verbose_name=_("冻结区域"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="+")
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("报警规则")
        verbose_name_plural = _("报警规则")
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="sensor_rule_code_unique")]

    def __str__(self) -> str:
        return self.name


class EngineState(models.Model):
    """The company's engine state, exactly as engine.to_json wrote it (integers kept exact)."""

    scope_path_lookup = "company__path"

    company = models.OneToOneField("orgs.OrgUnit", on_delete=models.CASCADE, related_name="+")
    state = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class AlarmStatus(models.TextChoices):
    RAISED = "raised", _("已报警")
    ACKNOWLEDGED = "acknowledged", _("已确认")
    CLEARED = "cleared", _("已恢复正常")
    RESOLVED = "resolved", _("已解除")


class Alarm(models.Model):
    """One alarm of one rule, open until a person resolves it (at most one open per rule)."""

    scope_path_lookup = "org_unit__path"

    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+")
    # The rule's area's unit (else the company): whoever manages that area sees and handles it.
    org_unit = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(Rule, verbose_name=_("规则"), on_delete=models.PROTECT, related_name="alarms")
    area = models.ForeignKey("orgs.Area", verbose_name=_("区域"), null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")
    level = models.PositiveSmallIntegerField(_("级别"))
    points = models.JSONField(_("测点"), default=list)
    value = models.FloatField(_("读数"), null=True, blank=True)
    reason = models.CharField(_("原因"), max_length=500)
    since = models.DateTimeField(_("开始于"))
    raised_at = models.DateTimeField(_("报警时间"))
    raised_count = models.PositiveIntegerField(default=1)
    acknowledged_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    acknowledged_by = models.ForeignKey("orgs.Person", null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")
    cleared_at = models.DateTimeField(_("恢复正常时间"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("解除时间"), null=True, blank=True)
    resolved_by = models.ForeignKey("orgs.Person", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    status = models.CharField(_("状态"), max_length=20, choices=AlarmStatus.choices, default=AlarmStatus.RAISED)
    freeze = models.ForeignKey("flows.AreaFreeze", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("设备报警")
        verbose_name_plural = _("设备报警")
        ordering = ["-raised_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["rule"], condition=Q(resolved_at__isnull=True),
                                               name="sensor_alarm_one_open_per_rule")]
        indexes = [models.Index(fields=["company", "status"], name="sensor_alarm_company_status")]

    def __str__(self) -> str:
        return f"{self.rule.name}：{self.reason}"
