"""Escalation policies shared by permits and hazards: who hears about a late item, when, and how.

A policy is a company's list of tiers for one kind of item (`applies_to`: hazard, permit). Tier n
is due `after_minutes` after the item's deadline and tells the managers of the unit `levels_up`
units above the item's own unit, over the channel kinds it names: the in-app inbox always, then
the company's group robots, then SMS (in-app → robot → SMS). An item may hang on several
"ladders" (a hazard has the responsible unit's and the area's): each ladder is climbed; a ladder
that has reached its company stays there, and nothing ever goes above the company.

The managers of a unit are its people holding the role "manager", else "safety_officer", else
those of the nearest unit above it (never above the company).

A company without a stored policy gets the default: tier n after (n − 1) × `every` minutes, n
levels up, as many tiers as it takes every ladder to reach the company; tier 1 over the inbox,
tier 2 adds the robots, tier 3 and later add SMS. Hazards take `every` from their level's
deadline policy (`escalate_every_minutes`), permits use `PERMIT_EVERY_MINUTES`.

Exactly once: each tier is one `Message` per (company, key) where the key names the item, the
stage and the tier. The channels of a tier are those of the company's routes for the event that
are of the tier's kinds, or — when no route names any — every active channel of the company of
those kinds, so a company that set up a DingTalk robot and an SMS account is covered at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anlian.core.errors import Invalid
from anlian.notify.models import Channel, ChannelKind, EscalationPolicy, Message, Severity
from anlian.orgs import access
from anlian.orgs.models import OrgKind, OrgUnit, Person, RoleGrant
from anlian.orgs.permissions import MANAGE_ORG

# What a tier may name, and the channel kinds each stands for (the inbox needs no channel).
KINDS = {
    "inbox": (),
    "robot": (ChannelKind.DINGTALK, ChannelKind.WECOM, ChannelKind.FEISHU),
    "sms": (ChannelKind.SMS_ALIYUN, ChannelKind.SMS_HTTP),
    "email": (ChannelKind.EMAIL,),
    "webhook": (ChannelKind.WEBHOOK,),
}
KIND_LABELS = {"inbox": gettext_lazy("站内消息"), "robot": gettext_lazy("群机器人"), "sms": gettext_lazy("短信"),
               "email": gettext_lazy("电子邮件"), "webhook": gettext_lazy("Webhook")}
APPLIES_TO = {"hazard": gettext_lazy("隐患超期"), "permit": gettext_lazy("作业步骤超期")}
MANAGER_ROLES = ("manager", "safety_officer")  # the first of these found at a unit is told
PERMIT_EVERY_MINUTES = 60
MAX_TIERS = 8
MAX_AFTER_MINUTES = 30 * 24 * 60
MAX_LEVELS_UP = 10


@dataclass(frozen=True)
class Tier:
    number: int
    after_minutes: int
    levels_up: int
    kinds: tuple[str, ...]


def default_kinds(number: int) -> tuple[str, ...]:
    return ("inbox",) if number == 1 else ("inbox", "robot") if number == 2 else ("inbox", "robot", "sms")


def default_tiers(every_minutes: int, count: int) -> list[Tier]:
    every = max(every_minutes, 1)
    return [Tier(n, (n - 1) * every, n, default_kinds(n)) for n in range(1, max(count, 1) + 1)]


def tiers_from(stored: list[dict[str, Any]]) -> list[Tier]:
    return [Tier(n, int(t["after_minutes"]), int(t["levels_up"]), tuple(t["kinds"]))
            for n, t in enumerate(stored, start=1)]


class Policies:
    """The stored policies of the companies a run meets, read once per (company, kind)."""

    def __init__(self, applies_to: str) -> None:
        self.applies_to = applies_to
        self._cache: dict[int, list[Tier] | None] = {}

    def stored(self, company_id: int) -> list[Tier] | None:
        if company_id not in self._cache:
            row = EscalationPolicy.objects.filter(company_id=company_id, applies_to=self.applies_to,
                                                  is_active=True).first()
            self._cache[company_id] = tiers_from(row.tiers) if row and row.tiers else None
        return self._cache[company_id]

    def tiers(self, company_id: int, every_minutes: int, ladders: list[list[int]]) -> list[Tier]:
        """The company's own tiers, else the default for these ladders."""
        own = self.stored(company_id)
        if own is not None:
            return own
        return default_tiers(every_minutes, max([1, *(len(ladder) - 1 for ladder in ladders)]))


def due(tiers: list[Tier], late_by: timedelta) -> list[Tier]:
    """The tiers due `late_by` after the deadline (late_by ≥ 0: the deadline itself fires tier 1
    when its delay is 0)."""
    return [t for t in tiers if late_by >= timedelta(minutes=t.after_minutes)]


# --- who ---------------------------------------------------------------------------------------------


def ladder(unit: OrgUnit | None, company_id: int) -> list[int]:
    """Unit ids from the company down to `unit` (empty when the unit is not in that company)."""
    if unit is None:
        return []
    ids = unit.ancestor_ids()
    return ids[ids.index(company_id):] if company_id in ids else []


def tier_unit(units: list[int], levels_up: int) -> int:
    """The unit `levels_up` above the ladder's own unit, or the company when that is above it."""
    return units[max(len(units) - 1 - levels_up, 0)]


class Managers:
    """Who is told at a unit: its managers, else its safety officers, else those of the nearest unit
    above it — never above the company. The grants of all units a run meets are read in one query
    per `load`."""

    def __init__(self) -> None:
        self._at: dict[int, dict[str, list[Person]]] = {}

    def load(self, ladders: Iterable[list[int]]) -> None:
        wanted = {pk for units in ladders for pk in units} - set(self._at)
        if not wanted:
            return
        for pk in wanted:
            self._at[pk] = {}
        grants = RoleGrant.objects.filter(org_unit_id__in=wanted, role__code__in=MANAGER_ROLES,
                                          person__is_active=True).select_related("person", "role")
        for grant in grants:
            self._at[grant.org_unit_id].setdefault(grant.role.code, []).append(grant.person)

    def nearest(self, units: list[int], levels_up: int) -> list[Person]:
        """The managers at the tier's unit, or the nearest ones above it up to the company."""
        for pk in reversed(units[:max(len(units) - 1 - levels_up, 0) + 1]):
            held = self._at.get(pk, {})
            for role in MANAGER_ROLES:
                if held.get(role):
                    return held[role]
        return []

    def for_tier(self, ladders: list[list[int]], tier: Tier) -> list[Person]:
        people: dict[int, Person] = {}
        for units in ladders:
            for person in self.nearest(units, tier.levels_up):
                people[person.pk] = person
        return sorted(people.values(), key=lambda p: p.pk)


# --- sending -----------------------------------------------------------------------------------------


def channels_for(company: OrgUnit, routes: Iterable[Any], kinds: Iterable[str]) -> list[Channel]:
    """The channels a tier posts to: its kinds among the routes' channels, else all of the company's."""
    wanted = {k for name in kinds for k in KINDS.get(name, ())}
    if not wanted:
        return []
    named = {c.pk: c for r in routes for c in r.channels.all() if c.kind in wanted and c.company_id == company.pk}
    if named:
        return list(named.values())
    return list(Channel.objects.filter(company=company, kind__in=wanted, is_active=True).order_by("pk"))


def send(company: OrgUnit, *, event: str, key: str, tier: Tier, people: list[Person], unit: OrgUnit | None,
         context: dict[str, Any], url: str, now: datetime, severity: str = Severity.WARNING) -> Message:
    """Tell the tier's people over its kinds, once per key (a replayed run finds the message)."""
    from anlian.notify.routing import notify_event

    return notify_event(company, event=event, key=key, severity=severity, unit=unit,
                        context={**context, "tier": str(tier.number)}, people=people, url=url, now=now,
                        kinds=tier.kinds)


def sent_keys(company_ids: Iterable[int], keys: Iterable[str]) -> set[tuple[int, str]]:
    """(company id, key) of the tiers already sent among these."""
    keys = list(keys)
    if not keys:
        return set()
    return set(Message.objects.filter(company_id__in=set(company_ids), key__in=keys)
               .values_list("company_id", "key"))


# --- editing the policies ------------------------------------------------------------------------------


def companies_for(user: Any) -> QuerySet[OrgUnit]:
    return access.visible(OrgUnit, user, MANAGE_ORG).filter(kind=OrgKind.COMPANY).order_by("path")


def policies_of(company: OrgUnit) -> list[dict[str, Any]]:
    """Both kinds' policies of a company; `own` False when the default applies."""
    stored = {p.applies_to: p for p in EscalationPolicy.objects.filter(company=company)}
    rows = []
    for applies_to, label in APPLIES_TO.items():
        own = stored.get(applies_to)
        rows.append({"applies_to": applies_to, "label": label, "own": own is not None,
                     "tiers": own.tiers if own else [],
                     "is_active": own.is_active if own else True})
    return rows


def clean_tiers(tiers: Any) -> list[dict[str, Any]]:
    """Refuse unusable tiers with the tier and field named; returns them normalised."""
    if not isinstance(tiers, list) or not tiers:
        raise Invalid(_("请至少设置一个升级层级"), field="tiers")
    if len(tiers) > MAX_TIERS:
        raise Invalid(_("升级层级最多{n}个").format(n=MAX_TIERS), field="tiers")
    clean, last = [], -1
    for n, tier in enumerate(tiers, start=1):
        if not isinstance(tier, dict):
            raise Invalid(_("第{n}级格式不对").format(n=n), field="tiers")
        after, up, kinds = tier.get("after_minutes"), tier.get("levels_up"), tier.get("kinds")
        if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_AFTER_MINUTES:
            raise Invalid(_("第{n}级：超期多久后升级应在0到{m}分钟之间").format(n=n, m=MAX_AFTER_MINUTES),
                          field="tiers")
        if after <= last:
            raise Invalid(_("第{n}级：升级时间应晚于上一级").format(n=n), field="tiers")
        if isinstance(up, bool) or not isinstance(up, int) or not 0 <= up <= MAX_LEVELS_UP:
            raise Invalid(_("第{n}级：向上级数应在0到{m}之间").format(n=n, m=MAX_LEVELS_UP), field="tiers")
        if not isinstance(kinds, list) or any(not isinstance(k, str) or k not in KINDS for k in kinds):
            raise Invalid(_("第{n}级：渠道只能是{k}").format(n=n, k="、".join(map(str, KIND_LABELS.values()))),
                          field="tiers")
        # The inbox is the record and the to-do list: every tier writes it.
        clean.append({"after_minutes": after, "levels_up": up,
                      "kinds": ["inbox", *sorted({k for k in kinds if k != "inbox"}, key=list(KINDS).index)]})
        last = after
    return clean


def save_policy(user: Any, company: OrgUnit, applies_to: str, tiers: Any, is_active: bool = True) -> EscalationPolicy:
    access.require(user, MANAGE_ORG, company)
    if applies_to not in APPLIES_TO:
        raise Invalid(_("没有这种升级策略"), field="applies_to")
    clean = clean_tiers(tiers)
    policy, _created = EscalationPolicy.objects.update_or_create(
        company=company, applies_to=applies_to,
        defaults={"tiers": clean, "is_active": bool(is_active), "name": str(APPLIES_TO[applies_to])})
    return policy


def reset_policy(user: Any, company: OrgUnit, applies_to: str) -> None:
    """Back to the default tiers."""
    access.require(user, MANAGE_ORG, company)
    if applies_to not in APPLIES_TO:
        raise Invalid(_("没有这种升级策略"), field="applies_to")
    EscalationPolicy.objects.filter(company=company, applies_to=applies_to).delete()
