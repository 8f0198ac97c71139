"""Template documents: parse a YAML/dict template into frozen objects, or explain precisely why not.

Errors name the place the way safety staff see it (``steps[2] (gas).fields[0] (lel): max must be a
number``) and all errors are reported at once, so one round of editing fixes the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

import yaml

from .clock import parse_duration

KINDS = ("permit", "hazard", "loto", "inspection", "general")
STEP_KINDS = ("task", "approval", "review")
FIELD_TYPES = ("text", "number", "choice", "many-choice", "person", "area", "equipment",
               "datetime", "checklist", "signature")
MODES = ("single", "all", "any")
POLICIES = ("refuse", "endorse")
# Org levels from narrow to wide: a grant at a wider level also covers a narrower scope.
SCOPES = ("team", "workshop", "plant", "company", "group")
GUARDS = ("area_not_frozen", "weather_allows", "qualified")
CHECK_STATES = ("done", "not_applicable")
# Photo checks a slot may ask for (anlian.trust runs them), with their options.
PHOTO_CHECKS = {
    "freshness": ("max_age",),
    "reuse": ("distance",),
    "quality": ("min_sharpness", "min_brightness"),
    "place": ("within", "of"),
    "before_after": ("before", "within", "min_distance"),
}
PLACE_TARGETS = ("area", "point")
MAX_REUSE_DISTANCE = 11
PRESENCE_SLOT = "presence"
_KEY = re.compile(r"^[a-z][a-z0-9_-]*$")


class TemplateError(ValueError):
    """All problems found in one template, each a precise human-readable line."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass(frozen=True)
class ActorSpec:
    kind: str  # applicant | role | person | system
    role: str | None = None
    scope: str | None = None
    person_field: str | None = None


@dataclass(frozen=True)
class ShowIf:
    field: str
    values: tuple


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    type: str
    required: bool = False
    unit: str = ""
    min: float | None = None
    max: float | None = None
    options: tuple | None = None
    options_from: str | None = None
    many: bool = False
    items: tuple[ChecklistItem, ...] = ()
    show_if: ShowIf | None = None


@dataclass(frozen=True)
class PhotoCheck:
    """One check on a slot's photos; options as sorted (name, value) pairs, durations as timedelta."""

    name: str
    hard: bool = False
    options: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


@dataclass(frozen=True)
class PhotoSlot:
    key: str
    label: str
    hint: str = ""
    min: int = 0
    max: int = 9
    checks: tuple[PhotoCheck, ...] = ()
    camera_only: bool = False  # the phone opens the camera and refuses gallery picks (freshness catches the rest)
    video: bool = False  # the slot also takes a short clip (≤ 60 s)

    @property
    def check_map(self) -> dict[str, dict[str, Any]]:
        """{check: {option: value, "hard": bool}}, the shape anlian.trust.checks.run_checks takes."""
        return {c.name: {**dict(c.options), "hard": c.hard} for c in self.checks}


@dataclass(frozen=True)
class Window:
    step: str
    at_least: timedelta | None = None
    at_most: timedelta | None = None


@dataclass(frozen=True)
class Repeat:
    every: timedelta
    until: str


@dataclass(frozen=True)
class ValidFor:
    duration: timedelta
    through: str | None = None  # None: gates the direct successors only


@dataclass(frozen=True)
class Approval:
    mode: str
    actors: tuple[ActorSpec, ...]
    return_to: tuple[str, ...] | None = None  # None: any earlier step


@dataclass(frozen=True)
class Step:
    key: str
    name: str
    kind: str = "task"
    actor: ActorSpec = ActorSpec("applicant")
    fields: tuple[Field, ...] = ()
    photos: tuple[PhotoSlot, ...] = ()
    after: tuple[str, ...] = ()
    valid_for: ValidFor | None = None
    window: Window | None = None
    repeat: Repeat | None = None
    approval: Approval | None = None
    presence: bool = False
    cc: tuple[str, ...] = ()
    deadline: timedelta | None = None
    # Steps whose doers may not do this one (the rectifier never verifies their own fix).
    distinct_from: tuple[str, ...] = ()

    @property
    def is_approval(self) -> bool:
        return self.kind in ("approval", "review")


@dataclass(frozen=True)
class Guard:
    name: str
    outdoor_only: bool = False
    who: str | None = None
    work_type: str | None = None


@dataclass(frozen=True)
class Conflict:
    other: str  # a template key or kind
    policy: str = "refuse"


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    kind: str
    version: int
    steps: tuple[Step, ...]
    validity: timedelta | None = None
    max_extension: timedelta = timedelta()
    guards: tuple[Guard, ...] = ()
    resume_requires: tuple[str, ...] = ()
    handover_requires: tuple[str, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    managers: tuple[str, ...] = ("safety_officer",)

    def step(self, key: str) -> Step | None:
        return self.by_key.get(key)

    @cached_property
    def by_key(self) -> dict[str, Step]:
        return {s.key: s for s in self.steps}

    @cached_property
    def successors(self) -> dict[str, tuple[str, ...]]:
        return {s.key: tuple(t.key for t in self.steps if s.key in t.after) for s in self.steps}

    @cached_property
    def ancestors(self) -> dict[str, frozenset[str]]:
        # Unknown keys (only in templates being validated) simply end the walk.
        return {s.key: frozenset(_reach(s.key, lambda k: self.by_key[k].after if k in self.by_key else ()))
                for s in self.steps}

    @cached_property
    def descendants(self) -> dict[str, frozenset[str]]:
        return {s.key: frozenset(_reach(s.key, lambda k: self.successors[k])) for s in self.steps}

    @cached_property
    def fields(self) -> dict[str, Field]:
        return {f.key: f for s in self.steps for f in s.fields}


def _reach(start: str, nexts) -> set[str]:
    seen: set[str] = set()
    todo = list(nexts(start))
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            todo.extend(nexts(key))
    return seen


def load_template(source: str | bytes | dict) -> Template:
    """Parse YAML text (or an already-loaded mapping) into a Template or raise TemplateError."""
    if isinstance(source, (str, bytes)):
        try:
            source = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise TemplateError([f"not valid YAML: {exc}"]) from exc
    return _Parser().template(source)


def dump_template(doc: dict) -> str:
    """Round-trip helper for export: YAML text that keeps Chinese readable."""
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


class _Parser:
    """Collects errors while building; each method parses one construct at one path."""

    def __init__(self):
        self.errors: list[str] = []

    def err(self, path: str, problem: str) -> None:
        self.errors.append(f"{path}: {problem}")

    # -- scalars -----------------------------------------------------------------------
    def text(self, doc: dict, key: str, path: str, required: bool = False, default: str = "") -> str:
        value = doc.get(key, default)
        if value in (None, "") and required:
            self.err(path, f"{key} is required")
        elif value is not None and not isinstance(value, str):
            self.err(path, f"{key} must be text")
            return default
        return value or default

    def skey(self, doc: dict, path: str) -> str:
        value = self.text(doc, "key", path, required=True)
        if value and not _KEY.match(value):
            self.err(path, f"key {value!r} must be lower-case letters, digits, - or _")
        return value

    def number(self, doc: dict, key: str, path: str) -> float | None:
        value = doc.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            self.err(path, f"{key} must be a number")
            return None
        return value

    def count(self, doc: dict, key: str, path: str, default: int) -> int:
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.err(path, f"{key} must be a whole number ≥ 0")
            return default
        return value

    def duration(self, doc: dict, key: str, path: str) -> timedelta | None:
        if doc.get(key) is None:
            return None
        try:
            value = parse_duration(doc[key])
        except ValueError as exc:
            self.err(path, f"{key}: {exc}")
            return None
        if not value:
            self.err(path, f"{key} must be longer than 0")
        return value

    def mapping(self, value: Any, path: str) -> dict | None:
        if not isinstance(value, dict):
            self.err(path, "must be a mapping")
            return None
        return value

    def listing(self, doc: dict, key: str, path: str) -> list:
        value = doc.get(key) or []
        if not isinstance(value, list):
            self.err(path, f"{key} must be a list")
            return []
        return value

    def keys(self, doc: dict, key: str, path: str) -> tuple[str, ...]:
        value = doc.get(key) or []
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.err(path, f"{key} must be a step key or a list of step keys")
            return ()
        return tuple(value)

    def choice(self, doc: dict, key: str, path: str, allowed: tuple, default: str) -> str:
        value = doc.get(key, default)
        if value not in allowed:
            self.err(path, f"{key} must be one of {', '.join(allowed)} (got {value!r})")
            return default
        return value

    # -- template ----------------------------------------------------------------------
    def template(self, doc: Any) -> Template:
        if self.mapping(doc, "template") is None:
            raise TemplateError(self.errors)
        path = "template"
        version = doc.get("version", 1)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            self.err(path, "version must be a whole number ≥ 1")
            version = 1
        steps = self.steps(doc.get("steps"))
        tpl = Template(
            key=self.skey(doc, path), name=self.text(doc, "name", path, required=True),
            kind=self.choice(doc, "kind", path, KINDS, "permit"), version=version, steps=steps,
            validity=self.duration(doc, "validity", path),
            max_extension=self.duration(doc, "max_extension", path) or timedelta(),
            guards=tuple(self.guard(g, f"guards[{i}]") for i, g in enumerate(self.listing(doc, "guards", path))),
            resume_requires=self.keys(doc, "resume_requires", path),
            handover_requires=self.keys(doc, "handover_requires", path),
            conflicts=tuple(self.conflict(c, f"conflicts[{i}]") for i, c in
                            enumerate(self.listing(doc, "conflicts", path))),
            managers=tuple(self.roles(doc, "managers", path) or ("safety_officer",)),
        )
        self.unknown(doc, _TEMPLATE_KEYS, path)
        if not self.errors:
            _References(tpl, self.err).check()
        if self.errors:
            raise TemplateError(self.errors)
        return tpl

    def unknown(self, doc: dict, known: set[str], path: str) -> None:
        for key in doc:
            if key not in known:
                self.err(path, f"unknown property {key!r}")

    def roles(self, doc: dict, key: str, path: str) -> tuple[str, ...]:
        out = []
        for i, item in enumerate(self.listing(doc, key, path)):
            role = item.get("role") if isinstance(item, dict) else item
            if not isinstance(role, str) or not role:
                self.err(f"{path}.{key}[{i}]", "must be a role name or {role: name}")
            else:
                out.append(role)
        return tuple(out)

    def guard(self, item: Any, path: str) -> Guard:
        name, params = (item, {}) if isinstance(item, str) else _single(item)
        if name not in GUARDS:
            self.err(path, f"unknown guard {name!r} (known: {', '.join(GUARDS)})")
            return Guard(str(name))
        params = self.mapping(params or {}, f"{path} ({name})") or {}
        if name == "weather_allows":
            return Guard(name, outdoor_only=bool(params.get("outdoor_only", False)))
        if name == "qualified":
            p = f"{path} ({name})"
            return Guard(name, who=self.text(params, "who", p, required=True),
                         work_type=self.text(params, "work_type", p, required=True))
        return Guard(name)

    def conflict(self, item: Any, path: str) -> Conflict:
        doc = self.mapping(item, path) or {}
        return Conflict(self.text(doc, "with", path, required=True),
                        self.choice(doc, "policy", path, POLICIES, "refuse"))

    # -- steps -------------------------------------------------------------------------
    def steps(self, items: Any) -> tuple[Step, ...]:
        if not isinstance(items, list) or not items:
            self.err("template", "steps must be a non-empty list")
            return ()
        steps = []
        for i, item in enumerate(items):
            doc = self.mapping(item, f"steps[{i}]")
            if doc is not None:
                previous = steps[-1].key if steps else None
                steps.append(self.step(doc, i, previous))
        return tuple(steps)

    def step(self, doc: dict, i: int, previous: str | None) -> Step:
        path = f"steps[{i}] ({doc.get('key', '?')})"
        after, window = self.after(doc, path, previous)
        kind = self.choice(doc, "kind", path, STEP_KINDS, "task")
        self.unknown(doc, _STEP_KEYS, path)
        return Step(
            key=self.skey(doc, path), name=self.text(doc, "name", path, default=str(doc.get("key", ""))),
            kind=kind, actor=self.actor(doc.get("actor", "applicant"), f"{path}.actor"),
            fields=self.fields(doc, path), photos=self.photos(doc, path), after=after,
            valid_for=self.valid_for(doc, path), window=window or self.window(doc.get("window"), f"{path}.window"),
            repeat=self.repeat(doc.get("repeat"), f"{path}.repeat"),
            approval=self.approval(doc, kind, path), presence=self.presence(doc, kind, path),
            cc=self.roles(doc, "cc", path), deadline=self.duration(doc, "deadline", path),
            distinct_from=self.keys(doc, "distinct_from", path),
        )

    def after(self, doc: dict, path: str, previous: str | None) -> tuple[tuple[str, ...], Window | None]:
        value = doc.get("after")
        if value is None:
            return ((previous,) if previous else ()), None
        if isinstance(value, dict):
            # DESIGN §4 shorthand: `after: {step: finish, at_least: 30m}` is one predecessor plus a window.
            window = self.window(value, f"{path}.after")
            return ((window.step,) if window else ()), window
        return self.keys(doc, "after", path), None

    def window(self, value: Any, path: str) -> Window | None:
        if value is None or self.mapping(value, path) is None:
            return None
        least, most = self.duration(value, "at_least", path), self.duration(value, "at_most", path)
        if least is None and most is None:
            self.err(path, "needs at_least or at_most")
        if least and most and least > most:
            self.err(path, "at_least must not be longer than at_most")
        return Window(self.text(value, "step", path, required=True), least, most)

    def valid_for(self, doc: dict, path: str) -> ValidFor | None:
        value = doc.get("valid_for")
        if value is None:
            return None
        if isinstance(value, dict):
            duration = self.duration(value, "for", f"{path}.valid_for")
            return ValidFor(duration, self.text(value, "through", f"{path}.valid_for") or None) if duration else None
        duration = self.duration(doc, "valid_for", path)
        return ValidFor(duration) if duration else None

    def repeat(self, value: Any, path: str) -> Repeat | None:
        if value is None or self.mapping(value, path) is None:
            return None
        every = self.duration(value, "every", path)
        if every is None and "every" not in value:
            self.err(path, "every is required")
        until = self.text(value, "until", path, required=True)
        return Repeat(every or timedelta(minutes=1), until)

    def actor(self, value: Any, path: str) -> ActorSpec:
        if value in ("applicant", "system"):
            return ActorSpec(value)
        if not isinstance(value, dict) or not ({"role", "person_field"} & value.keys()):
            self.err(path, "must be applicant, system, {role: …, scope: …} or {person_field: …}")
            return ActorSpec("applicant")
        if "person_field" in value:
            return ActorSpec("person", person_field=self.text(value, "person_field", path, required=True))
        scope = value.get("scope")
        if scope is not None and scope not in SCOPES:
            self.err(path, f"scope must be one of {', '.join(SCOPES)} (got {scope!r})")
        return ActorSpec("role", role=self.text(value, "role", path, required=True), scope=scope)

    def approval(self, doc: dict, kind: str, path: str) -> Approval | None:
        value = doc.get("approval")
        if kind == "task":
            if value is not None:
                self.err(path, "approval is only for kind approval or review")
            return None
        value = self.mapping(value or {}, f"{path}.approval") or {}
        p = f"{path}.approval"
        actors = tuple(self.actor(a, f"{p}.actors[{j}]") for j, a in enumerate(self.listing(value, "actors", p)))
        actors = actors or (self.actor(doc.get("actor", "applicant"), f"{path}.actor"),)
        if any(a.kind == "system" for a in actors):
            self.err(p, "an approval is signed by people, not by the system")
        mode = self.choice(value, "mode", p, MODES, "single")
        if mode == "single" and len(actors) > 1:
            self.err(p, "mode single takes one actor; use all (会签) or any (或签)")
        returns = self.keys(value, "return_to", p) if "return_to" in value else None
        return Approval(mode, actors, returns)

    def presence(self, doc: dict, kind: str, path: str) -> bool:
        value = doc.get("presence")
        if value not in (None, "photo"):
            self.err(path, f"presence must be photo (got {value!r})")
        if value and kind == "task":
            self.err(path, "presence is only for kind approval or review")
        return value == "photo"

    # -- fields and photos ---------------------------------------------------------------
    def fields(self, doc: dict, path: str) -> tuple[Field, ...]:
        out = []
        for j, item in enumerate(self.listing(doc, "fields", path)):
            fdoc = self.mapping(item, f"{path}.fields[{j}]")
            if fdoc is not None:
                out.append(self.field(fdoc, f"{path}.fields[{j}] ({fdoc.get('key', '?')})"))
        return tuple(out)

    def field(self, doc: dict, path: str) -> Field:
        ftype = self.choice(doc, "type", path, FIELD_TYPES, "text")
        many = bool(doc.get("many", False)) or ftype == "many-choice"
        ftype = "choice" if ftype == "many-choice" else ftype
        lo, hi = self.number(doc, "min", path), self.number(doc, "max", path)
        if lo is not None and hi is not None and lo > hi:
            self.err(path, f"min ({lo}) is greater than max ({hi})")
        if (lo is not None or hi is not None) and ftype != "number":
            self.err(path, "min/max are only for type number")
        options = self.options(doc, ftype, path)
        self.unknown(doc, _FIELD_KEYS, path)
        return Field(
            key=self.skey(doc, path), label=self.text(doc, "label", path, default=str(doc.get("key", ""))),
            type=ftype, required=bool(doc.get("required", False)), unit=self.text(doc, "unit", path),
            min=lo, max=hi, options=options, options_from=doc.get("options_from"), many=many,
            items=self.items(doc, ftype, path), show_if=self.show_if(doc.get("show_if"), f"{path}.show_if"),
        )

    def options(self, doc: dict, ftype: str, path: str) -> tuple | None:
        value = doc.get("options")
        if ftype == "choice" and value is None and not doc.get("options_from"):
            self.err(path, "choice needs options or options_from")
        if value is not None and (not isinstance(value, list) or not value):
            self.err(path, "options must be a non-empty list")
            return None
        return tuple(value) if value is not None else None

    def items(self, doc: dict, ftype: str, path: str) -> tuple[ChecklistItem, ...]:
        raw = self.listing(doc, "items", path)
        if ftype == "checklist" and not raw:
            self.err(path, "checklist needs items")
        out = []
        for item in raw:
            if isinstance(item, str):
                out.append(ChecklistItem(item, item))
            elif isinstance(item, dict) and isinstance(item.get("key"), str):
                out.append(ChecklistItem(item["key"], str(item.get("label", item["key"]))))
            else:
                self.err(path, f"items entry {item!r} must be text or {{key, label}}")
        if len({i.key for i in out}) != len(out):
            self.err(path, "items have duplicate keys")
        return tuple(out)

    def show_if(self, value: Any, path: str) -> ShowIf | None:
        if value is None or self.mapping(value, path) is None:
            return None
        if ("equals" in value) == ("in" in value):
            self.err(path, "needs exactly one of equals or in")
            return None
        values = (value["equals"],) if "equals" in value else value["in"]
        if not isinstance(values, (list, tuple)):
            self.err(path, "in must be a list")
            return None
        return ShowIf(self.text(value, "field", path, required=True), tuple(values))

    def photos(self, doc: dict, path: str) -> tuple[PhotoSlot, ...]:
        out = []
        for j, item in enumerate(self.listing(doc, "photos", path)):
            pdoc = self.mapping(item, f"{path}.photos[{j}]")
            if pdoc is None:
                continue
            p = f"{path}.photos[{j}] ({pdoc.get('key', '?')})"
            lo, hi = self.count(pdoc, "min", p, 0), self.count(pdoc, "max", p, 9)
            if lo > hi:
                self.err(p, f"min ({lo}) is greater than max ({hi})")
            key = self.skey(pdoc, p)
            if key == PRESENCE_SLOT:
                self.err(p, f"key {PRESENCE_SLOT!r} is reserved for the approver's presence photo")
            camera_only = pdoc.get("camera_only", False)
            if not isinstance(camera_only, bool):
                self.err(p, "camera_only must be true or false")
                camera_only = False
            video = pdoc.get("video", False)
            if not isinstance(video, bool):
                self.err(p, "video must be true or false")
                video = False
            out.append(PhotoSlot(key, self.text(pdoc, "label", p, default=key), self.text(pdoc, "hint", p), lo, hi,
                                 self.photo_checks(pdoc, p), camera_only, video))
        return tuple(out)

    def photo_checks(self, pdoc: dict, path: str) -> tuple[PhotoCheck, ...]:
        value = pdoc.get("checks")
        if value is None:
            return ()
        if not isinstance(value, dict):
            self.err(path, "checks must be a mapping of check names to options")
            return ()
        out = []
        for name, opts in value.items():
            p = f"{path}.checks.{name}"
            if name not in PHOTO_CHECKS:
                self.err(f"{path}.checks", f"unknown check {name!r} (known: {', '.join(PHOTO_CHECKS)})")
                continue
            opts = {} if opts is None else opts
            if not isinstance(opts, dict):
                self.err(p, "must be a mapping of options (or {})")
                continue
            for key in opts:
                if key != "hard" and key not in PHOTO_CHECKS[name]:
                    self.err(p, f"unknown option {key!r} (known: {', '.join(PHOTO_CHECKS[name] + ('hard',))})")
            hard = opts.get("hard", False)
            if not isinstance(hard, bool):
                self.err(p, "hard must be true or false")
                hard = False
            out.append(PhotoCheck(name, hard, tuple(sorted(self.check_options(name, opts, p).items()))))
        return tuple(out)

    def check_options(self, name: str, opts: dict, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if name == "freshness" and opts.get("max_age") is not None:
            out["max_age"] = self.duration(opts, "max_age", path)
        if name == "reuse" and "distance" in opts:
            d = opts["distance"]
            if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= MAX_REUSE_DISTANCE:
                self.err(path, f"distance must be a whole number from 0 to {MAX_REUSE_DISTANCE} (bits of 64)")
            else:
                out["distance"] = d
        for key, top in (("min_sharpness", None), ("min_brightness", 255), ("within", None)):
            if key in PHOTO_CHECKS[name] and opts.get(key) is not None:
                v = self.number(opts, key, path)
                if v is not None and (v < 0 or (top is not None and v > top)):
                    self.err(path, f"{key} must be ≥ 0" + (f" and ≤ {top}" if top is not None else ""))
                elif v is not None:
                    out[key] = v
        if name == "place":
            if opts.get("within") is None:
                self.err(path, "within is required (metres, e.g. within: 30)")
            out["of"] = self.choice(opts, "of", path, PLACE_TARGETS, "area")
        if name == "before_after":
            before = opts.get("before")
            if not isinstance(before, str) or not before:
                self.err(path, "before is required: the key of an earlier photo slot")
            else:
                out["before"] = before
            if "min_distance" in opts:
                d = opts["min_distance"]
                if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 64:
                    self.err(path, "min_distance must be a whole number from 1 to 64 (bits of 64)")
                else:
                    out["min_distance"] = d
        return out


def _single(item: Any) -> tuple[Any, Any]:
    if isinstance(item, dict) and len(item) == 1:
        return next(iter(item.items()))
    return item, None


_TEMPLATE_KEYS = {"key", "name", "kind", "version", "validity", "max_extension", "guards", "steps",
                  "resume_requires", "handover_requires", "conflicts", "managers", "description"}
_STEP_KEYS = {"key", "name", "kind", "actor", "fields", "photos", "after", "valid_for", "window",
              "repeat", "approval", "presence", "cc", "deadline", "description", "distinct_from"}
_FIELD_KEYS = {"key", "label", "type", "required", "unit", "min", "max", "options", "options_from",
               "many", "items", "show_if", "hint"}


@dataclass
class _References:
    """Cross-reference checks, run once the shapes are right: keys exist, no cycles, no duplicates."""

    tpl: Template
    err: Any
    index: dict[str, int] = field(default_factory=dict)

    def check(self) -> None:
        self.unique_steps()
        for i, step in enumerate(self.tpl.steps):
            self.step_refs(i, step)
        if not self.cycles():
            self.order_refs()
        self.template_refs()
        self.unique_fields()

    def where(self, i: int) -> str:
        return f"steps[{i}] ({self.tpl.steps[i].key})"

    def unique_steps(self) -> None:
        for i, step in enumerate(self.tpl.steps):
            if step.key in self.index:
                self.err(self.where(i), f"key duplicates steps[{self.index[step.key]}]")
            else:
                self.index[step.key] = i

    def known(self, path: str, what: str, key: str | None) -> bool:
        if key is not None and key not in self.index:
            self.err(path, f"{what} names unknown step {key!r}")
            return False
        return True

    def step_refs(self, i: int, step: Step) -> None:
        path = self.where(i)
        for key in step.after:
            self.known(path, "after", key)
        for key in step.distinct_from:
            self.known(path, "distinct_from", key)
        if step.window:
            self.known(path, "window.step", step.window.step)
        if step.repeat:
            self.known(path, "repeat.until", step.repeat.until)
        if step.valid_for:
            self.known(path, "valid_for.through", step.valid_for.through)
        if step.approval and step.approval.return_to:
            for key in step.approval.return_to:
                self.known(path, "approval.return_to", key)
        self.actor_refs(path, i)
        self.field_refs(path, i, step)

    def actor_refs(self, path: str, i: int) -> None:
        step = self.tpl.steps[i]
        specs = [step.actor] + list(step.approval.actors if step.approval else ())
        for spec in specs:
            if spec.kind == "person":
                self.person_field(path, spec.person_field, i, "actor.person_field")

    def person_field(self, path: str, key: str, before: int, what: str) -> None:
        earlier = {f.key: f for s in self.tpl.steps[:before] for f in s.fields}
        if key not in earlier:
            self.err(path, f"{what} {key!r} is not a field of an earlier step")
        elif earlier[key].type != "person":
            self.err(path, f"{what} {key!r} is a {earlier[key].type} field, not person")

    def field_refs(self, path: str, i: int, step: Step) -> None:
        visible = {f.key for s in self.tpl.steps[:i] for f in s.fields}
        for j, f in enumerate(step.fields):
            if f.show_if and f.show_if.field not in visible:
                self.err(f"{path}.fields[{j}] ({f.key})",
                         f"show_if.field {f.show_if.field!r} is not an earlier field")
            visible.add(f.key)

    def cycles(self) -> bool:
        state: dict[str, int] = {}
        for step in self.tpl.steps:
            trail = self.visit(step.key, state, [])
            if trail:
                self.err("steps", f"cycle in after: {' -> '.join(trail)}")
                return True
        return False

    def visit(self, key: str, state: dict[str, int], trail: list[str]) -> list[str] | None:
        if state.get(key) == 2 or key not in self.index:
            return None
        if state.get(key) == 1:
            return trail[trail.index(key):] + [key]
        state[key] = 1
        for pred in self.tpl.steps[self.index[key]].after:
            found = self.visit(pred, state, trail + [key])
            if found:
                return found
        state[key] = 2
        return None

    def order_refs(self) -> None:
        ancestors = self.tpl.ancestors
        for i, step in enumerate(self.tpl.steps):
            path = self.where(i)
            if step.window and step.window.step in self.index and step.window.step not in ancestors[step.key]:
                self.err(path, f"window.step {step.window.step!r} must come before this step")
            if step.repeat and step.repeat.until in self.index and (
                    step.repeat.until == step.key or step.repeat.until in ancestors[step.key]):
                self.err(path, f"repeat.until {step.repeat.until!r} must come after this step")
            self.return_refs(path, step, ancestors[step.key])
            self.before_refs(path, step, ancestors[step.key])

    def before_refs(self, path: str, step: Step, earlier: frozenset[str]) -> None:
        """before_after.before must name a photo slot of this step (listed before) or of a step before it."""
        slots = {p.key for s in self.tpl.steps for p in s.photos}
        for j, slot in enumerate(step.photos):
            before = next((c.get("before") for c in slot.checks if c.name == "before_after"), None)
            if before is None:
                continue
            here = f"{path}.photos[{j}] ({slot.key}).checks.before_after"
            ok = before in {p.key for p in step.photos[:j]} or any(
                before in {p.key for p in s.photos} for s in self.tpl.steps if s.key in earlier)
            if before not in slots:
                self.err(here, f"before {before!r} is not a photo slot of this template")
            elif not ok:
                self.err(here, f"before {before!r} must be a photo slot of an earlier step or listed earlier in this step")

    def return_refs(self, path: str, step: Step, earlier: frozenset[str]) -> None:
        for key in (step.approval.return_to or ()) if step.approval else ():
            if key in self.index and key not in earlier:
                self.err(path, f"approval.return_to {key!r} must come before this step")

    def template_refs(self) -> None:
        for what in ("resume_requires", "handover_requires"):
            for key in getattr(self.tpl, what):
                self.known("template", what, key)
        for i, guard in enumerate(self.tpl.guards):
            if guard.name == "qualified" and guard.who != "applicant":
                self.person_field(f"guards[{i}] (qualified)", guard.who, len(self.tpl.steps), "who")

    def unique_fields(self) -> None:
        seen: dict[str, str] = {}
        for i, step in enumerate(self.tpl.steps):
            for j, f in enumerate(step.fields):
                here = f"{self.where(i)}.fields[{j}] ({f.key})"
                if f.key in seen:
                    self.err(here, f"key duplicates {seen[f.key]}")
                else:
                    seen[f.key] = here
