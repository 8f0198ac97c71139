"""Messages about waiting permit steps, and escalation of steps past their deadline (`deadline: 24h`
in a template), run by the worker every minute (`permits.tasks.permit_timers`).

Before the deadline (an hour before, or a quarter of a shorter deadline) the same people get one
reminder (event `permit_reminder`, key `job:<id>:remind:<step>`).

Waiting: once a step that a role or a named person must do is ready — every step it comes after
is done (an approval, the guardian's re-check after the finish) — the people who may do it get one message (event `permit_waiting`, key
`job:<id>:waiting:<step>`) linking to the job — so an approval reaches the approvers on the app
they use, not only their to-do list. The people are those holding the step's role over the job's
area at the level the template asks (as the engine checks it), or the person the form names.

A late step is still accepted (the engine never refuses late work); the point is that someone
above hears of it. The tiers come from the company's escalation policy for permits
(`anlian.notify.escalation`, shared with hazards): tier n is due `after_minutes` after the step's
deadline and tells the managers `levels_up` units above the unit of the job's area, over the
tier's channel kinds (inbox → robot → SMS). Without a policy of its own a company gets the
default: tier n at deadline + (n − 1) × `PERMIT_EVERY_MINUTES`, n levels up, until the company is
reached. Tier 1 also tells the applicant, who is the one chasing the job.

Exactly once: each tier is one message keyed `job:<id>:escalate:<step>:<tier>`, unique per
company, so a repeated run or two racing workers send nothing new, and a worker that was down
sends every missed tier, lowest first. Only active jobs are looked at, and only those whose open
steps carry a deadline; their events are read once per run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone

from anlian.core import clock
from anlian.flows import core
from anlian.flows.core.schema import SCOPES, Step
from anlian.flows.core.state import persons
from anlian.flows.models import Instance, InstanceStatus
from anlian.flows.services import core_events, open_steps, template_of
from anlian.notify import escalation
from anlian.notify.routing import notify_event
from anlian.orgs.models import Person, RoleGrant

CHUNK = 200
REMIND_BEFORE = timedelta(hours=1)


def _key(job: Instance, step: str, tier: escalation.Tier) -> str:
    return f"job:{job.pk}:escalate:{step}:{tier.number}"


def _with_deadlines(jobs: list[Instance]) -> list[tuple[Instance, core.Template]]:
    """Jobs with an open step that carries a deadline (the cached open steps tell without replay)."""
    found = []
    for job in jobs:
        tpl = template_of(job.version)
        if tpl.kind == "hazard":  # hazards keep their own clocks (hazards.timers)
            continue
        if any(tpl.by_key[k].deadline is not None for k in job.current_steps if k in tpl.by_key):
            found.append((job, tpl))
    return found


def run_timers(now: datetime | None = None) -> dict[str, int]:
    """Send the waiting messages and the escalation tiers due by `now` for late steps; returns
    counts of jobs looked at, waiting messages, late steps and tiers sent."""
    now = now or clock.now()
    counts = {"jobs": 0, "waiting": 0, "reminders": 0, "late_steps": 0, "escalations": 0}
    policies, managers = escalation.Policies("permit"), escalation.Managers()
    jobs = (Instance.objects.filter(status=InstanceStatus.ACTIVE)
            .select_related("version", "area__org_unit", "company", "applicant").order_by("pk"))
    chunk: list[Instance] = []
    for job in jobs.iterator(chunk_size=CHUNK):
        chunk.append(job)
        if len(chunk) == CHUNK:
            _run_chunk(chunk, now, policies, managers, counts)
            chunk = []
    if chunk:
        _run_chunk(chunk, now, policies, managers, counts)
    return counts


def _run_chunk(jobs: list[Instance], now: datetime, policies: escalation.Policies, managers: escalation.Managers,
               counts: dict[str, int]) -> None:
    _tell_waiting(jobs, now, counts)
    due: list[tuple[Instance, core.Template, str, datetime, list[int], escalation.Tier]] = []
    reminders: list[tuple[Instance, core.State, Step, datetime]] = []
    for job, tpl in _with_deadlines(jobs):
        counts["jobs"] += 1
        state = core.replay(tpl, core_events(job))
        if state.status != "active":
            continue
        units = escalation.ladder(job.area.org_unit, job.company_id)
        for step in open_steps(tpl, state):
            deadline = core.due_at(tpl, state, step)
            if deadline is None:
                continue
            if now < deadline:
                if now >= deadline - remind_before(tpl.by_key[step].deadline):
                    reminders.append((job, state, tpl.by_key[step], deadline))
                continue
            counts["late_steps"] += 1
            tiers = policies.tiers(job.company_id, escalation.PERMIT_EVERY_MINUTES, [units])
            due += [(job, tpl, step, deadline, units, t) for t in escalation.due(tiers, now - deadline)]
    _remind(reminders, now, counts)
    sent = escalation.sent_keys({j.company_id for j, *_rest in due}, {_key(j, s, t) for j, _tpl, s, _d, _u, t in due})
    due = [row for row in due if (row[0].company_id, _key(row[0], row[2], row[5])) not in sent]
    if not due:
        return
    managers.load(units for _j, _tpl, _s, _d, units, _t in due)
    for job, tpl, step, deadline, units, tier in due:
        people = managers.for_tier([units], tier) if units else []
        if tier.number == 1 and job.applicant.is_active and job.applicant.company_id == job.company_id:
            people = sorted({p.pk: p for p in [*people, job.applicant]}.values(), key=lambda p: p.pk)
        escalation.send(job.company, event="permit_escalated", key=_key(job, step, tier), tier=tier, people=people,
                        unit=job.area.org_unit, context=_context(job, tpl, step, deadline),
                        url=reverse("todos:open_job", args=[job.pk]), now=now)
        counts["escalations"] += 1


# --- reminders before the deadline ----------------------------------------------------------------------


def remind_before(deadline: timedelta) -> timedelta:
    """An hour before, or a quarter of a shorter deadline (a 20-minute step is reminded 5 minutes
    before, not the moment it opens)."""
    return min(REMIND_BEFORE, deadline / 4)


def _remind_key(job: Instance, step: str) -> str:
    return f"job:{job.pk}:remind:{step}"


def _remind(due: list[tuple[Instance, core.State, Step, datetime]], now: datetime, counts: dict[str, int]) -> None:
    """One reminder (event `permit_reminder`) per late-soon step to the people who may do it."""
    if not due:
        return
    sent = escalation.sent_keys({j.company_id for j, *_rest in due}, {_remind_key(j, s.key) for j, _st, s, _d in due})
    for job, state, step, deadline in due:
        if (job.company_id, _remind_key(job, step.key)) in sent:
            continue
        notify_event(job.company, event="permit_reminder", key=_remind_key(job, step.key), unit=job.area.org_unit,
                     people=_who_may_do(job, state, step), now=now, url=reverse("todos:open_job", args=[job.pk]),
                     context={"number": job.number, "template": template_of(job.version).name, "step": step.name,
                              "when": timezone.localtime(deadline).strftime("%Y-%m-%d %H:%M"),
                              "applicant": job.applicant.name})
        counts["reminders"] += 1


# --- waiting steps -----------------------------------------------------------------------------------


def _waiting_key(job: Instance, step: str) -> str:
    return f"job:{job.pk}:waiting:{step}"


def _tell_waiting(jobs: list[Instance], now: datetime, counts: dict[str, int]) -> None:
    """One `permit_waiting` message per ready step (every step it comes after is done) that a role
    or a named person must do."""
    candidates = []
    for job in jobs:
        tpl = template_of(job.version)
        steps = [tpl.by_key[k] for k in job.current_steps if k in tpl.by_key]
        if tpl.kind != "hazard" and any(spec.kind in ("role", "person") for s in steps for spec in _specs(s)):
            candidates.append((job, tpl, steps))
    if not candidates:
        return
    sent = escalation.sent_keys({j.company_id for j, _t, _s in candidates},
                                {_waiting_key(j, s.key) for j, _t, steps in candidates for s in steps})
    for job, tpl, steps in candidates:
        todo = [s for s in steps if (job.company_id, _waiting_key(job, s.key)) not in sent
                and any(spec.kind in ("role", "person") for spec in _specs(s))]
        if not todo:
            continue
        state = core.replay(tpl, core_events(job))
        for step in todo:
            if state.status != "active" or not all(state.steps[k].done for k in step.after):
                continue
            notify_event(job.company, event="permit_waiting", key=_waiting_key(job, step.key),
                         unit=job.area.org_unit, people=_who_may_do(job, state, step), now=now,
                         url=reverse("todos:open_job", args=[job.pk]),
                         context={"number": job.number, "template": tpl.name, "step": step.name,
                                  "applicant": job.applicant.name})
            counts["waiting"] += 1


def _specs(step: Step) -> tuple[Any, ...]:
    return (step.actor, *(step.approval.actors if step.approval else ()))


def _who_may_do(job: Instance, state: core.State, step: Step) -> list[Person]:
    """The active people of the job's company the step's actor specs name: role holders granted
    over the job's area at the level asked for, and the people a person field names."""
    place = job.area.org_unit
    found: dict[int, Person] = {}
    for spec in _specs(step):
        if spec.kind == "role":
            levels = SCOPES[SCOPES.index(spec.scope):] if spec.scope in SCOPES else SCOPES
            grants = RoleGrant.objects.filter(role__code=spec.role, org_unit_id__in=place.ancestor_ids(),
                                              org_unit__kind__in=levels, person__is_active=True,
                                              person__company_id=job.company_id).select_related("person")
            found.update((g.person.pk, g.person) for g in grants)
        elif spec.kind == "person":
            named = [int(p) for p in persons(state.values.get(spec.person_field))
                     if str(p).isdigit() and len(str(p)) < 19]
            found.update((p.pk, p) for p in Person.objects.filter(pk__in=named, company_id=job.company_id,
                                                                  is_active=True))
    return sorted(found.values(), key=lambda p: p.pk)


def _context(job: Instance, tpl: core.Template, step: str, deadline: datetime) -> dict[str, Any]:
    """The placeholders of the permit_escalated text."""
    return {"number": job.number, "template": tpl.name, "step": tpl.by_key[step].name, "area": job.area.name,
            "when": timezone.localtime(deadline).strftime("%Y-%m-%d %H:%M"), "applicant": job.applicant.name}
