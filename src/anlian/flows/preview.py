"""A readable, step-by-step summary of a workflow template, as plain data.

`describe(tpl)` lists the steps; `overview(tpl)` adds the template-wide rules (validity,
extension, guards, conflicts, what a resumption or handover must redo). Both return only dicts,
lists, strings, numbers and booleans, so the desktop pages and the API can render them in any
language (the Chinese wording lives in the Django templates). Durations are whole minutes.
No Django imports: this module sits next to the pure engine core.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from anlian.flows.core.schema import ActorSpec, Field, Guard, Step, Template


def minutes(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds() // 60)


def _step_ref(tpl: Template, key: str | None) -> dict[str, str] | None:
    if key is None:
        return None
    step = tpl.step(key)
    return {"key": key, "name": step.name if step else key}


def _field_ref(tpl: Template, key: str | None) -> dict[str, str] | None:
    if key is None:
        return None
    found = tpl.fields.get(key)
    return {"key": key, "label": found.label if found else key}


def actor(tpl: Template, spec: ActorSpec) -> dict[str, Any]:
    """Who acts: the applicant, anyone holding a role (optionally at an org level), or the
    person named in an earlier field."""
    if spec.kind == "role":
        return {"kind": "role", "role": spec.role, "scope": spec.scope}
    if spec.kind == "person":
        return {"kind": "person", "field": _field_ref(tpl, spec.person_field)}
    return {"kind": "applicant"}


def field(tpl: Template, f: Field) -> dict[str, Any]:
    return {
        "key": f.key, "label": f.label, "type": f.type, "many": f.many, "required": f.required,
        "unit": f.unit, "min": f.min, "max": f.max,
        "options": list(f.options) if f.options is not None else None, "options_from": f.options_from,
        "items": [{"key": i.key, "label": i.label} for i in f.items],
        "show_if": None if f.show_if is None else {
            "field": _field_ref(tpl, f.show_if.field), "values": [str(v) for v in f.show_if.values]},
    }


def step(tpl: Template, index: int, s: Step) -> dict[str, Any]:
    previous = tpl.steps[index - 1].key if index else None
    approval = s.approval
    actors = [actor(tpl, a) for a in approval.actors] if approval else [actor(tpl, s.actor)]
    return {
        "number": index + 1,
        "key": s.key,
        "name": s.name,
        "kind": s.kind,
        # single (one approver), all (会签: every listed actor signs) or any (或签: one of them);
        # None for a plain task.
        "mode": approval.mode if approval else None,
        "actors": actors,
        "after": [_step_ref(tpl, k) for k in s.after],
        # True when the step simply follows the one above it (or is the first): the usual case,
        # so pages mention `after` only for branches and joins.
        "in_sequence": s.after == ((previous,) if previous else ()),
        "return_to": None if not approval or approval.return_to is None
        else [_step_ref(tpl, k) for k in approval.return_to],
        "fields": [field(tpl, f) for f in s.fields],
        "photos": [{"key": p.key, "label": p.label, "hint": p.hint, "min": p.min, "max": p.max} for p in s.photos],
        "valid_for": None if s.valid_for is None else {
            "minutes": minutes(s.valid_for.duration), "through": _step_ref(tpl, s.valid_for.through)},
        "window": None if s.window is None else {
            "step": _step_ref(tpl, s.window.step), "at_least": minutes(s.window.at_least),
            "at_most": minutes(s.window.at_most)},
        "repeat": None if s.repeat is None else {
            "every": minutes(s.repeat.every), "until": _step_ref(tpl, s.repeat.until)},
        "deadline": minutes(s.deadline),
        "presence": s.presence,
        "cc": list(s.cc),
    }


def describe(tpl: Template) -> list[dict[str, Any]]:
    """One dict per step, in template order."""
    return [step(tpl, i, s) for i, s in enumerate(tpl.steps)]


def guard(tpl: Template, g: Guard) -> dict[str, Any]:
    out: dict[str, Any] = {"name": g.name}
    if g.name == "weather_allows":
        out["outdoor_only"] = g.outdoor_only
    if g.name == "qualified":
        who = None if g.who in (None, "applicant") else _field_ref(tpl, g.who)
        out.update(applicant=g.who == "applicant", who=who, work_type=g.work_type)
    return out


def overview(tpl: Template) -> dict[str, Any]:
    """The whole template: identity, template-wide rules and the steps."""
    return {
        "key": tpl.key,
        "name": tpl.name,
        "kind": tpl.kind,
        "version": tpl.version,
        "validity": minutes(tpl.validity),
        "max_extension": minutes(tpl.max_extension) or 0,
        "guards": [guard(tpl, g) for g in tpl.guards],
        "conflicts": [{"with": c.other, "policy": c.policy} for c in tpl.conflicts],
        "resume_requires": [_step_ref(tpl, k) for k in tpl.resume_requires],
        "handover_requires": [_step_ref(tpl, k) for k in tpl.handover_requires],
        "managers": list(tpl.managers),
        "steps": describe(tpl),
    }
