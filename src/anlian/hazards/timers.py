"""Deadlines of the hazard loop: reminders before, the overdue mark, and escalation up both sides
of the organisation tree — run by the worker every minute (`hazards.tasks.hazard_timers`) — and
the per-company deadline policies that a safety officer edits.

Each dispatched hazard carries three clocks, set from its level's policy at dispatch: respond
(stopped by `received_at`), on site (`on_site_at`) and rectify (`rectified_at`). For a clock
still running:

- at due − remind_before the people it was dispatched to get one reminder (Notice key);
- from due on (at the due minute itself) the hazard is marked overdue, and the mark is taken off
  once no clock of it is overdue any more (the stage was reached, even late);
- escalation tier n is due at due + (n − 1) × escalate_every and tells the managers (role
  "manager", else "safety_officer", the nearest such people from that unit up to the company) of
  the n-th unit above the responsible unit AND of the n-th unit above the area's unit (the
  reporter's side). A side that has reached its company stays there; escalation ends once both
  sides have reached it (tier 1 at least), and never goes above the company.

Exactly once: a tier is an `Escalation` row, unique per (hazard, stage, tier), created together
with its notices in one savepoint, so a repeated run — or two workers racing — sends nothing new.
A worker that was down sends every tier it missed, lowest first, each once: each tier reaches
other people (a plant manager who never heard of it should not be skipped because the company is
told now), and the escalation record then shows every level that was told and when.

Bounded: one query for the candidate hazards, and per chunk of them one each for the tiers
already sent, the dispatch events (who is responsible) and the reminders already sent; the
managers of all units involved are read in one query per run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anlian.core import clock
from anlian.core.errors import Invalid
from anlian.core.models import Notice
from anlian.flows.models import Event
from anlian.hazards import services
from anlian.hazards.models import DeadlinePolicy, Escalation, Hazard, HazardLevel
from anlian.orgs import access
from anlian.orgs.models import OrgKind, OrgUnit, Person, Role, RoleGrant
from anlian.orgs.permissions import MANAGE_ORG


@dataclass(frozen=True)
class Clock:
    key: str  # stored in Escalation.stage and the notice keys
    due: str  # Hazard field with the deadline
    reached: str  # Hazard field set when the stage is reached
    label: Any


CLOCKS = (
    Clock("respond", "respond_due", "received_at", gettext_lazy("接收")),
    Clock("on_site", "on_site_due", "on_site_at", gettext_lazy("到场")),
    Clock("rectify", "rectify_due", "rectified_at", gettext_lazy("整改")),
)
ESCALATION_ROLES = ("manager", "safety_officer")  # the first of these found at a unit is told
CHUNK = 500


# --- the worker's run ------------------------------------------------------------------------------


def run_timers(now: datetime | None = None) -> dict[str, int]:
    """Send the reminders and escalations due by `now` and keep the overdue marks right.
    Returns counts: hazards looked at, reminder notices, escalation tiers, marks set and cleared."""
    now = now or clock.now()
    limits = _Policies()
    horizon = now + timedelta(minutes=limits.longest_reminder())
    running = Q()
    for c in CLOCKS:
        running |= Q(**{f"{c.reached}__isnull": True, f"{c.due}__lte": horizon})
    candidates = (services.live(Hazard.objects.filter(Q(overdue=True) | running))
                  .select_related("instance", "org_unit", "responsible_unit").order_by("pk"))
    counts = {"hazards": 0, "reminders": 0, "escalations": 0, "overdue": 0, "cleared": 0}
    managers = _Managers()
    for chunk in _chunks(candidates.iterator(chunk_size=CHUNK), CHUNK):
        counts["hazards"] += len(chunk)
        _run_chunk(chunk, now, limits, managers, counts)
    return counts


def _chunks(items: Iterable[Hazard], size: int) -> Iterator[list[Hazard]]:
    chunk: list[Hazard] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _run_chunk(chunk: list[Hazard], now: datetime, limits: _Policies, managers: _Managers,
               counts: dict[str, int]) -> None:
    sent = set(Escalation.objects.filter(hazard__in=chunk).values_list("hazard_id", "stage", "tier"))
    reminders: list[tuple[Hazard, Clock]] = []
    escalations: list[tuple[Hazard, Clock, int]] = []
    mark, clear = [], []
    for hazard in chunk:
        policy = limits.of(hazard)
        late = False
        for c in CLOCKS:
            due = getattr(hazard, c.due)
            if due is None or getattr(hazard, c.reached) is not None:
                continue
            if now >= due:
                late = True
                every = timedelta(minutes=max(policy["escalate_every_minutes"], 1))
                fired = min(_last_tier(hazard), (now - due) // every + 1)
                escalations += [(hazard, c, t) for t in range(1, fired + 1) if (hazard.pk, c.key, t) not in sent]
            elif now >= due - timedelta(minutes=policy["remind_before_minutes"]):
                reminders.append((hazard, c))
        if late and not hazard.overdue:
            mark.append(hazard.pk)
        elif hazard.overdue and not late:
            clear.append(hazard.pk)
    counts["reminders"] += _remind(reminders, now)
    if escalations:
        managers.load(escalations)
        for hazard, c, tier in escalations:  # in order: a stage's tiers lowest first
            counts["escalations"] += _escalate(hazard, c, tier, managers, now)
    # Only live hazards: one closed meanwhile keeps the mark its closing cleared.
    counts["overdue"] += services.live(Hazard.objects.filter(pk__in=mark)).update(overdue=True) if mark else 0
    counts["cleared"] += Hazard.objects.filter(pk__in=clear).update(overdue=False) if clear else 0


def _ladder(unit: OrgUnit | None, company_id: int) -> list[int]:
    """Unit ids from the company down to `unit` (empty when the unit is not in that company)."""
    if unit is None:
        return []
    ids = unit.ancestor_ids()
    return ids[ids.index(company_id):] if company_id in ids else []


def _sides(hazard: Hazard) -> list[list[int]]:
    sides = [_ladder(hazard.responsible_unit, hazard.company_id), _ladder(hazard.org_unit, hazard.company_id)]
    return [side for side in sides if side]


def _last_tier(hazard: Hazard) -> int:
    """The tier at which both sides have reached the company (at least one tier)."""
    return max([1, *(len(side) - 1 for side in _sides(hazard))])


def _tier_unit(side: list[int], tier: int) -> int:
    """The tier-th unit above the side's own unit, or the company when that is above it."""
    return side[max(len(side) - 1 - tier, 0)]


def _url(hazard: Hazard) -> str:
    return reverse("permits:job", args=[hazard.instance_id])


def _notices(people: Iterable[Person], key: str, title: str, body: str, url: str, now: datetime) -> int:
    made = Notice.objects.bulk_create([Notice(person=p, key=key, title=title[:200], body=body, url=url, created_at=now)
                                       for p in people], ignore_conflicts=True)
    return len(made)


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


# --- reminders -----------------------------------------------------------------------------------------


def _remind_key(hazard: Hazard, c: Clock) -> str:
    return f"hazard:{hazard.pk}:remind:{c.key}"


def _responsible(hazards: list[Hazard]) -> dict[int, list[int]]:
    """Instance id → the person ids of its `responsible` field. Only the dispatch step sets that
    field, so the last dispatch event holds what replaying the job would give, in one query."""
    found: dict[int, list[int]] = {}
    events = Event.objects.filter(instance_id__in=[h.instance_id for h in hazards], step="dispatch").order_by("seq")
    for instance_id, payload in events.values_list("instance_id", "payload"):
        named = (payload.get("values") or {}).get("responsible")
        if named:
            found[instance_id] = [int(pk) for pk in named if str(pk).isdigit()]
    return found


def _remind(due: list[tuple[Hazard, Clock]], now: datetime) -> int:
    """One reminder per (hazard, clock) to each responsible person; those already told are skipped
    (and the notice key would refuse them anyway)."""
    if not due:
        return 0
    named = _responsible([h for h, _c in due])
    people = Person.objects.in_bulk({pk for pks in named.values() for pk in pks})
    keys = {_remind_key(h, c) for h, c in due}
    told = set(Notice.objects.filter(person_id__in=list(people), key__in=keys).values_list("person_id", "key"))
    created = 0
    for hazard, c in due:
        key = _remind_key(hazard, c)
        to = [people[pk] for pk in named.get(hazard.instance_id, []) if pk in people and people[pk].is_active
              and (pk, key) not in told]
        if not to:
            continue
        due_at = getattr(hazard, c.due)
        title = _("隐患{n}将于{when}{stage}超期").format(n=hazard.instance.number, when=_local(due_at),
                                                    stage=str(c.label))
        body = _("请在{when}前完成“{stage}”：{d}").format(when=_local(due_at), stage=str(c.label), d=hazard.description)
        created += _notices(to, key, title, body, _url(hazard), now)
    return created


# --- escalation ----------------------------------------------------------------------------------------


class _Managers:
    """Who is told at a unit: its managers, else its safety officers, else those of the nearest unit
    above it — never above the company. Grants of every unit involved are read in one query."""

    def __init__(self) -> None:
        self._at: dict[int, dict[str, list[Person]]] = {}

    def load(self, escalations: list[tuple[Hazard, Clock, int]]) -> None:
        wanted = {pk for hazard, _c, _t in escalations for side in _sides(hazard) for pk in side} - set(self._at)
        if not wanted:
            return
        for pk in wanted:
            self._at[pk] = {}
        grants = RoleGrant.objects.filter(org_unit_id__in=wanted, role__code__in=ESCALATION_ROLES,
                                          person__is_active=True).select_related("person", "role")
        for grant in grants:
            self._at[grant.org_unit_id].setdefault(grant.role.code, []).append(grant.person)

    def nearest(self, side: list[int], upto: int) -> list[Person]:
        """From side[upto] up to the company (side[0])."""
        for pk in reversed(side[:upto + 1]):
            held = self._at.get(pk, {})
            for role in ESCALATION_ROLES:
                if held.get(role):
                    return held[role]
        return []


def _escalate(hazard: Hazard, c: Clock, tier: int, managers: _Managers, now: datetime) -> int:
    """Record tier `tier` of clock `c` and tell both sides; 0 when it was already recorded
    (another worker got there first: the unique constraint refuses the second row)."""
    sides = _sides(hazard)
    units = [_tier_unit(side, tier) for side in sides]
    people: dict[int, Person] = {}
    for side in sides:
        for person in managers.nearest(side, max(len(side) - 1 - tier, 0)):
            people[person.pk] = person
    due_at = getattr(hazard, c.due)
    title = _("督办（第{t}级）：隐患{n}{stage}已超期").format(t=tier, n=hazard.instance.number, stage=str(c.label))
    body = _("{stage}期限{when}已过，尚未完成。责任单位：{unit}；隐患：{d}").format(
        stage=str(c.label), when=_local(due_at), unit=hazard.responsible_unit or hazard.org_unit, d=hazard.description)
    try:
        with transaction.atomic():
            Escalation.objects.create(hazard=hazard, stage=c.key, tier=tier,
                                      unit_id=units[0] if units else hazard.company_id,
                                      people=sorted(people), created_at=now)
            _notices(people.values(), f"hazard:{hazard.pk}:escalate:{c.key}:{tier}", title, body, _url(hazard), now)
    except IntegrityError:
        return 0
    return 1


# --- policies --------------------------------------------------------------------------------------------


class _Policies:
    """services.policy() once per (company, level) in a run."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str], dict[str, Any]] = {}

    def of(self, hazard: Hazard) -> dict[str, Any]:
        key = (hazard.company_id, hazard.level)
        if key not in self._cache:
            self._cache[key] = services.policy(hazard.company_id, hazard.level)
        return self._cache[key]

    @staticmethod
    def longest_reminder() -> int:
        stored = DeadlinePolicy.objects.aggregate(m=Max("remind_before_minutes"))["m"] or 0
        return max(stored, *(d["remind_before_minutes"] for d in services.DEFAULT_DEADLINES.values()))


# --- editing the policies -----------------------------------------------------------------------------

# Field → (label, largest value): the bounds catch a typo (hours typed as minutes, an extra zero)
# without second-guessing a company's policy.
POLICY_FIELDS = {
    "respond_minutes": (gettext_lazy("接收时限（分钟）"), 30 * 24 * 60),
    "on_site_minutes": (gettext_lazy("到场时限（分钟）"), 30 * 24 * 60),
    "rectify_hours": (gettext_lazy("整改时限（小时）"), 366 * 24),
    "remind_before_minutes": (gettext_lazy("提前提醒（分钟）"), 7 * 24 * 60),
    "escalate_every_minutes": (gettext_lazy("逐级上报间隔（分钟）"), 30 * 24 * 60),
}


def companies_for(user: Any):
    """Companies whose deadline policies the user may read (VIEW at the company itself)."""
    return access.visible(OrgUnit, user).filter(kind=OrgKind.COMPANY).order_by("path")


def policies_of(company: OrgUnit) -> list[dict[str, Any]]:
    """Both levels' policies of a company; `own` False when the built-in defaults apply."""
    stored = {p.level: p for p in DeadlinePolicy.objects.filter(owner=company)}
    names = dict(role_choices(company))
    rows = []
    for level, label in HazardLevel.choices:
        own = stored.get(level)
        values = ({name: getattr(own, name) for name in (*POLICY_FIELDS, "alert_role")} if own
                  else dict(services.DEFAULT_DEADLINES[level]))
        rows.append({"level": level, "label": label, "own": own is not None, **values,
                     "alert_role_name": names.get(values["alert_role"], values["alert_role"])})
    return rows


def role_choices(company: OrgUnit) -> list[tuple[str, str]]:
    """Roles that can be alerted in a company, (code, name): built-in ones and those defined above
    or inside it."""
    roles = Role.objects.filter(Q(owner=None) | Q(owner_id__in=company.ancestor_ids())
                                | Q(owner__path__startswith=company.path)).order_by("-is_builtin", "code")
    return list({role.code: (role.code, role.label) for role in roles}.values())


def _check_level(level: Any) -> str:
    if level not in HazardLevel.values:
        raise Invalid(_("请选择隐患等级"), field="level")
    return level


def save_policy(user: Any, company: OrgUnit, level: str, values: dict[str, Any]) -> DeadlinePolicy:
    """Set a company's policy for a level. New deadlines apply to hazards dispatched from now on
    (a hazard keeps the deadlines it was given); reminders and escalation follow the new values
    at once."""
    access.require(user, MANAGE_ORG, company)
    _check_level(level)
    clean: dict[str, Any] = {}
    for name, (label, largest) in POLICY_FIELDS.items():
        value = values.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(_("请填写{f}").format(f=label), field=name)
        if not 0 < value <= largest:
            raise Invalid(_("{f}应在1到{m}之间").format(f=label, m=largest), field=name)
        clean[name] = value
    # Deadlines run from dispatch and the steps come in this order: each must leave time for the last.
    if clean["on_site_minutes"] < clean["respond_minutes"]:
        raise Invalid(_("到场时限不能短于接收时限"), field="on_site_minutes")
    if clean["rectify_hours"] * 60 < clean["on_site_minutes"]:
        raise Invalid(_("整改时限不能短于到场时限"), field="rectify_hours")
    alert = values.get("alert_role") or ""
    if not isinstance(alert, str) or (alert and alert not in dict(role_choices(company))):
        raise Invalid(_("没有这个角色"), field="alert_role")
    clean["alert_role"] = alert
    policy, _created = DeadlinePolicy.objects.update_or_create(owner=company, level=level, defaults=clean)
    return policy


def reset_policy(user: Any, company: OrgUnit, level: str) -> None:
    """Back to the built-in defaults for a level."""
    access.require(user, MANAGE_ORG, company)
    DeadlinePolicy.objects.filter(owner=company, level=_check_level(level)).delete()
