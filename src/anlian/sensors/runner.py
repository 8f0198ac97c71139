"""The company's rule engine at work: readings and clock ticks in, alarms, messages and freezes out.

The engine state is loaded and saved in the same transaction that carries out the transitions,
under a lock on the company's EngineState row, so two batches never evaluate the same state and
an alarm is never raised twice (nor lost) when a request fails half-way: everything rolls back.

A freeze stays until a person resolves the alarm, and only once the values have been normal for
the rule's clear_after (the engine's `cleared`). Suspended jobs are not resumed here: their
template's resumption steps (a new gas analysis…) decide when work goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Max
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.core.errors import Forbidden, Invalid
from anlian.orgs import access
from anlian.orgs.models import OrgUnit
from anlian.orgs.permissions import MANAGE_ORG
from anlian.sensors.engine import Engine, Reading, Transition, from_json, load_rules, to_json
from anlian.sensors.models import Alarm, AlarmStatus, EngineState, Rule

log = logging.getLogger(__name__)

OPEN = (AlarmStatus.RAISED, AlarmStatus.ACKNOWLEDGED, AlarmStatus.CLEARED)


# Per process, per company: the engine over its active rules, rebuilt only when they change (a
# gateway posting every second must not re-validate a thousand rules each time).
_ENGINES: dict[int, tuple[tuple, Engine, dict[str, int]]] = {}


def engine_for(company: OrgUnit) -> tuple[Engine, dict[str, int]]:
    """The company's engine and its rules' ids by code."""
    active = Rule.objects.filter(company=company, is_active=True)
    mark = tuple(active.aggregate(n=Count("pk"), at=Max("updated_at"), last=Max("pk")).values())
    cached = _ENGINES.get(company.pk)
    if cached is not None and cached[0] == mark:
        return cached[1], cached[2]
    rows = list(active.order_by("pk").values_list("pk", "code", "definition"))
    engine = Engine(load_rules([definition for _pk, _code, definition in rows]))
    ids = {code: pk for pk, code, _definition in rows}
    _ENGINES[company.pk] = (mark, engine, ids)
    return engine, ids


def accept(company: OrgUnit, readings: Iterable[Reading], now: datetime | None = None) -> list[Alarm]:
    """Feed readings (already checked to belong to the company) to its engine; returns the
    alarms raised or cleared."""
    readings = list(readings)
    return _run(company, lambda engine, state: engine.feed(state, readings), now)


def tick(now: datetime | None = None) -> int:
    """Bring every company's engine to `now` (silence rules, sustained conditions whose next
    reading is late). Returns the number of transitions carried out."""
    now = now or clock.now()
    count = 0
    companies = OrgUnit.objects.filter(pk__in=Rule.objects.filter(is_active=True).values("company_id"))
    for company in companies:
        count += len(_run(company, lambda engine, state: engine.tick(state, now), now))
    return count


def _run(company: OrgUnit, step, now: datetime | None) -> list[Alarm]:
    now = now or clock.now()
    with transaction.atomic():
        row, _created = EngineState.objects.get_or_create(company=company)
        row = EngineState.objects.select_for_update().get(pk=row.pk)
        engine, ids = engine_for(company)
        state = from_json(row.state) if row.state else engine.new_state()
        state, transitions = step(engine, state)
        alarms = []
        for tr in transitions:
            rule = Rule.objects.select_related("area__org_unit").get(pk=ids[tr.rule])
            if (alarm := _apply(company, rule, tr, now)) is not None:
                alarms.append(alarm)
        row.state = to_json(state)
        row.save(update_fields=["state", "updated_at"])
    return alarms


def _apply(company: OrgUnit, rule: Rule, tr: Transition, now: datetime) -> Alarm | None:
    alarm = Alarm.objects.select_for_update().filter(rule=rule, resolved_at__isnull=True).first()
    if tr.kind == "cleared":
        if alarm is None or alarm.cleared_at is not None:
            return None
        alarm.cleared_at = tr.at
        alarm.status = AlarmStatus.CLEARED
        alarm.save(update_fields=["cleared_at", "status"])
        return alarm
    area = rule.area
    if alarm is not None:
        # Raised again before anyone resolved it: the same alarm, back to raised.
        alarm.cleared_at = None
        alarm.status = AlarmStatus.RAISED
        alarm.raised_count += 1
        alarm.reason, alarm.value, alarm.level = tr.reason[:500], tr.value, tr.level
        alarm.save(update_fields=["cleared_at", "status", "raised_count", "reason", "value", "level"])
    else:
        alarm = Alarm.objects.create(
            company=company, org_unit=area.org_unit if area else company, rule=rule, area=area, level=tr.level,
            points=list(tr.points), value=tr.value, reason=tr.reason[:500], since=tr.since, raised_at=tr.at)
    kinds = {a.get("action") for a in tr.actions}
    if "freeze" in kinds and area is not None and (alarm.freeze is None or alarm.freeze.ended_at is not None):
        alarm.freeze = _freeze(alarm, now)
        alarm.save(update_fields=["freeze"])
    _notify(company, alarm, tr)
    return alarm


def _freeze(alarm: Alarm, now: datetime):
    """Freeze the rule's area (new jobs and steps there are refused by the permit engine) and
    suspend every active job in it: the freeze alone does not stop work already running."""
    from anlian.flows import core
    from anlian.flows import services as flows
    from anlian.flows.models import AreaFreeze, Instance, InstanceStatus

    reason = _("设备报警：{rule}").format(rule=alarm.rule.name)[:200]
    freeze = AreaFreeze.objects.create(area=alarm.area, reason=reason, started_at=now)
    text = _("设备报警「{rule}」：{reason}，作业区域已冻结").format(rule=alarm.rule.name, reason=alarm.reason)
    for job in Instance.objects.filter(area=alarm.area, status=InstanceStatus.ACTIVE).order_by("pk"):
        try:
            flows.act_as_system(job, core.Action("suspend", reason=text[:500]), now)
        except flows.EngineRefusal as refusal:
            # Expired or closed meanwhile, or the template does not let the system stop it: its
            # next step is refused all the same, the area being frozen (guard area_not_frozen).
            log.warning("job %s not suspended by alarm %s: %s", job.pk, alarm.pk, refusal.code)
    return freeze


def _notify(company: OrgUnit, alarm: Alarm, tr: Transition) -> None:
    from anlian.notify.models import Severity
    from anlian.notify.routing import notify_event

    key = f"alarm:{alarm.pk}" if alarm.raised_count == 1 else f"alarm:{alarm.pk}:{alarm.raised_count}"
    notify_event(company, event="sensor_alarm", key=key,
                 severity=Severity.CRITICAL if tr.level >= 3 else Severity.WARNING, unit=alarm.org_unit,
                 context={"rule": alarm.rule.name, "area": alarm.area.name if alarm.area else "",
                          "level": str(tr.level_name), "reason": alarm.reason,
                          "points": "、".join(tr.points), "at": localtime(tr.at).strftime("%Y-%m-%d %H:%M:%S")})


# --- people ------------------------------------------------------------------------------------


def _person(user: Any):
    person = getattr(user, "person", None)
    if person is None:
        raise Forbidden(_("只有登记在组织中的人员才能处理报警"))
    return person


def acknowledge(user: Any, alarm: Alarm, now: datetime | None = None) -> Alarm:
    """Someone has seen the alarm and takes charge; a cleared or resolved alarm stays as it is."""
    access.require(user, MANAGE_ORG, alarm)
    person = _person(user)
    now = now or clock.now()
    with transaction.atomic():
        alarm = Alarm.objects.select_for_update().get(pk=alarm.pk)
        if alarm.status == AlarmStatus.RESOLVED:
            raise Invalid(_("该报警已解除"), code="alarm_resolved")
        if alarm.acknowledged_at is None:
            alarm.acknowledged_at, alarm.acknowledged_by = now, person
            if alarm.status == AlarmStatus.RAISED:
                alarm.status = AlarmStatus.ACKNOWLEDGED
            alarm.save(update_fields=["acknowledged_at", "acknowledged_by", "status"])
    return alarm


def resolve(user: Any, alarm: Alarm, now: datetime | None = None) -> Alarm:
    """A person confirms the danger is over: only once the values are back to normal (for the
    rule's clear_after); ends the area's freeze. Jobs suspended by it resume by their own steps."""
    access.require(user, MANAGE_ORG, alarm)
    person = _person(user)
    now = now or clock.now()
    with transaction.atomic():
        alarm = Alarm.objects.select_for_update(of=("self",)).select_related("rule", "freeze").get(pk=alarm.pk)
        if alarm.status == AlarmStatus.RESOLVED:
            raise Invalid(_("该报警已解除"), code="alarm_resolved")
        # A rule switched off will never report "normal": its alarm may be resolved as it is.
        if alarm.cleared_at is None and alarm.rule.is_active:
            raise Invalid(_("读数尚未恢复正常（须持续正常达到规则的恢复时间），不能解除报警和区域冻结"),
                          code="alarm_not_cleared")
        alarm.resolved_at, alarm.resolved_by, alarm.status = now, person, AlarmStatus.RESOLVED
        alarm.save(update_fields=["resolved_at", "resolved_by", "status"])
        if alarm.freeze is not None and alarm.freeze.ended_at is None:
            alarm.freeze.ended_at = now
            alarm.freeze.save(update_fields=["ended_at"])
    return alarm
