"""Supervision 督办: per department, the hazards reported in a period and how their loop went.

A hazard belongs to the department its responsible unit (the area's unit before dispatch) lies in,
rolled up to the level chosen (plant, workshop or team) below the unit chosen. Cancelled hazards
count nowhere. For each department, over the hazards reported in [start, end]:
  total, open (still in the loop now), overdue (`ledger.overdue_q`: overdue now or closed late),
  average closure time in hours (report to close, closed ones only), overdue rate = overdue / total,
  recurrence rate = hazards with `recurrence_of` set / total.
A hazard whose unit is under none of the departments (e.g. the company itself) is counted in a
last row for the chosen unit itself ("本级").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.core.errors import Invalid, NotFound
from anlian.hazards import ledger
from anlian.hazards.models import Hazard, HazardStage
from anlian.orgs import access
from anlian.orgs.models import KIND_RANK, OrgKind, OrgUnit

LEVELS = (OrgKind.PLANT, OrgKind.WORKSHOP, OrgKind.TEAM)
MAX_DAYS = 3660


@dataclass
class Figures:
    unit: OrgUnit
    label: str
    total: int = 0
    open: int = 0
    overdue: int = 0
    recurrent: int = 0
    closed: int = 0
    avg_close_hours: float | None = None
    rest: bool = False  # the "本级" row: hazards under none of the departments
    links: dict[str, str] = field(default_factory=dict)

    @property
    def overdue_rate(self) -> float | None:
        return round(self.overdue / self.total, 4) if self.total else None

    @property
    def recurrence_rate(self) -> float | None:
        return round(self.recurrent / self.total, 4) if self.total else None


@dataclass
class Report:
    root: OrgUnit
    level: str
    start: date
    end: date
    rows: list[Figures]
    all: Figures


def default_period(today: date | None = None) -> tuple[date, date]:
    """This month so far."""
    today = today or clock.now().date()
    return today.replace(day=1), today


def roots_for(user: Any) -> QuerySet[OrgUnit]:
    """Units a user may supervise: any unit they may view inside a company."""
    return access.visible(OrgUnit, user).exclude(kind=OrgKind.GROUP).order_by("path")


def check_period(start: date, end: date) -> None:
    if end < start:
        raise Invalid(_("结束日期不能早于开始日期"), field="end")
    if (end - start).days > MAX_DAYS:
        raise Invalid(_("统计期间不能超过10年"), field="start")


def check_level(root: OrgUnit, level: str) -> None:
    if level not in LEVELS:
        raise Invalid(_("请选择统计层级：厂/队、车间或班组"), field="level")
    if KIND_RANK[level] <= KIND_RANK[root.kind]:
        raise Invalid(_("统计层级须低于所选单位“{u}”").format(u=root.name), field="level")


def _stats(qs: QuerySet[Hazard], now: datetime) -> dict[str, Any]:
    found = qs.order_by().aggregate(total=Count("pk"), open=Count("pk", filter=~Q(stage__in=ledger.ENDED)),
                                    overdue=Count("pk", filter=ledger.overdue_q(now)),
                                    recurrent=Count("pk", filter=Q(recurrence_of__isnull=False)))
    # Closure times in Python: averaging a duration is not portable across SQLite and PostgreSQL.
    spans = [(closed - reported).total_seconds() for reported, closed in qs.filter(
        stage=HazardStage.CLOSED, closed_at__isnull=False).order_by().values_list("reported_at", "closed_at")]
    found["closed"] = len(spans)
    found["avg_close_hours"] = round(sum(spans) / len(spans) / 3600, 2) if spans else None
    return found


def report(user: Any, root: OrgUnit, level: str, start: date, end: date, now: datetime | None = None) -> Report:
    """The figures per department below `root` at `level`, for hazards reported from `start` to `end`."""
    now = now or clock.now()
    if not access.visible(OrgUnit, user).filter(pk=root.pk).exists() or root.kind == OrgKind.GROUP:
        raise NotFound(field="unit")
    check_level(root, level)
    check_period(start, end)
    hazards = (access.visible(Hazard, user).exclude(stage=HazardStage.CANCELLED)
               .filter(reported_at__gte=ledger.day_start(start),
                       reported_at__lt=ledger.day_start(end) + timedelta(days=1)))
    period = {"start": start.isoformat(), "end": end.isoformat()}
    departments = list(OrgUnit.objects.filter(path__startswith=root.path, kind=level).order_by("path"))
    # A department inside another of the same kind cannot exist (kinds only go down), so no overlap.
    rows = []
    for unit in departments:
        row = Figures(unit, unit.name, **_stats(hazards.filter(ledger.unit_q(unit)), now))
        row.links = _links(unit, period)
        rows.append(row)
    inside = Q(pk__in=[])
    for unit in departments:
        inside |= ledger.unit_q(unit)
    rest = Figures(root, _("{u}本级及其他").format(u=root.name), rest=True,
                   **_stats(hazards.filter(ledger.unit_q(root)).exclude(inside), now))
    if rest.total:
        rows.append(rest)
    whole = Figures(root, _("合计"), **_stats(hazards.filter(ledger.unit_q(root)), now))
    whole.links = _links(root, period)
    return Report(root, level, start, end, rows, whole)


def _links(unit: OrgUnit, period: dict[str, str]) -> dict[str, str]:
    """Query strings of the ledger filtered to a figure's hazards."""
    base = {"unit": str(unit.pk), **period}
    return {"total": urlencode(base), "open": urlencode({**base, "open": "1"}),
            "overdue": urlencode({**base, "overdue": "1"}), "recurrent": urlencode({**base, "recurrence": "1"}),
            "closed": urlencode({**base, "stage": HazardStage.CLOSED})}
