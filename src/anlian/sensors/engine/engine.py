"""Evaluation: readings and clock ticks in, raised / cleared transitions out.

``Engine(rules)`` is immutable; all that changes lives in a plain JSON-serialisable dict (the
state), so ``anlian ingest`` can save it after each batch and resume after a restart exactly
where it stopped: a window that was running keeps its start, an alarm is neither lost nor
raised twice (tests/sensors_engine/test_restart.py proves it on random streams).

Time inside the state is integer microseconds since the Unix epoch (exact in JSON, cheap to
compare). The engine never reads the wall clock: reading times come from the readings, and
``tick(state, now)`` brings the caller's clock in, for silence and for sustained conditions
whose next reading is late.

Ordering, deterministically (docs/sensors.md "Order and duplicates"): readings are taken in the
order given. Per point, a reading not newer than the last one accepted for that point is dropped
(equal time: a duplicate; older: late), counted in ``state["dropped"]``. A rule's own clock never
goes back: a reading older than the rule's last evaluation (another of its points, or a tick, was
later) counts at that last evaluation time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from .i18n import MESSAGES, duration, gettext, number, text
from .readings import Reading
from .rules import Condition, Rule

STATE_VERSION = 1
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = 1_000_000
_INF = float("inf")


def to_us(at: datetime) -> int:
    """Aware datetime → integer microseconds since the epoch (exact for any real reading time)."""
    return round(at.timestamp() * _US)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True)
class Transition:
    """An alarm raised or cleared, with everything the Django side needs to act and explain.

    ``since``: for ``raised``, when the condition started (for silence: the last valid reading,
    or when watching began); for ``cleared``, when values became normal again (for silence: the
    reading that ended it). ``at``: when the engine decided. ``value``: the reading of a
    one-point rule (None for silence and combined rules; ``values`` has every point's last).
    ``reason`` is translated when read.
    """

    kind: str  # raised | cleared
    rule: str
    points: tuple[str, ...]
    value: float | None
    since: datetime
    at: datetime
    level: int
    actions: tuple[dict, ...] = ()
    code: str = ""
    params: dict = field(default_factory=dict, compare=True)
    values: dict = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return _render(self.code, self.params)

    @property
    def level_name(self) -> str:
        return text(f"level_{self.level}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, e.g. for a huey task argument or an audit record."""
        return {"kind": self.kind, "rule": self.rule, "points": list(self.points), "value": self.value,
                "values": dict(self.values), "since": self.since.isoformat(), "at": self.at.isoformat(),
                "level": self.level, "actions": [dict(a) for a in self.actions], "code": self.code,
                "params": self.params, "reason": self.reason}


def _render(code: str, params: dict) -> str:
    shown = {}
    for key, value in params.items():
        if key in ("duration", "interval"):
            shown[key] = duration(value)
        elif key == "parts":
            shown[key] = gettext(MESSAGES["and"]).join(_render(c, p) for c, p in value)
        elif key == "what":
            shown[key] = _render(*value)
        elif key == "points":
            shown[key] = gettext(MESSAGES["list_sep"]).join(value)
        elif isinstance(value, float):
            shown[key] = number(value)
        else:
            shown[key] = value
    return text(code, shown)


def _sig(doc: Any) -> str:
    blob = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _Value:
    """A threshold / rate / combined rule prepared for evaluation: limits as floats, times in µs."""

    __slots__ = ("key", "rule", "hold", "clear", "conds", "any", "single", "lo", "hi", "sig")

    def __init__(self, rule: Rule):
        self.key = rule.key
        self.rule = rule
        self.sig = _sig(rule.source)
        self.hold = round(rule.hold * _US)
        self.clear = round(rule.clear_after * _US)
        self.any = rule.mode == "any"
        # (index, point, low, high, rate-or-None, window µs)
        self.conds = tuple(
            (i, c.point, -_INF if c.low is None else c.low, _INF if c.high is None else c.high,
             c.rate, round(c.rate.window * _US) if c.rate else 0)
            for i, c in enumerate(rule.conditions))
        first = self.conds[0]
        # The common case, one limit test on one point, gets a path without loops or windows.
        self.single = len(self.conds) == 1 and first[4] is None
        self.lo, self.hi = first[2], first[3]

    def fresh(self) -> dict:
        return {"sig": self.sig, "on": False, "c": False, "since": None, "ok": None, "t": 0,
                "v": {}, "w": {}, "r": [False] * len(self.conds)}


class _Silence:
    __slots__ = ("key", "rule", "span", "sig")

    def __init__(self, rule: Rule):
        self.key = rule.key
        self.rule = rule
        self.sig = _sig(rule.source)
        self.span = round(rule.silence_after * _US)

    def fresh(self) -> dict:
        return {"sig": self.sig, "on": False, "seen": None, "t": 0}


def new_state() -> dict:
    return {"v": STATE_VERSION, "sig": None, "now": None, "last": {}, "rules": {}, "due": {},
            "next": None, "dropped": {"duplicate": 0, "late": 0}}


def to_json(state: dict) -> str:
    return json.dumps(state, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def from_json(raw: str | bytes) -> dict:
    """The saved state, checked for shape; ValueError if it is not one this engine wrote."""
    state = json.loads(raw)
    if not isinstance(state, dict) or state.get("v") != STATE_VERSION:
        raise ValueError("not a sensor rule state (version %r)" % (state.get("v") if isinstance(state, dict) else None))
    for key, kind in (("last", dict), ("rules", dict), ("due", dict), ("dropped", dict)):
        if not isinstance(state.get(key), kind):
            raise ValueError(f"sensor rule state without {key!r}")
    return state


class Engine:
    """``feed(state, readings)`` and ``tick(state, now)`` update ``state`` in place and return it
    with the transitions, in the order they happened. Never share one state between threads."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules = tuple(rules)
        keys = [r.key for r in self.rules]
        if len(set(keys)) != len(keys):
            raise ValueError("rule keys must be unique")
        self._value = {r.key: _Value(r) for r in self.rules if r.kind != "silence"}
        self._silence = {r.key: _Silence(r) for r in self.rules if r.kind == "silence"}
        self.sig = _sig([[r.key, _sig(r.source)] for r in self.rules])
        by_point: dict[str, list] = {}
        for v in self._value.values():
            for p in v.rule.points:
                by_point.setdefault(p, []).append(v)
        self._by_point = {p: tuple(vs) for p, vs in by_point.items()}
        silent: dict[str, list] = {}
        for s in self._silence.values():
            for p in s.rule.points:
                silent.setdefault(p, []).append(s)
        self._silent_by_point = {p: tuple(ss) for p, ss in silent.items()}
        self.points = frozenset(self._by_point) | frozenset(self._silent_by_point)

    def new_state(self) -> dict:
        state = new_state()
        self._reconcile(state)
        return state

    # -- rules changed since the state was saved -------------------------------------------
    def _reconcile(self, state: dict) -> None:
        """Adopt a state saved under other rules: unchanged rules keep everything; a changed
        rule keeps whether it is raised and since when (its windows restart); a removed
        rule's state goes (the Django side ends its open alarm)."""
        old = state["rules"]
        rules: dict[str, dict] = {}
        due: dict[str, int] = {}
        for key, c in {**self._value, **self._silence}.items():
            rs = old.get(key)
            if rs is None or rs.get("sig") != c.sig:
                fresh = c.fresh()
                if rs is not None and ("seen" in rs) == ("seen" in fresh):
                    for k in ("on", "since", "ok", "c", "seen"):
                        if k in rs and k in fresh:
                            fresh[k] = rs[k]
                rs = fresh
            rules[key] = rs
            if isinstance(c, _Value):
                deadline = self._deadline(c, rs)
                if deadline is not None:
                    due[key] = deadline
        state["rules"] = rules
        state["due"] = due
        state["last"] = {p: t for p, t in state["last"].items() if p in self.points}
        state["next"] = 0 if self._silence else None  # the first evaluation looks at every silence rule
        state["sig"] = self.sig

    @staticmethod
    def _deadline(c: _Value, rs: dict) -> int | None:
        if rs["c"] and not rs["on"] and rs["since"] is not None:
            return rs["since"] + c.hold
        if not rs["c"] and rs["on"] and rs["ok"] is not None:
            return rs["ok"] + c.clear
        return None

    # -- readings --------------------------------------------------------------------------
    def feed(self, state: dict, readings: Iterable[Reading]) -> tuple[dict, list[Transition]]:
        if state.get("sig") != self.sig:
            self._reconcile(state)
        out: list[Transition] = []
        rules, last, due = state["rules"], state["last"], state["due"]
        now = state["now"]
        if now is None:
            now = -(1 << 62)
        nxt = state["next"]
        by_point, silent_by_point = self._by_point, self._silent_by_point
        prev_at, us = None, 0
        dup = late = 0
        for reading in readings:
            point = reading[0]
            values = by_point.get(point)
            silents = silent_by_point.get(point)
            if values is None and silents is None:
                continue
            at = reading[2]
            if at is not prev_at:  # a gateway's batch shares one datetime object
                us = round(at.timestamp() * _US)
                prev_at = at
            seen = last.get(point)
            if seen is not None and us <= seen:
                if us == seen:
                    dup += 1
                else:
                    late += 1
                continue
            last[point] = us
            if us > now:
                now = us
            if reading[3] != "bad":
                value = reading[1]
                if values is not None:
                    for c in values:
                        rs = rules[c.key]
                        t = rs["t"]
                        if us > t:
                            rs["t"] = t = us
                        if c.single:
                            rs["v"][point] = value
                            cond = value > c.hi or value < c.lo
                            if cond or rs["on"] or rs["since"] is not None:
                                tr = self._advance(c, rs, cond, t, due)
                                if tr is not None:
                                    out.append(tr)
                            else:
                                rs["c"] = False
                        else:
                            tr = self._combined(c, rs, point, value, us, t, due)
                            if tr is not None:
                                out.append(tr)
                if silents is not None:
                    for s in silents:
                        nxt = self._heard(s, rules[s.key], point, us, now, nxt, out)
            if nxt is not None and now >= nxt:
                nxt = self._scan(rules, now, out)
        state["now"] = None if now == -(1 << 62) else now
        state["next"] = nxt
        if dup or late:
            dropped = state["dropped"]
            dropped["duplicate"] += dup
            dropped["late"] += late
        return state, out

    def tick(self, state: dict, now: datetime) -> tuple[dict, list[Transition]]:
        """The caller's clock: silence deadlines, and sustained conditions whose time has come
        without a new reading (the last reading's condition is taken to hold until the next)."""
        if state.get("sig") != self.sig:
            self._reconcile(state)
        t = to_us(now)
        if state["now"] is None or t > state["now"]:
            state["now"] = t
        t = state["now"]
        out: list[Transition] = []
        rules, due = state["rules"], state["due"]
        for key, deadline in sorted(due.items(), key=lambda kv: (kv[1], kv[0])):
            if deadline <= t:
                c, rs = self._value[key], rules[key]
                if t > rs["t"]:
                    rs["t"] = t
                tr = self._advance(c, rs, rs["c"], rs["t"], due)
                if tr is not None:
                    out.append(tr)
        if state["next"] is not None and t >= state["next"]:
            state["next"] = self._scan(rules, t, out)
        return state, out

    # -- value rules -----------------------------------------------------------------------
    def _advance(self, c: _Value, rs: dict, cond: bool, t: int, due: dict) -> Transition | None:
        """The sustain / hysteresis automaton of one rule, at time ``t`` with condition ``cond``."""
        rs["c"] = cond
        if cond:
            rs["ok"] = None
            since = rs["since"]
            if since is None:
                rs["since"] = since = t
            if rs["on"]:
                due.pop(c.key, None)
                return None
            if t - since >= c.hold:
                rs["on"] = True
                due.pop(c.key, None)
                return self._transition(c, rs, "raised", since, t)
            due[c.key] = since + c.hold
            return None
        if not rs["on"]:
            rs["since"] = None
            due.pop(c.key, None)
            return None
        ok = rs["ok"]
        if ok is None:
            rs["ok"] = ok = t
        if t - ok >= c.clear:
            rs["on"] = False
            rs["since"] = rs["ok"] = None
            due.pop(c.key, None)
            return self._transition(c, rs, "cleared", ok, t)
        due[c.key] = ok + c.clear
        return None

    def _combined(self, c: _Value, rs: dict, point: str, value: float, us: int, t: int, due: dict):
        rs["v"][point] = value
        results = rs["r"]
        for i, p, lo, hi, rate, window in c.conds:
            if p != point:
                continue
            if rate is None:
                results[i] = value > hi or value < lo
                continue
            w = rs["w"].setdefault(str(i), [])
            w.append([us, value])
            cutoff = us - window
            drop = 0
            while drop + 1 < len(w) and w[drop + 1][0] <= cutoff:
                drop += 1
            if drop:
                del w[:drop]
            if len(w) > 4 * 3600:  # more than 4 readings a second for an hour: thin the oldest
                del w[1]
            per_minute = _rate(w, cutoff)
            if per_minute is None:
                results[i] = False
            elif rate.direction == "rise":
                results[i] = per_minute > rate.per_minute
            elif rate.direction == "fall":
                results[i] = -per_minute > rate.per_minute
            else:
                results[i] = abs(per_minute) > rate.per_minute
        cond = any(results) if c.any else all(results)
        if cond or rs["on"] or rs["since"] is not None:
            return self._advance(c, rs, cond, t, due)
        rs["c"] = False
        return None

    # -- silence ---------------------------------------------------------------------------
    def _heard(self, s: _Silence, rs: dict, point: str, us: int, now: int, nxt: int | None,
               out: list) -> int | None:
        if rs["seen"] is None or us > rs["seen"]:
            rs["seen"] = us
        if rs["on"] and now < rs["seen"] + s.span:
            # Only data that brings the point back inside its deadline ends the silence: an old
            # buffered reading arriving after a long gap does not make it flap.
            rs["on"] = False
            at = max(us, rs["t"])
            rs["t"] = at
            out.append(Transition("cleared", s.key, s.rule.points, None, from_us(us), from_us(at),
                                  s.rule.level, s.rule.actions, "silence_over", {"point": point}))
            deadline = rs["seen"] + s.span
            return deadline if nxt is None or deadline < nxt else nxt
        return nxt

    def _scan(self, rules: dict, now: int, out: list) -> int | None:
        """Raise every silence rule past its deadline; return the earliest deadline still ahead."""
        nxt = None
        for key, s in self._silence.items():
            rs = rules[key]
            if rs["seen"] is None:  # watching starts now: a point that never reports is silent too
                rs["seen"] = now
            if rs["on"]:
                continue
            deadline = rs["seen"] + s.span
            if deadline <= now:
                rs["on"] = True
                rs["t"] = now
                rule = s.rule
                out.append(Transition(
                    "raised", key, rule.points, None, from_us(rs["seen"]), from_us(now), rule.level,
                    rule.actions, "silence",
                    {"points": list(rule.points), "duration": (now - rs["seen"]) / _US,
                     "interval": rule.interval, "misses": rule.misses}))
            elif nxt is None or deadline < nxt:
                nxt = deadline
        return nxt

    # -- transitions -----------------------------------------------------------------------
    def _transition(self, c: _Value, rs: dict, kind: str, since: int, at: int) -> Transition:
        rule = c.rule
        values = {p: rs["v"][p] for p in rule.points if p in rs["v"]}
        value = values.get(rule.points[0]) if len(rule.points) == 1 else None
        if kind == "cleared":
            code, params = "normal", {"duration": (at - since) / _US}
        else:
            parts = []
            for i, cond in enumerate(rule.conditions):
                if rs["r"][i] or (c.single or len(rule.conditions) == 1):
                    parts.append(_part(cond, rs, i, values.get(cond.point)))
            what = parts[0] if len(rule.conditions) == 1 else ("any" if c.any else "all", {"parts": parts})
            code, params = ("held", {"what": what, "duration": (at - since) / _US}) if c.hold else what
        return Transition(kind, rule.key, rule.points, value, from_us(since), from_us(at), rule.level,
                          rule.actions, code, params, values)


def _rate(w: list, cutoff: int) -> float | None:
    """Change per minute between the newest reading and the last one at or before the window's
    start; None until the window is covered (a rate needs a whole window of history)."""
    first = w[0]
    if first[0] > cutoff or len(w) < 2:
        return None
    newest = w[-1]
    return (newest[1] - first[1]) * 60 * _US / (newest[0] - first[0])


def _part(cond: Condition, rs: dict, i: int, value: float | None) -> tuple[str, dict]:
    if cond.rate is not None:
        w = rs["w"].get(str(i)) or []
        per_minute = _rate(w, w[-1][0] - round(cond.rate.window * _US)) if w else None
        per_minute = per_minute or 0.0
        code = "fall" if per_minute < 0 else "rise"
        return code, {"point": cond.point, "rate": float(round(abs(per_minute), 4)),
                      "limit": float(cond.rate.per_minute)}
    value = float(value) if value is not None else 0.0
    if cond.setpoint is not None:
        return "band", {"point": cond.point, "value": value, "setpoint": cond.setpoint, "band": cond.band}
    if cond.above is not None and value > cond.above:
        return "above", {"point": cond.point, "value": value, "limit": cond.above}
    if cond.below is not None:
        return "below", {"point": cond.point, "value": value, "limit": cond.below}
    return "above", {"point": cond.point, "value": value, "limit": cond.above}

