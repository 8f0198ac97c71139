"""Deadlines of the hazard loop: reminders before, the overdue mark, and escalation up both sides
of the organisation tree — run by the worker every minute (`hazards.tasks.hazard_timers`) — and
the per-company deadline policies that a safety officer edits.

Each dispatched hazard carries three clocks, set from its level's policy at dispatch: respond
(stopped by `received_at`), on site (`on_site_at`) and rectify (`rectified_at`). For a clock
still running:

- at due − remind_before the people it was dispatched to get one reminder (event
  `hazard_reminder`, once per hazard and clock);
- from due on (at the due minute itself) the hazard is marked overdue, and the mark is taken off
  once no clock of it is overdue any more (the stage was reached, even late);
- escalation follows the company's escalation policy for hazards (`anlian.notify.escalation`,
  shared with permits): tier n tells the managers of the unit `levels_up` above the responsible
  unit AND above the area's unit (the reporter's side) over the tier's channel kinds. Without a
  policy of its own a company gets the default: tier n at due + (n − 1) × escalate_every of the
  level's deadline policy, n levels up, until both sides have reached the company (tier 1 at
  least); inbox, then robots, then SMS. Never above the company.

Exactly once: a tier is an `Escalation` row, unique per (hazard, stage, tier), created together
with its message (event `hazard_escalated`, one per key) in one savepoint, so a repeated run — or
two workers racing — sends nothing new. A worker that was down sends every tier it missed, lowest
first, each once: each tier reaches other people (a plant manager who never heard of it should not
be skipped because the company is told now), and the escalation record then shows every level
that was told and when.

Bounded: one query for the candidate hazards, and per chunk of them one each for the tiers
already sent, the dispatch events (who is responsible) and the reminders already sent; the
managers of all units involved are read in one query per run; each message sent is a few more.
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
from anlian.flows.models import Event
from anlian.hazards import services
from anlian.hazards.models import DeadlinePolicy, Escalation, Hazard, HazardLevel
from anlian.notify import escalation
from anlian.notify.models import ChannelKind, Severity
from anlian.notify.routing import notify_event
from anlian.orgs import access
from anlian.orgs.models import OrgKind, OrgUnit, Person, Role
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
    managers, tier_policies = escalation.Managers(), escalation.Policies("hazard")
    for chunk in _chunks(candidates.iterator(chunk_size=CHUNK), CHUNK):
        counts["hazards"] += len(chunk)
        _run_chunk(chunk, now, limits, tier_policies, managers, counts)
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


def _run_chunk(chunk: list[Hazard], now: datetime, limits: _Policies, tier_policies: escalation.Policies,
               managers: escalation.Managers, counts: dict[str, int]) -> None:
    sent = set(Escalation.objects.filter(hazard__in=chunk).values_list("hazard_id", "stage", "tier"))
    reminders: list[tuple[Hazard, Clock]] = []
    escalations: list[tuple[Hazard, Clock, escalation.Tier]] = []
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
                tiers = tier_policies.tiers(hazard.company_id, policy["escalate_every_minutes"], _sides(hazard))
                escalations += [(hazard, c, t) for t in escalation.due(tiers, now - due)
                                if (hazard.pk, c.key, t.number) not in sent]
            elif now >= due - timedelta(minutes=policy["remind_before_minutes"]):
                reminders.append((hazard, c))
        if late and not hazard.overdue:
            mark.append(hazard.pk)
        elif hazard.overdue and not late:
            clear.append(hazard.pk)
    counts["reminders"] += _remind(reminders, now)
    if escalations:
        managers.load(side for hazard, _c, _t in escalations for side in _sides(hazard))
        for hazard, c, tier in escalations:  # in order: a stage's tiers lowest first
            counts["escalations"] += _escalate(hazard, c, tier, managers, now)
    # Only live hazards: one closed meanwhile keeps the mark its closing cleared.
    counts["overdue"] += services.live(Hazard.objects.filter(pk__in=mark)).update(overdue=True) if mark else 0
    counts["cleared"] += Hazard.objects.filter(pk__in=clear).update(overdue=False) if clear else 0


def _sides(hazard: Hazard) -> list[list[int]]:
    """The ladders escalation climbs: the responsible unit's and the area's unit's."""
    sides = [escalation.ladder(hazard.responsible_unit, hazard.company_id),
             escalation.ladder(hazard.org_unit, hazard.company_id)]
    return [side for side in sides if side]


def _url(hazard: Hazard) -> str:
    return reverse("todos:open_hazard", args=[hazard.pk])


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _context(hazard: Hazard, c: Clock) -> dict[str, Any]:
    """The placeholders of the hazard_reminder and hazard_escalated texts."""
    return {"number": hazard.instance.number, "description": hazard.description, "stage": str(c.label),
            "when": _local(getattr(hazard, c.due)), "level": hazard.get_level_display(),
            "unit": str(hazard.responsible_unit or hazard.org_unit)}


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
    """One reminder message per (hazard, clock) to its responsible people (event hazard_reminder);
    one already sent is skipped (and its key would refuse it anyway)."""
    if not due:
        return 0
    sent = escalation.sent_keys({h.company_id for h, _c in due}, {_remind_key(h, c) for h, c in due})
    due = [(h, c) for h, c in due if (h.company_id, _remind_key(h, c)) not in sent]
    if not due:
        return 0
    named = _responsible([h for h, _c in due])
    people = Person.objects.in_bulk({pk for pks in named.values() for pk in pks})
    created = 0
    for hazard, c in due:
        to = [people[pk] for pk in named.get(hazard.instance_id, []) if pk in people and people[pk].is_active]
        if not to:
            continue
        message = notify_event(hazard.company, event="hazard_reminder", key=_remind_key(hazard, c),
                               unit=hazard.responsible_unit or hazard.org_unit, people=to,
                               context=_context(hazard, c), url=_url(hazard), now=now)
        created += message.deliveries.filter(kind=ChannelKind.INBOX).count()
    return created


# --- escalation ----------------------------------------------------------------------------------------


def _escalate(hazard: Hazard, c: Clock, tier: escalation.Tier, managers: escalation.Managers, now: datetime) -> int:
    """Record tier `tier` of clock `c` and tell the managers of both sides over the tier's kinds;
    0 when it was already recorded (another worker got there first: the unique constraint
    refuses the second row)."""
    sides = _sides(hazard)
    units = [escalation.tier_unit(side, tier.levels_up) for side in sides]
    people = managers.for_tier(sides, tier)
    severity = Severity.CRITICAL if hazard.level == HazardLevel.MAJOR else Severity.WARNING
    try:
        with transaction.atomic():
            Escalation.objects.create(hazard=hazard, stage=c.key, tier=tier.number,
                                      unit_id=units[0] if units else hazard.company_id,
                                      people=[p.pk for p in people], created_at=now)
            escalation.send(hazard.company, event="hazard_escalated",
                            key=f"hazard:{hazard.pk}:escalate:{c.key}:{tier.number}", tier=tier, people=people,
                            unit=hazard.responsible_unit or hazard.org_unit, context=_context(hazard, c),
                            url=_url(hazard), now=now, severity=severity)
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
