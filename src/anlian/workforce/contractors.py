"""The only writers of contractor companies, their qualification documents and authorised areas.

Every function checks MANAGE_CONTRACTORS at the contractor's org unit, validates its rule and
raises a DomainError with a translated reason; callers run it inside `transaction.atomic()`.
Anything that can take a worker's qualification away (a status change, a document or an area
authorisation removed or changed) announces `qualification_changed` for each of the contractor's
workers once the transaction commits, so the permit sweep never acts on a change that rolled back.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.core.codes import credit_code_problem
from anlian.core.errors import Conflict, Invalid
from anlian.evidence.models import StoredFile
from anlian.evidence.services import store_photo
from anlian.orgs import access
from anlian.orgs.models import Area, Contractor, ContractorStatus, OrgKind, OrgUnit, Person
from anlian.orgs.permissions import MANAGE_CONTRACTORS
from anlian.workforce.models import ContractorArea, ContractorDocument, DocumentKind, Violation, ViolationStatus
from anlian.workforce.signals import qualification_changed

# A document expiring within this many days is shown in orange on the lists (then red once expired).
EXPIRY_WARNING_DAYS = 30


def today() -> date:
    """The local date now (Asia/Shanghai by default): expiry dates are calendar days on site."""
    return timezone.localdate(clock.now())


# --- the contractor ------------------------------------------------------------------------------


def _company_of(unit: OrgUnit) -> OrgUnit:
    company = unit if unit.kind == OrgKind.COMPANY else unit.company
    if company is None:  # a group has no company: a contractor works for one company
        raise Invalid(_("承包商须由公司或其下级单位管理"), field="org_unit")
    return company


def _clean_text(value: str | None, limit: int, field: str, label: str) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise Invalid(_("{label}不能超过{n}个字符").format(label=label, n=limit), field=field)
    return value


def save_contractor(actor: Any, contractor: Contractor | None, *, org_unit: OrgUnit, name: str,
                    credit_code: str = "", contact_name: str = "", contact_phone: str = "",
                    contract_start: date | None = None, contract_end: date | None = None) -> Contractor:
    """Create (contractor=None) or update a contractor managed by `org_unit`.

    The name is unique within the company; the credit code, when given, must carry a correct
    check character (GB 32100); the contract may not end before it starts. Moving a contractor
    to another unit needs the right at both and stays within the company.
    """
    access.require(actor, MANAGE_CONTRACTORS, org_unit)
    company = _company_of(org_unit)
    if contractor is not None:
        access.require(actor, MANAGE_CONTRACTORS, contractor)
        if contractor.company_id != company.pk:
            raise Invalid(_("承包商不能移到另一家公司"), field="org_unit")
    name = _clean_text(name, 100, "name", _("承包商名称"))
    if not name:
        raise Invalid(_("承包商名称不能为空"), field="name")
    credit_code = (credit_code or "").strip().upper()
    if credit_code and credit_code_problem(credit_code):
        raise Invalid(_("统一社会信用代码“{c}”无效（18位，末位校验码须正确）").format(c=credit_code[:18]),
                      field="credit_code")
    contact_phone = (contact_phone or "").strip()
    if contact_phone and not (contact_phone.isdigit() and 5 <= len(contact_phone) <= 20):
        raise Invalid(_("联系电话只能包含5到20位数字"), field="contact_phone")
    if contract_start and contract_end and contract_end < contract_start:
        raise Invalid(_("合同结束日期不能早于开始日期"), field="contract_end")
    clash = Contractor.objects.filter(company=company, name=name)
    if contractor is not None:
        clash = clash.exclude(pk=contractor.pk)
    if clash.exists():
        raise Conflict(_("本公司已有名为“{name}”的承包商").format(name=name), field="name")
    contractor = contractor or Contractor()
    contractor.org_unit, contractor.company, contractor.name = org_unit, company, name
    contractor.credit_code, contractor.contact_phone = credit_code, contact_phone
    contractor.contact_name = _clean_text(contact_name, 50, "contact_name", _("联系人"))
    contractor.contract_start, contractor.contract_end = contract_start, contract_end
    contractor.save()
    return contractor


def delete_contractor(actor: Any, contractor: Contractor) -> None:
    """Delete a contractor entered by mistake; one with workers or violations is kept (its record
    counts), and should be suspended or blacklisted instead."""
    access.require(actor, MANAGE_CONTRACTORS, contractor)
    if contractor.workers.exists() or contractor.violations.exists():
        raise Conflict(_("该承包商已有人员或违章记录，不能删除，请改为暂停或列入黑名单"))
    contractor.delete()


def set_status(actor: Any, contractor: Contractor, status: str, reason: str) -> Contractor:
    """Make a contractor active, suspended or blacklisted, with the reason written down.

    A suspended or blacklisted contractor's workers are NO-GO everywhere, so every worker is
    announced (after commit) for the permit sweep to take them off running jobs.
    """
    access.require(actor, MANAGE_CONTRACTORS, contractor)
    if status not in ContractorStatus.values:
        raise Invalid(_("未知的承包商状态"), field="status")
    reason = _clean_text(reason, 200, "reason", _("原因"))
    if not reason:
        raise Invalid(_("请填写状态变更的原因"), field="reason")
    if status == contractor.status:
        raise Conflict(_("承包商已是“{s}”状态").format(s=ContractorStatus(status).label), field="status")
    contractor.status, contractor.status_reason = status, reason
    contractor.save(update_fields=["status", "status_reason", "updated_at"])
    _announce(contractor, _("承包商“{name}”状态改为{status}：{reason}").format(
        name=contractor.name, status=ContractorStatus(status).label, reason=reason))
    return contractor


def _announce(contractor: Contractor, reason: str) -> None:
    """Send `qualification_changed` for each active worker once the transaction commits."""
    worker_ids = list(contractor.workers.filter(is_active=True).values_list("pk", flat=True))

    def send() -> None:
        for person in Person.objects.filter(pk__in=worker_ids):
            qualification_changed.send(sender=Contractor, person=person, reason=reason)

    transaction.on_commit(send)


# --- qualification documents ---------------------------------------------------------------------


def _clean_document(contractor: Contractor, document: ContractorDocument | None, kind: str, number: str) -> str:
    if kind not in DocumentKind.values:
        raise Invalid(_("未知的资质文件类型"), field="kind")
    number = _clean_text(number, 60, "number", _("编号"))
    if number:
        clash = ContractorDocument.objects.filter(contractor=contractor, kind=kind, number=number)
        if document is not None:
            clash = clash.exclude(pk=document.pk)
        if clash.exists():
            raise Conflict(_("该承包商已有编号为“{n}”的{kind}").format(n=number, kind=DocumentKind(kind).label),
                           field="number")
    return number


def save_document(actor: Any, contractor: Contractor, document: ContractorDocument | None, *, kind: str,
                  number: str = "", expires_on: date | None = None, scan: Any = None,
                  file: StoredFile | None = None) -> ContractorDocument:
    """Add (document=None) or change a qualification document.

    The scan is an uploaded image (`scan`, checked and kept byte for byte among the company's
    evidence files) or one already kept there (`file`, e.g. sent to the upload API first); either
    way it is served only through the evidence views (nosniff, inline, no script). Giving
    neither keeps the current scan. An expired date is accepted: the lists show it in red.
    """
    access.require(actor, MANAGE_CONTRACTORS, contractor)
    if document is not None and document.contractor_id != contractor.pk:
        raise Invalid(_("资质文件不属于该承包商"), field="document")
    number = _clean_document(contractor, document, kind, number)
    if scan is not None:
        try:
            file = store_photo(actor, contractor.company, scan)
        except Invalid as exc:
            exc.field = "scan"
            raise
    if file is not None and (file.company_id != contractor.company_id or not file.content_type.startswith("image/")):
        raise Invalid(_("扫描件须为本公司上传的图片"), field="scan")
    changed = document is not None
    document = document or ContractorDocument(contractor=contractor)
    document.kind, document.number, document.expires_on = kind, number, expires_on
    document.file = file or document.file
    document.save()
    if changed:  # a corrected expiry may stop the workers
        _announce(contractor, _("承包商“{name}”的资质文件已变更").format(name=contractor.name))
    return document


def delete_document(actor: Any, document: ContractorDocument) -> None:
    contractor = document.contractor
    access.require(actor, MANAGE_CONTRACTORS, contractor)
    document.delete()  # the scan stays among the evidence files: it may be cited elsewhere
    _announce(contractor, _("承包商“{name}”的资质文件已删除").format(name=contractor.name))


def expiry_state(expires_on: date | None, on: date | None = None) -> str:
    """"expired", "expiring" (within EXPIRY_WARNING_DAYS) or "" for a document's expiry date."""
    if expires_on is None:
        return ""
    on = on or today()
    if expires_on < on:
        return "expired"
    return "expiring" if expires_on <= on + timedelta(days=EXPIRY_WARNING_DAYS) else ""


def with_figures(contractors: QuerySet[Contractor], on: date | None = None) -> QuerySet[Contractor]:
    """Contractors with what the list shows: active workers, open violations, and documents
    expired / expiring within EXPIRY_WARNING_DAYS (subqueries, so the counts do not multiply)."""
    on = on or today()
    soon = on + timedelta(days=EXPIRY_WARNING_DAYS)

    def count(model: type, fk: str, condition: Q) -> Coalesce:
        rows = (model.objects.filter(condition, **{fk: OuterRef("pk")}).order_by().values(fk)
                .annotate(n=Count("pk")).values("n"))
        return Coalesce(Subquery(rows, output_field=IntegerField()), 0)

    return contractors.annotate(
        n_workers=count(Person, "contractor", Q(is_active=True)),
        n_open_violations=count(Violation, "contractor", Q(status=ViolationStatus.OPEN)),
        n_docs_expired=count(ContractorDocument, "contractor", Q(expires_on__lt=on)),
        n_docs_expiring=count(ContractorDocument, "contractor", Q(expires_on__gte=on, expires_on__lte=soon)),
    )


# --- authorised areas ----------------------------------------------------------------------------


def save_area(actor: Any, contractor: Contractor, link: ContractorArea | None, *, area: Area,
              valid_from: date, valid_until: date) -> ContractorArea:
    """Authorise (link=None) or change a contractor's work in an area of the same company for a
    period; one row per area (change its dates rather than adding another)."""
    access.require(actor, MANAGE_CONTRACTORS, contractor)
    if link is not None and link.contractor_id != contractor.pk:
        raise Invalid(_("授权区域不属于该承包商"), field="area")
    if area.org_unit.company_id != contractor.company_id:
        raise Invalid(_("授权区域必须属于承包商所在公司"), field="area")
    if valid_from is None or valid_until is None:
        raise Invalid(_("请填写授权的起止日期"), field="valid_from" if valid_from is None else "valid_until")
    if valid_until < valid_from:
        raise Invalid(_("授权截止日期不能早于起始日期"), field="valid_until")
    clash = ContractorArea.objects.filter(contractor=contractor, area=area)
    if link is not None:
        clash = clash.exclude(pk=link.pk)
    if clash.exists():
        raise Conflict(_("已授权该承包商在“{area}”作业，请修改原授权的日期").format(area=area.name), field="area")
    changed = link is not None
    link = link or ContractorArea(contractor=contractor)
    link.area, link.valid_from, link.valid_until = area, valid_from, valid_until
    link.save()
    if changed:
        _announce(contractor, _("承包商“{name}”的授权区域已变更").format(name=contractor.name))
    return link


def delete_area(actor: Any, link: ContractorArea) -> None:
    contractor = link.contractor
    access.require(actor, MANAGE_CONTRACTORS, contractor)
    link.delete()
    _announce(contractor, _("承包商“{name}”不再获准在“{area}”作业").format(name=contractor.name, area=link.area.name))
