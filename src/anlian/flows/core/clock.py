"""Durations and injected time.

The core never reads the wall clock: every decision takes ``now`` from the caller, so tests
can replay a real job minute by minute and the server stays the single source of time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

_PART = re.compile(r"(\d+)([dhm])")
_WHOLE = re.compile(r"^(?:\d+[dhm])+$")
_UNIT = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def parse_duration(text: object) -> timedelta:
    """Parse "30m", "2h", "72h", "7d" or combinations such as "1h30m"."""
    if not isinstance(text, str) or not _WHOLE.match(text.strip()):
        raise ValueError(f"{text!r} is not a duration (use 30m, 2h, 72h, 7d)")
    return sum((int(n) * _UNIT[u] for n, u in _PART.findall(text)), timedelta())


def minutes(delta: timedelta) -> int:
    """Whole minutes, for messages such as "已超过30分钟"."""
    return int(delta.total_seconds() // 60)


_display_zone: tzinfo | None = None


def set_display_zone(zone: tzinfo | None) -> None:
    """The zone times in refusal messages are shown in (the site's); None keeps them as stored."""
    global _display_zone
    _display_zone = zone


def fmt_time(moment: datetime) -> str:
    if _display_zone is not None and moment.tzinfo is not None:
        moment = moment.astimezone(_display_zone)
    return moment.strftime("%Y-%m-%d %H:%M")


@dataclass
class FixedClock:
    """A settable clock for tests and replays; callers pass ``clock.now`` into the engine."""

    now: datetime
    history: list[datetime] = field(default_factory=list)

    def set(self, moment: datetime) -> datetime:
        self.history.append(self.now)
        self.now = moment
        return moment

    def advance(self, **kwargs: float) -> datetime:
        return self.set(self.now + timedelta(**kwargs))
