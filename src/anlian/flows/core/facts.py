"""What the engine needs to know about people and places, supplied by the caller.

The core cannot query the database, so the Django layer fills these objects per request:
``ActorFacts`` for the person acting, a ``WorldFacts`` provider for areas, weather,
qualifications and other running jobs. ``StaticFacts`` is a plain in-memory provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from .schema import SCOPES


@dataclass(frozen=True)
class ActorFacts:
    """The person acting. ``roles`` maps each role to the org levels of the person's grants
    that cover this job's area (the Django layer resolves the org tree)."""

    id: str
    roles: dict[str, frozenset[str]] = field(default_factory=dict)
    name: str = ""

    def has_role(self, role: str, scope: str | None = None) -> bool:
        levels = self.roles.get(role)
        if not levels:
            return False
        # A grant at a wider level covers a narrower required scope (company covers plant).
        return scope is None or any(SCOPES.index(lv) >= SCOPES.index(scope) for lv in levels if lv in SCOPES)

    @classmethod
    def of(cls, person: str, *roles: str, scope: str = "company", name: str = "") -> ActorFacts:
        return cls(person, {r: frozenset({scope}) for r in roles}, name)


SYSTEM = ActorFacts("system", name="系统")


@dataclass(frozen=True)
class ActiveJob:
    """Another running job in the same area, for simultaneous-operation checks."""

    id: str
    template_key: str
    template_kind: str
    name: str = ""


class WorldFacts(Protocol):
    def area_frozen(self, area: str, now: datetime) -> bool: ...
    def area_outdoor(self, area: str) -> bool: ...
    def weather_refusal(self, area: str, now: datetime) -> str | None: ...
    def unqualified(self, person: str, work_type: str, area: str | None, now: datetime) -> str | None:
        """None when the person may do this work in this area now, else why not (translated)."""
    def person_name(self, person: str) -> str: ...
    def area_name(self, area: str) -> str: ...
    def active_jobs(self, area: str, now: datetime) -> list[ActiveJob]: ...
    def can_endorse(self, person: str, area: str) -> bool: ...


@dataclass
class StaticFacts:
    """A WorldFacts provider from plain data (tests, demos, and a default for callers)."""

    frozen: set[str] = field(default_factory=set)
    outdoor: set[str] = field(default_factory=set)
    bad_weather: dict[str, str] = field(default_factory=dict)
    qualifications: dict[str, set[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, list[ActiveJob]] = field(default_factory=dict)
    owners: dict[str, set[str]] = field(default_factory=dict)

    def area_frozen(self, area: str, now: datetime) -> bool:
        return area in self.frozen

    def area_outdoor(self, area: str) -> bool:
        return area in self.outdoor

    def weather_refusal(self, area: str, now: datetime) -> str | None:
        return self.bad_weather.get(area)

    def unqualified(self, person: str, work_type: str, area: str | None, now: datetime) -> str | None:
        return None if work_type in self.qualifications.get(person, set()) else "无资格记录"

    def person_name(self, person: str) -> str:
        return self.names.get(person, person)

    def area_name(self, area: str) -> str:
        return self.names.get(area, area)

    def active_jobs(self, area: str, now: datetime) -> list[ActiveJob]:
        return list(self.jobs.get(area, []))

    def can_endorse(self, person: str, area: str) -> bool:
        return person in self.owners.get(area, set())
