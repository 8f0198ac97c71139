"""Hazards 隐患: the closed loop 发现—登记—派发—整改—验收—归档.

The process itself runs on the workflow engine (shipped templates of kind "hazard": report,
automatic dispatch, receive, on site, plan for a major hazard, rectify with before/after photos,
verify by someone else, close), so every step is an event in the job's hash chain with its photos
and checks. `Hazard` holds what ledgers, timers and supervision query: category, level, place,
who answers for it, the deadlines its level sets, and the times each stage was reached.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class HazardLevel(models.TextChoices):
    GENERAL = "general", _("一般隐患")
    MAJOR = "major", _("重大隐患")


class HazardCategory(models.TextChoices):
    ELECTRICAL = "electrical", _("电气")
    MECHANICAL = "mechanical", _("机械")
    FIRE = "fire", _("消防")
    HEIGHT = "height", _("高处")
    LIFTING = "lifting", _("起重")
    CHEMICAL = "chemical", _("危险化学品")
    CONFINED = "confined", _("受限空间")
    ENVIRONMENT = "environment", _("作业环境")
    HEALTH = "health", _("职业健康")
    MANAGEMENT = "management", _("管理缺陷")
    OTHER = "other", _("其他")


class HazardStage(models.TextChoices):
    """Where the loop stands; kept in step with the engine's events by `hazards.services`."""

    REPORTED = "reported", _("已登记")
    DISPATCHED = "dispatched", _("已派发")
    RECEIVED = "received", _("已接收")
    ON_SITE = "on_site", _("已到场")
    PLANNED = "planned", _("方案已定")
    RECTIFIED = "rectified", _("已整改")
    VERIFIED = "verified", _("已验收")
    CLOSED = "closed", _("已销号")
    CANCELLED = "cancelled", _("已撤销")


class Hazard(models.Model):
    scope_path_lookup = "org_unit__path"

    instance = models.OneToOneField("flows.Instance", on_delete=models.PROTECT, related_name="hazard")
    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+", editable=False)
    org_unit = models.ForeignKey("orgs.OrgUnit", verbose_name=_("所属单位"), on_delete=models.PROTECT,
                                 related_name="hazards")  # the area's unit
    area = models.ForeignKey("orgs.Area", verbose_name=_("区域"), on_delete=models.PROTECT, related_name="hazards")
    equipment = models.ForeignKey("orgs.Equipment", verbose_name=_("设备"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="hazards")
    category = models.CharField(_("类别"), max_length=20, choices=HazardCategory.choices)
    level = models.CharField(_("等级"), max_length=10, choices=HazardLevel.choices)
    description = models.CharField(_("隐患描述"), max_length=500)
    reported_by = models.ForeignKey("orgs.Person", verbose_name=_("发现人"), on_delete=models.PROTECT,
                                    related_name="+")
    reported_at = models.DateTimeField(_("发现时间"))
    lat = models.FloatField(null=True, blank=True)
    lng = models.FloatField(null=True, blank=True)
    # Dispatch
    rule = models.ForeignKey("hazards.DispatchRule", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    responsible_unit = models.ForeignKey("orgs.OrgUnit", verbose_name=_("责任单位"), null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="+")
    # Deadlines set by the level's policy at dispatch
    respond_due = models.DateTimeField(_("接收期限"), null=True, blank=True)
    on_site_due = models.DateTimeField(_("到场期限"), null=True, blank=True)
    rectify_due = models.DateTimeField(_("整改期限"), null=True, blank=True)
    # Times each stage was reached (copied from the events)
    stage = models.CharField(_("状态"), max_length=12, choices=HazardStage.choices, default=HazardStage.REPORTED)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    on_site_at = models.DateTimeField(null=True, blank=True)
    rectified_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    overdue = models.BooleanField(_("超期"), default=False)
    recurrence_of = models.ForeignKey("self", verbose_name=_("重复发生于"), null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="recurrences")

    class Meta:
        verbose_name = _("隐患")
        verbose_name_plural = _("隐患")
        ordering = ["-reported_at"]
        indexes = [models.Index(fields=["company", "stage"], name="hazard_company_stage"),
                   models.Index(fields=["area", "category", "reported_at"], name="hazard_recurrence")]

    def __str__(self) -> str:
        return f"{self.instance.number} {self.description[:30]}"


class DispatchRule(models.Model):
    """Who answers for a hazard: the first active rule (lowest priority number) whose category,
    level and area match (empty matches anything) names the responsible unit and role, the
    co-signing roles and the verifier's role; a safety officer edits them in a table."""

    scope_path_lookup = "owner__path"

    owner = models.ForeignKey("orgs.OrgUnit", verbose_name=_("所属公司"), on_delete=models.PROTECT, related_name="+")
    priority = models.PositiveSmallIntegerField(_("优先级"), default=100)
    category = models.CharField(_("类别"), max_length=20, choices=HazardCategory.choices, blank=True)
    level = models.CharField(_("等级"), max_length=10, choices=HazardLevel.choices, blank=True)
    area = models.ForeignKey("orgs.Area", verbose_name=_("区域"), null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    responsible_unit = models.ForeignKey("orgs.OrgUnit", verbose_name=_("责任单位"), null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="+")  # empty: the area's unit
    responsible_role = models.SlugField(_("整改角色"), max_length=40)
    cosign_roles = models.JSONField(_("会签角色"), default=list, blank=True)
    verifier_role = models.SlugField(_("验收角色"), max_length=40, default="safety_officer")
    double_blind = models.BooleanField(_("随机指派验收人"), default=False)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("派发规则")
        verbose_name_plural = _("派发规则")
        ordering = ["owner", "priority", "pk"]


class DeadlinePolicy(models.Model):
    """The clock a level sets: respond, be on site, rectify; remind before; escalate after."""

    scope_path_lookup = "owner__path"

    owner = models.ForeignKey("orgs.OrgUnit", verbose_name=_("所属公司"), on_delete=models.PROTECT, related_name="+")
    level = models.CharField(_("等级"), max_length=10, choices=HazardLevel.choices)
    respond_minutes = models.PositiveIntegerField(_("接收时限（分钟）"))
    on_site_minutes = models.PositiveIntegerField(_("到场时限（分钟）"))
    rectify_hours = models.PositiveIntegerField(_("整改时限（小时）"))
    remind_before_minutes = models.PositiveIntegerField(_("提前提醒（分钟）"), default=60)
    escalate_every_minutes = models.PositiveIntegerField(_("逐级上报间隔（分钟）"), default=120)
    alert_role = models.SlugField(_("登记即通知角色"), max_length=40, blank=True)  # e.g. manager for major

    class Meta:
        verbose_name = _("整改时限")
        verbose_name_plural = _("整改时限")
        constraints = [models.UniqueConstraint(fields=["owner", "level"], name="deadlinepolicy_unique")]


class Escalation(models.Model):
    """One escalation step sent: (hazard, stage, tier) exists once, so a timer run twice never
    escalates twice."""

    hazard = models.ForeignKey(Hazard, on_delete=models.CASCADE, related_name="escalations")
    stage = models.CharField(max_length=12)  # respond | on_site | rectify
    tier = models.PositiveSmallIntegerField()
    unit = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+")
    people = models.JSONField(default=list)
    created_at = models.DateTimeField()

    scope_path_lookup = "hazard__org_unit__path"

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["hazard", "stage", "tier"], name="escalation_once")]
