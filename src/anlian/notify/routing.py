"""Who hears about an event: a company's routes, each person's preferences, quiet hours.

`notify_event()` is what the rest of the system calls. The recipients are the people the caller
names plus, for every active route of the company for the event whose minimum severity the
message reaches, the people holding the route's roles over the item's org unit (granted at that
unit or above it, up to the company; never outside the company) and the route's named people.
The message goes over the channels of those routes (the inbox always).

Each person's preference then shapes their deliveries:
- muted kinds (SMS) are skipped, with the reason in the delivery log;
- during their quiet hours (local time; a period may span midnight) SMS waits until it ends,
  while the in-app inbox shows at once;
- a critical message (a gas alarm, a major hazard) ignores both: it texts at once even a person
  who muted SMS or is asleep, which the settings page tells them. The inbox cannot be muted: it
  is the record and the to-do list.

Texts come from `texts.render` in the site's language (a person has no language of their own).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.core.errors import Forbidden, Invalid
from anlian.notify import delivery, escalation, texts
from anlian.notify.models import Channel, ChannelKind, Message, Preference, Route, Severity
from anlian.orgs import access
from anlian.orgs.models import OrgKind, OrgUnit, Person, Role, RoleGrant
from anlian.orgs.permissions import MANAGE_ORG

RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
# The kinds that reach one person and that they may turn off (the inbox never: it is the record).
MUTABLE_KINDS = (ChannelKind.SMS_ALIYUN, ChannelKind.SMS_HTTP)
MAX_ROUTE_PEOPLE = 50
MAX_ROUTE_ROLES = 20


def notify_event(company: OrgUnit, *, event: str, key: str, severity: str = Severity.INFO, unit: OrgUnit | None = None,
                 context: dict[str, Any] | None = None, people: Iterable[Person] = (), url: str = "",
                 now: datetime | None = None, kinds: Iterable[str] | None = None) -> Message:
    """Tell everyone the company's routes name for this event (and `people`), once per `key`.

    `kinds` (an escalation tier's: inbox, robot, sms…) narrows the channels to those kinds, taking
    the company's own channels of those kinds when no route names one."""
    now = now or clock.now()
    if severity not in RANK:
        raise Invalid(_("未知的消息级别"), field="severity")
    unit = unit or company
    if company.kind != OrgKind.COMPANY or not unit.path.startswith(company.path):
        raise Invalid(_("组织不属于该公司"), field="unit")
    existing = Message.objects.filter(company=company, key=key[:200]).first()
    if existing is not None:  # a replayed timer: nothing to work out again
        return existing
    routes = list(matching_routes(company, event, severity))
    recipients = {p.pk: p for p in people}
    for route in routes:
        for person in route_people(route, unit):
            recipients.setdefault(person.pk, person)
    channels = {c.pk: c for r in routes for c in r.channels.all() if c.company_id == company.pk}
    if kinds is not None:
        channels = {c.pk: c for c in escalation.channels_for(company, routes, kinds)}
    to = sorted(recipients.values(), key=lambda p: p.pk)
    not_before, muted = choices(to, severity, now)
    context = dict(context or {})
    title, body = texts.render(company, event, texts.site_language(), context)
    return delivery.notify(company, key=key, event=event, title=title, body=body, url=url, severity=severity,
                           to=to, channels=list(channels.values()), context=context, now=now,
                           not_before=not_before, muted=muted)


def matching_routes(company: OrgUnit, event: str, severity: str) -> QuerySet[Route]:
    allowed = [s for s, rank in RANK.items() if rank <= RANK[severity]]
    return (Route.objects.filter(company=company, event=event, is_active=True, min_severity__in=allowed)
            .prefetch_related("people", "channels").order_by("pk"))


def route_people(route: Route, unit: OrgUnit) -> list[Person]:
    """Active people of the route's company holding its roles at `unit` or above it (up to the
    company), and its named people."""
    company = route.company
    found: dict[int, Person] = {}
    if route.roles:
        # The unit and the units above it, but not above the company (a group's grant is not ours).
        within = OrgUnit.objects.filter(pk__in=unit.ancestor_ids(), path__startswith=company.path).values("pk")
        grants = RoleGrant.objects.filter(role__code__in=route.roles, org_unit__in=within, person__is_active=True,
                                          person__company=company).select_related("person")
        found.update((g.person.pk, g.person) for g in grants)
    for person in route.people.all():
        if person.is_active and person.company_id == company.pk:
            found.setdefault(person.pk, person)
    return sorted(found.values(), key=lambda p: p.pk)


def choices(people: list[Person], severity: str, now: datetime) -> tuple[dict[int, datetime], dict[int, set[str]]]:
    """(not_before, muted) per person from their preferences; a critical message ignores both."""
    if severity == Severity.CRITICAL:
        return {}, {}
    not_before: dict[int, datetime] = {}
    muted: dict[int, set[str]] = {}
    for pref in Preference.objects.filter(person__in=[p.pk for p in people]):
        if pref.muted_kinds:
            muted[pref.person_id] = set(pref.muted_kinds)
        end = quiet_until(pref, now)
        if end is not None:
            not_before[pref.person_id] = end
    return not_before, muted


def quiet_until(pref: Preference, now: datetime) -> datetime | None:
    """When the quiet period `now` falls in ends (local time), or None outside one."""
    start, end = pref.quiet_start, pref.quiet_end
    if start is None or end is None or start == end:
        return None
    local = timezone.localtime(now)
    at = local.time()
    if start < end:  # 12:00–13:30
        inside, ends_on = start <= at < end, local.date()
    else:  # 22:00–07:00 spans midnight: the evening part ends tomorrow
        inside = at >= start or at < end
        ends_on = local.date() + timedelta(days=1) if at >= start else local.date()
    if not inside:
        return None
    return timezone.make_aware(datetime.combine(ends_on, end), timezone.get_current_timezone())


# --- routes (admin) ----------------------------------------------------------------------------------


def companies_for(user: Any) -> QuerySet[OrgUnit]:
    return texts.companies_for(user)


def routes_for(user: Any) -> QuerySet[Route]:
    return access.visible(Route, user, MANAGE_ORG).select_related("company").prefetch_related("people", "channels")


def role_choices(company: OrgUnit) -> list[tuple[str, str]]:
    """Role codes a route may name: the built-in ones and those defined at or above the company."""
    roles = Role.objects.filter(Q(owner=None) | Q(owner_id__in=company.ancestor_ids())).order_by("-is_builtin", "code")
    return [(r.code, r.label) for r in roles]


def save_route(actor: Any, route: Route | None, *, company: OrgUnit | None = None, event: str, roles: list[str],
               people: list[Person], channels: list[Channel], min_severity: str, is_active: bool) -> Route:
    """Add a route to a company or change one (its company stays)."""
    if route is None:
        if company is None or company.kind != OrgKind.COMPANY:
            raise Invalid(_("请选择公司"), field="company")
        route = Route(company=company)
    company = route.company
    access.require(actor, MANAGE_ORG, company)
    if event not in texts.EVENTS:
        raise Invalid(_("未知的事件"), field="event")
    if min_severity not in RANK:
        raise Invalid(_("未知的消息级别"), field="min_severity")
    roles = sorted(set(roles or []))
    if len(roles) > MAX_ROUTE_ROLES:
        raise Invalid(_("角色最多 {n} 个").format(n=MAX_ROUTE_ROLES), field="roles")
    unknown = sorted(set(roles) - {code for code, _label in role_choices(company)})
    if unknown:
        raise Invalid(_("未知的角色：{r}").format(r="、".join(unknown)[:100]), field="roles")
    people = list({p.pk: p for p in people}.values())
    if len(people) > MAX_ROUTE_PEOPLE:
        raise Invalid(_("指定人员最多 {n} 人").format(n=MAX_ROUTE_PEOPLE), field="people")
    if any(p.company_id != company.pk for p in people):
        raise Invalid(_("指定人员须属于该公司"), field="people")
    if any(c.company_id != company.pk for c in channels):
        raise Invalid(_("渠道须属于该公司"), field="channels")
    if not roles and not people and not channels:
        raise Invalid(_("请至少选择一个角色、人员或渠道"), field="roles")
    route.event, route.roles, route.min_severity, route.is_active = event, roles, min_severity, bool(is_active)
    route.save()
    route.people.set(people)
    route.channels.set(channels)
    return route


def delete_route(actor: Any, route: Route) -> None:
    access.require(actor, MANAGE_ORG, route.company)
    route.delete()


def people_by_numbers(company: OrgUnit, numbers: str | list[str]) -> list[Person]:
    """People of the company by employee number ("A001, A002" or a list); an unknown one is refused."""
    items = numbers.replace("，", ",").replace(" ", ",").split(",") if isinstance(numbers, str) else numbers
    wanted = list(dict.fromkeys(str(n).strip() for n in items if str(n).strip()))
    if len(wanted) > MAX_ROUTE_PEOPLE:
        raise Invalid(_("指定人员最多 {n} 人").format(n=MAX_ROUTE_PEOPLE), field="people")
    found = {p.employee_no: p for p in Person.objects.filter(company=company, employee_no__in=wanted)}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise Invalid(_("该公司没有工号：{n}").format(n="、".join(missing)[:100]), field="people")
    return [found[n] for n in wanted]


# --- my preferences ------------------------------------------------------------------------------------


def person_of(user: Any) -> Person:
    person = getattr(user, "person", None) if getattr(user, "is_authenticated", False) else None
    if person is None or not person.is_active:
        raise Forbidden(_("你的账号没有关联在职人员，无法设置通知"))
    return person


def preference_of(person: Person) -> Preference:
    """The person's preference (an unsaved default when they never set one)."""
    return Preference.objects.filter(person=person).first() or Preference(person=person)


def save_preference(actor: Any, *, muted_kinds: list[str], quiet_start: time | None,
                    quiet_end: time | None) -> Preference:
    """The logged-in person changes their own choices (nobody else's)."""
    person = person_of(actor)
    kinds = sorted(set(muted_kinds or []))
    if any(k not in MUTABLE_KINDS for k in kinds):
        raise Invalid(_("只能关闭短信；站内消息总会送达"), field="muted_kinds")
    if (quiet_start is None) != (quiet_end is None):
        raise Invalid(_("免打扰须同时填写开始和结束时间，或都不填"), field="quiet_end" if quiet_start else "quiet_start")
    if quiet_start is not None and quiet_start == quiet_end:
        raise Invalid(_("免打扰的开始和结束时间不能相同"), field="quiet_end")
    pref = preference_of(person)
    pref.muted_kinds, pref.quiet_start, pref.quiet_end = kinds, quiet_start, quiet_end
    pref.save()
    return pref
