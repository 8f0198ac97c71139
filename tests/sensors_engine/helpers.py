"""Small builders shared by the sensor engine tests (no Django)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from anlian.sensors.engine import Engine, Reading, load_rules

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=CST)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def r(point: str, value: float, seconds: float, quality: str = "good") -> Reading:
    return Reading(point, value, at(seconds), quality)


class Run:
    """An engine and its state, with the transitions collected as (kind, rule, seconds after T0)."""

    def __init__(self, *docs: dict):
        self.engine = Engine(load_rules(list(docs)))
        self.state = self.engine.new_state()
        self.log: list = []

    def feed(self, *readings: Reading) -> list:
        self.state, out = self.engine.feed(self.state, list(readings))
        self.log += out
        return out

    def tick(self, seconds: float) -> list:
        self.state, out = self.engine.tick(self.state, at(seconds))
        self.log += out
        return out

    def series(self, point: str, values, start: float = 0, step: float = 1) -> list:
        """One reading per step; returns the transitions of the whole series."""
        out = []
        for i, v in enumerate(values):
            out += self.feed(r(point, v, start + i * step))
        return out


def brief(transitions) -> list[tuple]:
    return [(t.kind, t.rule, (t.at - T0).total_seconds()) for t in transitions]
