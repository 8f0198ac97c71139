"""Expiry reminders: certificates (expiry and review dates) and contractor documents, 30 / 7 / 1
days ahead, to the person and their managers, through the notifications (events
`certificate_expiring` and `document_expiring`: the inbox, and the channels the company's routes
add; texts editable per company).

Each (item, date, threshold) becomes one message key, so a second run the same day
sends nothing again, and a run that missed days sends the threshold just passed (6 days left and
no 7-day notice yet: the 7-day notice now), once. A renewed certificate has a new date and so new
keys. Managers are the people holding a role with MANAGE_CERTIFICATES (documents:
MANAGE_CONTRACTORS) at the nearest unit, from the item's own unit upwards, where anyone does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from anlian.notify.models import ChannelKind, DeliveryStatus, Message
from anlian.notify.routing import notify_event
from anlian.orgs.models import OrgUnit, Person, RoleGrant
from anlian.orgs.permissions import MANAGE_CERTIFICATES, MANAGE_CONTRACTORS
from anlian.workforce.certificates import today as local_today
from anlian.workforce.models import Certificate, ContractorDocument

THRESHOLDS = (30, 7, 1)


def threshold_for(days_left: int) -> int | None:
    """The reminder due with this many days left: the smallest threshold not yet passed."""
    if days_left < 0:
        return None
    return min((t for t in THRESHOLDS if days_left <= t), default=None)


@dataclass(frozen=True)
class Due:
    """One date coming up: what it is, who is told, where the notice links to."""

    key: str
    on: date
    unit: OrgUnit
    company_id: int
    perm: str
    holder: Person | None
    event: str
    context: dict[str, str]  # the placeholders of the event's text, but for `days`
    url: str


def _certificate_dues(start: date, end: date) -> Iterator[Due]:
    live = Certificate.objects.filter(revoked_at=None, person__is_active=True).select_related(
        "person__org_unit", "kind")
    for cert in live.filter(Q(expires_on__range=(start, end)) | Q(review_due_on__range=(start, end))):
        about = {"person": cert.person.name, "kind": cert.kind.name, "number": cert.number}
        url = _url("workforce:certificate", cert.pk) or cert.person.get_absolute_url()
        if start <= cert.expires_on <= end:
            yield Due(f"cert:{cert.pk}:expires:{cert.expires_on}", cert.expires_on, cert.person.org_unit,
                      cert.company_id, MANAGE_CERTIFICATES, cert.person, "certificate_expiring",
                      {**about, "what": _("到期"), "date": cert.expires_on.isoformat()}, url)
        reviewed = cert.reviewed_on is not None and cert.review_due_on is not None and cert.reviewed_on >= cert.review_due_on
        if cert.review_due_on and start <= cert.review_due_on <= end and not reviewed:
            yield Due(f"cert:{cert.pk}:review:{cert.review_due_on}", cert.review_due_on, cert.person.org_unit,
                      cert.company_id, MANAGE_CERTIFICATES, cert.person, "certificate_expiring",
                      {**about, "what": _("复审到期"), "date": cert.review_due_on.isoformat()}, url)


def _document_dues(start: date, end: date) -> Iterator[Due]:
    docs = ContractorDocument.objects.filter(expires_on__range=(start, end)).select_related("contractor__org_unit")
    for doc in docs:
        url = _url("workforce:contractor", doc.contractor_id) or _url("workforce:expiring") or ""
        yield Due(f"doc:{doc.pk}:expires:{doc.expires_on}", doc.expires_on, doc.contractor.org_unit,
                  doc.contractor.company_id, MANAGE_CONTRACTORS, None, "document_expiring",
                  {"contractor": doc.contractor.name, "kind": str(doc.get_kind_display()), "number": doc.number or "—",
                   "what": _("到期"), "date": doc.expires_on.isoformat()}, url)


def _url(name: str, *args: object) -> str:
    # The contractor pages belong to another part; until they exist the notice links elsewhere.
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


class Managers:
    """The managers of a unit for a permission, looked up once per (unit, permission) per run."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str], list[Person]] = {}

    def of(self, unit: OrgUnit, perm: str) -> list[Person]:
        key = (unit.pk, perm)
        if key not in self._cache:
            self._cache[key] = self._nearest(unit, perm)
        return self._cache[key]

    @staticmethod
    def _nearest(unit: OrgUnit, perm: str) -> list[Person]:
        ancestors = unit.ancestor_ids()  # root first, the unit itself last
        grants = RoleGrant.objects.filter(org_unit_id__in=ancestors, person__is_active=True).select_related(
            "role", "person")
        # Role permissions are a JSON list, which SQLite cannot search: filter here.
        by_unit: dict[int, list[Person]] = {}
        for grant in grants:
            if perm in grant.role.permissions:
                by_unit.setdefault(grant.org_unit_id, []).append(grant.person)
        for unit_id in reversed(ancestors):
            if unit_id in by_unit:
                return sorted(set(by_unit[unit_id]), key=lambda p: p.pk)
        return []


def send_expiry_reminders(today: date | None = None) -> int:
    """Send the reminders due today; returns how many people they reach in the inbox."""
    today = today or local_today()
    end = today + timedelta(days=max(THRESHOLDS))
    managers, created = Managers(), 0
    companies: dict[int, OrgUnit] = {}
    for due in (*_certificate_dues(today, end), *_document_dues(today, end)):
        days_left = (due.on - today).days
        threshold = threshold_for(days_left)
        if threshold is None:
            continue
        key = f"expiry:{due.key}:{threshold}"
        if due.company_id not in companies:
            companies[due.company_id] = OrgUnit.objects.get(pk=due.company_id)
        company = companies[due.company_id]
        if Message.objects.filter(company=company, key=key).exists():
            continue
        recipients = {p.pk: p for p in managers.of(due.unit, due.perm) if p.company_id == company.pk}
        if due.holder is not None:
            recipients[due.holder.pk] = due.holder
        message = notify_event(company, event=due.event, key=key, unit=due.unit, people=recipients.values(),
                               context={**due.context, "days": str(days_left)}, url=due.url)
        created += message.deliveries.filter(kind=ChannelKind.INBOX, status=DeliveryStatus.PENDING).count()
    return created


@db_periodic_task(crontab(hour="7", minute="10"))
def expiry_reminders() -> int:
    """Daily at 07:10 (site time): the day's certificate and document reminders."""
    return send_expiry_reminders()
