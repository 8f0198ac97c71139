"""The only writers of violations (违章): record, rectify, close (销号) or void.

The recorder must see the person and hold RECORD_VIOLATIONS at the person's unit or at the area
where it happened (a guardian watching a job in their area records a visitor's violation). Nobody
can close or void their own violation. An opened violation is announced with
`qualification_changed` on commit: some work types refuse a person with an open violation.
Callers run these inside `transaction.atomic()`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anlian.core import clock
from anlian.core.errors import Conflict, Forbidden, Invalid
from anlian.evidence.services import store_photo
from anlian.orgs import access
from anlian.orgs.models import Area, Person
from anlian.orgs.permissions import RECORD_VIOLATIONS
from anlian.workforce.models import Violation, ViolationSeverity, ViolationStatus
from anlian.workforce.signals import qualification_changed

MAX_WHAT = 300
MAX_NOTE = 300
CLOCK_SKEW = timedelta(minutes=10)  # a phone's clock a little ahead of ours is not "the future"
OLDEST = timedelta(days=366)
# Default rectification periods when the recorder sets none (a company rule, not a regulation).
RECTIFY_DAYS = {ViolationSeverity.GENERAL: 3, ViolationSeverity.SERIOUS: 1}

# The allowed moves, as data: a test walks this table.
ALLOWED = {
    ViolationStatus.OPEN: {ViolationStatus.RECTIFIED, ViolationStatus.VOID},
    ViolationStatus.RECTIFIED: {ViolationStatus.CLOSED, ViolationStatus.VOID},
}
ACTIONS = {"rectify": ViolationStatus.RECTIFIED, "close": ViolationStatus.CLOSED, "void": ViolationStatus.VOID}
ACTION_LABELS = {"rectify": gettext_lazy("登记整改"), "close": gettext_lazy("销号"), "void": gettext_lazy("撤销")}


def may_record(actor: Any, person: Person, area: Area | None) -> bool:
    return access.can(actor, RECORD_VIOLATIONS, person) or (area is not None and access.can(actor, RECORD_VIOLATIONS, area))


def _clean_text(value: str, limit: int, field: str, empty_message: str | None = None) -> str:
    value = (value or "").strip()
    if empty_message and not value:
        raise Invalid(empty_message, field=field)
    if len(value) > limit:
        raise Invalid(_("不能超过{n}个字符").format(n=limit), field=field)
    return value


def _check_when(occurred_at: datetime) -> None:
    now = clock.now()
    if occurred_at > now + CLOCK_SKEW:
        raise Invalid(_("发生时间不能晚于现在"), field="occurred_at")
    if occurred_at < now - OLDEST:
        raise Invalid(_("发生时间不能早于一年前"), field="occurred_at")


def record_violation(actor: Any, *, person: Person, what: str, area: Area | None = None,
                     occurred_at: datetime | None = None, severity: str = ViolationSeverity.GENERAL,
                     photo: Any = None, rectify_due: date | None = None) -> Violation:
    """Record a violation against `person`; the contractor is copied from the person."""
    if not access.visible(Person, actor).filter(pk=person.pk).exists():
        raise Forbidden(field="person")
    if not may_record(actor, person, area):
        raise Forbidden(_("你没有在此登记违章的权限"))
    if area is not None and area.org_unit.company_id != person.company_id:
        raise Invalid(_("地点必须属于该人员所在公司"), field="area")
    what = _clean_text(what, MAX_WHAT, "what", _("请填写违章内容"))
    if severity not in ViolationSeverity.values:
        raise Invalid(_("未知的严重程度"), field="severity")
    occurred_at = occurred_at or clock.now()
    _check_when(occurred_at)
    occurred_on = timezone.localtime(occurred_at).date()
    if rectify_due is None:
        rectify_due = occurred_on + timedelta(days=RECTIFY_DAYS[ViolationSeverity(severity)])
    elif rectify_due < occurred_on:
        raise Invalid(_("整改期限不能早于发生日期"), field="rectify_due")
    elif rectify_due > occurred_on + timedelta(days=366):
        raise Invalid(_("整改期限不能超过一年"), field="rectify_due")
    violation = Violation(person=person, contractor_id=person.contractor_id, area=area, what=what,
                          severity=severity, occurred_at=occurred_at, rectify_due=rectify_due,
                          reported_by=getattr(actor, "person", None))
    if photo is not None:
        violation.photo = store_photo(actor, person.company, photo)
    violation.save()
    transaction.on_commit(lambda: qualification_changed.send(
        sender=Violation, person=person, reason=_("新增违章：{what}").format(what=what)))
    return violation


def transition(actor: Any, violation: Violation, action: str, *, note: str = "") -> Violation:
    """Move a violation: "rectify" (open → rectified), "close" (rectified → closed, 销号) or
    "void" (open/rectified → void, with a reason). Expects the row locked (select_for_update)."""
    target = ACTIONS.get(action)
    if target is None:
        raise Invalid(_("未知的操作"), field="action")
    if not may_record(actor, violation.person, violation.area):
        raise Forbidden(_("你没有处理此违章的权限"))
    if target in (ViolationStatus.CLOSED, ViolationStatus.VOID) and \
            getattr(getattr(actor, "person", None), "pk", None) == violation.person_id:
        raise Forbidden(_("不能销号或撤销自己的违章"), code="own_violation")
    if target not in ALLOWED.get(ViolationStatus(violation.status), ()):
        raise Conflict(_("违章当前为“{state}”，不能{action}").format(
            state=violation.get_status_display(), action=ACTION_LABELS[action]), code="wrong_state")
    note = _clean_text(note, MAX_NOTE, "note", _("撤销违章须说明原因") if target == ViolationStatus.VOID else None)
    now = clock.now()
    violation.status = target
    if target == ViolationStatus.RECTIFIED:
        violation.rectified_at = now
    else:
        violation.closed_at = now
    if note:
        violation.note = note
    violation.save(update_fields=["status", "rectified_at", "closed_at", "note"])
    return violation


def actions_for(actor: Any, violation: Violation) -> list[str]:
    """The actions this actor may take on this violation now (for buttons)."""
    allowed = ALLOWED.get(ViolationStatus(violation.status), set())
    if not allowed or not may_record(actor, violation.person, violation.area):
        return []
    own = getattr(getattr(actor, "person", None), "pk", None) == violation.person_id
    return [a for a, target in ACTIONS.items()
            if target in allowed and not (own and target != ViolationStatus.RECTIFIED)]
