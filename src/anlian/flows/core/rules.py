"""The rules, one small function each; every one raises a Refusal naming itself by code.

They read only the template, the replayed state, the actor, ``now`` and the facts provider,
so the same checks serve "what may I do?" (decide) and "do it" (apply).
"""

from __future__ import annotations

from datetime import datetime

from .clock import fmt_time, minutes
from .events import Action
from .facts import SYSTEM, ActorFacts, WorldFacts
from .i18n import refuse
from .schema import ActorSpec, Step, Template
from .state import State, approval_slots, persons

STEP_ACTIONS = ("complete", "approve", "return", "reject")


def live(state: State, now: datetime) -> None:
    """Only an active, unexpired job accepts work; the message says what state blocks it."""
    if state.status == "new":
        raise refuse("not_started")
    if state.status in ("cancelled", "closed", "rejected"):
        raise refuse(state.status)
    if state.expired(now):
        raise refuse("expired", at=fmt_time(state.expires_at) if state.expires_at else "")
    if state.status == "suspended":
        raise refuse("suspended")


def step_kind(step: Step, kind: str) -> None:
    if kind == "complete" and step.is_approval:
        raise refuse("not_task", step=step.name)
    if kind != "complete" and not step.is_approval:
        raise refuse("not_approval", step=step.name)
    if kind == "reject" and step.kind == "review":
        raise refuse("reject_not_allowed", step=step.name)


# -- guards ----------------------------------------------------------------------------

def guards(tpl: Template, area: str | None, holder: str | None, values: dict, facts: WorldFacts,
           now: datetime) -> None:
    """Interlocks checked before start and before every step (and resume)."""
    for guard in tpl.guards:
        if guard.name == "area_not_frozen" and area and facts.area_frozen(area, now):
            raise refuse("area_frozen", area=facts.area_name(area))
        if guard.name == "weather_allows" and area:
            weather(guard.outdoor_only, area, facts, now)
        if guard.name == "qualified":
            named = [holder] if guard.who == "applicant" else persons(values.get(guard.who))
            qualified(named, guard.work_type, area, facts, now)


def crew_present(tpl: Template, state: State) -> None:
    """A job whose qualified workers were all withdrawn cannot go on without new ones."""
    for guard in tpl.guards:
        if guard.name == "qualified" and guard.who != "applicant" and not persons(state.values.get(guard.who)):
            f = tpl.fields.get(guard.who)
            raise refuse("crew_withdrawn", field=guard.who, label=f.label if f else guard.who)


def weather(outdoor_only: bool, area: str, facts: WorldFacts, now: datetime) -> None:
    if outdoor_only and not facts.area_outdoor(area):
        return
    reason = facts.weather_refusal(area, now)
    if reason:
        raise refuse("weather", reason=reason)


def qualified(people: list[str | None], work_type: str, area: str | None, facts: WorldFacts,
              now: datetime) -> None:
    for person in people:
        reason = facts.unqualified(person, work_type, area, now) if person else None
        if reason:
            raise refuse("not_qualified", person=facts.person_name(person), work_type=work_type, reason=reason)


def conflicts(tpl: Template, area: str, action: Action, facts: WorldFacts, now: datetime) -> None:
    """Simultaneous operations: a conflicting job in the same area refuses or needs endorsement."""
    for job in facts.active_jobs(area, now):
        for rule in tpl.conflicts:
            if rule.other not in (job.template_key, job.template_kind):
                continue
            other = job.name or job.template_key
            if rule.policy == "refuse":
                raise refuse("conflict_refused", other=other)
            if not action.endorsed_by:
                raise refuse("conflict_needs_endorsement", field="endorsed_by", other=other)
            if not facts.can_endorse(action.endorsed_by, area):
                raise refuse("endorser_not_owner", field="endorsed_by",
                             person=facts.person_name(action.endorsed_by))


# -- order and time ---------------------------------------------------------------------

def redo_first(tpl: Template, state: State, step: Step) -> None:
    """After resume or hand-over the named steps (e.g. a new gas analysis) come before all else."""
    if state.redo and step.key not in state.redo:
        raise refuse("resume_redo", step=tpl.by_key[state.redo[0]].name)


def predecessors(tpl: Template, state: State, step: Step) -> None:
    for key in step.after:
        if state.done(key):
            continue
        returned = _returned_upstream(tpl, state, key)
        if returned:
            raise refuse("returned_pending", step=tpl.by_key[returned].name,
                         reason=state.steps[returned].returned)
        raise refuse("predecessor_pending", step=tpl.by_key[key].name)


def _returned_upstream(tpl: Template, state: State, key: str) -> str | None:
    for candidate in [key, *sorted(tpl.ancestors[key])]:
        if state.steps[candidate].returned is not None:
            return candidate
    return None


def not_done(tpl: Template, state: State, step: Step, now: datetime) -> None:
    """A step is done once, except a repeat (patrol), which runs every N until its end step."""
    own = state.steps[step.key]
    if step.repeat:
        _repeat(tpl, state, step, now)
    elif own.done:
        raise refuse("already_done", step=step.name)


def _repeat(tpl: Template, state: State, step: Step, now: datetime) -> None:
    until = step.repeat.until
    if state.done(until):
        raise refuse("repeat_ended", step=step.name, until=tpl.by_key[until].name)
    done = state.steps[step.key].completions
    # A re-confirmation demanded by resume/hand-over is due now, whatever the interval.
    if done and step.key not in state.redo and now < done[-1] + step.repeat.every:
        raise refuse("repeat_too_early", step=step.name, minutes=minutes(step.repeat.every),
                     at=fmt_time(done[-1] + step.repeat.every))


def readings_fresh(tpl: Template, state: State, step: Step, now: datetime) -> None:
    """A reading (gas analysis) is valid for N minutes for the steps it gates."""
    for gate in tpl.steps:
        if gate.valid_for is None or not _gates(tpl, gate, step):
            continue
        taken = state.steps[gate.key].completed_at
        if taken is not None and now - taken > gate.valid_for.duration:
            raise refuse("reading_expired", step=gate.name, minutes=minutes(gate.valid_for.duration))


def _gates(tpl: Template, gate: Step, step: Step) -> bool:
    through = gate.valid_for.through
    if through is None:
        return step.key in tpl.successors[gate.key]
    return step.key in tpl.descendants[gate.key] and (
        step.key == through or step.key in tpl.ancestors[through])


def window(tpl: Template, state: State, step: Step, now: datetime) -> None:
    if step.window is None:
        return
    base = state.steps[step.window.step].completed_at
    if base is None:
        return
    after, w = tpl.by_key[step.window.step].name, step.window
    if w.at_least and now < base + w.at_least:
        raise refuse("too_early", step=step.name, after=after, minutes=minutes(w.at_least),
                     at=fmt_time(base + w.at_least))
    if w.at_most and now > base + w.at_most:
        raise refuse("too_late", step=step.name, after=after, minutes=minutes(w.at_most))


# -- who ----------------------------------------------------------------------------------

def matches(spec: ActorSpec, actor: ActorFacts, state: State) -> bool:
    if spec.kind == "system":
        return actor.id == SYSTEM.id
    if spec.kind == "applicant":
        return actor.id == state.holder
    if spec.kind == "person":
        return actor.id in persons(state.values.get(spec.person_field))
    return actor.has_role(spec.role, spec.scope)


def task_actor(step: Step, actor: ActorFacts, state: State) -> None:
    if not matches(step.actor, actor, state):
        raise refuse("wrong_actor", step=step.name)


def distinct(tpl: Template, step: Step, actor: ActorFacts, state: State) -> None:
    """Separation of duties: whoever did one of `distinct_from` may not do this step."""
    for key in step.distinct_from:
        if actor.id in state.done_by.get(key, ()):
            raise refuse("distinct_actor", step=step.name, other=tpl.by_key[key].name)


def approver_slot(step: Step, actor: ActorFacts, state: State, signing: bool) -> str:
    """The signature slot this approver fills; never the applicant, never twice (会签)."""
    if actor.id in (state.applicant, state.holder):
        raise refuse("own_permit")
    approvals = state.steps[step.key].approvals
    if signing and actor.id in approvals.values():
        raise refuse("already_approved", step=step.name)
    for slot, index, person in approval_slots(step, state.values):
        if signing and slot in approvals:
            continue
        spec = step.approval.actors[index]
        if (person and actor.id == person) or (not person and matches(spec, actor, state)):
            return slot
    raise refuse("wrong_actor", step=step.name)


def manager(tpl: Template, actor: ActorFacts, state: State, holder_ok: bool = True) -> None:
    """Job-level actions: the holder of the job, a template manager (safety officer), or the system
    acting on a rule (a hazard archived once its close step is done)."""
    if actor.id == SYSTEM.id or (holder_ok and actor.id in (state.holder, state.applicant)):
        return
    if not any(actor.has_role(role) for role in tpl.managers):
        raise refuse("not_permitted")


def participant(tpl: Template, actor: ActorFacts, state: State) -> None:
    """Stopping work must be easy: anyone involved in the job, or holding a role it names, or the
    system acting on a rule (an alarm freezing the area, a qualification that lapsed)."""
    if actor.id == SYSTEM.id:
        return
    named = {p for f in tpl.fields.values() if f.type == "person" for p in persons(state.values.get(f.key))}
    roles = {spec.role for s in tpl.steps for spec in _specs(s) if spec.kind == "role"} | set(tpl.managers)
    if actor.id in state.participants | named or any(actor.has_role(r) for r in roles):
        return
    raise refuse("not_permitted")


def _specs(step: Step) -> tuple[ActorSpec, ...]:
    return (step.actor, *(step.approval.actors if step.approval else ()))
