"""Replay: the state of one job, derived only from its events.

Replay never checks rules (the engine did that before the event was recorded); it only folds
events in ``seq`` order, so the same events always give the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .events import Event
from .schema import Step, Template

LIVE = ("active", "suspended")


@dataclass
class StepState:
    done: bool = False
    completed_at: datetime | None = None
    completions: list[datetime] = field(default_factory=list)
    approvals: dict[str, str] = field(default_factory=dict)  # slot → approver id, this round
    returned: str | None = None  # reason, while a return to this step awaits resubmission


@dataclass
class State:
    status: str = "new"  # new | active | suspended | cancelled | closed | expired | rejected
    applicant: str | None = None
    holder: str | None = None  # who answers for the job now; changes on hand-over
    area: str | None = None
    started_at: datetime | None = None
    expires_at: datetime | None = None
    extended: timedelta = timedelta()
    steps: dict[str, StepState] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    redo: list[str] = field(default_factory=list)  # steps to redo after resume / hand-over
    participants: set[str] = field(default_factory=set)
    done_by: dict[str, set[str]] = field(default_factory=dict)  # step → everyone who ever did it
    last_seq: int = 0
    last_time: datetime | None = None

    def done(self, key: str) -> bool:
        return self.steps[key].done

    def expired(self, now: datetime) -> bool:
        """Expiry is derived from time, so nobody must wait for a timer to record it."""
        if self.status == "expired":
            return True
        return self.status in LIVE and self.expires_at is not None and now >= self.expires_at


def persons(value: Any) -> list[str]:
    """A person field holds one id or a list of ids."""
    if value in (None, ""):
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def approval_slots(step: Step, values: dict[str, Any]) -> list[tuple[str, int, str | None]]:
    """The signatures an approval needs: one per actor spec, or one per person named in a
    person field, so 会签 by "every guardian named in the form" works like 会签 by roles."""
    slots = []
    for i, spec in enumerate(step.approval.actors):
        named = persons(values.get(spec.person_field)) if spec.kind == "person" else []
        if len(named) > 1:
            slots.extend((f"{i}:{p}", i, p) for p in named)
        else:
            slots.append((str(i), i, None))
    return slots


def approval_complete(step: Step, approvals: dict[str, str], values: dict[str, Any]) -> bool:
    if step.approval.mode != "all":
        return bool(approvals)
    return all(slot in approvals for slot, _, _ in approval_slots(step, values))


def replay(template: Template, events: list[Event]) -> State:
    state = State(steps={s.key: StepState() for s in template.steps})
    for event in events:
        if event.seq <= state.last_seq:
            raise ValueError(f"event seq {event.seq} after {state.last_seq}: events out of order")
        _FOLD[event.kind](template, state, event)
        state.last_seq, state.last_time = event.seq, event.server_time
        state.participants.add(event.actor)
    return state


def _started(tpl: Template, st: State, ev: Event) -> None:
    st.status, st.applicant, st.holder = "active", ev.actor, ev.actor
    st.area, st.started_at = ev.payload.get("area"), ev.server_time
    st.expires_at = ev.server_time + tpl.validity if tpl.validity else None


def _completed(tpl: Template, st: State, ev: Event) -> None:
    step = st.steps[ev.step]
    st.values.update(ev.payload.get("values") or {})
    _finish(st, ev.step, ev.server_time)
    step.completions.append(ev.server_time)
    st.done_by.setdefault(ev.step, set()).add(ev.actor)


def _approved(tpl: Template, st: State, ev: Event) -> None:
    step = st.steps[ev.step]
    st.values.update(ev.payload.get("values") or {})
    step.approvals[ev.payload.get("slot", "0")] = ev.actor
    st.done_by.setdefault(ev.step, set()).add(ev.actor)
    if approval_complete(tpl.by_key[ev.step], step.approvals, st.values):
        _finish(st, ev.step, ev.server_time)


def _finish(st: State, key: str, when: datetime) -> None:
    step = st.steps[key]
    step.done, step.completed_at, step.returned = True, when, None
    if key in st.redo:
        st.redo.remove(key)


def _returned(tpl: Template, st: State, ev: Event) -> None:
    target = ev.payload["to"]
    # Everything built on the returned step must be redone: its data may change.
    for key in {target} | tpl.descendants[target]:
        st.steps[key] = StepState()
    st.steps[target].returned = ev.payload.get("reason", "")


def _require_again(tpl: Template, st: State, keys: tuple[str, ...]) -> None:
    # Only what was done and can still be done again: a step not reached yet comes in its turn,
    # and a patrol whose end step is done cannot run again (requiring it would block the job).
    keys = tuple(k for k in keys if (st.steps[k].done or st.steps[k].completions) and not _repeat_ended(tpl, st, k))
    for key in keys:
        st.steps[key].done = False
        st.steps[key].approvals = {}
    st.redo = [s.key for s in tpl.steps if s.key in set(st.redo) | set(keys)]


def _repeat_ended(tpl: Template, st: State, key: str) -> bool:
    repeat = tpl.by_key[key].repeat
    return repeat is not None and st.steps[repeat.until].done


def _status(status: str):
    def fold(tpl: Template, st: State, ev: Event) -> None:
        st.status = status
    return fold


def _resumed(tpl: Template, st: State, ev: Event) -> None:
    st.status = "active"
    _require_again(tpl, st, tpl.resume_requires)


def _handed_over(tpl: Template, st: State, ev: Event) -> None:
    st.holder = ev.payload["to"]
    _require_again(tpl, st, tpl.handover_requires)


def _extended(tpl: Template, st: State, ev: Event) -> None:
    by = timedelta(minutes=ev.payload["minutes"])
    st.extended += by
    if st.expires_at is not None:
        st.expires_at += by


def _withdrawn(tpl: Template, st: State, ev: Event) -> None:
    gone = ev.payload["person"]
    for key in ev.payload["fields"]:
        value = st.values.get(key)
        st.values[key] = [p for p in value if str(p) != gone] if isinstance(value, list) else None


_FOLD = {
    "started": _started, "step_completed": _completed, "approved": _approved,
    "returned": _returned, "rejected": _status("rejected"), "suspended": _status("suspended"),
    "resumed": _resumed, "extended": _extended, "handed_over": _handed_over,
    "cancelled": _status("cancelled"), "closed": _status("closed"), "expired": _status("expired"),
    "withdrawn": _withdrawn,
}
