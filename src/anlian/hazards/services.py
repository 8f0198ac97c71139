"""The hazard loop's rules: report, automatic dispatch, the stage and times kept in step with the
engine's events, closing, recurrence. Pages, API, timers and imports call these.

A hazard is a job of a shipped `hazard` template (hazard-general, or hazard-major with its
five-item plan); the engine checks every step (who, order, photos, before/after, separation of
duties) and this module adds what is not a step: which rule dispatches it, its deadlines, its stage.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.core.errors import Invalid, NotFound
from anlian.flows import core
from anlian.flows import services as flows
from anlian.flows.models import FlowTemplate, InstanceStatus
from anlian.hazards.models import (
    DeadlinePolicy,
    DispatchRule,
    Hazard,
    HazardCategory,
    HazardLevel,
    HazardStage,
)
from anlian.notify.models import Severity
from anlian.notify.routing import notify_event
from anlian.orgs import access
from anlian.orgs.models import Area, Equipment, OrgKind, OrgUnit, Person, RoleGrant

TEMPLATE_OF_LEVEL = {HazardLevel.GENERAL: "hazard-general", HazardLevel.MAJOR: "hazard-major"}
MAX_DESCRIPTION = 500

# Used when a company has not set its own policy (../shared/domain §4 and the issue: general —
# respond in 24 h; major — on site in 8 h and the managers alerted at once). Minutes, minutes, hours.
DEFAULT_DEADLINES = {
    HazardLevel.GENERAL: {"respond_minutes": 24 * 60, "on_site_minutes": 48 * 60, "rectify_hours": 7 * 24,
                          "remind_before_minutes": 60, "escalate_every_minutes": 24 * 60, "alert_role": ""},
    HazardLevel.MAJOR: {"respond_minutes": 60, "on_site_minutes": 8 * 60, "rectify_hours": 30 * 24,
                        "remind_before_minutes": 60, "escalate_every_minutes": 4 * 60, "alert_role": "manager"},
}
# Stages reached when a step is done (the plan step exists for major hazards only).
STAGE_OF_STEP = {"dispatch": HazardStage.DISPATCHED, "receive": HazardStage.RECEIVED, "on_site": HazardStage.ON_SITE,
                 "plan": HazardStage.PLANNED, "rectify": HazardStage.RECTIFIED, "verify": HazardStage.VERIFIED,
                 "close": HazardStage.CLOSED}
TIME_OF_STEP = {"dispatch": "dispatched_at", "receive": "received_at", "on_site": "on_site_at",
                "rectify": "rectified_at", "verify": "verified_at", "close": "closed_at"}


def recurrence_days() -> int:
    return int(getattr(settings, "ANLIAN_HAZARD_RECURRENCE_DAYS", 90))


# --- report ------------------------------------------------------------------------------------------


def _company(unit: OrgUnit) -> OrgUnit:
    return unit if unit.kind == OrgKind.COMPANY else unit.company


def template_version(level: str):
    """The published shipped template for a level (companies may later publish their own copy)."""
    key = TEMPLATE_OF_LEVEL[level]
    version = FlowTemplate.objects.get(key=key, owner=None).published()
    if version is None:
        raise Invalid(_("隐患流程模板“{k}”未发布").format(k=key))
    return version


def report(user: Any, *, area: Area, category: str, level: str, description: str, photos: list[str],
           equipment: Equipment | None = None, location: tuple[float, float] | None = None,
           accuracy: float | None = None, device_time: datetime | None = None,
           now: datetime | None = None) -> Hazard:
    """Register a hazard found on site (随手拍) and dispatch it at once.

    Every required field is checked here, whatever the page or phone sent: the area must be
    visible to the reporter, the equipment (when given) in that area's company, at least one
    photo or clip. The engine then checks the report step itself (photo freshness, reuse)."""
    now = now or clock.now()
    reporter = getattr(user, "person", None)
    if reporter is None:
        raise Invalid(_("只有登记在册的人员可以上报隐患"))
    if not access.visible(Area, user).filter(pk=area.pk).exists():
        raise NotFound(field="area")
    if category not in HazardCategory.values:
        raise Invalid(_("请选择隐患类别"), field="category")
    if level not in HazardLevel.values:
        raise Invalid(_("请选择隐患等级"), field="level")
    description = (description or "").strip()
    if not description:
        raise Invalid(_("请描述隐患"), field="description")
    if len(description) > MAX_DESCRIPTION:
        raise Invalid(_("隐患描述不能超过{n}个字").format(n=MAX_DESCRIPTION), field="description")
    if not photos:
        raise Invalid(_("请至少拍摄一张照片或一段视频"), field="photos")
    if equipment is not None and _company(equipment.org_unit) != _company(area.org_unit):
        raise NotFound(field="equipment")
    first = core.Action("complete", step="report", values={"description": description},
                        photos={"scene": list(photos)}, device_time=device_time, location=location,
                        accuracy=accuracy)
    with transaction.atomic():
        instance = flows.start(user, template_version(level), area, first=first, device_time=device_time,
                               location=location, accuracy=accuracy, now=now)
        hazard = Hazard.objects.create(
            instance=instance, company=_company(area.org_unit), org_unit=area.org_unit, area=area,
            equipment=equipment, category=category, level=level, description=description, reported_by=reporter,
            reported_at=now, lat=location[0] if location else None, lng=location[1] if location else None,
            recurrence_of=_earlier_same(area, equipment, category, now))
        dispatch(hazard, now=now)
        _alert_on_report(hazard)
    return hazard


def _earlier_same(area: Area, equipment: Equipment | None, category: str, now: datetime) -> Hazard | None:
    """A hazard of the same category on the same equipment (or in the same area) within N days."""
    since = now - timedelta(days=recurrence_days())
    place = Q(equipment=equipment) if equipment is not None else Q(area=area)
    return (Hazard.objects.filter(place, category=category, reported_at__gte=since, reported_at__lt=now)
            .exclude(stage=HazardStage.CANCELLED).order_by("-reported_at").first())


# --- dispatch ------------------------------------------------------------------------------------------


@dataclass
class Assignment:
    rule: DispatchRule | None
    unit: OrgUnit
    responsible: list[Person]
    verifiers: list[Person]


def policy(company: OrgUnit, level: str) -> dict[str, Any]:
    own = DeadlinePolicy.objects.filter(owner=company, level=level).values(
        "respond_minutes", "on_site_minutes", "rectify_hours", "remind_before_minutes",
        "escalate_every_minutes", "alert_role").first()
    return own or dict(DEFAULT_DEADLINES[level])


def rule_for(hazard: Hazard) -> DispatchRule | None:
    rules = DispatchRule.objects.filter(owner=hazard.company, is_active=True).filter(
        Q(category="") | Q(category=hazard.category)).filter(Q(level="") | Q(level=hazard.level)).filter(
        Q(area__isnull=True) | Q(area=hazard.area)).order_by("priority", "pk")
    return rules.first()


def holders(role: str, unit: OrgUnit, *, within: bool = True) -> list[Person]:
    """Active people holding `role` at `unit` (or inside it when `within`), else at the nearest unit
    above it that has some: the people who answer for that unit."""
    grants = RoleGrant.objects.filter(role__code=role, person__is_active=True).select_related("person", "org_unit")
    if within:
        inside = [g.person for g in grants.filter(org_unit__path__startswith=unit.path)]
        if inside:
            return sorted(set(inside), key=lambda p: p.pk)
    for pk in reversed(unit.ancestor_ids()):
        found = [g.person for g in grants.filter(org_unit_id=pk)]
        if found:
            return sorted(set(found), key=lambda p: p.pk)
    return []


def assign(hazard: Hazard, rng: random.Random | None = None) -> Assignment:
    """Apply the dispatch rule: the responsible people, then the verifier (at random among those
    eligible who took no part, when the rule asks for double-blind) and one co-signer per role."""
    rule = rule_for(hazard)
    unit = (rule.responsible_unit if rule and rule.responsible_unit_id else hazard.org_unit)
    role = rule.responsible_role if rule else "safety_officer"
    responsible = holders(role, unit)
    involved = {p.pk for p in responsible} | {hazard.reported_by_id}
    verifier_role = rule.verifier_role if rule else "safety_officer"
    eligible = [p for p in holders(verifier_role, hazard.company) if p.pk not in involved]
    if not eligible:  # nobody in the company's subtree at large: the nearest above the area
        eligible = [p for p in holders(verifier_role, hazard.org_unit) if p.pk not in involved]
    if rule and rule.double_blind and eligible:
        verifiers = [(rng or random.SystemRandom()).choice(eligible)]
    else:
        nearest = [p for p in holders(verifier_role, hazard.org_unit) if p.pk not in involved]
        verifiers = (nearest or eligible)[:1]
    for cosign in (rule.cosign_roles if rule else []):
        found = [p for p in holders(cosign, hazard.org_unit) if p.pk not in involved]
        if found and found[0] not in verifiers:
            verifiers.append(found[0])
    return Assignment(rule, unit, responsible, verifiers)


def dispatch(hazard: Hazard, now: datetime | None = None, rng: random.Random | None = None) -> bool:
    """Record the automatic dispatch step and the deadlines; False (and the safety officers told)
    when the rules name nobody who could rectify or verify it."""
    now = now or clock.now()
    plan = assign(hazard, rng)
    if not plan.responsible or not plan.verifiers:
        _tell(holders("safety_officer", hazard.org_unit), hazard, "undispatched")
        return False
    values = {"responsible": [str(p.pk) for p in plan.responsible], "verifiers": [str(p.pk) for p in plan.verifiers]}
    flows.act_as_system(hazard.instance, core.Action("complete", step="dispatch", values=values), now=now)
    limits = policy(hazard.company, hazard.level)
    hazard.rule, hazard.responsible_unit = plan.rule, plan.unit
    hazard.respond_due = now + timedelta(minutes=limits["respond_minutes"])
    hazard.on_site_due = now + timedelta(minutes=limits["on_site_minutes"])
    hazard.rectify_due = now + timedelta(hours=limits["rectify_hours"])
    hazard.save(update_fields=["rule", "responsible_unit", "respond_due", "on_site_due", "rectify_due"])
    sync(hazard)
    _tell(plan.responsible, hazard, "dispatched")
    return True


def _alert_on_report(hazard: Hazard) -> None:
    role = policy(hazard.company, hazard.level)["alert_role"]
    if role:
        _tell(holders(role, hazard.company, within=False) or holders(role, hazard.company), hazard, "alert")


def _tell(people: list[Person], hazard: Hazard, what: str) -> None:
    """Message event `hazard_<what>` to these people (and whoever the company's routes add), once
    per hazard; a major hazard's alert is critical (it ignores quiet hours)."""
    major = hazard.level == HazardLevel.MAJOR
    severity = {"alert": Severity.CRITICAL if major else Severity.WARNING}.get(
        what, Severity.WARNING if major else Severity.INFO)
    notify_event(hazard.company, event=f"hazard_{what}", key=f"hazard:{hazard.pk}:{what}", severity=severity,
                 unit=hazard.org_unit, people=[p for p in people if p.company_id == hazard.company_id],
                 context={"number": hazard.instance.number, "description": hazard.description,
                          "level": hazard.get_level_display(), "unit": str(hazard.responsible_unit or hazard.org_unit)},
                 url=reverse("todos:open_hazard", args=[hazard.pk]))


# --- acting and keeping the stage -------------------------------------------------------------------


def on_event(sender, instance, template, event, row, **kwargs) -> None:
    """Every event of a hazard's job, whichever page or API recorded it: keep the stage, and end
    the job (archive) once the close step is done."""
    if template.kind != "hazard":
        return
    hazard = Hazard.objects.filter(instance=instance).first()
    if hazard is None:
        return  # the report itself: the Hazard row is created right after
    sync(hazard)
    if event.kind == "step_completed" and event.step == "close":
        flows.act_as_system(instance, core.Action("close"), now=event.server_time)


def sync(hazard: Hazard) -> Hazard:
    """Stage and stage times from the job's events (a returned rectification goes back a stage)."""
    state = flows.state_of(hazard.instance)
    stage, times = HazardStage.REPORTED, {}
    for key in STAGE_OF_STEP:
        step = state.steps.get(key)
        if step is not None and step.done:
            stage = STAGE_OF_STEP[key]
            if key in TIME_OF_STEP:
                times[TIME_OF_STEP[key]] = step.completed_at
    if state.status == "cancelled":
        stage = HazardStage.CANCELLED
    changed = {"stage": stage, **{name: times.get(name) for name in TIME_OF_STEP.values()}}
    for name, value in changed.items():
        setattr(hazard, name, value)
    if stage in (HazardStage.CLOSED, HazardStage.CANCELLED):
        hazard.overdue = False
        changed["overdue"] = False
    Hazard.objects.filter(pk=hazard.pk).update(**changed)
    return hazard


def cycle_minutes(hazard: Hazard) -> int | None:
    """Report to close, in whole minutes (the ledger's cycle time)."""
    if hazard.closed_at is None:
        return None
    return int((hazard.closed_at - hazard.reported_at).total_seconds() // 60)


def live(qs=None):
    """Hazards still in the loop (not closed or cancelled)."""
    qs = Hazard.objects.all() if qs is None else qs
    return qs.exclude(stage__in=[HazardStage.CLOSED, HazardStage.CANCELLED]).filter(
        instance__status__in=[InstanceStatus.ACTIVE, InstanceStatus.SUSPENDED])


def visible(user: Any):
    """Hazards a person may see: by VIEW over the area's unit, or as someone taking part (the
    reporter, the people it was dispatched to, the verifiers), like any job's participants."""
    scoped = access.visible(Hazard, user)
    person = getattr(user, "person", None)
    if person is None:
        return scoped
    return Hazard.objects.filter(Q(pk__in=scoped.values("pk")) | Q(reported_by=person)
                                 | Q(instance__participants=person)).distinct()
