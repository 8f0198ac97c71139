# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: certificate kinds, certificates (record, correct, renew, review, revoke, verify) and violations.

As in orgs/api.py: objects come only through `access` (another company's id is a 404, like a
missing one), ids in bodies and filters through `ref()`, writes through the services inside one
transaction, and lists are paginated (`?page=&page_size=` → {"items", "count"}).
"""

from datetime import date, datetime, timedelta
from typing import Literal

from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from anlian.core.errors import Invalid, NotFound
from anlian.core.schemas import Id, Pages, Strict
from anlian.orgs import access
from anlian.orgs.api import Text, ref, ref_or_none, search, writing
from anlian.orgs.models import Area, Contractor, Person
from anlian.orgs.permissions import MANAGE_CERTIFICATES
from anlian.workforce import certificates, verifier, violations
from anlian.workforce.models import Certificate, CertificateKind, Violation, ViolationSeverity, ViolationStatus

router = Router(tags=["certificates"])

Number = Field(min_length=1, max_length=certificates.MAX_NUMBER)
Issuer = Field("", max_length=certificates.MAX_ISSUER)


def saving():
    return writing({"kind": "kind_id"})


# --- kinds ---------------------------------------------------------------------------------------


class KindOut(Schema):
    id: int
    code: str
    name: str
    family: str
    validity_years: int | None
    review_years: int | None
    number_format: str
    owner_id: int | None


@router.get("/certificate-kinds", response=list[KindOut], summary="Certificate kinds I may use")
@paginate(Pages)
def list_kinds(request: HttpRequest, family: str | None = Query(None, max_length=20), q: str | None = Text):
    kinds = certificates.kinds_for_user(request.user)
    if family:
        kinds = kinds.filter(family=family)
    return search(kinds, q, "name", "code").order_by("family", "code", "pk")


# --- certificates --------------------------------------------------------------------------------


class VerificationOut(Schema):
    status: str
    detail: str
    checked_at: str | None = None


class CertificateOut(Schema):
    id: int
    person_id: int
    person_name: str
    kind_id: int
    kind_name: str
    number: str
    issuer: str
    issued_on: date
    expires_on: date
    review_due_on: date | None
    reviewed_on: date | None
    revoked_at: datetime | None
    revoked_reason: str
    state: str = Field(description="valid, expiring, review_due, review_overdue, expired or revoked")
    verified_at: datetime | None
    verification: VerificationOut | None
    renewals: list[dict]
    scans: list[str] = Field(description="SHA-256 of each scan, served under /files/<sha256>/")

    @staticmethod
    def resolve_person_name(obj: Certificate) -> str:
        return obj.person.name

    @staticmethod
    def resolve_kind_name(obj: Certificate) -> str:
        return obj.kind.name

    @staticmethod
    def resolve_number(obj: Certificate, context: dict) -> str:
        may_manage = access.can(context["request"].user, MANAGE_CERTIFICATES, obj.person)
        return certificates.shown_number(obj, may_manage)

    @staticmethod
    def resolve_state(obj: Certificate) -> str:
        return certificates.state_of(obj)

    @staticmethod
    def resolve_verification(obj: Certificate) -> dict | None:
        return verifier.last_result(obj)

    @staticmethod
    def resolve_renewals(obj: Certificate) -> list[dict]:
        return certificates.renewals(obj)

    @staticmethod
    def resolve_scans(obj: Certificate) -> list[str]:
        return [f.sha256 for f in obj.scans.all()]


class CertificateIn(Strict):
    person_id: Id
    kind_id: Id
    number: str = Number
    issuer: str = Issuer
    issued_on: date
    expires_on: date
    review_due_on: date | None = Field(None, description="Default: issue date + the kind's review period")


class CertificatePatch(Strict):
    kind_id: Id = None
    number: str = Field(None, min_length=1, max_length=certificates.MAX_NUMBER)
    issuer: str = Field(None, max_length=certificates.MAX_ISSUER)
    issued_on: date = None
    expires_on: date = None
    review_due_on: date | None = None


class RenewIn(Strict):
    issued_on: date
    expires_on: date
    review_due_on: date | None = None
    issuer: str = Field(None, max_length=certificates.MAX_ISSUER)


class ReviewIn(Strict):
    on: date
    next_due: date | None = None


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=certificates.MAX_REASON)


class VerifyOut(Schema):
    status: str
    detail: str
    certificate: CertificateOut


def _certificates(request: HttpRequest):
    return access.visible(Certificate, request.user).select_related("person", "kind").prefetch_related("scans")


def _certificate(request: HttpRequest, certificate_id: int) -> Certificate:
    return access.get_for_user(_certificates(request), request.user, certificate_id)


def _kind(request: HttpRequest, kind_id: int) -> CertificateKind:
    # Not access.get_for_user: shipped kinds have no owner, and kinds above the user's units count too.
    kind = certificates.kinds_for_user(request.user).filter(pk=kind_id).first()
    if kind is None:
        raise NotFound(field="kind_id")
    return kind


@router.get("/certificates", response=list[CertificateOut], summary="Certificates I may see")
@paginate(Pages)
def list_certificates(request: HttpRequest, person_id: Id | None = None, kind_id: Id | None = None,
                      expiring_within_days: int | None = Query(None, ge=0, le=3660,
                                                                description="Expiry or review due within N days (overdue included)"),
                      include_revoked: bool = False, q: str | None = Text):
    certs = _certificates(request)
    if person_id is not None:
        certs = certs.filter(person=ref(Person, request, person_id, "person_id"))
    if kind_id is not None:
        certs = certs.filter(kind_id=kind_id)
    if not include_revoked:
        certs = certs.filter(revoked_at=None)
    if expiring_within_days is not None:
        horizon = certificates.today() + timedelta(days=expiring_within_days)
        certs = certs.filter(Q(expires_on__lte=horizon) | Q(review_due_on__lte=horizon))
    return search(certs, q, "number", "person__name", "person__employee_no").order_by("expires_on", "pk")


@router.post("/certificates", response={201: CertificateOut}, summary="Record a certificate")
def create_certificate(request: HttpRequest, payload: CertificateIn):
    person = ref(Person, request, payload.person_id, "person_id")
    kind = _kind(request, payload.kind_id)
    with saving():
        cert = certificates.add_certificate(request.user, person, kind=kind, number=payload.number,
                                            issuer=payload.issuer, issued_on=payload.issued_on,
                                            expires_on=payload.expires_on, review_due_on=payload.review_due_on)
    return Status(201, _certificate(request, cert.pk))


@router.get("/certificates/{certificate_id}", response=CertificateOut, summary="One certificate")
def get_certificate(request: HttpRequest, certificate_id: Id):
    return _certificate(request, certificate_id)


@router.patch("/certificates/{certificate_id}", response=CertificateOut, summary="Correct a certificate")
def update_certificate(request: HttpRequest, certificate_id: Id, payload: CertificatePatch):
    cert = _certificate(request, certificate_id)
    changes = payload.model_dump(exclude_unset=True)
    if "kind_id" in changes:
        changes["kind"] = _kind(request, changes.pop("kind_id"))
    for name in ("issued_on", "expires_on", "number", "issuer", "kind"):
        if name in changes and changes[name] is None:
            raise Invalid(_("字段 {f} 不能为空").format(f=name), field=name)
    with saving():
        certificates.update_certificate(request.user, cert, **changes)
    return _certificate(request, cert.pk)


@router.post("/certificates/{certificate_id}/renew", response=CertificateOut, summary="Renew (换证): new dates, old ones kept")
def renew_certificate(request: HttpRequest, certificate_id: Id, payload: RenewIn):
    cert = _certificate(request, certificate_id)
    with saving():
        certificates.renew_certificate(request.user, cert, **payload.model_dump())
    return _certificate(request, cert.pk)


@router.post("/certificates/{certificate_id}/review", response=CertificateOut, summary="Record a passed review (复审)")
def review_certificate(request: HttpRequest, certificate_id: Id, payload: ReviewIn):
    cert = _certificate(request, certificate_id)
    with saving():
        certificates.mark_reviewed(request.user, cert, payload.on, next_due=payload.next_due)
    return _certificate(request, cert.pk)


@router.post("/certificates/{certificate_id}/revoke", response=CertificateOut, summary="Revoke (吊销/注销) with a reason")
def revoke_certificate(request: HttpRequest, certificate_id: Id, payload: ReasonIn):
    cert = _certificate(request, certificate_id)
    with saving():
        certificates.revoke_certificate(request.user, cert, reason=payload.reason)
    return _certificate(request, cert.pk)


@router.post("/certificates/{certificate_id}/verify", response=VerifyOut,
             summary="Check against the external registry (a revoked answer revokes it here)")
def verify_certificate(request: HttpRequest, certificate_id: Id):
    cert = _certificate(request, certificate_id)
    result = verifier.verify_certificate(request.user, cert)
    return {"status": result.status, "detail": result.detail, "certificate": _certificate(request, cert.pk)}


# --- violations ----------------------------------------------------------------------------------


class ViolationOut(Schema):
    id: int
    person_id: int
    person_name: str
    contractor_id: int | None
    area_id: int | None
    what: str
    severity: str
    occurred_at: datetime
    status: str
    rectify_due: date | None
    rectified_at: datetime | None
    closed_at: datetime | None
    note: str
    reported_by_id: int | None
    photo: str | None = Field(description="SHA-256 of the photo, served under /files/<sha256>/")

    @staticmethod
    def resolve_person_name(obj: Violation) -> str:
        return obj.person.name

    @staticmethod
    def resolve_photo(obj: Violation) -> str | None:
        return obj.photo.sha256 if obj.photo_id else None


class ViolationIn(Strict):
    person_id: Id
    what: str = Field(min_length=1, max_length=violations.MAX_WHAT)
    area_id: Id | None = None
    occurred_at: datetime | None = Field(None, description="Default: now")
    severity: ViolationSeverity = ViolationSeverity.GENERAL
    rectify_due: date | None = None


class TransitionIn(Strict):
    action: Literal["rectify", "close", "void"]
    note: str = Field("", max_length=violations.MAX_NOTE)


def _violations(request: HttpRequest):
    return access.visible(Violation, request.user).select_related("person", "photo")


@router.get("/violations", response=list[ViolationOut], summary="Violations I may see")
@paginate(Pages)
def list_violations(request: HttpRequest, status: ViolationStatus | None = None, person_id: Id | None = None,
                    contractor_id: Id | None = None,
                    month: str | None = Query(None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")):
    items = _violations(request)
    if status is not None:
        items = items.filter(status=status)
    if person_id is not None:
        items = items.filter(person=ref(Person, request, person_id, "person_id"))
    if contractor_id is not None:
        items = items.filter(contractor=ref(Contractor, request, contractor_id, "contractor_id"))
    if month:
        year, number = (int(part) for part in month.split("-"))
        items = items.filter(occurred_at__year=year, occurred_at__month=number)
    return items.order_by("-occurred_at", "-pk")


@router.post("/violations", response={201: ViolationOut}, summary="Record a violation (photo: use the phone page)")
def create_violation(request: HttpRequest, payload: ViolationIn):
    person = ref(Person, request, payload.person_id, "person_id")
    area = ref_or_none(Area, request, payload.area_id, "area_id")
    with writing():
        item = violations.record_violation(request.user, person=person, what=payload.what, area=area,
                                           occurred_at=payload.occurred_at, severity=payload.severity,
                                           rectify_due=payload.rectify_due)
    return Status(201, item)


@router.get("/violations/{violation_id}", response=ViolationOut, summary="One violation")
def get_violation(request: HttpRequest, violation_id: Id):
    return access.get_for_user(_violations(request), request.user, violation_id)


@router.post("/violations/{violation_id}/transition", response=ViolationOut,
             summary="rectify (open → rectified), close (rectified → closed) or void (with a reason)")
def transition_violation(request: HttpRequest, violation_id: Id, payload: TransitionIn):
    item = access.get_for_user(_violations(request), request.user, violation_id)
    with writing():
        locked = Violation.objects.select_for_update(of=("self",)).select_related("person", "area").get(pk=item.pk)
        violations.transition(request.user, locked, payload.action, note=payload.note)
    return access.get_for_user(_violations(request), request.user, violation_id)

