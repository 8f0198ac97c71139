"""Organisation tree, areas, equipment, people and the roles granted to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from anlian.orgs import geo


class OrgKind(models.TextChoices):
    GROUP = "group", _("集团")
    COMPANY = "company", _("公司")
    PLANT = "plant", _("厂/队")
    WORKSHOP = "workshop", _("车间")
    TEAM = "team", _("班组")


# A child must sit strictly below its parent's level; levels may be skipped (company → workshop).
KIND_RANK = {OrgKind.GROUP: 0, OrgKind.COMPANY: 1, OrgKind.PLANT: 2, OrgKind.WORKSHOP: 3, OrgKind.TEAM: 4}


class OrgUnit(models.Model):
    """A node of the organisation tree (集团 → 公司 → 厂/队 → 车间 → 班组).

    `path` is a materialised path of primary keys ("/1/4/9/"), so a subtree is one indexed
    prefix query and never a recursive walk. Only `orgs.services` writes `path` and `company`.
    """

    name = models.CharField(_("名称"), max_length=100)
    code = models.CharField(_("编码"), max_length=40, blank=True)
    kind = models.CharField(_("层级"), max_length=16, choices=OrgKind.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("上级"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # The company this unit belongs to (itself for a company; empty for a group).
    company = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    path = models.CharField(max_length=255, editable=False, default="")
    scope_path_lookup = "path"
    depth = models.PositiveSmallIntegerField(editable=False, default=0)
    sort_order = models.IntegerField(_("排序"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("组织")
        verbose_name_plural = _("组织")
        ordering = ["path"]
        indexes = [models.Index(fields=["path"], name="orgunit_path", opclasses=["varchar_pattern_ops"])]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="orgunit_unique_name_in_parent"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("orgs:unit", args=[self.pk])

    def is_within(self, other: OrgUnit) -> bool:
        return self.path.startswith(other.path)

    def ancestor_ids(self) -> list[int]:
        return [int(part) for part in self.path.strip("/").split("/") if part]


class Area(models.Model):
    """A place where work happens (区域), with kind flags and a geofence."""

    scope_path_lookup = "org_unit__path"
    readable_company_wide = True  # anyone working in the company may look up its areas

    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("所属组织"), on_delete=models.PROTECT, related_name="areas")
    name = models.CharField(_("名称"), max_length=100)
    code = models.CharField(_("编码"), max_length=40, blank=True)
    is_outdoor = models.BooleanField(_("室外"), default=False)
    is_explosion_zone = models.BooleanField(_("防爆区"), default=False)
    is_confined_space = models.BooleanField(_("受限空间"), default=False)
    center_lat = models.FloatField(_("中心纬度"), null=True, blank=True)
    center_lng = models.FloatField(_("中心经度"), null=True, blank=True)
    radius_m = models.PositiveIntegerField(_("半径（米）"), null=True, blank=True)
    # Optional polygon as [[lat, lng], ...]; when present it is the fence and the circle is a hint.
    polygon = models.JSONField(_("多边形"), null=True, blank=True)
    description = models.TextField(_("说明"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("区域")
        verbose_name_plural = _("区域")
        ordering = ["org_unit__path", "name"]
        constraints = [models.UniqueConstraint(fields=["org_unit", "name"], name="area_unique_name_in_unit")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("orgs:area", args=[self.pk])

    def contains(self, lat: float, lng: float, tolerance_m: float = 0.0) -> bool | None:
        """Whether a position lies inside the geofence; None when the area has no fence."""
        if self.polygon:
            return geo.in_polygon(lat, lng, self.polygon) or (
                tolerance_m > 0 and geo.distance_to_polygon_m(lat, lng, self.polygon) <= tolerance_m
            )
        if self.center_lat is not None and self.center_lng is not None and self.radius_m:
            return geo.distance_m(lat, lng, self.center_lat, self.center_lng) <= self.radius_m + tolerance_m
        return None

    def kind_labels(self) -> list[str]:
        flags = [
            (self.is_outdoor, _("室外")),
            (self.is_explosion_zone, _("防爆区")),
            (self.is_confined_space, _("受限空间")),
        ]
        return [str(label) for on, label in flags if on]


class Equipment(models.Model):
    """A piece of equipment (设备) with a QR label that opens its page."""

    scope_path_lookup = "org_unit__path"
    readable_company_wide = True  # a worker of any team may scan any label on site

    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("所属组织"), on_delete=models.PROTECT, related_name="equipment"
    )
    area = models.ForeignKey(
        Area, verbose_name=_("区域"), null=True, blank=True, on_delete=models.PROTECT, related_name="equipment"
    )
    code = models.CharField(_("设备编号"), max_length=40)
    name = models.CharField(_("名称"), max_length=100)
    model = models.CharField(_("型号规格"), max_length=100, blank=True)
    is_active = models.BooleanField(_("在用"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("设备")
        verbose_name_plural = _("设备")
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["org_unit", "code"], name="equipment_unique_code_in_unit")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("orgs:equipment", args=[self.pk])

    def scan_url(self) -> str:
        """The absolute address printed in the QR label (the phone page)."""
        return settings.SITE_URL + reverse("mobile:equipment", args=[self.pk])


class ContractorStatus(models.TextChoices):
    ACTIVE = "active", _("正常")
    SUSPENDED = "suspended", _("暂停")
    BLACKLISTED = "blacklisted", _("黑名单")


class Contractor(models.Model):
    """A contractor company (承包商) working for one of our companies.

    It hangs under the org unit that manages it (scope), its workers are `Person` rows with
    `contractor` set, and its status gates every one of them: a suspended or blacklisted
    contractor's workers are NO-GO everywhere.
    """

    scope_path_lookup = "org_unit__path"

    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("管理单位"), on_delete=models.PROTECT,
                                 related_name="contractors")
    company = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+", editable=False)
    name = models.CharField(_("承包商名称"), max_length=100)
    credit_code = models.CharField(_("统一社会信用代码"), max_length=18, blank=True)
    contact_name = models.CharField(_("联系人"), max_length=50, blank=True)
    contact_phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    contract_start = models.DateField(_("合同开始"), null=True, blank=True)
    contract_end = models.DateField(_("合同结束"), null=True, blank=True)
    status = models.CharField(_("状态"), max_length=16, choices=ContractorStatus.choices,
                              default=ContractorStatus.ACTIVE)
    status_reason = models.CharField(_("状态说明"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("承包商")
        verbose_name_plural = _("承包商")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="contractor_unique_name")]

    def __str__(self) -> str:
        return self.name


def person_photo_path(person: Person, filename: str) -> str:
    # The stored name never comes from the upload: no path tricks, no executable extensions.
    return f"people/{person.pk or 'new'}/{person.photo_token}.jpg"


class Person(models.Model):
    """Somebody who works in the organisation, optionally with a login account."""

    scope_path_lookup = "org_unit__path"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="person"
    )
    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("所属组织"), on_delete=models.PROTECT, related_name="people")
    # Mirrors org_unit.company so employee numbers can be unique per company; set by services.
    company = models.ForeignKey(
        OrgUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    name = models.CharField(_("姓名"), max_length=50)
    employee_no = models.CharField(_("工号"), max_length=40)
    phone = models.CharField(_("手机号"), max_length=20, blank=True)
    photo = models.ImageField(_("照片"), upload_to=person_photo_path, blank=True)
    photo_token = models.CharField(max_length=32, blank=True, editable=False)
    is_active = models.BooleanField(_("在职"), default=True)
    # Empty for our own employees; set for a contractor's worker.
    contractor = models.ForeignKey(Contractor, verbose_name=_("承包商"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="workers")
    hired_on = models.DateField(_("入职日期"), null=True, blank=True)
    id_number = models.CharField(_("身份证号"), max_length=18, blank=True)
    job_title = models.CharField(_("岗位"), max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("人员")
        verbose_name_plural = _("人员")
        ordering = ["org_unit__path", "employee_no"]
        constraints = [
            # Employee numbers are unique within a company; `company` mirrors org_unit.company.
            models.UniqueConstraint(fields=["company", "employee_no"], name="person_unique_no_in_company"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("orgs:person", args=[self.pk])


class Role(models.Model):
    """A named set of permissions, granted to people at an org node.

    Built-in roles (applicant, guardian, …) have no owner; roles an administrator adds belong to
    the org unit they were created in and are visible only inside its subtree.
    """

    # Built-in roles (no owner) are visible everywhere; see access.visible_roles().
    scope_path_lookup = "owner__path"

    code = models.SlugField(_("代码"), max_length=40)
    name = models.CharField(_("名称"), max_length=60)
    description = models.CharField(_("说明"), max_length=200, blank=True)
    permissions = models.JSONField(_("权限"), default=list)
    owner = models.ForeignKey(
        OrgUnit, verbose_name=_("所属组织"), null=True, blank=True, on_delete=models.PROTECT, related_name="roles"
    )
    is_builtin = models.BooleanField(default=False, editable=False)

    class Meta:
        verbose_name = _("角色")
        verbose_name_plural = _("角色")
        ordering = ["-is_builtin", "code"]
        constraints = [models.UniqueConstraint(fields=["owner", "code"], name="role_unique_code_per_owner")]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        from anlian.orgs.permissions import BUILTIN_ROLES

        if self.is_builtin and self.code in BUILTIN_ROLES:
            return str(BUILTIN_ROLES[self.code].name)
        return self.name


class RoleGrant(models.Model):
    """A role held by a person at an org node; it applies to that node's whole subtree."""

    scope_path_lookup = "org_unit__path"

    person = models.ForeignKey(Person, verbose_name=_("人员"), on_delete=models.CASCADE, related_name="grants")
    role = models.ForeignKey(Role, verbose_name=_("角色"), on_delete=models.PROTECT, related_name="grants")
    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("适用范围"), on_delete=models.PROTECT, related_name="grants")
    granted_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("角色授权")
        verbose_name_plural = _("角色授权")
        ordering = ["org_unit__path", "role__code"]
        constraints = [
            models.UniqueConstraint(fields=["person", "role", "org_unit"], name="grant_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.person} · {self.role} @ {self.org_unit}"
