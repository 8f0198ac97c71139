"""The engine's facts about people and places, read from the database.

The core asks through `WorldFacts`; this module answers from the org tree, area freezes, the
workforce app's qualification check and running jobs. Weather comes from a pluggable provider (the weather issue
fills it in); the default knows of no warning.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.module_loading import import_string

from anlian.flows.core import ActiveJob, ActorFacts
from anlian.flows.models import AreaFreeze, Instance, InstanceStatus
from anlian.orgs import access
from anlian.orgs.models import Area, OrgUnit, Person, RoleGrant
from anlian.orgs.permissions import MANAGE_ORG

SYSTEM_ACTOR = "system"


def actor_key(person: Person | None) -> str:
    return str(person.pk) if person is not None else SYSTEM_ACTOR


def actor_facts(person: Person, place: OrgUnit) -> ActorFacts:
    """The person's roles that cover `place`, each with the levels of the nodes granting it."""
    if person.user_id is not None and person.is_active:
        # The same grant rows the request's permission checks already loaded (access.scope_of).
        grants = access.scope_of(person.user).roles
    else:
        grants = RoleGrant.objects.filter(person=person, person__is_active=True).values_list(
            "role__code", "org_unit__path", "org_unit__kind")
    roles: dict[str, set[str]] = {}
    for code, path, kind in grants:
        if place.path.startswith(path):
            roles.setdefault(code, set()).add(kind)
    return ActorFacts(actor_key(person), {code: frozenset(levels) for code, levels in roles.items()}, person.name)


class NoWeather:
    """The default weather provider: no warnings known."""

    def refusal(self, area: Area, now: datetime) -> str | None:
        return None


@lru_cache(maxsize=1)
def weather_provider():
    return import_string(getattr(settings, "ANLIAN_WEATHER_PROVIDER", "anlian.flows.facts.NoWeather"))()


class DbFacts:
    """WorldFacts for one request; small per-request caches keep repeated look-ups cheap."""

    def __init__(self) -> None:
        self._areas: dict[str, Area | None] = {}
        self._people: dict[str, Person | None] = {}
        self._unqualified: dict[tuple, str | None] = {}  # my-tasks asks about the same crews per job

    def area(self, key: str) -> Area | None:
        if key not in self._areas:
            self._areas[key] = Area.objects.select_related("org_unit").filter(pk=int(key)).first() \
                if str(key).isdigit() else None
        return self._areas[key]

    def person(self, key: str) -> Person | None:
        if key not in self._people:
            self._people[key] = Person.objects.filter(pk=int(key)).first() if str(key).isdigit() else None
        return self._people[key]

    def area_frozen(self, area: str, now: datetime) -> bool:
        return AreaFreeze.objects.filter(area_id=self.area(area).pk if self.area(area) else None,
                                         started_at__lte=now).filter(
            Q(ended_at__isnull=True) | Q(ended_at__gt=now)).exists()

    def area_outdoor(self, area: str) -> bool:
        found = self.area(area)
        return bool(found and found.is_outdoor)

    def weather_refusal(self, area: str, now: datetime) -> str | None:
        found = self.area(area)
        return weather_provider().refusal(found, now) if found else None

    def unqualified(self, person: str, work_type: str, area: str | None, now: datetime) -> str | None:
        """Why this person may not do this work here now (every reason, joined), or None."""
        from anlian.workforce.qualification import assess, joined

        day = timezone.localtime(now).date()
        key = (person, work_type, area, day)
        if key not in self._unqualified:
            found = self.person(person)
            reasons = assess(found, work_type=work_type, today=day,
                             area_id=int(area) if area and str(area).isdigit() else None) if found else None
            self._unqualified[key] = gettext("人员不存在") if found is None else joined(reasons) or None
        return self._unqualified[key]

    def person_name(self, person: str) -> str:
        found = self.person(person)
        return found.name if found else str(person)

    def area_name(self, area: str) -> str:
        found = self.area(area)
        return found.name if found else str(area)

    def active_jobs(self, area: str, now: datetime) -> list[ActiveJob]:
        rows = Instance.objects.filter(area_id=int(area), status=InstanceStatus.ACTIVE).values_list(
            "pk", "version__template__key", "version__template__kind", "number")
        return [ActiveJob(str(pk), key, kind, number) for pk, key, kind, number in rows]

    def can_endorse(self, person: str, area: str) -> bool:
        """An area owner: someone who manages the unit that owns the area."""
        found, who = self.area(area), self.person(person)
        return bool(found and who and who.user_id and access.can(who.user, MANAGE_ORG, found))
