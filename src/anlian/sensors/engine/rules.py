"""Rules as data: load them from YAML or dicts into frozen objects, or say precisely what is wrong.

Like workflow templates, every problem is reported at once with its place
(``rules[2]（r101-hot）.band：「band」须大于0``), so one round of editing fixes a rule file.
The kinds (docs/sensors.md): ``threshold``, ``rate``, ``combined`` (all / any of several
conditions, on several points) — each optionally sustained with ``for`` and ``clear_after`` —
and ``silence``. ``level`` and ``actions`` are passed through to the Django side untouched.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .i18n import MESSAGES, gettext, text

KINDS = ("threshold", "rate", "combined", "silence")
LEVELS = (1, 2, 3)
ACTIONS = ("notify", "freeze", "hazard")
DIRECTIONS = ("rise", "fall", "either")
MODES = ("all", "any")
MAX_HOLD = 24 * 3600  # for / clear_after, seconds
MAX_WINDOW = 3600  # rate windows: the raw readings kept per rule stay bounded
MAX_INTERVAL = 7 * 24 * 3600
MAX_MISSES = 100
MAX_CONDITIONS = 20
MAX_POINTS = 200  # points one silence rule watches
MAX_NAME = 128
MAX_LIMIT = 1e12
_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_PART = re.compile(r"(\d+)([hms])")
_WHOLE = re.compile(r"^(?:\d+[hms])+$")
_UNIT = {"h": 3600, "m": 60, "s": 1}

_COMMON = {"key", "name", "kind", "level", "actions", "description"}
_VALUE = {"for", "clear_after"}
_LIMITS = {"above", "below", "setpoint", "band"}
_RATE = {"per_minute", "direction", "window"}
_RULE_KEYS = {
    "threshold": _COMMON | _VALUE | _LIMITS | {"point"},
    "rate": _COMMON | _VALUE | _RATE | {"point"},
    "combined": _COMMON | _VALUE | {"mode", "conditions"},
    "silence": _COMMON | {"point", "points", "interval", "misses"},
}
_CONDITION_KEYS = _LIMITS | {"point", "rate"}


def parse_seconds(value: Any) -> float:
    """``120``, ``"120s"``, ``"5m"``, ``"2h"``, ``"1h30m"`` → seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(value)  # noqa: TRY004 (callers catch ValueError for every bad duration)
    if isinstance(value, (int, float)):
        if math.isnan(value) or value < 0 or value > 10 * MAX_INTERVAL:
            raise ValueError(value)
        return float(value)
    if isinstance(value, str):
        raw = value.strip()
        if raw.isdigit():
            return float(raw)
        if _WHOLE.match(raw):
            return float(sum(int(n) * _UNIT[u] for n, u in _PART.findall(raw)))
    raise ValueError(value)


@dataclass(frozen=True)
class Rate:
    per_minute: float
    direction: str = "either"
    window: float = 60.0  # seconds


@dataclass(frozen=True)
class Condition:
    """One test on one point: a limit (``above``/``below``/``setpoint ± band``) or a rate.

    Limits are strict: with setpoint 80 and band 5, 85.0 is still normal and 85.01 is not.
    """

    point: str
    above: float | None = None
    below: float | None = None
    setpoint: float | None = None
    band: float | None = None
    rate: Rate | None = None

    @property
    def high(self) -> float | None:
        return self.setpoint + self.band if self.setpoint is not None else self.above

    @property
    def low(self) -> float | None:
        return self.setpoint - self.band if self.setpoint is not None else self.below


@dataclass(frozen=True)
class Rule:
    key: str
    name: str
    kind: str
    level: int = 2
    actions: tuple[dict, ...] = ()
    conditions: tuple[Condition, ...] = ()
    mode: str = "all"
    hold: float = 0.0  # seconds the condition must hold before raising ("for")
    clear_after: float = 0.0  # seconds of normal values before clearing (default: hold)
    points: tuple[str, ...] = ()  # every point the rule reads
    interval: float = 0.0  # silence: seconds between expected readings
    misses: int = 1  # silence: missed intervals before raising
    description: str = ""
    source: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def silence_after(self) -> float:
        return self.interval * self.misses

    @property
    def level_name(self) -> str:
        return text(f"level_{self.level}")


@dataclass(frozen=True)
class Issue:
    path: str
    code: str
    params: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        return f"{self.path}：{text(self.code, self.params)}" if self.path else text(self.code, self.params)


class RuleError(ValueError):
    """All problems of one rule document; ``errors`` are translated lines, ``issues`` the data."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("\n".join(i.message for i in issues))

    @property
    def errors(self) -> list[str]:
        return [i.message for i in self.issues]


def load_rules(source: str | bytes | list | dict) -> tuple[Rule, ...]:
    """YAML text, a list of rule mappings, or ``{"rules": [...]}`` → rules, or RuleError."""
    if isinstance(source, (str, bytes)):
        try:
            source = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise RuleError([Issue("", "not_yaml", {"detail": str(exc).splitlines()[0]})]) from exc
    if isinstance(source, dict) and set(source) == {"rules"}:
        source = source["rules"]
    if not isinstance(source, list):
        raise RuleError([Issue("", "rules_shape")])
    parser = _Parser()
    rules = []
    seen: set[str] = set()
    for i, doc in enumerate(source):
        rule = parser.rule(doc, i)
        if rule is None:
            continue
        if rule.key in seen:
            parser.err(f"rules[{i}]", "duplicate_key", value=rule.key)
        seen.add(rule.key)
        rules.append(rule)
    if parser.issues:
        raise RuleError(parser.issues)
    return tuple(rules)


def load_rule(doc: dict) -> Rule:
    """One rule mapping (the rule editor validates one at a time)."""
    return load_rules([doc])[0]


class _Parser:
    def __init__(self):
        self.issues: list[Issue] = []

    def err(self, path: str, code: str, **params: Any) -> None:
        self.issues.append(Issue(path, code, params))

    # -- scalars ---------------------------------------------------------------------------
    def text(self, doc: dict, key: str, path: str, required: bool = False, limit: int = 200) -> str:
        value = doc.get(key)
        if value in (None, ""):
            if required:
                self.err(path, "required", key=key)
            return ""
        if not isinstance(value, str):
            self.err(path, "not_text", key=key)
            return ""
        if len(value) > limit:
            self.err(path, "too_large", key=key, limit=f"{limit}字")
        return value

    def number(self, doc: dict, key: str, path: str, positive: bool = False) -> float | None:
        value = doc.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            self.err(path, "not_number", key=key)
            return None
        if abs(value) > MAX_LIMIT:
            self.err(path, "too_large", key=key, limit="1e12")
            return None
        if positive and value <= 0:
            self.err(path, "not_positive", key=key)
            return None
        return float(value)

    def seconds(self, doc: dict, key: str, path: str, low: float, high: float, default: float | None) -> float | None:
        if doc.get(key) is None:
            return default
        try:
            value = parse_seconds(doc[key])
        except ValueError:
            self.err(path, "bad_duration", key=key, got=_show(doc[key]))
            return default
        if not low <= value <= high:
            self.err(path, "duration_range", key=key, low=_dur(low), high=_dur(high))
            return default
        return value

    def choice(self, doc: dict, key: str, path: str, allowed: tuple, default: Any) -> Any:
        value = doc.get(key, default)
        if value not in allowed or isinstance(value, bool):
            sep = gettext(MESSAGES["list_sep"])
            self.err(path, "bad_choice", key=key, allowed=sep.join(str(a) for a in allowed), got=_show(value))
            return default
        return value

    def point(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value or len(value) > MAX_NAME or not value.isprintable():
            self.err(path, "bad_point", limit=MAX_NAME)
            return ""
        return value

    def unknown(self, doc: dict, known: set[str], path: str) -> None:
        for key in doc:
            if key not in known:
                self.err(path, "unknown_key", key=str(key))

    # -- rules -----------------------------------------------------------------------------
    def rule(self, doc: Any, i: int) -> Rule | None:
        if not isinstance(doc, dict):
            self.err(f"rules[{i}]", "rule_shape")
            return None
        raw_key = doc.get("key")
        path = f"rules[{i}]（{raw_key}）" if isinstance(raw_key, str) and raw_key else f"rules[{i}]"
        key = self.text(doc, "key", path, required=True, limit=64)
        if key and not _KEY.match(key):
            self.err(path, "bad_key", value=key)
        kind = self.choice(doc, "kind", path, KINDS, None) if "kind" in doc else None
        if "kind" not in doc:
            self.err(path, "required", key="kind")
        common = {
            "key": key, "name": self.text(doc, "name", path) or key, "kind": kind or "threshold",
            "level": self.choice(doc, "level", path, LEVELS, 2), "actions": self.actions(doc, path),
            "description": self.text(doc, "description", path, limit=2000), "source": doc,
        }
        if kind is None:
            return None
        self.unknown(doc, _RULE_KEYS[kind], path)
        if kind == "silence":
            points = self.points(doc, path)
            interval = self.seconds(doc, "interval", path, 1, MAX_INTERVAL, None)
            if "interval" not in doc:
                self.err(path, "required", key="interval")
            misses = doc.get("misses", 1)
            if isinstance(misses, bool) or not isinstance(misses, int) or not 1 <= misses <= MAX_MISSES:
                self.err(path, "not_count", key="misses", limit=MAX_MISSES)
                misses = 1
            return Rule(**common, points=points, interval=interval or 60.0, misses=misses)
        if kind == "combined":
            mode = self.choice(doc, "mode", path, MODES, "all")
            conditions = self.conditions(doc, path)
        else:
            mode = "all"
            if doc.get("point") is None:
                self.err(path, "required", key="point")
            point = self.point(doc.get("point"), f"{path}.point") if doc.get("point") is not None else ""
            conditions = (self.rate(doc, point, path) if kind == "rate" else self.limits(doc, point, path),)
        hold = self.seconds(doc, "for", path, 0, MAX_HOLD, 0.0)
        clear = self.seconds(doc, "clear_after", path, 0, MAX_HOLD, hold)
        points = tuple(dict.fromkeys(c.point for c in conditions))
        return Rule(**common, conditions=conditions, mode=mode, hold=hold, clear_after=clear, points=points)

    def actions(self, doc: dict, path: str) -> tuple[dict, ...]:
        items = doc.get("actions")
        if items is None:
            return ()
        if not isinstance(items, list):
            self.err(path, "not_list", key="actions")
            return ()
        out = []
        for j, item in enumerate(items):
            where = f"{path}.actions[{j}]"
            if isinstance(item, str):
                name, params = item, {}
            elif isinstance(item, dict) and len(item) == 1:
                name, params = next(iter(item.items()))
                params = {} if params is None else params
            else:
                self.err(where, "bad_action")
                continue
            if name not in ACTIONS:
                self.err(where, "bad_action")
            elif not isinstance(params, dict):
                self.err(where, "action_params", name=name)
            else:
                out.append({"action": name, **params})
        return tuple(out)

    def points(self, doc: dict, path: str) -> tuple[str, ...]:
        raw = doc.get("points", doc.get("point"))
        if raw is None:
            self.err(path, "required", key="points")
            return ()
        raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list):
            self.err(path, "not_list", key="points")
            return ()
        if not raw:
            self.err(path, "list_empty", key="points")
        if len(raw) > MAX_POINTS:
            self.err(path, "list_too_long", key="points", limit=MAX_POINTS)
        return tuple(dict.fromkeys(self.point(p, f"{path}.points[{j}]") for j, p in enumerate(raw)))

    def limits(self, doc: dict, point: str, path: str) -> Condition:
        above, below = self.number(doc, "above", path), self.number(doc, "below", path)
        setpoint, band = self.number(doc, "setpoint", path), self.number(doc, "band", path, positive=True)
        given = {k for k in _LIMITS if doc.get(k) is not None}
        if given & {"setpoint", "band"} and given & {"above", "below"}:
            self.err(path, "limits_mixed")
        elif given & {"setpoint", "band"} and not {"setpoint", "band"} <= given:
            self.err(path, "setpoint_band")
        elif not given:
            self.err(path, "limits_missing")
        elif above is not None and below is not None and below >= above:
            self.err(path, "below_above", below=below, above=above)
        return Condition(point, above=above, below=below, setpoint=setpoint, band=band)

    def rate(self, doc: dict, point: str, path: str) -> Condition:
        if doc.get("per_minute") is None:
            self.err(path, "required", key="per_minute")
        per_minute = self.number(doc, "per_minute", path, positive=True)
        return Condition(point, rate=Rate(
            per_minute=per_minute or 1.0, direction=self.choice(doc, "direction", path, DIRECTIONS, "either"),
            window=self.seconds(doc, "window", path, 1, MAX_WINDOW, 60.0)))

    def conditions(self, doc: dict, path: str) -> tuple[Condition, ...]:
        items = doc.get("conditions")
        if not isinstance(items, list) or not items:
            self.err(path, "list_empty" if isinstance(items, list) else "not_list" if items is not None else "required",
                     key="conditions")
            return ()
        if len(items) > MAX_CONDITIONS:
            self.err(path, "list_too_long", key="conditions", limit=MAX_CONDITIONS)
        out = []
        for j, item in enumerate(items):
            where = f"{path}.conditions[{j}]"
            if not isinstance(item, dict):
                self.err(where, "rule_shape")
                continue
            self.unknown(item, _CONDITION_KEYS, where)
            if item.get("point") is None:
                self.err(where, "required", key="point")
            point = self.point(item.get("point"), f"{where}.point") if item.get("point") is not None else ""
            has_rate, has_limit = item.get("rate") is not None, any(item.get(k) is not None for k in _LIMITS)
            if has_rate and has_limit:
                self.err(where, "condition_kind")
            elif has_rate:
                rate = item["rate"]
                if not isinstance(rate, dict):
                    self.err(f"{where}.rate", "rule_shape")
                    continue
                self.unknown(rate, _RATE, f"{where}.rate")
                out.append(self.rate(rate, point, f"{where}.rate"))
            else:
                out.append(self.limits(item, point, where))
        return tuple(out)


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "…"


def _dur(seconds: float) -> str:
    from .i18n import duration

    return duration(seconds)
