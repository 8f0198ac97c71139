"""The only writers of certificates: record, correct, renew, review (复审) and revoke.

Each function checks MANAGE_CERTIFICATES at the holder, validates, and raises a DomainError with a
translated reason; callers run it inside `transaction.atomic()`. A change that can take a
qualification away (revoked, expiry or review date moved earlier, number or kind corrected) sends
`qualification_changed` once the transaction commits, so running permits drop the person.

Renewal keeps the same row. A renewed special-operation certificate keeps its number (the holder's
ID number) and numbers are unique per company and kind, so a second row for the renewal cannot
exist; instead the dates it replaces (and a revocation it lifts) are appended to
`verification["renewals"]`, next to the registry's last answer, and shown on the certificate page.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anlian.core import clock
from anlian.core.codes import id18_check_char, id18_problem
from anlian.core.errors import Conflict, Invalid
from anlian.evidence.services import store_photo
from anlian.orgs import access
from anlian.orgs.models import Person
from anlian.orgs.permissions import MANAGE_CERTIFICATES
from anlian.workforce.models import Certificate, CertificateKind, NumberFormat
from anlian.workforce.signals import qualification_changed

MAX_NUMBER = 40
MAX_ISSUER = 100
MAX_REASON = 200
MAX_SCANS = 6
EARLIEST, LATEST = date(1950, 1, 1), date(2199, 12, 31)
EXPIRING_DAYS = 30  # "orange" on pages: expiry or review due within this many days


def today() -> date:
    """The site's local date (certificate dates are local dates, not UTC)."""
    return timezone.localtime(clock.now()).date()


def add_years(day: date, years: int) -> date:
    """The same calendar day `years` later; 29 February falls back to the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


# --- which kinds a person may hold ---------------------------------------------------------------


def kinds_for_person(person: Person):
    """Shipped kinds plus the kinds defined at the person's unit or above it."""
    return CertificateKind.objects.filter(Q(owner__isnull=True) | Q(owner_id__in=person.org_unit.ancestor_ids()))


def kinds_for_user(user: Any):
    """Kinds a user may read: shipped ones, those defined in their subtrees and those above them."""
    scope = access.scope_of(user)
    if scope.is_superuser:
        return CertificateKind.objects.all()
    above = {int(part) for prefix, _perms in scope.grants for part in prefix.strip("/").split("/") if part}
    return CertificateKind.objects.filter(Q(owner__isnull=True) | Q(owner_id__in=above)
                                          | access.scope_filter(user, "org.view", "owner__path"))


def _check_kind(person: Person, kind: CertificateKind) -> None:
    if not kinds_for_person(person).filter(pk=kind.pk).exists():
        raise Invalid(_("该证书类型不适用于此人员所在单位"), field="kind")


# --- validation ----------------------------------------------------------------------------------


def clean_number(number: str, kind: CertificateKind, person: Person) -> str:
    """The number as stored, or Invalid saying which part is wrong."""
    number = (number or "").strip()
    if not number:
        raise Invalid(_("证书编号不能为空"), field="number")
    if len(number) > MAX_NUMBER:
        raise Invalid(_("证书编号不能超过{n}个字符").format(n=MAX_NUMBER), field="number")
    if not number.isprintable():
        raise Invalid(_("证书编号含有不允许的字符"), field="number")
    if kind.number_format == NumberFormat.ID18:
        number = number.upper()
        _check_id18(number)
        if person.id_number and person.id_number.upper() != number:
            raise Invalid(_("证书编号与持证人身份证号（尾号{tail}）不一致").format(tail=person.id_number[-4:]),
                          field="number")
    return number


def _check_id18(number: str) -> None:
    # id18_problem's \d also matches full-width and other Unicode digits: only ASCII is an ID number.
    problem = id18_problem(number) if number.isascii() else "format"
    if problem == "format":
        raise Invalid(_("此类证书的编号是持证人的18位身份证号：前17位为数字，末位为数字或X"), field="number",
                      code="number_format")
    if problem == "birth_date":
        raise Invalid(_("证书编号第7–14位的出生日期“{d}”不是有效日期").format(d=number[6:14]), field="number",
                      code="number_birth_date")
    if problem == "check_digit":
        raise Invalid(_("证书编号末位校验码错误：按前17位应为“{c}”").format(c=id18_check_char(number[:17])),
                      field="number", code="number_check_digit")


def _check_unique(person: Person, kind: CertificateKind, number: str, exclude: Certificate | None = None) -> None:
    clash = Certificate.objects.filter(company_id=person.company_id, kind=kind, number=number).select_related("person")
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    holder = clash.first()
    if holder is not None:
        raise Conflict(_("编号“{number}”的{kind}已登记在{name}（工号{no}）名下").format(
            number=number, kind=kind.name, name=holder.person.name, no=holder.person.employee_no), field="number")


def _check_dates(issued_on: date, expires_on: date, review_due_on: date | None) -> None:
    for value, field in ((issued_on, "issued_on"), (expires_on, "expires_on"), (review_due_on, "review_due_on")):
        if value is not None and not (EARLIEST <= value <= LATEST):
            raise Invalid(_("日期须在{a}至{b}之间").format(a=EARLIEST, b=LATEST), field=field)
    if issued_on > today():
        raise Invalid(_("发证日期不能晚于今天"), field="issued_on")
    if expires_on < issued_on:
        raise Invalid(_("有效期至不能早于发证日期"), field="expires_on")
    if review_due_on is not None and not (issued_on <= review_due_on <= expires_on):
        raise Invalid(_("复审日期须在发证日期与有效期至之间"), field="review_due_on")


def _clean_issuer(issuer: str) -> str:
    issuer = (issuer or "").strip()
    if len(issuer) > MAX_ISSUER:
        raise Invalid(_("发证机关不能超过{n}个字符").format(n=MAX_ISSUER), field="issuer")
    return issuer


def default_review_due(kind: CertificateKind, issued_on: date, expires_on: date) -> date | None:
    """Issue date + the kind's review period, when it has one and that falls before expiry."""
    if not kind.review_years:
        return None
    due = add_years(issued_on, kind.review_years)
    return due if due <= expires_on else None


def _store_scans(actor: Any, certificate: Certificate, scans: Iterable[Any]) -> None:
    scans = list(scans)
    if not scans:
        return
    if len(scans) + certificate.scans.count() > MAX_SCANS:
        raise Invalid(_("每本证书最多{n}张扫描件").format(n=MAX_SCANS), field="scans")
    certificate.scans.add(*(store_photo(actor, certificate.company, upload) for upload in scans))


def _announce(person: Person, reason: str) -> None:
    """Tell the qualification sweep once the change is committed (nothing if it rolls back)."""
    transaction.on_commit(lambda: qualification_changed.send(sender=Certificate, person=person, reason=reason))


# --- writes --------------------------------------------------------------------------------------


def add_certificate(actor: Any, person: Person, *, kind: CertificateKind, number: str, issuer: str = "",
                    issued_on: date, expires_on: date, review_due_on: date | None = None,
                    scans: Iterable[Any] = ()) -> Certificate:
    """Record a person's certificate (review date defaulting to issue + the kind's review period)."""
    access.require(actor, MANAGE_CERTIFICATES, person)
    _check_kind(person, kind)
    number = clean_number(number, kind, person)
    review_due_on = review_due_on or default_review_due(kind, issued_on, expires_on)
    _check_dates(issued_on, expires_on, review_due_on)
    _check_unique(person, kind, number)
    certificate = Certificate.objects.create(
        person=person, company_id=person.company_id, kind=kind, number=number, issuer=_clean_issuer(issuer),
        issued_on=issued_on, expires_on=expires_on, review_due_on=review_due_on)
    _store_scans(actor, certificate, scans)
    return certificate


def _require_open(certificate: Certificate) -> None:
    if certificate.revoked_at is not None:
        raise Conflict(_("证书已吊销/注销，不能修改；如已换发新证，请办理换证"), code="certificate_revoked")


def update_certificate(actor: Any, certificate: Certificate, *, kind: CertificateKind | None = None,
                       number: str | None = None, issuer: str | None = None, issued_on: date | None = None,
                       expires_on: date | None = None, review_due_on: date | None | object = ...,
                       scans: Iterable[Any] = ()) -> Certificate:
    """Correct a certificate's data (a field left as None keeps its value; `review_due_on=None`
    clears the review date). A correction that can take the qualification away is announced."""
    access.require(actor, MANAGE_CERTIFICATES, certificate.person)
    _require_open(certificate)
    person = certificate.person
    kind = kind or certificate.kind
    if kind.pk != certificate.kind_id:
        _check_kind(person, kind)
    number = clean_number(certificate.number if number is None else number, kind, person)
    issued_on = issued_on or certificate.issued_on
    expires_on = expires_on or certificate.expires_on
    review_due_on = certificate.review_due_on if review_due_on is ... else review_due_on
    _check_dates(issued_on, expires_on, review_due_on)
    _check_unique(person, kind, number, exclude=certificate)
    reason = _loss_reason(certificate, kind, number, expires_on, review_due_on)
    certificate.kind, certificate.number, certificate.issued_on = kind, number, issued_on
    certificate.expires_on, certificate.review_due_on = expires_on, review_due_on
    if issuer is not None:
        certificate.issuer = _clean_issuer(issuer)
    certificate.save()
    _store_scans(actor, certificate, scans)
    if reason:
        _announce(person, reason)
    return certificate


def _loss_reason(old: Certificate, kind: CertificateKind, number: str, expires_on: date,
                 review_due_on: date | None) -> str:
    """Why a correction may have taken a qualification away ("" when it cannot have)."""
    label = f"{old.kind.name} {old.number}"
    if kind.pk != old.kind_id or number != old.number:
        return _("证书{c}的类型或编号已更正").format(c=label)
    if expires_on < old.expires_on:
        return _("证书{c}的有效期提前至{d}").format(c=label, d=expires_on)
    if review_due_on is not None and (old.review_due_on is None or review_due_on < old.review_due_on):
        return _("证书{c}的复审日期提前至{d}").format(c=label, d=review_due_on)
    return ""


def renew_certificate(actor: Any, certificate: Certificate, *, issued_on: date, expires_on: date,
                      review_due_on: date | None = None, issuer: str | None = None,
                      scans: Iterable[Any] = ()) -> Certificate:
    """Record the renewed certificate (换证) on the same row, keeping the replaced dates (and a
    lifted revocation) in `verification["renewals"]`. The registry's last answer is for the old
    dates, so it is cleared."""
    access.require(actor, MANAGE_CERTIFICATES, certificate.person)
    review_due_on = review_due_on or default_review_due(certificate.kind, issued_on, expires_on)
    _check_dates(issued_on, expires_on, review_due_on)
    if issued_on < certificate.issued_on:
        raise Invalid(_("换证的发证日期不能早于原证的发证日期{d}").format(d=certificate.issued_on), field="issued_on")
    history = renewals(certificate) + [{
        "issued_on": certificate.issued_on.isoformat(), "expires_on": certificate.expires_on.isoformat(),
        "review_due_on": certificate.review_due_on.isoformat() if certificate.review_due_on else None,
        "reviewed_on": certificate.reviewed_on.isoformat() if certificate.reviewed_on else None,
        "issuer": certificate.issuer, "revoked_reason": certificate.revoked_reason if certificate.revoked_at else "",
        "renewed_at": clock.now().isoformat(), "renewed_by": getattr(getattr(actor, "person", None), "name", ""),
    }]
    shortened = expires_on < certificate.expires_on
    certificate.issued_on, certificate.expires_on, certificate.review_due_on = issued_on, expires_on, review_due_on
    certificate.reviewed_on, certificate.revoked_at, certificate.revoked_reason = None, None, ""
    if issuer is not None:
        certificate.issuer = _clean_issuer(issuer)
    certificate.verified_at, certificate.verification = None, {"renewals": history}
    certificate.save()
    _store_scans(actor, certificate, scans)
    if shortened:
        _announce(certificate.person, _("证书{c}的有效期提前至{d}").format(
            c=f"{certificate.kind.name} {certificate.number}", d=expires_on))
    return certificate


def renewals(certificate: Certificate) -> list[dict[str, Any]]:
    """Earlier dates of a renewed certificate, oldest first."""
    kept = (certificate.verification or {}).get("renewals")
    return list(kept) if isinstance(kept, list) else []


def revoke_certificate(actor: Any, certificate: Certificate, *, reason: str) -> Certificate:
    """Revoke (吊销/注销) with a reason; the holder loses every qualification it gave at once."""
    access.require(actor, MANAGE_CERTIFICATES, certificate.person)
    return do_revoke(certificate, reason)


def do_revoke(certificate: Certificate, reason: str) -> Certificate:
    """Write a revocation (permission already checked by the caller) and announce it on commit."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("请填写吊销/注销原因"), field="reason")
    if len(reason) > MAX_REASON:
        raise Invalid(_("原因不能超过{n}个字符").format(n=MAX_REASON), field="reason")
    _require_open(certificate)
    certificate.revoked_at, certificate.revoked_reason = clock.now(), reason
    certificate.save(update_fields=["revoked_at", "revoked_reason", "updated_at"])
    _announce(certificate.person, _("证书{c}已吊销/注销：{r}").format(
        c=f"{certificate.kind.name} {certificate.number}", r=reason))
    return certificate


def mark_reviewed(actor: Any, certificate: Certificate, on: date, *, next_due: date | None = None) -> Certificate:
    """Record a passed review (复审) on `on`; the next review falls due `review_years` later
    (or on `next_due`), never after the certificate's expiry."""
    access.require(actor, MANAGE_CERTIFICATES, certificate.person)
    _require_open(certificate)
    if not (certificate.issued_on <= on <= today()):
        raise Invalid(_("复审日期须在发证日期{a}与今天之间").format(a=certificate.issued_on), field="on")
    if on > certificate.expires_on:
        raise Invalid(_("证书已于{d}过期，请办理换证而不是复审").format(d=certificate.expires_on), field="on")
    if next_due is None and certificate.kind.review_years:
        next_due = add_years(on, certificate.kind.review_years)
    if next_due is not None:
        if next_due <= on:
            raise Invalid(_("下次复审日期须晚于本次复审日期"), field="next_due")
        next_due = min(next_due, certificate.expires_on)
    certificate.reviewed_on, certificate.review_due_on = on, next_due
    certificate.save(update_fields=["reviewed_on", "review_due_on", "updated_at"])
    return certificate


# --- reading -------------------------------------------------------------------------------------


def shown_number(certificate: Certificate, may_manage: bool) -> str:
    """The number as a page shows it: an ID-number certificate's number is the holder's ID number,
    so only certificate managers see it whole (as the person page masks the ID number)."""
    number = certificate.number
    if may_manage or certificate.kind.number_format != NumberFormat.ID18 or len(number) != 18:
        return number
    return f"{number[:6]}{'*' * 8}{number[-4:]}"



def state_of(certificate: Certificate, on: date | None = None) -> str:
    """"revoked", "expired", "review_overdue", "expiring" (within 30 days), "review_due" or "valid"."""
    on = on or today()
    if certificate.revoked_at is not None:
        return "revoked"
    if certificate.expires_on < on:
        return "expired"
    due = certificate.review_due_on
    reviewed = certificate.reviewed_on is not None and due is not None and certificate.reviewed_on >= due
    if due is not None and due < on and not reviewed:
        return "review_overdue"
    if (certificate.expires_on - on).days <= EXPIRING_DAYS:
        return "expiring"
    if due is not None and not reviewed and (due - on).days <= EXPIRING_DAYS:
        return "review_due"
    return "valid"


STATE_LABELS = {
    "revoked": gettext_lazy("已吊销/注销"), "expired": gettext_lazy("已过期"), "review_overdue": gettext_lazy("复审逾期"),
    "expiring": gettext_lazy("即将到期"), "review_due": gettext_lazy("即将复审"), "valid": gettext_lazy("有效"),
}
STATE_COLOURS = {"revoked": "red", "expired": "red", "review_overdue": "red",
                 "expiring": "orange", "review_due": "orange", "valid": "green"}

