"""QR badges and the entry checks made with them.

A badge's QR code holds a URL ending in a signed token that names the badge row and nothing
else: who the person is, whether they may work and whether the badge still counts all come from
the database at the moment of the scan, so revoking a badge (or issuing a new one, which revokes
the old) makes every printed copy worthless at once. The GO / NO-GO answer is
`qualification.assess`; nothing here repeats its rules.

Reading a badge: a reader sees a badge only when they may see its person — through their VIEW
grants, or, for gate guards and guardians (CHECK_ENTRY), anywhere in the companies where they
check. Any other badge reads exactly like a forged one, so a scan tells another company nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import segno
from django.conf import settings
from django.core import signing
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.core.errors import Conflict, Forbidden, Invalid, NotFound
from anlian.orgs import access
from anlian.orgs.models import Area, Person
from anlian.orgs.permissions import CHECK_ENTRY, MANAGE_CERTIFICATES, MANAGE_CONTRACTORS, MANAGE_PEOPLE, VIEW
from anlian.workforce.models import Badge, EntryCheck
from anlian.workforce.qualification import Reason, assess

# The token's own salt: a signature made for anything else in Anlian (sessions, other tokens)
# never reads as a badge.
SALT = "anlian.workforce.badge"
SEP = "."  # URL-safe, unlike the default ":", so the token sits in a path without escaping
# Our tokens are about 50 characters; anything much longer is refused before any work is done.
MAX_TOKEN = 100

DEFAULT_VALID_DAYS = 365
MAX_VALID_DAYS = 3 * 365
MAX_REASON = 200
MAX_WORK_TYPE = 60

OK, FORGED, EXPIRED, REVOKED = "ok", "forged", "expired", "revoked"
TOKEN_STATES = (OK, FORGED, EXPIRED, REVOKED)


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT, sep=SEP)


# --- tokens and QR codes -------------------------------------------------------------------------


def token_for(badge: Badge) -> str:
    """The badge id in base 62 with its signature: compact, URL-safe, about 50 characters."""
    return _signer().sign(signing.b62_encode(badge.pk))


def read_token(token: Any) -> tuple[Badge | None, str]:
    """(badge, state) for a scanned token; only the badge id is taken from it.

    forged: not a token we signed (garbage, tampered, another key or salt, truncated, huge) or
    naming no badge; revoked / expired: a real badge that no longer counts (revoked first: it says
    more); ok: a live badge.
    """
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
        return None, FORGED
    try:
        badge_id = signing.b62_decode(_signer().unsign(token.strip()))
    except (signing.BadSignature, ValueError):
        return None, FORGED
    badge = Badge.objects.select_related("person").filter(pk=badge_id).first() if badge_id > 0 else None
    if badge is None:
        return None, FORGED
    if badge.revoked_at is not None:
        return badge, REVOKED
    if badge.expires_at <= clock.now():
        return badge, EXPIRED
    return badge, OK


def scan_url(badge: Badge) -> str:
    """What the QR code holds: the badge page's absolute address with the token."""
    return settings.SITE_URL + reverse("workforce:badge_page", args=[token_for(badge)])


def qr_png(badge: Badge, scale: int = 10) -> bytes:
    buffer = io.BytesIO()
    segno.make(scan_url(badge), error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def state_of(badge: Badge) -> str:
    if badge.revoked_at is not None:
        return REVOKED
    return EXPIRED if badge.expires_at <= clock.now() else OK


# --- issuing and revoking ------------------------------------------------------------------------


def may_issue(actor: Any, person: Person) -> bool:
    return access.can(actor, MANAGE_PEOPLE, person) or access.can(actor, MANAGE_CONTRACTORS, person)


def _require_issuer(actor: Any, person: Person) -> None:
    if not may_issue(actor, person):
        raise Forbidden(_("只有人员或承包商管理人员可以发放、作废胸卡"))


def _end_of(day: date) -> datetime:
    """The first moment after `day` on site: a contract ending on the 30th covers all of the 30th."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def issue_badge(actor: Any, person: Person, valid_days: int | None = None) -> Badge:
    """A new badge for `person`, valid `valid_days` (default a year) but never past their
    contractor's contract end; the badge they held before is revoked (only one badge counts)."""
    _require_issuer(actor, person)
    valid_days = DEFAULT_VALID_DAYS if valid_days is None else valid_days
    if not isinstance(valid_days, int) or isinstance(valid_days, bool) or not 1 <= valid_days <= MAX_VALID_DAYS:
        raise Invalid(_("有效天数须为1到{n}之间的整数").format(n=MAX_VALID_DAYS), field="valid_days")
    # One issue at a time per person, so two clicks can never leave two live badges.
    person = Person.objects.select_for_update(of=("self",)).select_related("contractor").get(pk=person.pk)
    if not person.is_active:
        raise Invalid(_("{p}已离职或停用，不能发放胸卡").format(p=person.name), field="person")
    now = clock.now()
    expires_at = now + timedelta(days=valid_days)
    contract_end = person.contractor.contract_end if person.contractor_id else None
    if contract_end is not None:
        if _end_of(contract_end) <= now:
            raise Invalid(_("承包商「{c}」合同已于{d}到期，不能发放胸卡").format(
                c=person.contractor.name, d=contract_end), field="person")
        expires_at = min(expires_at, _end_of(contract_end))
    Badge.objects.filter(person=person, revoked_at__isnull=True).update(
        revoked_at=now, revoked_reason=_("已补发新胸卡"))
    return Badge.objects.create(person=person, issued_at=now, expires_at=expires_at)


def revoke_badge(actor: Any, badge: Badge, reason: str) -> Badge:
    """Revoke a badge now (lost, person left, …); its printed QR reads as revoked from then on."""
    _require_issuer(actor, badge.person)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(_("请填写作废原因"), field="reason")
    if len(reason) > MAX_REASON:
        raise Invalid(_("作废原因不能超过{n}个字符").format(n=MAX_REASON), field="reason")
    badge = Badge.objects.select_for_update(of=("self",)).select_related("person").get(pk=badge.pk)
    if badge.revoked_at is not None:
        raise Conflict(_("该胸卡已于{t}作废").format(t=timezone.localtime(badge.revoked_at).strftime("%Y-%m-%d %H:%M")))
    badge.revoked_at, badge.revoked_reason = clock.now(), reason
    badge.save(update_fields=["revoked_at", "revoked_reason"])
    return badge


def current_badge(person: Person) -> Badge | None:
    """The badge that counts now (the newest live one), if any."""
    live = person.badges.filter(revoked_at__isnull=True, expires_at__gt=clock.now())
    return live.order_by("-issued_at", "-pk").first()


# --- who may read a badge ------------------------------------------------------------------------


def readable_people(user: Any) -> QuerySet[Person]:
    """People whose badge `user` may read: those they may see (VIEW), plus everyone in the
    companies where they check entry (CHECK_ENTRY: a gate guard sees every worker at the gate)."""
    if access.scope_of(user).is_superuser:
        return Person.objects.all()
    return Person.objects.filter(access.scope_filter(user, VIEW, "org_unit__path")
                                 | access.scope_filter(user, CHECK_ENTRY, "org_unit__path", company_wide=True))


def checkable_people(user: Any) -> QuerySet[Person]:
    """People whose entry `user` may log: everyone in the companies where they hold CHECK_ENTRY."""
    if access.scope_of(user).is_superuser:
        return Person.objects.all()
    return Person.objects.filter(access.scope_filter(user, CHECK_ENTRY, "org_unit__path", company_wide=True))


def may_check_somewhere(user: Any) -> bool:
    scope = access.scope_of(user)
    return scope.is_superuser or bool(scope.paths(CHECK_ENTRY))


# --- the answer for one scan ---------------------------------------------------------------------


def token_reason(state: str, badge: Badge | None) -> Reason:
    """Why a badge itself does not count, in words a guard can say to the holder."""
    if state == EXPIRED:
        return Reason("badge_expired", _("胸卡已于{t}过期，请联系管理人员换发").format(
            t=timezone.localtime(badge.expires_at).strftime("%Y-%m-%d %H:%M")))
    if state == REVOKED:
        return Reason("badge_revoked", _("胸卡已于{t}作废：{r}").format(
            t=timezone.localtime(badge.revoked_at).strftime("%Y-%m-%d %H:%M"), r=badge.revoked_reason or "-"))
    return Reason("badge_forged", _("无法识别的胸卡：二维码伪造、损坏或不属于本单位"))


@dataclass
class Scan:
    """A badge read by someone: its state and, for a live badge, every reason that stops the person."""

    state: str
    badge: Badge | None = None
    reasons: list[Reason] = field(default_factory=list)

    @property
    def person(self) -> Person | None:
        return self.badge.person if self.badge is not None else None

    @property
    def go(self) -> bool:
        return self.state == OK and not self.reasons


def clean_work_type(work_type: str | None) -> str:
    work_type = (work_type or "").strip()
    if len(work_type) > MAX_WORK_TYPE:
        raise Invalid(_("作业类别不能超过{n}个字符").format(n=MAX_WORK_TYPE), field="work_type")
    return work_type


def read(user: Any, token: Any, people: QuerySet[Person] | None = None) -> Scan:
    """The badge `token` names and its state, as `user` may see it: a badge whose person is not
    among `people` (default: those `user` may read) is reported as forged."""
    badge, state = read_token(token)
    people = readable_people(user) if people is None else people
    if badge is not None and not people.filter(pk=badge.person_id).exists():
        badge, state = None, FORGED
    return Scan(state, badge, [] if state == OK else [token_reason(state, badge)])


def judge(result: Scan, *, area: Area | None = None, work_type: str = "") -> Scan:
    """For a live badge, every reason that stops its holder (at `area`, for `work_type`)."""
    if result.state != OK:
        return result
    person = result.badge.person
    if area is not None and area.org_unit.company_id != person.company_id:
        raise Invalid(_("区域「{a}」与{p}不属于同一公司").format(a=area.name, p=person.name), field="area_id")
    result.reasons = assess(person, work_type=work_type or None, area_id=area.pk if area is not None else None)
    return result


def record(user: Any, token: Any, *, area: Area | None = None, work_type: str = "") -> EntryCheck:
    """Log one entry check by `user` (CHECK_ENTRY) whatever its answer, forged badges included.

    The check is logged against the badge only when `user` may check its person; for anyone else
    the badge reads as forged and the log names no badge and no person.
    """
    checker = getattr(user, "person", None)
    if not may_check_somewhere(user):
        raise Forbidden(_("你没有扫码核验入场的权限"))
    if checker is None:
        raise Forbidden(_("你的账号未关联人员档案，不能登记核验"))
    work_type = clean_work_type(work_type)
    result = judge(read(user, token, checkable_people(user)), area=area, work_type=work_type)
    return EntryCheck.objects.create(
        checked_by=checker, checked_at=clock.now(), badge=result.badge, person=result.person, area=area,
        work_type=work_type, go=result.go, token_state=result.state, reasons=[r.as_dict() for r in result.reasons])


def log_invalid_view(user: Any, result: Scan) -> None:
    """An invalid badge opened on the badge page is kept as a check too (a forged badge in
    circulation is worth knowing about); only people with a person record can be named."""
    checker = getattr(user, "person", None)
    if checker is not None and result.state != OK:
        EntryCheck.objects.create(checked_by=checker, checked_at=clock.now(), badge=result.badge,
                                  person=result.person, go=False, token_state=result.state,
                                  reasons=[r.as_dict() for r in result.reasons])


def token_from_input(text: str) -> str | None:
    """A token pasted or typed at the gate, or the whole scanned URL; None when it is not one."""
    text = (text or "").strip()
    marker = "/badges/t/"
    if marker in text:
        text = text.split(marker, 1)[1].split("/", 1)[0].split("?", 1)[0]
    return text if SEP in text else None


def badge_for_employee_no(user: Any, employee_no: str) -> Badge:
    """The newest badge of the person with this employee number among those `user` may check.

    Typing the number stands in for scanning that person's badge, so the check reads the same
    badge (and says so when it was revoked or has expired)."""
    matches = list(checkable_people(user).filter(employee_no=employee_no.strip())[:2])
    if not matches:
        raise NotFound(_("未找到工号为“{n}”的人员").format(n=employee_no.strip()[:40]), field="code")
    if len(matches) > 1:
        raise Invalid(_("工号“{n}”对应多名人员，请扫码核验").format(n=employee_no.strip()), field="code")
    badge = matches[0].badges.order_by("-issued_at", "-pk").first()
    if badge is None:
        raise Invalid(_("{p}尚未发放胸卡").format(p=matches[0].name), field="code")
    return badge


def visible_checks(user: Any) -> QuerySet[EntryCheck]:
    """The entry-check log a user may read: checks made within their VIEW scope, and their own."""
    me = getattr(user, "person", None)
    mine = Q(checked_by=me) if me is not None else Q(pk__in=[])
    return EntryCheck.objects.filter(Q(pk__in=access.visible(EntryCheck, user).values("pk")) | mine)


# --- what the badge page shows -------------------------------------------------------------------


def profile(user: Any, person: Person, today: date | None = None) -> dict[str, Any]:
    """Everything the badge page lists about a person (the caller checked `user` may read them):
    certificates with their state (an ID-number certificate number masked unless `user` manages
    certificates there), three-level education and the latest topic training, open
    violations and, for a contractor's worker, the areas their company may work in."""
    from anlian.training.models import Assignment, Attendance, CourseLevel
    from anlian.workforce import certificates as certs
    from anlian.workforce.models import ContractorArea, Violation, ViolationStatus
    from anlian.workforce.qualification import EDUCATION_LEVELS

    today = today or clock.today()
    certificates = list(person.certificates.select_related("kind").order_by("-expires_on"))
    may_manage = access.can(user, MANAGE_CERTIFICATES, person)
    for cert in certificates:
        cert.shown_number = certs.shown_number(cert, may_manage)
        cert.state = certs.state_of(cert, today)
        cert.state_label, cert.colour = certs.STATE_LABELS[cert.state], certs.STATE_COLOURS[cert.state]
    education = {a.level: a for a in Assignment.objects.filter(person=person, level__in=EDUCATION_LEVELS)}
    topics = list(Attendance.objects.filter(person=person, passed=True).exclude(session__course__topic="")
                  .select_related("session__course").order_by("-session__starts_at")[:5])
    areas = []
    if person.contractor_id:
        for grant in ContractorArea.objects.filter(contractor_id=person.contractor_id).select_related("area"):
            grant.current = grant.valid_from <= today <= grant.valid_until
            grant.expiring = grant.current and (grant.valid_until - today).days <= certs.EXPIRING_DAYS
            areas.append(grant)
    return {
        "certificates": certificates,
        "education": [(CourseLevel(level).label, education.get(level)) for level in EDUCATION_LEVELS],
        "topics": topics,
        "violations": list(Violation.objects.filter(person=person, status=ViolationStatus.OPEN)
                           .select_related("area").order_by("-occurred_at")),
        "areas_granted": sorted(areas, key=lambda g: (not g.current, g.area.name)),
        "today": today,
    }
