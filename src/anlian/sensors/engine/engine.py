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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .i18n import MESSAGES, duration, gettext, number, text
from .readings import Reading
from .rules import Condition, Rule

STATE_VERSION = 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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


_NEVER = -(1 << 62)  # "no reading yet", as an int so comparisons need no None test
_FAR = 1 << 62  # "no silence deadline ahead"
_DIRECTION = {"rise": 1, "fall": -1, "either": 0}
_KEEP2 = 2 * (4 * 3600 + 1)  # list items of one rate window at most: 4 readings a second for an hour


class _Value:
    """A threshold / rate / combined rule prepared for evaluation: limits as floats, times in µs."""

    __slots__ = ("any", "clear", "conds", "hold", "key", "point", "rule", "sig")

    def __init__(self, rule: Rule):
        self.key = rule.key
        self.rule = rule
        self.sig = _sig(rule.source)
        self.hold = round(rule.hold * _US)
        self.clear = round(rule.clear_after * _US)
        self.any = rule.mode == "any"
        # (index, point, low, high, rate limit or None, direction, window µs, window key)
        self.conds = tuple(
            (i, c.point, -_INF if c.low is None else c.low, _INF if c.high is None else c.high,
             c.rate.per_minute if c.rate else None, _DIRECTION[c.rate.direction] if c.rate else 0,
             round(c.rate.window * _US) if c.rate else 0, f"{rule.key}/{i}")
            for i, c in enumerate(rule.conditions))
        # One-condition rules are counted in their point's "hot" counter (see Engine.feed).
        self.point = self.conds[0][1] if len(self.conds) == 1 else None

    def fresh(self) -> dict:
        return {"sig": self.sig, "on": False, "c": False, "since": None, "ok": None, "t": 0,
                "r": [False] * len(self.conds)}


class _Silence:
    __slots__ = ("key", "rule", "sig", "span")

    def __init__(self, rule: Rule):
        self.key = rule.key
        self.rule = rule
        self.sig = _sig(rule.source)
        self.span = round(rule.silence_after * _US)

    def fresh(self) -> dict:
        return {"sig": self.sig, "on": False, "start": None, "t": 0}


def new_state() -> dict:
    """An empty state. Keys: ``now`` (the engine's clock, µs), ``pts`` (per watched point
    ``[last accepted reading's time, last valid value, last valid reading's time, number of its
    one-condition rules raised or counting, *rate windows]``,
    each window a flat ``[t, v, t, v, …]`` list, named in ``layout``), ``w`` (the windows of
    combined rules), ``rules`` (per rule its automaton), ``hot`` (value rules raised or counting),
    ``quiet`` (silence rules raised), ``due`` (time-based deadlines), ``next`` (no silence
    deadline comes before it), ``dropped`` (duplicate, late and invalid readings)."""
    return {"v": STATE_VERSION, "sig": None, "now": None, "pts": {}, "layout": {}, "w": {},
            "rules": {}, "hot": {}, "quiet": {}, "due": {}, "next": _FAR,
            "dropped": {"duplicate": 0, "late": 0, "invalid": 0}}


def to_json(state: dict) -> str:
    return json.dumps(state, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def from_json(raw: str | bytes) -> dict:
    """The saved state, checked for shape; ValueError if it is not one this engine wrote."""
    state = json.loads(raw)
    version = state.get("v") if isinstance(state, dict) else None
    if version != STATE_VERSION:
        raise ValueError(f"not a sensor rule state (version {version!r})")
    for key in ("pts", "layout", "w", "rules", "hot", "quiet", "due", "dropped"):
        if not isinstance(state.get(key), dict):
            raise ValueError(f"sensor rule state without {key!r}")  # noqa: TRY004 (a wrong document)
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
        # point → (limit rules, rate rules, combined rules, silence rules)
        index: dict[str, tuple[list, list, list, list]] = {}
        for c in self._value.values():
            for p in c.rule.points:
                th, rt, cb, _ = index.setdefault(p, ([], [], [], []))
                if len(c.conds) == 1 and c.conds[0][4] is None:
                    th.append((c.key, c.conds[0][2], c.conds[0][3], c))
                elif len(c.conds) == 1:
                    _, _, _, _, limit, direction, window, _ = c.conds[0]
                    # the change per minute holds when above ``high`` or below ``low``
                    high = limit if direction >= 0 else _INF
                    low = -limit if direction <= 0 else -_INF
                    rt.append((c.key, 4 + len(rt), window, low, high, c))
                else:
                    cb.append(c)
        for s in self._silence.values():
            for p in s.rule.points:
                index.setdefault(p, ([], [], [], []))[3].append(s)
        # A value inside every limit rule's range of a point with nothing raised or counting
        # needs no look at the rules one by one: the usual case, tested once.
        self._index = {p: (max((t[1] for t in th), default=-_INF), min((t[2] for t in th), default=_INF),
                           tuple(th), tuple(rt), tuple(cb), tuple(si))
                       for p, (th, rt, cb, si) in index.items()}
        # The rate windows kept in each point's list, by name, so a state saved under other
        # rules can be re-laid (docs/sensors.md "State and restart").
        self._layout = {p: [entry[5].conds[0][7] for entry in e[3]] for p, e in self._index.items() if e[3]}
        self.points = frozenset(self._index)

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
        for key, c in {**self._value, **self._silence}.items():
            rs = old.get(key)
            if rs is None or rs.get("sig") != c.sig:
                fresh = c.fresh()
                if rs is not None and ("start" in rs) == ("start" in fresh):
                    for k in ("on", "since", "ok", "c", "start"):
                        if k in rs:
                            fresh[k] = rs[k]
                    if "r" in fresh:
                        fresh["r"] = [bool(fresh["c"])] * len(fresh["r"])
                rs = fresh
            rules[key] = rs
        state["rules"] = rules
        kept = {c.key for c in self._value.values() if old.get(c.key, {}).get("sig") == c.sig}
        state["w"] = {wkey: w for c in self._value.values() if c.key in kept for *_, wkey in c.conds
                      if (w := state["w"].get(wkey)) is not None}
        old_pts, old_layout = state["pts"], state["layout"]
        pts = {}
        for p in self._index:
            ps = old_pts.get(p) or [_NEVER, None, _NEVER, 0]
            windows = dict(zip(old_layout.get(p, ()), ps[4:]))
            pts[p] = ps[:3] + [0] + [windows[wkey] if wkey.rsplit("/", 1)[0] in kept and wkey in windows else []
                               for wkey in self._layout.get(p, ())]
        state["pts"] = pts
        state["layout"] = {p: list(names) for p, names in self._layout.items()}
        state["hot"] = {k: 1 for k in self._value if rules[k]["on"] or rules[k]["since"] is not None}
        for k in state["hot"]:
            if self._value[k].point is not None:
                pts[self._value[k].point][3] += 1
        state["quiet"] = {k: 1 for k in self._silence if rules[k]["on"]}
        state["due"] = {k: d for k, c in self._value.items() if (d := self._deadline(c, rules[k])) is not None}
        state["next"] = 0 if self._silence else _FAR  # the next evaluation looks at every silence rule
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
        rules, pts, hot, quiet = state["rules"], state["pts"], state["hot"], state["quiet"]
        now = state["now"]
        if now is None:
            now = _NEVER
        nxt = state["next"]
        lookup, advance = self._index.get, self._advance
        prev_at, us = None, 0
        dup = late = invalid = 0
        try:
            for point, value, at, quality in readings:
                entry = lookup(point)
                if entry is None:
                    continue
                if at is not prev_at:  # a gateway's batch shares one datetime object
                    if at.tzinfo is None:  # not from parse_batch / make_reading: dropped, counted
                        invalid += 1
                        continue
                    us = round(at.timestamp() * _US)
                    prev_at = at
                ps = pts[point]
                if us <= ps[0]:
                    if us == ps[0]:
                        dup += 1
                    else:
                        late += 1
                    continue
                ps[0] = us
                if us > now:  # noqa: PLR1730 (max() costs a call per reading here)
                    now = us
                if quality != "bad" and value - value == 0:  # NaN and ±inf (not from parse_batch) count as bad
                    low, high, th, rt, cb, si = entry
                    ps[1] = value
                    if value > high or value < low or ps[3]:
                        for key, lo, hi, c in th:
                            if value > hi or value < lo or key in hot:
                                tr = advance(c, rules[key], value > hi or value < lo, us, state)
                                if tr is not None:
                                    out.append(tr)
                    for key, slot, window, low_rate, high_rate, c in rt:
                        w = ps[slot]
                        w += (us, value)
                        if len(w) > _KEEP2:  # more than 4 readings a second over the window: thin the oldest
                            del w[2:4]
                        cutoff = us - window
                        if w[0] <= cutoff:
                            # keep one reading at or before the window's start (the anchor), no older
                            while w[2] <= cutoff:
                                del w[:2]
                            change = (value - w[1]) * 60_000_000 / (us - w[0])
                            cond = change > high_rate or change < low_rate
                        else:
                            cond = False
                        if cond or ps[3] and key in hot:
                            tr = advance(c, rules[key], cond, us, state)
                            if tr is not None:
                                out.append(tr)
                    for c in cb:
                        tr = self._combined(c, rules[c.key], point, value, us, state)
                        if tr is not None:
                            out.append(tr)
                    if si:
                        ps[2] = us
                        if quiet:
                            for s in si:
                                if s.key in quiet:
                                    nxt = self._heard(s, rules[s.key], point, us, now, nxt, state, out)
                if now >= nxt:
                    nxt = self._scan(state, now, out)
        finally:  # even if a bad reading raises, what was done stays consistent
            state["now"] = None if now == _NEVER else now
            state["next"] = nxt
            if dup or late or invalid:
                dropped = state["dropped"]
                dropped["duplicate"] += dup
                dropped["late"] += late
                dropped["invalid"] = dropped.get("invalid", 0) + invalid
        return state, out

    def tick(self, state: dict, now: datetime) -> tuple[dict, list[Transition]]:
        """The caller's clock: silence deadlines, and sustained conditions whose time has come
        without a new reading (the last reading's condition is taken to hold until the next)."""
        if state.get("sig") != self.sig:
            self._reconcile(state)
        if now.tzinfo is None:
            raise ValueError(f"tick time without zone: {now}")
        t = to_us(now)
        if state["now"] is None or t > state["now"]:
            state["now"] = t
        t = state["now"]
        out: list[Transition] = []
        rules = state["rules"]
        for key, deadline in sorted(state["due"].items(), key=lambda kv: (kv[1], kv[0])):
            if deadline <= t:
                rs = rules[key]
                tr = self._advance(self._value[key], rs, rs["c"], t, state)
                if tr is not None:
                    out.append(tr)
        if t >= state["next"]:
            state["next"] = self._scan(state, t, out)
        return state, out

    # -- value rules -----------------------------------------------------------------------
    def _advance(self, c: _Value, rs: dict, cond: bool, us: int, state: dict) -> Transition | None:
        """The sustain / hysteresis automaton of one rule, at ``us`` (clamped to the rule's own
        clock, which never goes back) with condition ``cond``."""
        t = rs["t"]
        if us > t:
            rs["t"] = t = us
        key, due = c.key, state["due"]
        rs["c"] = cond
        tr = None
        if cond:
            rs["ok"] = None
            since = rs["since"]
            if since is None:
                rs["since"] = since = t
            if rs["on"]:
                due.pop(key, None)
            elif t - since >= c.hold:
                rs["on"] = True
                due.pop(key, None)
                tr = self._transition(c, rs, "raised", since, t, state)
            else:
                due[key] = since + c.hold
            self._hot(c, state, True)
            return tr
        if not rs["on"]:
            rs["since"] = None
            due.pop(key, None)
            self._hot(c, state, False)
            return None
        ok = rs["ok"]
        if ok is None:
            rs["ok"] = ok = t
        if t - ok >= c.clear:
            rs["on"] = False
            rs["since"] = rs["ok"] = None
            due.pop(key, None)
            self._hot(c, state, False)
            return self._transition(c, rs, "cleared", ok, t, state)
        due[key] = ok + c.clear
        return None

    @staticmethod
    def _hot(c: _Value, state: dict, hot: bool) -> None:
        """A rule raised or counting towards a raise or a clear is "hot": its point's readings must
        reach it even when they are normal."""
        hots = state["hot"]
        if hot == (c.key in hots):
            return
        if hot:
            hots[c.key] = 1
        else:
            del hots[c.key]
        if c.point is not None:
            state["pts"][c.point][3] += 1 if hot else -1

    def _combined(self, c: _Value, rs: dict, point: str, value: float, us: int, state: dict):
        rs["t"] = max(rs["t"], us)
        results = rs["r"]
        windows = state["w"]
        for i, p, lo, hi, limit, direction, window, wkey in c.conds:
            if p != point:
                continue
            if limit is None:
                results[i] = value > hi or value < lo
                continue
            w = windows.setdefault(wkey, [])
            w.extend((us, value))
            if len(w) > _KEEP2:
                del w[2:4]
            cutoff = us - window
            j = 0
            while j + 2 < len(w) and w[j + 2] <= cutoff:
                j += 2
            if j:
                del w[:j]
            change = _rate(w, window)
            if change is None:
                results[i] = False
            else:
                results[i] = change > limit if direction > 0 else -change > limit if direction < 0 \
                    else abs(change) > limit
        cond = any(results) if c.any else all(results)
        if cond or c.key in state["hot"]:
            return self._advance(c, rs, cond, us, state)
        return None

    # -- silence ---------------------------------------------------------------------------
    def _seen(self, s: _Silence, rs: dict, pts: dict) -> int:
        seen = rs["start"]
        for p in s.rule.points:
            t = pts[p][2]
            seen = max(seen, t)
        return seen

    def _heard(self, s: _Silence, rs: dict, point: str, us: int, now: int, nxt: int, state: dict,
               out: list) -> int:
        deadline = self._seen(s, rs, state["pts"]) + s.span
        if now >= deadline:
            # Only data that brings the point back inside its deadline ends the silence: an old
            # buffered reading arriving after a long gap does not make it flap.
            return nxt
        rs["on"] = False
        del state["quiet"][s.key]
        at = max(us, rs["t"])
        rs["t"] = at
        out.append(Transition("cleared", s.key, s.rule.points, None, from_us(us), from_us(at),
                              s.rule.level, s.rule.actions, "silence_over", {"point": point}))
        return min(nxt, deadline)

    def _scan(self, state: dict, now: int, out: list) -> int:
        """Raise every silence rule past its deadline; return the earliest deadline still ahead."""
        nxt = _FAR
        rules, pts, quiet = state["rules"], state["pts"], state["quiet"]
        for key, s in self._silence.items():
            rs = rules[key]
            if rs["start"] is None:  # watching starts now: a point that never reports is silent too
                rs["start"] = now
            if rs["on"]:
                continue
            seen = self._seen(s, rs, pts)
            deadline = seen + s.span
            if deadline <= now:
                rs["on"] = True
                rs["t"] = now
                quiet[key] = 1
                rule = s.rule
                out.append(Transition(
                    "raised", key, rule.points, None, from_us(seen), from_us(now), rule.level,
                    rule.actions, "silence",
                    {"points": list(rule.points), "duration": (now - seen) / _US,
                     "interval": rule.interval, "misses": rule.misses}))
            elif deadline < nxt:
                nxt = deadline
        return nxt

    # -- transitions -----------------------------------------------------------------------
    def _window(self, state: dict, c: _Value, i: int) -> list | None:
        wkey = c.conds[i][7]
        if c.conds[i][4] is None:
            return None
        if len(c.conds) > 1:
            return state["w"].get(wkey)
        point = c.conds[i][1]
        return state["pts"][point][4 + self._layout[point].index(wkey)] if point in self._layout else None

    def _transition(self, c: _Value, rs: dict, kind: str, since: int, at: int, state: dict) -> Transition:
        rule = c.rule
        pts = state["pts"]
        values = {p: pts[p][1] for p in rule.points if pts[p][1] is not None}
        value = values.get(rule.points[0]) if len(rule.points) == 1 else None
        if kind == "cleared":
            code, params = "normal", {"duration": (at - since) / _US}
        else:
            single = len(rule.conditions) == 1
            parts = [_part(cond, self._window(state, c, i), values.get(cond.point))
                     for i, cond in enumerate(rule.conditions) if single or rs["r"][i]]
            what = parts[0] if single else ("any" if c.any else "all", {"parts": parts})
            code, params = ("held", {"what": what, "duration": (at - since) / _US}) if c.hold else what
        return Transition(kind, rule.key, rule.points, value, from_us(since), from_us(at), rule.level,
                          rule.actions, code, params, values)


def _rate(w: list, window: int) -> float | None:
    """Change per minute between the newest reading and the last one at or before the window's
    start; None until the window is covered (a rate needs a whole window of history)."""
    if not w or w[0] > w[-2] - window:
        return None
    return (w[-1] - w[1]) * 60 * _US / (w[-2] - w[0])


def _part(cond: Condition, w: list | None, value: float | None) -> tuple[str, dict]:
    if cond.rate is not None:
        per_minute = _rate(w, round(cond.rate.window * _US)) or 0.0
        code = "fall" if per_minute < 0 else "rise"
        return code, {"point": cond.point, "rate": float(round(abs(per_minute), 4)),
                      "limit": float(cond.rate.per_minute)}
    value = float(value) if value is not None else 0.0
    if cond.setpoint is not None:
        return "band", {"point": cond.point, "value": value, "setpoint": cond.setpoint, "band": cond.band}
    if cond.above is not None and (value > cond.above or cond.below is None):
        return "above", {"point": cond.point, "value": value, "limit": cond.above}
    return "below", {"point": cond.point, "value": value, "limit": cond.below}
