"""The hazard ledger 隐患台账: the hazards a user may see, filtered; its Excel export in the column
layout of a 隐患排查治理台账; and what "overdue" means in lists, exports and supervision.

Overdue: a hazard still in the loop that is flagged overdue (a respond / on-site / rectify deadline
passed, kept by the timers) or past its rectification deadline now, and a closed one that was
closed after its rectification deadline (closing resets the flag, the lateness stays).

The export takes people, measures, verifier and funds from each job's values. Events are loaded in
bulk for a chunk of hazards and replayed in memory: a few queries per chunk, never per row.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.http import HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from anlian.core import clock
from anlian.flows import core
from anlian.flows import services as flows
from anlian.flows.core.state import StepState, persons
from anlian.flows.models import Event
from anlian.hazards import services
from anlian.hazards.models import Hazard, HazardCategory, HazardLevel, HazardStage
from anlian.orgs import access
from anlian.orgs.models import Area, OrgUnit, Person

ENDED = (HazardStage.CLOSED, HazardStage.CANCELLED)
CHUNK = 500
PRINT_LIMIT = 2000
MAX_Q = 50


def overdue_q(now: datetime) -> Q:
    """Hazards overdue now, or closed after their rectification deadline."""
    live = ~Q(stage__in=ENDED)
    return (live & (Q(overdue=True) | Q(rectify_due__lt=now))) | Q(stage=HazardStage.CLOSED,
                                                                   closed_at__gt=F("rectify_due"))


def is_overdue(hazard: Hazard, now: datetime) -> bool:
    if hazard.stage == HazardStage.CLOSED:
        return bool(hazard.rectify_due and hazard.closed_at and hazard.closed_at > hazard.rectify_due)
    if hazard.stage == HazardStage.CANCELLED:
        return False
    return hazard.overdue or bool(hazard.rectify_due and hazard.rectify_due < now)


def unit_q(unit: OrgUnit) -> Q:
    """Hazards a unit answers for: its responsible unit (the area's unit before dispatch) is the
    unit or below it."""
    return Q(responsible_unit__path__startswith=unit.path) | Q(responsible_unit__isnull=True,
                                                              org_unit__path__startswith=unit.path)


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(0)))


def _date(raw: str) -> date | None:
    try:
        return parse_date(raw) if raw and len(raw) <= 10 else None
    except ValueError:
        return None


def _id(raw: str) -> str | None:
    return raw if raw.isdigit() and len(raw) < 12 else None


@dataclass
class Filters:
    stage: str = ""
    level: str = ""
    category: str = ""
    area: Area | None = None
    unit: OrgUnit | None = None
    overdue: str = ""  # "1": overdue only, "0": not overdue
    open: bool = False  # still in the loop (supervision's drill-down)
    recurrence: bool = False
    start: date | None = None
    end: date | None = None
    q: str = ""

    def query(self) -> dict[str, str]:
        """The filters as a query string's parameters (links to the export and the print page)."""
        out = {"stage": self.stage, "level": self.level, "category": self.category,
               "area": str(self.area.pk) if self.area else "", "unit": str(self.unit.pk) if self.unit else "",
               "overdue": self.overdue, "open": "1" if self.open else "", "recurrence": "1" if self.recurrence else "",
               "start": self.start.isoformat() if self.start else "", "end": self.end.isoformat() if self.end else "",
               "q": self.q}
        return {k: v for k, v in out.items() if v}


def ledger(user: Any, params: Any, now: datetime | None = None) -> tuple[QuerySet[Hazard], Filters]:
    """The hazards a user may see, filtered by the ledger's query string; junk filters are ignored
    (another company's area or unit is ignored like a missing one)."""
    now = now or clock.now()
    qs = services.visible(user).select_related("instance", "area", "equipment", "responsible_unit", "reported_by")
    f = Filters()
    f.stage = params.get("stage", "") if params.get("stage", "") in HazardStage.values else ""
    if f.stage:
        qs = qs.filter(stage=f.stage)
    f.level = params.get("level", "") if params.get("level", "") in HazardLevel.values else ""
    if f.level:
        qs = qs.filter(level=f.level)
    f.category = params.get("category", "") if params.get("category", "") in HazardCategory.values else ""
    if f.category:
        qs = qs.filter(category=f.category)
    area = _id(params.get("area", ""))
    if area:
        f.area = access.visible(Area, user).filter(pk=area).first()
        if f.area:
            qs = qs.filter(area=f.area)
    unit = _id(params.get("unit", ""))
    if unit:
        f.unit = access.visible(OrgUnit, user).filter(pk=unit).first()
        if f.unit:
            qs = qs.filter(unit_q(f.unit))
    f.overdue = params.get("overdue", "") if params.get("overdue", "") in ("0", "1") else ""
    if f.overdue:
        qs = qs.filter(overdue_q(now)) if f.overdue == "1" else qs.exclude(overdue_q(now))
    f.open = params.get("open", "") == "1"
    if f.open:
        qs = qs.exclude(stage__in=ENDED)
    f.recurrence = params.get("recurrence", "") == "1"
    if f.recurrence:
        qs = qs.filter(recurrence_of__isnull=False)
    f.start, f.end = _date(params.get("start", "")), _date(params.get("end", ""))
    if f.start:
        qs = qs.filter(reported_at__gte=day_start(f.start))
    if f.end:
        qs = qs.filter(reported_at__lt=day_start(f.end) + timedelta(days=1))
    f.q = params.get("q", "").strip()[:MAX_Q]
    if f.q:
        qs = qs.filter(Q(instance__number__icontains=f.q) | Q(description__icontains=f.q))
    return qs.order_by("-reported_at", "-pk"), f


def place_of(hazard: Hazard) -> str:
    if hazard.equipment_id:
        return f"{hazard.area.name}/{hazard.equipment.name}（{hazard.equipment.code}）"
    return hazard.area.name


def mark(hazards: Iterable[Hazard], now: datetime | None = None) -> list[Hazard]:
    """Attach what a ledger row shows besides the model's fields: overdue (red) and cycle time."""
    now = now or clock.now()
    rows = list(hazards)
    for hazard in rows:
        hazard.is_overdue = is_overdue(hazard, now)
        hazard.cycle = services.cycle_minutes(hazard)
    return rows


# --- the export ------------------------------------------------------------------------------------------

COLUMNS = (gettext_lazy("序号"), gettext_lazy("隐患编号"), gettext_lazy("排查日期"), gettext_lazy("隐患部位（区域/设备）"),
           gettext_lazy("隐患描述"), gettext_lazy("隐患类别"), gettext_lazy("隐患等级"), gettext_lazy("责任单位"),
           gettext_lazy("整改责任人"), gettext_lazy("整改措施"), gettext_lazy("整改期限"), gettext_lazy("整改完成日期"),
           gettext_lazy("验收人"), gettext_lazy("验收日期"), gettext_lazy("状态"), gettext_lazy("是否超期"),
           gettext_lazy("整改资金（万元，重大隐患）"), gettext_lazy("备注"), gettext_lazy("闭环用时（分钟）"))


@dataclass
class Record:
    """What a job's values say about a hazard, names resolved."""

    responsible: str = ""
    measures: str = ""
    verifier: str = ""
    funds: Any = None
    imported_no: str = ""
    remarks: str = ""


def _ids(value: Any) -> list[str]:
    return [str(v) for v in persons(value) if str(v).isdigit()]


def _state_records(hazards: list[Hazard]) -> dict[int, core.State]:
    """Each hazard's job state, replayed from its events loaded in one query."""
    events: dict[int, list[core.Event]] = defaultdict(list)
    for event in Event.objects.filter(instance_id__in=[h.instance_id for h in hazards]).order_by(
            "instance_id", "seq").only("instance_id", *flows.EVENT_COLUMNS):
        events[event.instance_id].append(flows.to_core(event))
    return {h.pk: core.replay(flows.template_of(h.instance.version), events[h.instance_id]) for h in hazards}


def records(hazards: list[Hazard]) -> dict[int, Record]:
    """The job's values of each hazard (two queries: events, then the people they name)."""
    states = _state_records(hazards)
    wanted: set[str] = set()
    for state in states.values():
        values = state.values
        wanted.update(_ids(values.get("responsible")), _ids(values.get("verifiers")), _ids(values.get("plan_owner")))
        wanted.update(a for a in state.steps.get("verify", StepState()).approvals.values() if str(a).isdigit())
    names = dict(Person.objects.filter(pk__in=[int(p) for p in wanted]).values_list("pk", "name"))

    def named(ids: Iterable[str]) -> str:
        return "、".join(names.get(int(p), "") for p in dict.fromkeys(ids) if int(p) in names)

    out = {}
    for pk, state in states.items():
        values = state.values
        approvers = [a for a in state.steps.get("verify", StepState()).approvals.values() if str(a).isdigit()]
        out[pk] = Record(
            responsible=named(_ids(values.get("responsible"))) or str(values.get("import_responsible", "")),
            measures=str(values.get("measures") or values.get("plan_measures") or values.get("import_measures") or ""),
            verifier=named(approvers or _ids(values.get("verifiers"))) or str(values.get("import_verifier", "")),
            funds=values.get("plan_funds", values.get("import_funds")),
            imported_no=str(values.get("source_no", "")),
            remarks=str(values.get("import_remarks", "")))
    return out


def _local_day(moment: datetime | None) -> date | None:
    return timezone.localdate(moment) if moment else None


def _remarks(hazard: Hazard, record: Record) -> str:
    parts = []
    if record.imported_no:
        parts.append(_("历史台账导入，原编号{n}").format(n=record.imported_no))
    if hazard.recurrence_of_id:
        parts.append(_("重复发生（前次隐患{n}）").format(n=hazard.recurrence_of.instance.number))
    if record.remarks:
        parts.append(record.remarks)
    return "；".join(parts)


def chunks(qs: QuerySet[Hazard]) -> Iterator[list[Hazard]]:
    """The queryset (which may be sliced) in chunks of CHUNK, in its order, each with what its rows show."""
    ids = list(qs.values_list("pk", flat=True))
    rows = Hazard.objects.select_related("instance__version", "area", "equipment", "org_unit", "responsible_unit",
                                         "recurrence_of__instance")
    for start in range(0, len(ids), CHUNK):
        part = ids[start:start + CHUNK]
        found = {h.pk: h for h in rows.filter(pk__in=part)}
        yield [found[pk] for pk in part if pk in found]


def export_rows(qs: QuerySet[Hazard], now: datetime | None = None) -> Iterator[list[Any]]:
    """The export's rows in the ledger's order."""
    now = now or clock.now()
    number = 0
    for chunk in chunks(qs):
        found = records(chunk)
        for hazard in chunk:
            number += 1
            record = found[hazard.pk]
            unit = hazard.responsible_unit or hazard.org_unit
            yield [number, hazard.instance.number, _local_day(hazard.reported_at), place_of(hazard),
                   hazard.description, hazard.get_category_display(), hazard.get_level_display(), unit.name,
                   record.responsible, record.measures, _local_day(hazard.rectify_due), _local_day(hazard.rectified_at),
                   record.verifier, _local_day(hazard.verified_at), hazard.get_stage_display(),
                   _("是") if is_overdue(hazard, now) else _("否"),
                   record.funds if hazard.level == HazardLevel.MAJOR else None,
                   _remarks(hazard, record), services.cycle_minutes(hazard)]


def counts(qs: QuerySet[Hazard], now: datetime | None = None) -> dict[str, int]:
    """The ledger head's numbers for the filtered hazards."""
    now = now or clock.now()
    return qs.order_by().aggregate(total=Count("pk"), open=Count("pk", filter=~Q(stage__in=ENDED)),
                                   overdue=Count("pk", filter=overdue_q(now)))


# --- the workbook ------------------------------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RISKY = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheet programs may read as a formula
WIDTHS = (6, 18, 12, 24, 40, 10, 10, 16, 14, 30, 12, 12, 12, 12, 10, 8, 12, 30, 10)


def put(sheet: Any, row: int, column: int, value: Any) -> Any:
    """Write a cell; text from the database that could be read as a formula stays text (stored as
    a string and marked 'quote prefix', so Excel keeps it text even when the cell is edited)."""
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
        if value.startswith(RISKY):
            cell.quotePrefix = True
    elif isinstance(value, date):
        cell.number_format = "yyyy-mm-dd"
    return cell


def workbook(rows: Iterable[list[Any]], title: str) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="center")
    for index, (label, width) in enumerate(zip(COLUMNS, WIDTHS), start=1):
        cell = put(sheet, 1, index, str(label))
        cell.font, cell.alignment = bold, wrap
        sheet.column_dimensions[get_column_letter(index)].width = width
    for number, row in enumerate(rows, start=2):
        for index, value in enumerate(row, start=1):
            put(sheet, number, index, value)
    sheet.freeze_panes = "A2"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.print_title_rows = "1:1"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_response(qs: QuerySet[Hazard], now: datetime | None = None) -> HttpResponse:
    title = _("隐患排查治理台账")
    response = HttpResponse(workbook(export_rows(qs, now), title), content_type=XLSX)
    filename = f"{title}-{timezone.localdate():%Y%m%d}.xlsx"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
