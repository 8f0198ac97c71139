"""decide / apply: the one place that says what may happen next to a job, and why not.

``decide`` lists every action for one person at one moment, allowed or refused with its rule;
``apply`` re-checks an action with its payload and returns the event to append, or raises a
Refusal. Both derive state by replaying the events, so nothing else can drift from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from . import rules
from .events import ACTIONS, Action, Event
from .facts import ActorFacts, WorldFacts
from .fields import validate_photos, validate_values
from .i18n import Refusal, refuse
from .schema import Step, Template
from .state import State, persons, replay

JOB_ACTIONS = ("suspend", "resume", "extend", "hand_over", "cancel", "close", "expire")


@dataclass(frozen=True)
class Decision:
    action: str
    step: str | None = None
    refusal: Refusal | None = None
    due_at: datetime | None = None  # the step's deadline, for "my tasks" and SLA timers

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def decide(tpl: Template, events: list[Event], actor: ActorFacts, now: datetime,
           facts: WorldFacts, area: str | None = None) -> list[Decision]:
    """Every action this person could take now; ``area`` is the intended area before start."""
    state = replay(tpl, events)
    if state.status == "new":
        return [_decision(tpl, state, Action("start", area=area), actor, now, facts, None)]
    # The rules shared by many actions (live, the guards) give one answer per state and moment:
    # work each out once for all the decisions listed here.
    memo: dict = {}
    out = [_decision(tpl, state, _probe(kind, s.key), actor, now, facts, memo)
           for s in tpl.steps for kind in _step_actions(s)]
    return out + [_decision(tpl, state, _probe(kind), actor, now, facts, memo) for kind in JOB_ACTIONS]


def tasks(tpl: Template, events: list[Event], actor: ActorFacts, now: datetime,
          facts: WorldFacts) -> list[Decision]:
    """The step actions this person may take now — what "my tasks" lists. The same answers as the
    allowed step decisions of ``decide``, without working out a reason for every refused action:
    steps that cannot be open (done, behind an unfinished predecessor, not the step to redo) are
    skipped before any rule runs."""
    state = replay(tpl, events)
    if state.status != "active" or state.expired(now):
        return []
    memo: dict = {}
    out = []
    for s in tpl.steps:
        if (state.steps[s.key].done and not s.repeat) or (state.redo and s.key not in state.redo) \
                or any(not state.steps[k].done for k in s.after):
            continue
        for kind in _step_actions(s):
            decision = _decision(tpl, state, _probe(kind, s.key), actor, now, facts, memo)
            if decision.allowed:
                out.append(decision)
    return out


@lru_cache(maxsize=4096)
def _probe(kind: str, step: str | None = None) -> Action:
    """The payload-less action decide() asks about: never changed nor handed out, so shared."""
    return Action(kind, step=step)


def _step_actions(step: Step) -> tuple[str, ...]:
    if step.kind == "task":
        return ("complete",)
    return ("approve", "return") if step.kind == "review" else ("approve", "return", "reject")


def _decision(tpl: Template, state: State, action: Action, actor: ActorFacts, now: datetime,
              facts: WorldFacts, memo: dict | None) -> Decision:
    try:
        _check(_Ctx(tpl, state, action, actor, now, facts, False, memo))
        refusal = None
    except Refusal as exc:
        refusal = exc
    return Decision(action.kind, action.step, refusal, due_at(tpl, state, action.step))


def due_at(tpl: Template, state: State, key: str | None) -> datetime | None:
    step = tpl.by_key.get(key) if key else None
    if step is None or step.deadline is None or state.started_at is None or state.steps[key].done:
        return None
    ready = [state.steps[k].completed_at for k in step.after]
    if any(t is None for t in ready):
        return None
    return max(ready, default=state.started_at) + step.deadline


def overdue(tpl: Template, state: State, now: datetime) -> list[str]:
    """Steps past their deadline: late work is still accepted, but escalated by the caller."""
    return [s.key for s in tpl.steps if (d := due_at(tpl, state, s.key)) is not None and now > d]


def apply(tpl: Template, events: list[Event], action: Action, actor: ActorFacts, now: datetime,
          facts: WorldFacts) -> Event:
    """Validate ``action`` fully and return the event to append; raises Refusal otherwise."""
    state = replay(tpl, events)
    payload = check(tpl, state, action, actor, now, facts, payload=True)
    return Event(seq=state.last_seq + 1, kind=ACTIONS[action.kind], actor=actor.id, server_time=now,
                 step=action.step, device_time=action.device_time, payload=payload,
                 location=action.location, accuracy=action.accuracy if action.location else None)


def check(tpl: Template, state: State, action: Action, actor: ActorFacts, now: datetime,
          facts: WorldFacts, payload: bool = True) -> dict:
    """Raise the first rule that refuses; return the event payload (empty when ``payload`` is off)."""
    return _check(_Ctx(tpl, state, action, actor, now, facts, payload))


def _check(c: _Ctx) -> dict:
    handler = _HANDLERS.get(c.action.kind)
    if handler is None:
        raise refuse("unknown_action", action=c.action.kind)
    return handler(c) or {}


_MISS = object()


@dataclass(slots=True)
class _Ctx:
    tpl: Template
    state: State
    action: Action
    actor: ActorFacts
    now: datetime
    facts: WorldFacts
    payload: bool
    memo: dict | None = None  # decide(): outcomes of shared rules, same state and moment

    def once(self, key: object, rule, *args) -> None:
        """Run ``rule(*args)``, or re-raise (a copy of) the refusal it gave earlier for ``key``."""
        if self.memo is None:
            rule(*args)
            return
        known = self.memo.get(key, _MISS)
        if known is _MISS:
            try:
                rule(*args)
                known = None
            except Refusal as exc:
                known = exc
            self.memo[key] = known
        if known is not None:
            raise Refusal(known.code, known.params, known.field)

    def live(self) -> None:
        self.once("live", rules.live, self.state, self.now)

    def step(self) -> Step:
        step = self.tpl.by_key.get(self.action.step or "")
        if step is None:
            raise refuse("unknown_step", step=self.action.step)
        return step

    def guards(self, values: dict | None = None) -> None:
        if values:
            merged = {**self.state.values, **values}
            rules.guards(self.tpl, self.state.area, self.state.holder, merged, self.facts, self.now)
            return
        self.once("guards", rules.guards, self.tpl, self.state.area, self.state.holder,
                  dict(self.state.values), self.facts, self.now)

    def reason(self) -> str:
        if self.payload and not self.action.reason.strip():
            raise refuse("reason_required", field="reason")
        return self.action.reason.strip()


# -- start ---------------------------------------------------------------------------------

def _start(c: _Ctx) -> dict:
    if c.state.status != "new":
        raise refuse("already_started")
    area = c.action.area
    if not area:
        if c.payload:
            raise refuse("area_required", field="area")
        return {}
    rules.guards(c.tpl, area, c.actor.id, {}, c.facts, c.now)
    rules.conflicts(c.tpl, area, c.action, c.facts, c.now)
    return {"area": area, **({"endorsed_by": c.action.endorsed_by} if c.action.endorsed_by else {})}


# -- steps ---------------------------------------------------------------------------------

def _ready(c: _Ctx, step: Step) -> None:
    """Order rules shared by every step action: redo first, predecessors, not done twice."""
    rules.redo_first(c.tpl, c.state, step)
    rules.predecessors(c.tpl, c.state, step)
    rules.not_done(c.tpl, c.state, step, c.now)


def _work(c: _Ctx) -> Step:
    """Doing the work (complete, approve) also needs the guards, fresh readings, the window."""
    c.live()
    step = c.step()
    rules.step_kind(step, c.action.kind)
    c.guards()
    _ready(c, step)
    rules.readings_fresh(c.tpl, c.state, step, c.now)
    rules.window(c.tpl, c.state, step, c.now)
    return step


def _submission(c: _Ctx, step: Step, presence: bool) -> dict:
    if not c.payload:
        return {}
    values = validate_values(step, c.action.values, c.state.values)
    photos = validate_photos(step, c.action.photos, presence)
    # Persons named in this submission must pass the qualification guards too.
    c.guards(values)
    return {"values": values, "photos": photos}


def _complete(c: _Ctx) -> dict:
    step = _work(c)
    rules.task_actor(step, c.actor, c.state)
    rules.distinct(c.tpl, step, c.actor, c.state)
    return _submission(c, step, presence=False)


def _approve(c: _Ctx) -> dict:
    step = _work(c)
    slot = rules.approver_slot(step, c.actor, c.state, signing=True)
    rules.distinct(c.tpl, step, c.actor, c.state)
    body = _submission(c, step, presence=step.presence)
    return {"slot": slot, **body, **({"opinion": c.action.reason} if c.action.reason else {})}


def _judge(c: _Ctx) -> Step:
    """Return and reject need no guards or fresh readings: a stale reading is a reason to return."""
    c.live()
    step = c.step()
    rules.step_kind(step, c.action.kind)
    _ready(c, step)
    rules.approver_slot(step, c.actor, c.state, signing=False)
    return step


def _return(c: _Ctx) -> dict:
    step = _judge(c)
    allowed = step.approval.return_to or tuple(s.key for s in c.tpl.steps if s.key in c.tpl.ancestors[step.key])
    target = c.action.target
    if c.payload and target not in allowed:
        name = c.tpl.by_key[target].name if target in c.tpl.by_key else target
        raise refuse("bad_return_target", field="target", step=step.name, target=name)
    return {"to": target, "reason": c.reason()} if c.payload else {}


def _reject(c: _Ctx) -> dict:
    _judge(c)
    return {"reason": c.reason()} if c.payload else {}


# -- job-level ---------------------------------------------------------------------------------

def _suspend(c: _Ctx) -> dict:
    c.live()
    rules.participant(c.tpl, c.actor, c.state)
    return {"reason": c.reason()} if c.payload else {}


def _resume(c: _Ctx) -> dict:
    if c.state.status != "suspended" or c.state.expired(c.now):
        c.live()  # names the blocking state: cancelled, expired…
        raise refuse("not_suspended")
    rules.manager(c.tpl, c.actor, c.state)
    c.guards()
    rules.crew_present(c.tpl, c.state)
    return {}


def _extend(c: _Ctx) -> dict:
    c.live()
    if not c.tpl.max_extension or c.tpl.validity is None:
        raise refuse("no_extension")
    rules.manager(c.tpl, c.actor, c.state)
    if not c.payload:
        return {}
    by = c.action.extend_by
    if by is None or by <= timedelta():
        raise refuse("extension_invalid", field="extend_by")
    if c.state.extended + by > c.tpl.max_extension:
        raise refuse("extension_too_long", field="extend_by", minutes=int(c.tpl.max_extension.total_seconds() // 60))
    return {"minutes": int(by.total_seconds() // 60)}


def _hand_over(c: _Ctx) -> dict:
    c.live()
    rules.manager(c.tpl, c.actor, c.state)
    if not c.payload:
        return {}
    if not c.action.target:
        raise refuse("person_required", field="target")
    # The incoming holder answers for the job, so the applicant's qualification guards apply to them.
    for guard in c.tpl.guards:
        if guard.name == "qualified" and guard.who == "applicant":
            rules.qualified([c.action.target], guard.work_type, c.state.area, c.facts, c.now)
    return {"to": c.action.target}


def _withdraw(c: _Ctx) -> dict:
    """Take a named person off the job (e.g. a certificate revoked while it runs): the person
    fields that name them lose them. Suspending the job, when it cannot go on without them, is
    a separate `suspend` the caller records."""
    if c.state.status != "suspended" or c.state.expired(c.now):
        c.live()
    rules.manager(c.tpl, c.actor, c.state, holder_ok=False)
    if not c.payload:
        return {}
    target = c.action.target
    fields = [f.key for f in c.tpl.fields.values()
              if f.type == "person" and target and target in persons(c.state.values.get(f.key))]
    if not fields:
        raise refuse("not_named", field="target", person=c.facts.person_name(target) if target else "")
    return {"person": target, "fields": fields, "reason": c.reason()}


def _cancel(c: _Ctx) -> dict:
    # A suspended job may be cancelled (one way to stop it); otherwise the job must be live.
    if c.state.status != "suspended" or c.state.expired(c.now):
        c.live()
    rules.manager(c.tpl, c.actor, c.state)
    return {"reason": c.reason()} if c.payload else {}


def _close(c: _Ctx) -> dict:
    if c.state.status in ("new", "cancelled", "closed", "rejected"):
        c.live()
    rules.manager(c.tpl, c.actor, c.state)
    if c.state.status == "active" and not c.state.expired(c.now):
        pending = [s for s in c.tpl.steps if not c.state.done(s.key)]
        if pending:
            raise refuse("steps_pending", step=pending[0].name)
    return {}


def _expire(c: _Ctx) -> dict:
    if c.state.status in ("new", "cancelled", "closed", "rejected"):
        c.live()
    if c.state.status not in ("active", "suspended") or not c.state.expired(c.now):
        raise refuse("not_expired")
    return {}


_HANDLERS = {"start": _start, "complete": _complete, "approve": _approve, "return": _return,
             "reject": _reject, "suspend": _suspend, "resume": _resume, "extend": _extend,
             "hand_over": _hand_over, "cancel": _cancel, "close": _close, "expire": _expire,
             "withdraw": _withdraw}
