"""Training: courses, sessions, attendance with scores and hours, and the training people owe.

Three-level education (三级安全教育: company, workshop, team) and the annual refresher are
`Assignment` rows created for a person with a deadline; attending a session of a course of the
same level completes (part of) them. Hours are counted from attendance, never typed in twice.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CourseLevel(models.TextChoices):
    COMPANY = "company", _("公司级")
    WORKSHOP = "workshop", _("车间级")
    TEAM = "team", _("班组级")
    REFRESHER = "refresher", _("年度再培训")
    SPECIAL = "special", _("专项培训")


# Three-level education hours per level (生产经营单位安全培训规定: at least 24 h in all, 72 h in
# mines, hazardous chemicals, fireworks and metal smelting) and the annual refresher (20 h).
EDUCATION_LEVELS = (CourseLevel.COMPANY, CourseLevel.WORKSHOP, CourseLevel.TEAM)
EDUCATION_HOURS = Decimal(8)
EDUCATION_HOURS_HIGH_RISK = Decimal(24)
REFRESHER_HOURS = Decimal(20)
DEADLINE_DAYS = 7


class TrainingPolicy(models.Model):
    """How much training a company's people owe and by when. A company without one uses the
    defaults above (`TrainingPolicy.for_company` returns an unsaved default)."""

    scope_path_lookup = "company__path"
    readable_company_wide = True

    company = models.OneToOneField("orgs.OrgUnit", on_delete=models.CASCADE, related_name="training_policy")
    high_risk = models.BooleanField(_("高危行业（矿山、危险化学品、烟花爆竹、金属冶炼）"), default=False)
    deadline_days = models.PositiveSmallIntegerField(_("三级教育完成期限（入职后天数）"), default=DEADLINE_DAYS)
    refresher_hours = models.DecimalField(_("年度再培训学时"), max_digits=5, decimal_places=1,
                                          default=REFRESHER_HOURS)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("培训要求")
        verbose_name_plural = _("培训要求")

    @classmethod
    def for_company(cls, company_id: int | None) -> TrainingPolicy:
        return cls.objects.filter(company_id=company_id).first() or cls(company_id=company_id)

    def education_hours(self) -> Decimal:
        """Hours owed at each of the three levels (company, workshop, team)."""
        return EDUCATION_HOURS_HIGH_RISK if self.high_risk else EDUCATION_HOURS


class Course(models.Model):
    """A course a company runs. `topic` ties it to work requirements (e.g. confined_space)."""

    scope_path_lookup = "org_unit__path"
    readable_company_wide = True  # anyone may see what courses exist

    org_unit = models.ForeignKey("orgs.OrgUnit", verbose_name=_("所属组织"), on_delete=models.PROTECT,
                                 related_name="courses")
    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+", editable=False)
    code = models.CharField(_("课程编号"), max_length=40)
    name = models.CharField(_("课程名称"), max_length=100)
    level = models.CharField(_("类别"), max_length=16, choices=CourseLevel.choices, default=CourseLevel.SPECIAL)
    topic = models.SlugField(_("专题"), max_length=40, blank=True)
    hours = models.DecimalField(_("学时"), max_digits=5, decimal_places=1)
    pass_score = models.PositiveSmallIntegerField(_("合格分数"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("课程")
        verbose_name_plural = _("课程")
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="course_unique_code")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("training:course", args=[self.pk])


class Session(models.Model):
    """One run of a course: when, where, who taught it."""

    scope_path_lookup = "course__org_unit__path"
    readable_company_wide = True

    course = models.ForeignKey(Course, verbose_name=_("课程"), on_delete=models.PROTECT, related_name="sessions")
    starts_at = models.DateTimeField(_("开始时间"))
    ends_at = models.DateTimeField(_("结束时间"))
    place = models.CharField(_("地点"), max_length=100, blank=True)
    trainer = models.CharField(_("授课人"), max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("培训场次")
        verbose_name_plural = _("培训场次")
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return f"{self.course} {timezone.localdate(self.starts_at):%Y-%m-%d}"

    def get_absolute_url(self) -> str:
        return reverse("training:session", args=[self.pk])


class Attendance(models.Model):
    """A person at a session: present or not, exam score, hours earned, passed or not."""

    scope_path_lookup = "person__org_unit__path"

    session = models.ForeignKey(Session, verbose_name=_("场次"), on_delete=models.PROTECT, related_name="attendance")
    person = models.ForeignKey("orgs.Person", verbose_name=_("人员"), on_delete=models.PROTECT,
                               related_name="attendance")
    attended = models.BooleanField(_("出勤"), default=True)
    score = models.PositiveSmallIntegerField(_("考试成绩"), null=True, blank=True)
    hours = models.DecimalField(_("学时"), max_digits=5, decimal_places=1, default=0)
    passed = models.BooleanField(_("合格"), default=False)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("培训记录")
        verbose_name_plural = _("培训记录")
        constraints = [models.UniqueConstraint(fields=["session", "person"], name="attendance_unique")]


class Assignment(models.Model):
    """Training a person owes by a deadline: a level of three-level education or the annual
    refresher, with the hours required. Done when passed attendance of that level reaches the hours."""

    scope_path_lookup = "person__org_unit__path"

    person = models.ForeignKey("orgs.Person", verbose_name=_("人员"), on_delete=models.CASCADE,
                               related_name="training_assignments")
    level = models.CharField(_("类别"), max_length=16, choices=CourseLevel.choices)
    year = models.PositiveSmallIntegerField(_("年度"), default=0)  # the refresher's year; 0 for education
    hours_required = models.DecimalField(_("要求学时"), max_digits=5, decimal_places=1)
    due_on = models.DateField(_("完成期限"))
    # Passed attendance of this level counted so far, and the first day it counts from (set when
    # education is owed again after a job change; empty: any attendance of the level counts).
    hours_done = models.DecimalField(_("已完成学时"), max_digits=5, decimal_places=1, default=0)
    counts_from = models.DateField(_("计入起始日期"), null=True, blank=True)
    # Set exactly when the hours are reached: the date of the session that reached them.
    completed_on = models.DateField(_("完成日期"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("培训任务")
        verbose_name_plural = _("培训任务")
        ordering = ["due_on"]
        constraints = [models.UniqueConstraint(fields=["person", "level", "year"], name="assignment_unique")]

    @property
    def title(self) -> str:
        """What is owed, as people say it: 车间级安全教育, 2026年度再培训."""
        if self.level == CourseLevel.REFRESHER:
            return _("{year}年度再培训").format(year=self.year)
        if self.level in EDUCATION_LEVELS:
            return _("{level}安全教育").format(level=self.get_level_display())
        return self.get_level_display()
