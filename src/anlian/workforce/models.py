"""Who may work: certificates, what each kind of work requires, violations, contractor
documents and area authorisations, badges and the entry checks made with them.

The answer "may this person do this work here, now?" is computed by `qualification.assess`
from these rows; nothing stores a yes/no that could go stale.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class CertificateFamily(models.TextChoices):
    SPECIAL_OPERATION = "special_operation", _("特种作业操作证")
    SPECIAL_EQUIPMENT = "special_equipment", _("特种设备作业人员证")
    OTHER = "other", _("其他证书")


class NumberFormat(models.TextChoices):
    NONE = "", _("不校验")
    ID18 = "id18", _("18位身份证号（校验码）")


class CertificateKind(models.Model):
    """A kind of certificate (e.g. 焊接与热切割作业). Shipped kinds have no owner; a company may add its own."""

    scope_path_lookup = "owner__path"  # shipped kinds (no owner) are visible to everyone

    code = models.SlugField(_("代码"), max_length=40)
    name = models.CharField(_("名称"), max_length=60)
    family = models.CharField(_("类别"), max_length=20, choices=CertificateFamily.choices)
    validity_years = models.PositiveSmallIntegerField(_("有效期（年）"), null=True, blank=True)
    review_years = models.PositiveSmallIntegerField(_("复审周期（年）"), null=True, blank=True)
    number_format = models.CharField(_("编号格式"), max_length=10, choices=NumberFormat.choices, blank=True)
    owner = models.ForeignKey("orgs.OrgUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("证书类型")
        verbose_name_plural = _("证书类型")
        ordering = ["family", "code"]
        constraints = [models.UniqueConstraint(fields=["owner", "code"], name="certkind_unique_code")]

    def __str__(self) -> str:
        return self.name


class Certificate(models.Model):
    """A person's certificate; `company` mirrors the person's so numbers are unique per company."""

    scope_path_lookup = "person__org_unit__path"

    person = models.ForeignKey("orgs.Person", verbose_name=_("持证人"), on_delete=models.PROTECT,
                               related_name="certificates")
    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+", editable=False)
    kind = models.ForeignKey(CertificateKind, verbose_name=_("证书类型"), on_delete=models.PROTECT,
                             related_name="certificates")
    number = models.CharField(_("证书编号"), max_length=40)
    issuer = models.CharField(_("发证机关"), max_length=100, blank=True)
    issued_on = models.DateField(_("发证日期"))
    expires_on = models.DateField(_("有效期至"))
    review_due_on = models.DateField(_("复审日期"), null=True, blank=True)
    reviewed_on = models.DateField(_("最近复审"), null=True, blank=True)
    scans = models.ManyToManyField("evidence.StoredFile", verbose_name=_("扫描件"), blank=True, related_name="+")
    revoked_at = models.DateTimeField(_("吊销/注销时间"), null=True, blank=True)
    revoked_reason = models.CharField(_("吊销/注销原因"), max_length=200, blank=True)
    verified_at = models.DateTimeField(_("核验时间"), null=True, blank=True)
    verification = models.JSONField(_("核验结果"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("证书")
        verbose_name_plural = _("证书")
        ordering = ["expires_on"]
        constraints = [models.UniqueConstraint(fields=["company", "kind", "number"], name="certificate_unique_number")]

    def __str__(self) -> str:
        return f"{self.kind} {self.number}"


class WorkRequirement(models.Model):
    """What a kind of work (a template's `qualified` guard names it) requires of a person.

    Shipped rows have no owner; a company's own row for the same work type replaces the shipped one.
    """

    scope_path_lookup = "owner__path"

    owner = models.ForeignKey("orgs.OrgUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    work_type = models.CharField(_("作业类别"), max_length=60)
    certificate_kinds = models.ManyToManyField(CertificateKind, verbose_name=_("需持有其一的证书"), blank=True)
    training_topic = models.SlugField(_("需完成的培训专题"), max_length=40, blank=True)
    training_within_days = models.PositiveSmallIntegerField(_("培训有效天数"), null=True, blank=True)
    no_open_violations = models.BooleanField(_("不得有未处理违章"), default=False)

    class Meta:
        verbose_name = _("作业资格要求")
        verbose_name_plural = _("作业资格要求")
        constraints = [models.UniqueConstraint(fields=["owner", "work_type"], name="requirement_unique")]

    def __str__(self) -> str:
        return self.work_type


class ViolationStatus(models.TextChoices):
    OPEN = "open", _("待整改")
    RECTIFIED = "rectified", _("已整改")
    CLOSED = "closed", _("已销号")
    VOID = "void", _("已撤销")


class ViolationSeverity(models.TextChoices):
    GENERAL = "general", _("一般违章")
    SERIOUS = "serious", _("严重违章")


class Violation(models.Model):
    """A violation (违章): who, what, where, a photo; it counts against the person and their contractor."""

    scope_path_lookup = "person__org_unit__path"

    person = models.ForeignKey("orgs.Person", verbose_name=_("违章人"), on_delete=models.PROTECT,
                               related_name="violations")
    contractor = models.ForeignKey("orgs.Contractor", verbose_name=_("承包商"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="violations", editable=False)
    area = models.ForeignKey("orgs.Area", verbose_name=_("地点"), null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")
    what = models.CharField(_("违章内容"), max_length=300)
    severity = models.CharField(_("严重程度"), max_length=10, choices=ViolationSeverity.choices,
                                default=ViolationSeverity.GENERAL)
    occurred_at = models.DateTimeField(_("发生时间"))
    photo = models.ForeignKey("evidence.StoredFile", verbose_name=_("照片"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    reported_by = models.ForeignKey("orgs.Person", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", editable=False)
    status = models.CharField(_("状态"), max_length=10, choices=ViolationStatus.choices,
                              default=ViolationStatus.OPEN)
    rectify_due = models.DateField(_("整改期限"), null=True, blank=True)
    rectified_at = models.DateTimeField(_("整改时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("销号时间"), null=True, blank=True)
    note = models.CharField(_("处理说明"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("违章")
        verbose_name_plural = _("违章")
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["person", "status"], name="violation_person_status")]


class DocumentKind(models.TextChoices):
    LICENSE = "license", _("营业执照")
    SAFETY_PERMIT = "safety_permit", _("安全生产许可证")
    QUALIFICATION = "qualification", _("资质证书")
    AGREEMENT = "agreement", _("安全管理协议")
    INSURANCE = "insurance", _("保险")
    OTHER = "other", _("其他")


class ContractorDocument(models.Model):
    """A contractor's qualification document with its expiry; an expired required one stops its workers."""

    scope_path_lookup = "contractor__org_unit__path"

    contractor = models.ForeignKey("orgs.Contractor", verbose_name=_("承包商"), on_delete=models.CASCADE,
                                   related_name="documents")
    kind = models.CharField(_("类型"), max_length=20, choices=DocumentKind.choices)
    number = models.CharField(_("编号"), max_length=60, blank=True)
    expires_on = models.DateField(_("有效期至"), null=True, blank=True)
    file = models.ForeignKey("evidence.StoredFile", verbose_name=_("扫描件"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("承包商资质文件")
        verbose_name_plural = _("承包商资质文件")
        ordering = ["expires_on"]


class ContractorArea(models.Model):
    """An area a contractor's workers may work in, from one date to another."""

    scope_path_lookup = "contractor__org_unit__path"

    contractor = models.ForeignKey("orgs.Contractor", verbose_name=_("承包商"), on_delete=models.CASCADE,
                                   related_name="areas")
    area = models.ForeignKey("orgs.Area", verbose_name=_("区域"), on_delete=models.PROTECT, related_name="+")
    valid_from = models.DateField(_("起始日期"))
    valid_until = models.DateField(_("截止日期"))

    class Meta:
        verbose_name = _("承包商授权区域")
        verbose_name_plural = _("承包商授权区域")
        constraints = [models.UniqueConstraint(fields=["contractor", "area"], name="contractorarea_unique")]


class Badge(models.Model):
    """A person's QR badge. The QR holds a signed token naming this row; revoking the row (or
    passing `expires_at`) makes every printed copy worthless at once."""

    scope_path_lookup = "person__org_unit__path"

    person = models.ForeignKey("orgs.Person", on_delete=models.CASCADE, related_name="badges")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("胸卡")
        verbose_name_plural = _("胸卡")
        ordering = ["-issued_at"]


class EntryCheck(models.Model):
    """One scan at a gate or by a guardian, kept whatever the answer (forged tokens too)."""

    scope_path_lookup = "checked_by__org_unit__path"

    checked_by = models.ForeignKey("orgs.Person", on_delete=models.PROTECT, related_name="+")
    checked_at = models.DateTimeField()
    badge = models.ForeignKey(Badge, null=True, blank=True, on_delete=models.PROTECT, related_name="checks")
    person = models.ForeignKey("orgs.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    area = models.ForeignKey("orgs.Area", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    work_type = models.CharField(max_length=60, blank=True)
    go = models.BooleanField()
    token_state = models.CharField(max_length=10)  # ok | forged | expired | revoked
    reasons = models.JSONField(default=list)  # [{code, text}]

    class Meta:
        verbose_name = _("入场核验")
        verbose_name_plural = _("入场核验")
        ordering = ["-checked_at"]


class ImportKind(models.TextChoices):
    PEOPLE = "people", _("人员")
    CERTIFICATES = "certificates", _("证书")
    TRAINING = "training", _("培训记录")


class ImportStatus(models.TextChoices):
    CHECKING = "checking", _("校验中")
    INVALID = "invalid", _("有错误")
    READY = "ready", _("待确认导入")
    IMPORTING = "importing", _("导入中")
    DONE = "done", _("已导入")
    FAILED = "failed", _("导入失败")


def import_upload_path(batch: ImportBatch, filename: str) -> str:
    # Never the uploaded name: the file is read by openpyxl and never served back.
    return f"imports/{batch.token}.xlsx"


class ImportBatch(models.Model):
    """One uploaded Excel sheet: checked in the worker (progress in `processed_rows`), shown as a
    preview with per-row errors, imported all at once or not at all."""

    scope_path_lookup = "org_unit__path"

    org_unit = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=ImportKind.choices)
    token = models.CharField(max_length=32, unique=True, editable=False)
    upload = models.FileField(upload_to=import_upload_path)
    original_name = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey("orgs.Person", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=ImportStatus.choices, default=ImportStatus.CHECKING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)  # [{row, column, message}]
    preview = models.JSONField(default=list)  # the first rows as parsed, for the preview page
    imported_rows = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("批量导入")
        verbose_name_plural = _("批量导入")
        ordering = ["-created_at"]
