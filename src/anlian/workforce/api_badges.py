# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: entry checks (scan a badge token, get GO / NO-GO with its reasons; the scoped log) and
badges (issue, revoke, list, the current badge's QR code as SVG or PNG).

A check is logged whatever its answer, a forged token too (checked_by is the caller), and answers
201 with the result: it is a record, not a refusal, so a retried POST with the same
Idempotency-Key is replayed by the API middleware instead of being logged twice.
"""

from datetime import date, datetime, timedelta
from typing import Literal

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from anlian.core.errors import Forbidden, NotFound
from anlian.core.schemas import Id, Pages, Strict
from anlian.orgs import access, exports
from anlian.orgs.api import ref, ref_or_none, writing
from anlian.orgs.models import Area, Person
from anlian.workforce import badges
from anlian.workforce.models import Badge, EntryCheck

router = Router(tags=["badges"])

# Long enough that a 10 kB garbage "token" is read (as forged) and logged, not refused unseen.
MAX_TOKEN_INPUT = 20_000


class ReasonOut(Schema):
    code: str
    text: str


class PersonBrief(Schema):
    id: int
    name: str
    employee_no: str
    company: str | None
    contractor: str | None
    contractor_status: str | None
    photo_url: str

    @staticmethod
    def resolve_company(obj: Person) -> str | None:
        return obj.company.name if obj.company_id else None

    @staticmethod
    def resolve_contractor(obj: Person) -> str | None:
        return obj.contractor.name if obj.contractor_id else None

    @staticmethod
    def resolve_contractor_status(obj: Person) -> str | None:
        return obj.contractor.status if obj.contractor_id else None

    @staticmethod
    def resolve_photo_url(obj: Person) -> str:
        return reverse("workforce:badge_photo", kwargs={"person_id": obj.pk})


class CheckIn(Strict):
    token: str = Field(max_length=MAX_TOKEN_INPUT, description="The badge token (what follows /badges/t/ in the QR)")
    area_id: Id | None = None
    work_type: str = Field("", max_length=badges.MAX_WORK_TYPE)


class CheckOut(Schema):
    id: int
    checked_at: datetime
    checked_by_id: int
    go: bool
    token_state: str = Field(description="ok | forged | expired | revoked")
    reasons: list[ReasonOut]
    person: PersonBrief | None
    badge_id: int | None
    area_id: int | None
    work_type: str


class BadgeOut(Schema):
    id: int
    person_id: int
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str
    state: str = Field(description="ok | expired | revoked")
    scan_url: str | None = Field(None, description="What the QR code holds; only for those who issue badges")


class IssueIn(Strict):
    valid_days: int = Field(badges.DEFAULT_VALID_DAYS, ge=1, le=badges.MAX_VALID_DAYS)


class RevokeIn(Strict):
    reason: str = Field(min_length=1, max_length=badges.MAX_REASON)


def _badge_out(request: HttpRequest, badge: Badge) -> dict:
    issuer = badges.may_issue(request.user, badge.person)
    return {"id": badge.pk, "person_id": badge.person_id, "issued_at": badge.issued_at, "expires_at": badge.expires_at,
            "revoked_at": badge.revoked_at, "revoked_reason": badge.revoked_reason, "state": badges.state_of(badge),
            "scan_url": badges.scan_url(badge) if issuer else None}


# --- entry checks --------------------------------------------------------------------------------


@router.post("/entry-checks", response={201: CheckOut}, summary="Check a badge at a gate and log the check")
def create_check(request: HttpRequest, payload: CheckIn):
    area = ref_or_none(Area, request, payload.area_id, "area_id")
    with writing():
        check = badges.record(request.user, payload.token, area=area, work_type=payload.work_type)
    return Status(201, EntryCheck.objects.select_related("person__company", "person__contractor").get(pk=check.pk))


@router.get("/entry-checks", response=list[CheckOut], summary="The entry-check log I may see")
@paginate(Pages)
def list_checks(request: HttpRequest, area_id: Id | None = None, person_id: Id | None = None,
                date_from: date | None = Query(None, description="Local date, inclusive"),
                date_to: date | None = Query(None, description="Local date, inclusive"),
                go: bool | None = None,
                token_state: Literal["ok", "forged", "expired", "revoked"] | None = None):
    checks = badges.visible_checks(request.user).select_related("person__company", "person__contractor")
    if area_id is not None:
        checks = checks.filter(area=ref(Area, request, area_id, "area_id"))
    if person_id is not None:
        checks = checks.filter(person=ref(Person, request, person_id, "person_id"))
    tz = timezone.get_current_timezone()
    if date_from is not None:
        checks = checks.filter(checked_at__gte=datetime.combine(date_from, datetime.min.time(), tz))
    if date_to is not None and date_to < date.max:
        checks = checks.filter(checked_at__lt=datetime.combine(date_to + timedelta(days=1), datetime.min.time(), tz))
    if go is not None:
        checks = checks.filter(go=go)
    if token_state is not None:
        checks = checks.filter(token_state=token_state)
    return checks.order_by("-checked_at", "-pk")


# --- badges --------------------------------------------------------------------------------------


@router.get("/people/{person_id}/badges", response=list[BadgeOut], summary="A person's badges, newest first")
def list_badges(request: HttpRequest, person_id: Id):
    person = access.get_for_user(Person, request.user, person_id)
    history = person.badges.select_related("person__org_unit").order_by("-issued_at", "-pk")
    return [_badge_out(request, b) for b in history]


@router.post("/people/{person_id}/badges", response={201: BadgeOut},
             summary="Issue a badge (the person's previous badge is revoked)")
def issue(request: HttpRequest, person_id: Id, payload: IssueIn = None):
    person = access.get_for_user(Person.objects.select_related("org_unit"), request.user, person_id)
    with writing():
        badge = badges.issue_badge(request.user, person, (payload or IssueIn()).valid_days)
    return Status(201, _badge_out(request, badge))


@router.post("/badges/{badge_id}/revoke", response=BadgeOut, summary="Revoke a badge now")
def revoke(request: HttpRequest, badge_id: Id, payload: RevokeIn):
    badge = access.get_for_user(Badge.objects.select_related("person__org_unit"), request.user, badge_id)
    with writing():
        badge = badges.revoke_badge(request.user, badge, payload.reason)
    return _badge_out(request, badge)


@router.get("/people/{person_id}/badge-qr", summary="The current badge's QR code (SVG or PNG) for printing")
def badge_qr(request: HttpRequest, person_id: Id, format: Literal["svg", "png"] = "svg"):
    person = access.get_for_user(Person.objects.select_related("org_unit"), request.user, person_id)
    if not badges.may_issue(request.user, person):
        raise Forbidden(_("只有人员或承包商管理人员可以获取胸卡二维码"))
    badge = badges.current_badge(person)
    if badge is None:
        raise NotFound(_("{p}当前没有有效胸卡").format(p=person.name))
    if format == "svg":
        return exports.qr_svg_response(badges.scan_url(badge))
    response = HttpResponse(badges.qr_png(badge), content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    return response
