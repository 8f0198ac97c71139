"""Templates with versions, running instances (jobs) and their append-only, hash-chained events."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class TemplateStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    PUBLISHED = "published", _("已发布")
    RETIRED = "retired", _("已停用")


class FlowTemplate(models.Model):
    """A workflow template (作业票模板). Shipped ones have no owner and are visible everywhere;
    a company's own templates (copies or new ones) live in its subtree."""

    key = models.SlugField(_("代码"), max_length=60)
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=20)
    owner = models.ForeignKey("orgs.OrgUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    is_shipped = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_path_lookup = "owner__path"
    readable_company_wide = True  # anyone working in the company may start a job on its templates

    class Meta:
        verbose_name = _("流程模板")
        verbose_name_plural = _("流程模板")
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="flowtemplate_unique_key_per_owner")]

    def __str__(self) -> str:
        return self.name

    def published(self) -> TemplateVersion | None:
        return self.versions.filter(status=TemplateStatus.PUBLISHED).order_by("-number").first()


class TemplateVersion(models.Model):
    """One immutable version of a template's YAML. Published versions are never edited:
    a change is a new version, and running jobs keep the version they started on."""

    template = models.ForeignKey(FlowTemplate, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.TextField()
    status = models.CharField(max_length=12, choices=TemplateStatus.choices, default=TemplateStatus.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="templateversion_unique_number")]

    def __str__(self) -> str:
        return f"{self.template.key} v{self.number}"


class InstanceStatus(models.TextChoices):
    ACTIVE = "active", _("进行中")
    SUSPENDED = "suspended", _("已暂停")
    CLOSED = "closed", _("已关闭")
    REJECTED = "rejected", _("已驳回")
    CANCELLED = "cancelled", _("已取消")
    EXPIRED = "expired", _("已过期")


class Instance(models.Model):
    """A running job (a permit, a LOTO, …) pinned to one template version.

    Its state is derived from its events by the engine; `status`, `current_steps` and
    `expires_at` are copies kept for lists and filters, rewritten after every event.
    """

    version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="instances")
    org_unit = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+")
    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+")
    area = models.ForeignKey("orgs.Area", on_delete=models.PROTECT, related_name="instances")
    applicant = models.ForeignKey("orgs.Person", on_delete=models.PROTECT, related_name="applied_instances")
    number = models.CharField(_("编号"), max_length=40)
    title = models.CharField(_("作业内容"), max_length=200, blank=True)
    status = models.CharField(_("状态"), max_length=12, choices=InstanceStatus.choices, default=InstanceStatus.ACTIVE)
    current_steps = models.JSONField(default=list)  # step keys open now, for "my tasks"
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")
    verify_token = models.CharField(max_length=32, editable=False)  # the QR check link's secret
    # Everyone named in or acting on the job: they see it even outside their grants' subtrees.
    participants = models.ManyToManyField("orgs.Person", related_name="participating_instances", blank=True)

    scope_path_lookup = "org_unit__path"

    @staticmethod
    def scope_also(user) -> models.Q:
        person = getattr(user, "person", None)
        return models.Q(participants=person) if person is not None else models.Q(pk__in=[])

    class Meta:
        verbose_name = _("作业")
        verbose_name_plural = _("作业")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["company", "status", "started_at"], name="instance_ledger")]
        constraints = [models.UniqueConstraint(fields=["company", "number"], name="instance_unique_number")]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("permits:detail", args=[self.pk])


class Event(models.Model):
    """One state change of an instance. Rows are only ever appended; `hash` chains each to the
    previous one (see flows.core.events.chain_hash), so an edit or deletion shows."""

    # No index of its own: the unique (instance, seq) index serves every look-up by job, and each
    # step writes one index fewer.
    instance = models.ForeignKey(Instance, on_delete=models.PROTECT, related_name="events", db_index=False)
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=20)
    step = models.CharField(max_length=60, blank=True)
    actor = models.ForeignKey("orgs.Person", null=True, on_delete=models.PROTECT, related_name="+")
    actor_key = models.CharField(max_length=40)  # the engine's id of the actor ("person:12", "system")
    payload = models.JSONField(default=dict)
    server_time = models.DateTimeField()
    device_time = models.DateTimeField(null=True, blank=True)
    lat = models.FloatField(null=True, blank=True)
    lng = models.FloatField(null=True, blank=True)
    accuracy = models.FloatField(null=True, blank=True)  # of lat/lng, metres, as the phone reported it
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["instance", "seq"]
        constraints = [models.UniqueConstraint(fields=["instance", "seq"], name="event_unique_seq")]

    def __str__(self) -> str:
        return f"{self.instance_id}#{self.seq} {self.kind}"


class AreaFreeze(models.Model):
    """An area where work is stopped (an alarm, a supervisor's order) until lifted."""

    area = models.ForeignKey("orgs.Area", on_delete=models.PROTECT, related_name="freezes")
    reason = models.CharField(_("原因"), max_length=200)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey("orgs.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    scope_path_lookup = "area__org_unit__path"

    class Meta:
        verbose_name = _("区域冻结")
        verbose_name_plural = _("区域冻结")


class NumberCounter(models.Model):
    """The last permit number used per company, prefix and day (DH-20250519-0003)."""

    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.CASCADE, related_name="+")
    prefix = models.CharField(max_length=8)
    day = models.DateField()
    value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "prefix", "day"], name="numbercounter_unique")]


class Endorsement(models.Model):
    """An area owner's explicit consent to one more job of a kind in an area where a conflicting
    job runs (simultaneous operations). Made by the owner, used once by the job it names."""

    area = models.ForeignKey("orgs.Area", on_delete=models.PROTECT, related_name="endorsements")
    template_key = models.SlugField(_("作业类型"), max_length=60)
    endorsed_by = models.ForeignKey("orgs.Person", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("说明"), max_length=200)
    created_at = models.DateTimeField()
    valid_until = models.DateTimeField(_("有效期至"))
    used_by = models.OneToOneField(Instance, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="endorsement")

    scope_path_lookup = "area__org_unit__path"
    readable_company_wide = True  # like its area: any applicant in the company may refer to it

    class Meta:
        verbose_name = _("同时作业确认")
        verbose_name_plural = _("同时作业确认")


class EventPhoto(models.Model):
    """Which photo an event used, in which slot: finds an earlier use of the same picture (a
    replacement "proved" with an old photo) without searching every event's payload."""

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="photo_uses", db_index=False)  # see unique
    file = models.ForeignKey("evidence.StoredFile", on_delete=models.PROTECT, related_name="uses")
    slot = models.CharField(max_length=60)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "file", "slot"], name="eventphoto_unique")]


class Tombstone(models.Model):
    """What is left of a job the retention policy deleted: its number, its dates, how many events
    it had and the hash of the last one — so the company's chain still accounts for it. Tombstones
    are chained per company (`prev_hash` → `hash`), and only the retention policy writes them."""

    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+")
    instance_id = models.PositiveBigIntegerField(unique=True)  # the deleted job's id, never reused
    number = models.CharField(_("编号"), max_length=40)
    template_key = models.CharField(max_length=60)
    kind = models.CharField(max_length=20)
    status = models.CharField(max_length=12)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    events = models.PositiveIntegerField()
    last_hash = models.CharField(max_length=64)
    retention_days = models.PositiveIntegerField()
    deleted_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    scope_path_lookup = "company__path"

    class Meta:
        verbose_name = _("删除记录")
        verbose_name_plural = _("删除记录")
        ordering = ["company", "pk"]
