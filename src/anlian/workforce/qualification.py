"""May this person work — here, now, at this kind of work? The answer with its reasons.

`assess` loads everything it needs for any number of people in a fixed handful of queries, then
`evaluate` (plain Python over those facts) lists every reason that stops the person. An empty list
means GO. The permit guards, the badge page, the entry check and the qualification sweep all ask
here, so a gate and a permit can never disagree.

Reasons (codes are stable; texts are translated and name the item and its dates):
- person_inactive — the person has left;
- company_suspended — their contractor is suspended or blacklisted;
- contract_invalid — their contractor's contract has not started or has ended;
- company_document_expired — a contractor qualification document has expired;
- area_not_authorised — a contractor worker outside the areas their company may work in;
- training_incomplete — three-level education not completed, or training overdue;
- cert_missing / cert_expired / cert_revoked / cert_review_overdue — for work needing a certificate;
- training_stale — the work type's training not passed within its N days;
- open_violations — open violations where the work type forbids them, or any open serious one;
- no_requirement — the work type has no requirement configured (fail closed: ask the safety office).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Q
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.orgs.models import Contractor, ContractorStatus, Person
from anlian.training.models import Assignment, Attendance
from anlian.workforce.certificates import shown_number
from anlian.workforce.models import (
    Certificate,
    ContractorArea,
    ContractorDocument,
    Violation,
    ViolationSeverity,
    ViolationStatus,
    WorkRequirement,
)


@dataclass(frozen=True)
class Reason:
    code: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


def joined(reasons: list[Reason]) -> str:
    """All reasons as one sentence, in the active language's list punctuation."""
    return _("；").join(r.text for r in reasons)


@dataclass
class Facts:
    """What is known about one person, loaded in bulk."""

    person: Person
    contractor: Contractor | None = None
    documents: list[ContractorDocument] = field(default_factory=list)
    areas: dict[int, ContractorArea] = field(default_factory=dict)
    certificates: list[Certificate] = field(default_factory=list)
    open_assignments: list[Assignment] = field(default_factory=list)
    last_pass_by_topic: dict[str, date] = field(default_factory=dict)
    open_violations: list[Violation] = field(default_factory=list)


def load(people: list[Person]) -> dict[int, Facts]:
    """Facts for these people in six queries whatever their number."""
    facts = {p.pk: Facts(p) for p in people}
    if not facts:
        return facts
    ids = list(facts)
    contractor_ids = {p.contractor_id for p in people if p.contractor_id}
    contractors = {c.pk: c for c in Contractor.objects.filter(pk__in=contractor_ids)}
    documents, areas = defaultdict(list), defaultdict(dict)
    for doc in ContractorDocument.objects.filter(contractor_id__in=contractor_ids):
        documents[doc.contractor_id].append(doc)
    for grant in ContractorArea.objects.filter(contractor_id__in=contractor_ids):
        areas[grant.contractor_id][grant.area_id] = grant
    for p in people:
        if p.contractor_id:
            facts[p.pk].contractor = contractors.get(p.contractor_id)
            facts[p.pk].documents = documents[p.contractor_id]
            facts[p.pk].areas = areas[p.contractor_id]
    for cert in Certificate.objects.filter(person_id__in=ids).select_related("kind"):
        facts[cert.person_id].certificates.append(cert)
    for item in Assignment.objects.filter(person_id__in=ids, completed_on__isnull=True):
        facts[item.person_id].open_assignments.append(item)
    passes = (Attendance.objects.filter(person_id__in=ids, passed=True)
              .exclude(session__course__topic="")
              .values_list("person_id", "session__course__topic", "session__starts_at"))
    for person_id, topic, starts_at in passes:
        day = clock.local_date(starts_at)
        known = facts[person_id].last_pass_by_topic.get(topic)
        if known is None or day > known:
            facts[person_id].last_pass_by_topic[topic] = day
    for v in Violation.objects.filter(person_id__in=ids, status=ViolationStatus.OPEN):
        facts[v.person_id].open_violations.append(v)
    return facts


def requirement(company_id: int | None, work_type: str) -> WorkRequirement | None:
    """The company's own requirement for the work type, else the shipped one."""
    rows = (WorkRequirement.objects.filter(work_type=work_type)
            .filter(Q(owner__isnull=True) | Q(owner_id=company_id)).prefetch_related("certificate_kinds"))
    rows = sorted(rows, key=lambda r: r.owner_id is None)  # a company's own row first
    return rows[0] if rows else None


def evaluate(f: Facts, today: date, *, work_type: str | None = None, need: WorkRequirement | None = None,
             area_id: int | None = None, requirement_known: bool = True) -> list[Reason]:
    """Every reason that stops this person; empty means GO."""
    reasons = _person_and_company(f, today)
    if area_id is not None and f.contractor is not None:
        reasons += _area(f, area_id, today)
    reasons += _training_owed(f, today)
    if work_type and not requirement_known:
        reasons.append(Reason("no_requirement", _("作业类别「{w}」未配置资格要求，请联系安全管理部门").format(w=work_type)))
    if need is not None:
        reasons += _certificates(f, need, today)
        reasons += _topic_training(f, need, today)
    reasons += _violations(f, need)
    return reasons


def _person_and_company(f: Facts, today: date) -> list[Reason]:
    out = []
    if not f.person.is_active:
        out.append(Reason("person_inactive", _("{p}已离职或停用").format(p=f.person.name)))
    c = f.contractor
    if c is None:
        return out
    if c.status != ContractorStatus.ACTIVE:
        out.append(Reason("company_suspended", _("所属承包商「{c}」{s}：{r}").format(
            c=c.name, s=c.get_status_display(), r=c.status_reason or _("未说明原因"))))
    if c.contract_start and today < c.contract_start:
        out.append(Reason("contract_invalid", _("承包商「{c}」合同自{d}起生效").format(c=c.name, d=c.contract_start)))
    if c.contract_end and today > c.contract_end:
        out.append(Reason("contract_invalid", _("承包商「{c}」合同已于{d}到期").format(c=c.name, d=c.contract_end)))
    for doc in f.documents:
        if doc.expires_on and doc.expires_on < today:
            out.append(Reason("company_document_expired", _("承包商「{c}」的{k}已于{d}过期").format(
                c=c.name, k=doc.get_kind_display(), d=doc.expires_on)))
    return out


def _area(f: Facts, area_id: int, today: date) -> list[Reason]:
    grant = f.areas.get(area_id)
    if grant is None:
        return [Reason("area_not_authorised", _("承包商「{c}」未获准在该区域作业").format(c=f.contractor.name))]
    if not grant.valid_from <= today <= grant.valid_until:
        return [Reason("area_not_authorised", _("承包商「{c}」在「{a}」的作业授权有效期为{f}至{u}").format(
            c=f.contractor.name, a=grant.area, f=grant.valid_from, u=grant.valid_until))]
    return []


EDUCATION_LEVELS = ("company", "workshop", "team")


def _training_owed(f: Facts, today: date) -> list[Reason]:
    """Three-level education must be finished before work starts; other training by its deadline."""
    out = []
    for item in f.open_assignments:
        if item.level in EDUCATION_LEVELS:
            out.append(Reason("training_incomplete", _("三级安全教育（{l}）未完成，要求{h}学时").format(
                l=item.get_level_display(), h=item.hours_required)))
        elif item.due_on < today:
            out.append(Reason("training_incomplete", _("{l}逾期未完成（期限{d}）").format(
                l=item.get_level_display(), d=item.due_on)))
    return out


def _certificates(f: Facts, need: WorkRequirement, today: date) -> list[Reason]:
    kinds = {k.pk: k for k in need.certificate_kinds.all()}
    if not kinds:
        return []
    held = [c for c in f.certificates if c.kind_id in kinds]
    problems: list[Reason] = []
    for cert in sorted(held, key=lambda c: c.expires_on, reverse=True):
        problem = _certificate_problem(cert, today)
        if problem is None:
            return []
        problems.append(problem)
    if problems:
        return problems[:1]  # the newest certificate's problem says it best
    names = "、".join(k.name for _pk, k in sorted(kinds.items()))  # in shipped.yaml's order
    return [Reason("cert_missing", _("无有效的{k}证书").format(k=names))]


def _certificate_problem(cert: Certificate, today: date) -> Reason | None:
    # Reasons are shown at gates and kept in the entry-check log: never a whole ID number.
    label = _("{kind}（{number}）").format(kind=cert.kind.name, number=shown_number(cert, may_manage=False))
    if cert.revoked_at is not None:
        return Reason("cert_revoked", _("证书{c}已被吊销或注销：{r}").format(c=label, r=cert.revoked_reason or "-"))
    if cert.expires_on < today:
        return Reason("cert_expired", _("证书{c}已于{d}过期（{n}天）").format(
            c=label, d=cert.expires_on, n=(today - cert.expires_on).days))
    # Recording a review (复审) moves review_due_on to the next one.
    if cert.review_due_on and cert.review_due_on < today:
        return Reason("cert_review_overdue", _("证书{c}应于{d}前复审，已逾期{n}天").format(
            c=label, d=cert.review_due_on, n=(today - cert.review_due_on).days))
    return None


def _topic_training(f: Facts, need: WorkRequirement, today: date) -> list[Reason]:
    if not need.training_topic:
        return []
    last = f.last_pass_by_topic.get(need.training_topic)
    days = need.training_within_days
    if last is None:
        return [Reason("training_stale", _("未通过「{w}」专项培训").format(w=need.work_type))]
    if days is not None and last < today - timedelta(days=days):
        return [Reason("training_stale", _("「{w}」专项培训须在{n}天内，最近一次为{d}").format(
            w=need.work_type, n=days, d=last))]
    return []


def _violations(f: Facts, need: WorkRequirement | None) -> list[Reason]:
    blocking = f.open_violations if need is not None and need.no_open_violations else [
        v for v in f.open_violations if v.severity == ViolationSeverity.SERIOUS]
    if not blocking:
        return []
    first = min(blocking, key=lambda v: v.occurred_at)
    return [Reason("open_violations", _("有{n}条未处理违章（最早：{w}）").format(n=len(blocking), w=first.what))]


def assess_many(people: list[Person], *, work_type: str | None = None, area_id: int | None = None,
                today: date | None = None) -> dict[int, list[Reason]]:
    """Reasons per person id for the same question (one work type, one area)."""
    today = today or clock.today()
    facts = load(people)
    needs: dict[int | None, WorkRequirement | None] = {}
    out = {}
    for pk, f in facts.items():
        need = known = None
        if work_type:
            company_id = f.person.company_id
            if company_id not in needs:
                needs[company_id] = requirement(company_id, work_type)
            need = needs[company_id]
            known = need is not None
        out[pk] = evaluate(f, today, work_type=work_type, need=need, area_id=area_id,
                           requirement_known=known if work_type else True)
    return out


def assess(person: Person, *, work_type: str | None = None, area_id: int | None = None,
           today: date | None = None) -> list[Reason]:
    """Every reason that stops `person` (at `work_type`, in area `area_id`); [] means GO."""
    return assess_many([person], work_type=work_type, area_id=area_id, today=today)[person.pk]


def work_types_for(company_id: int | None) -> list[str]:
    """The work types with a requirement for this company (shipped ones and its own)."""
    rows = WorkRequirement.objects.filter(Q(owner__isnull=True) | Q(owner_id=company_id))
    return sorted(set(rows.values_list("work_type", flat=True)))


def status_by_work_type(person: Person, today: date | None = None) -> list[tuple[str, list[Reason]]]:
    """The person's standing for every work type the company knows: (work type, reasons)."""
    today = today or clock.today()
    facts = load([person])[person.pk]
    out = []
    for work_type in work_types_for(person.company_id):
        need = requirement(person.company_id, work_type)
        out.append((work_type, evaluate(facts, today, work_type=work_type, need=need)))
    return out
