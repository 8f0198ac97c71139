"""Import of an existing Excel hazard ledger (historic hazards, closed or still open).

The flow is the people import's (`anlian.workforce.importing`, whose generic cell readers and file
checks are reused): an upload is checked at once for what is cheap (size, a real .xlsx, the header
row) and kept on an `ImportBatch` with kind "hazards"; the worker checks every row (progress,
per-row errors, a preview); only a sheet without errors can be confirmed; the import runs in the
worker in one transaction, all rows or none, after checking every row again.

An imported hazard is a real hazard: a `Hazard` with a job on the workflow engine. The shipped
templates cannot take it (their report step needs fresh photos, which a historic ledger has not),
so each company gets engine templates of its own, built from the shipped ones and kept in step:
  - hazard-import-general / hazard-import-major: the shipped loop whose report step carries the
    ledger's record instead of photos; an open row is started on it by the importing user and
    dispatched by the company's rules like any report, and goes on through the real loop;
  - hazard-import-closed: the report step with the record, then the close step done by the system;
    a closed row is recorded so and its job ends (archived).
Events carry the real time of the import and the importing user; the historic dates are values of
the report step and the times on the `Hazard` (reported, rectified, verified, closed, deadline).
The sheet's 隐患编号 is kept as the value `source_no`: the job gets the company's next number (a kept
number could collide with one the numbering hands out later). A 隐患编号 already imported in the
company, or equal to a job number of the company, is refused, as is the same number twice in a sheet;
imports of one company run one at a time (the company row is locked), so two imports cannot both
pass that check.
"""

from __future__ import annotations

import io
import logging
import secrets
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import yaml
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from huey.contrib.djhuey import db_task
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from anlian.core import clock
from anlian.core.errors import Conflict, DomainError, Invalid, NotFound
from anlian.evidence.services import save_all_or_nothing
from anlian.flows import core
from anlian.flows import services as flows
from anlian.flows.core.schema import dump_template
from anlian.flows.models import Event, FlowTemplate, Instance, TemplateVersion
from anlian.hazards import services
from anlian.hazards.models import Hazard, HazardCategory, HazardLevel
from anlian.orgs import access
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Area, Equipment, OrgKind, OrgUnit
from anlian.orgs.permissions import MANAGE_ORG
from anlian.workforce.importing import (
    BOLD,
    EXAMPLE_FONT,
    EXAMPLE_NO,
    HEAD_FILL,
    XLSX,
    Bad,
    Column,
    Refused,
    Row,
    Sheet,
    Units,
    _finish,
    _help_sheet,
    _put,
    _read_upload,
    _shown,
    as_text,
    check_batch,
    company_of,
    header_problems,
    open_book,
    preview_rows,
    read_into,
)
from anlian.workforce.models import ImportBatch, ImportStatus

log = logging.getLogger(__name__)

KIND = "hazards"  # ImportBatch.kind: not among the people import's choices, so its pages never list these
PERMISSION = MANAGE_ORG  # the safety officer's: hazards, areas and equipment
MAX_ROWS = 5000  # every row runs the engine: a few queries each
EARLIEST = date(2000, 1, 1)
CLOSED_WORDS = {"已销号", "已闭环", "已关闭", "销号", "闭环", "closed"}
OPEN_WORDS = {"未销号", "整改中", "待整改", "未整改", "未闭环", "open"}
IMPORT_KEYS = {HazardLevel.GENERAL: "hazard-import-general", HazardLevel.MAJOR: "hazard-import-major"}
CLOSED_KEY = "hazard-import-closed"


def today() -> date:
    return timezone.localdate(clock.now())


def historic(day: date, at: time = time(12, 0)) -> datetime:
    """A ledger's date as a moment: noon (a date says nothing of the hour), so a closure on the
    deadline's day is in time and one a day later is late."""
    return timezone.make_aware(datetime.combine(day, at))


# --- the sheet ---------------------------------------------------------------------------------------------


class HazardSheet(Sheet):
    title = gettext_lazy("隐患台账")
    columns = (
        Column("number", gettext_lazy("隐患编号"), required=True, max_length=40, width=18,
               note=gettext_lazy("原台账的编号；本公司内不能重复，已导入过的编号会被拒绝")),
        Column("found_on", gettext_lazy("排查日期"), required=True, is_date=True, note=gettext_lazy("不能晚于今天")),
        Column("place", gettext_lazy("隐患部位"), gettext_lazy("区域名称或设备编码"), required=True, max_length=100,
               width=24, note=gettext_lazy("见下方可填的区域和设备；填设备编码时区域取设备所在区域")),
        Column("description", gettext_lazy("隐患描述"), required=True, max_length=services.MAX_DESCRIPTION, width=40),
        Column("category", gettext_lazy("隐患类别"), required=True, max_length=20, note=gettext_lazy("见下方类别")),
        Column("level", gettext_lazy("隐患等级"), required=True, max_length=10, note=gettext_lazy("一般 或 重大")),
        Column("unit", gettext_lazy("责任单位"), gettext_lazy("可空"), max_length=255, width=18,
               note=gettext_lazy("组织编码或“一厂/一班”路径；留空为区域所属单位")),
        Column("responsible", gettext_lazy("整改责任人"), gettext_lazy("可空"), max_length=100),
        Column("measures", gettext_lazy("整改措施"), gettext_lazy("可空"), max_length=500, width=30),
        Column("due", gettext_lazy("整改期限"), gettext_lazy("可空"), is_date=True, note=gettext_lazy("不能早于排查日期")),
        Column("rectified_on", gettext_lazy("整改完成日期"), gettext_lazy("可空"), is_date=True,
               note=gettext_lazy("已销号的隐患必填；不能早于排查日期，不能晚于今天")),
        Column("verifier", gettext_lazy("验收人"), gettext_lazy("可空"), max_length=100,
               note=gettext_lazy("已销号的隐患必填")),
        Column("verified_on", gettext_lazy("验收日期"), gettext_lazy("可空"), is_date=True,
               note=gettext_lazy("已销号的隐患必填，即销号日期；不能早于整改完成日期")),
        Column("status", gettext_lazy("状态"), required=True, max_length=10,
               note=gettext_lazy("“已销号”：按历史记录归档；“未销号”：导入后按派发规则派发，继续整改、验收、销号")),
        Column("funds", gettext_lazy("整改资金"), gettext_lazy("万元，可空"), width=14,
               note=gettext_lazy("重大隐患的治理资金，0以上的数字")),
        Column("remarks", gettext_lazy("备注"), gettext_lazy("可空"), max_length=200, width=24),
    )

    def load(self) -> None:
        self.units = Units(self.company)
        areas = Area.objects.filter(org_unit__path__startswith=self.company.path).select_related("org_unit")
        self.areas: dict[str, list[Area]] = {}
        for area in areas:
            self.areas.setdefault(area.name, []).append(area)
        equipment = Equipment.objects.filter(org_unit__path__startswith=self.company.path, area__isnull=False)
        self.equipment = {e.code: e for e in equipment.select_related("area__org_unit")}
        self.taken = taken_numbers(self.company)
        self.seen: dict[str, int] = {}
        self.categories = {str(label): value for value, label in HazardCategory.choices} | {
            value: value for value in HazardCategory.values}
        self.levels = {"一般": HazardLevel.GENERAL, "一般隐患": HazardLevel.GENERAL, "重大": HazardLevel.MAJOR,
                       "重大隐患": HazardLevel.MAJOR, **{str(label): value for value, label in HazardLevel.choices},
                       **{value: value for value in HazardLevel.values}}

    def check(self, row: Row) -> dict[str, Any] | None:
        number = self._number(row)
        latest = today()
        found_on = row.date("found_on", EARLIEST, latest)
        area, equipment = self._place(row)
        description = row.text("description")
        category = self._choice(row, "category", self.categories, _("隐患类别“{v}”不存在：请填写“填写说明”中列出的类别"))
        level = self._choice(row, "level", self.levels, _("隐患等级请填“一般”或“重大”"))
        unit = self._unit(row)
        responsible, measures, verifier = row.text("responsible"), row.text("measures"), row.text("verifier")
        due = row.date("due", EARLIEST, date(2199, 12, 31))
        rectified_on = row.date("rectified_on", EARLIEST, latest)
        verified_on = row.date("verified_on", EARLIEST, latest)
        closed = self._status(row)
        funds = self._funds(row)
        remarks = row.text("remarks")
        if found_on:
            for key, day in (("due", due), ("rectified_on", rectified_on), ("verified_on", verified_on)):
                if day and day < found_on:
                    row.fail(key, _("{label}{d}早于排查日期{f}").format(
                        label=self.column(key).label, d=day, f=found_on))
        if rectified_on and verified_on and verified_on < rectified_on:
            row.fail("verified_on", _("验收日期{v}早于整改完成日期{r}").format(v=verified_on, r=rectified_on))
        if closed:
            for key, value in (("rectified_on", rectified_on), ("verifier", verifier), ("verified_on", verified_on)):
                if not value and row.blank(key):
                    row.fail(key, _("已销号的隐患须填写{label}").format(label=self.column(key).label))
        elif closed is False and not row.blank("verified_on"):
            row.fail("status", _("已填写验收日期的隐患状态应为“已销号”"))
        if unit is not None and area is not None and company_of(unit).pk != self.company.pk:
            row.fail("unit", _("责任单位不在本公司"))
        if not row.ok:
            return None
        return {"row": row.number, "number": number, "found_on": found_on, "area": area, "equipment": equipment,
                "description": description, "category": category, "level": level, "unit": unit or area.org_unit,
                "responsible": responsible, "measures": measures, "due": due, "rectified_on": rectified_on,
                "verifier": verifier, "verified_on": verified_on, "closed": closed, "funds": funds,
                "remarks": remarks}

    def _number(self, row: Row) -> str | None:
        number = row.text("number")
        if not number:
            return None
        if number == EXAMPLE_NO:
            return row.fail("number", _("这是模板中的示例行，请删除后再上传"))
        if number in self.seen:
            return row.fail("number", _("隐患编号“{n}”与第{row}行重复").format(n=number, row=self.seen[number]))
        self.seen[number] = row.number
        if number in self.taken:
            return row.fail("number", _("本公司已有编号为“{n}”的隐患").format(n=number))
        return number

    def _place(self, row: Row) -> tuple[Area | None, Equipment | None]:
        text = row.text("place")
        if not text:
            return None, None
        equipment = self.equipment.get(text)
        areas = [equipment.area] if equipment else self.areas.get(text, [])
        if not areas:
            return row.fail("place", _("本公司没有名为“{v}”的区域或编码为“{v}”的设备").format(v=text)), None
        if len(areas) > 1:
            return row.fail("place", _("有多个名为“{v}”的区域：请改填设备编码").format(v=text)), None
        if not self.in_scope(areas[0].org_unit.path):
            return row.fail("place", _("“{v}”{where}").format(v=text, where=self.out_of_scope())), None
        return areas[0], equipment

    def _choice(self, row: Row, key: str, allowed: dict[str, str], message: str) -> str | None:
        text = row.text(key)
        if not text:
            return None
        if text not in allowed:
            return row.fail(key, message.format(v=_shown(text)))
        return allowed[text]

    def _unit(self, row: Row) -> OrgUnit | None:
        text = row.text("unit")
        if not text:
            return None
        try:
            unit = self.units.find(text)
        except Bad as exc:
            return row.fail("unit", str(exc))
        if not self.in_scope(unit.path):
            return row.fail("unit", _("组织“{v}”{where}").format(v=text, where=self.out_of_scope()))
        return unit

    def _status(self, row: Row) -> bool | None:
        text = (row.text("status") or "").lower()
        if not text:
            return None
        if text in CLOSED_WORDS:
            return True
        if text in OPEN_WORDS:
            return False
        return row.fail("status", _("状态请填“已销号”或“未销号”"))

    def _funds(self, row: Row) -> Decimal | None:
        amount = row.decimal("funds")
        if amount is None:
            return None
        if not Decimal(0) <= amount <= Decimal(100000):
            return row.fail("funds", _("整改资金须在0到100000万元之间"))
        return amount

    def write(self) -> int:
        actor = self.batch.created_by.user
        versions = {key: import_version(self.company, key) for key in (*IMPORT_KEYS.values(), CLOSED_KEY)}
        for line in self.clean:
            record(actor, line, versions, self.batch.pk)
        return len(self.clean)

    @classmethod
    def example(cls, scope: OrgUnit) -> list[Any]:
        company = company_of(scope)
        area = Area.objects.filter(org_unit__path__startswith=scope.path).order_by("name").first()
        place = area.name if area else _("一号罐区")
        unit = scope.code or Units(company).path_of[scope.pk]
        return [EXAMPLE_NO, date(2025, 3, 1), place, _("储罐区消防通道堆放杂物"), str(HazardCategory.FIRE.label), _("一般"),
                unit, _("张三"), _("清理杂物，设置禁止堆放标识"), date(2025, 3, 8), date(2025, 3, 5), _("李四"),
                date(2025, 3, 6), _("已销号"), "", ""]

    @classmethod
    def allowed(cls, scope: OrgUnit) -> list[tuple[str, list[str], list[list[Any]]]]:
        company = company_of(scope)
        units = Units(company)
        areas = Area.objects.filter(org_unit__path__startswith=scope.path).select_related("org_unit").order_by("name")
        equipment = Equipment.objects.filter(org_unit__path__startswith=scope.path, area__isnull=False).select_related(
            "area").order_by("code")
        return [
            (_("可填的区域"), [_("区域名称"), _("所属单位")], [[a.name, a.org_unit.name] for a in areas]),
            (_("可填的设备"), [_("设备编码"), _("设备名称"), _("所在区域")],
             [[e.code, e.name, e.area.name] for e in equipment]),
            (_("隐患类别"), [_("类别")], [[str(label)] for _value, label in HazardCategory.choices]),
            (_("可填的责任单位（编码或路径）"), [_("编码"), _("路径")],
             [[u.code, units.path_of[u.pk]] for u in units.units if u.path.startswith(scope.path)]),
            (_("状态可填"), [_("已销号"), _("未销号")], [[_("已销号"), _("未销号")]]),
        ]


def taken_numbers(company: OrgUnit) -> set[str]:
    """隐患编号 the company has: numbers kept by earlier imports and the numbers of its jobs."""
    kept = Event.objects.filter(instance__company=company, step="report",
                                instance__version__template__key__startswith="hazard-import").values_list(
        "payload__values__source_no", flat=True)
    return {str(n) for n in kept if n} | set(Instance.objects.filter(company=company).values_list("number", flat=True))


# --- the engine templates of imported hazards --------------------------------------------------------------

RECORD_FIELDS = [
    {"key": "description", "label": "隐患描述", "type": "text", "required": True},
    {"key": "source_no", "label": "原隐患编号", "type": "text", "required": True},
    {"key": "found_on", "label": "排查日期", "type": "text", "required": True},
    {"key": "import_responsible", "label": "整改责任人（原台账）", "type": "text"},
    {"key": "import_measures", "label": "整改措施（原台账）", "type": "text"},
    {"key": "import_due", "label": "整改期限（原台账）", "type": "text"},
    {"key": "import_rectified_on", "label": "整改完成日期（原台账）", "type": "text"},
    {"key": "import_verifier", "label": "验收人（原台账）", "type": "text"},
    {"key": "import_verified_on", "label": "验收日期（原台账）", "type": "text"},
    {"key": "import_funds", "label": "整改资金（万元，原台账）", "type": "number", "min": 0, "max": 100000},
    {"key": "import_remarks", "label": "备注（原台账）", "type": "text"},
    {"key": "import_batch", "label": "导入批次", "type": "text", "required": True},
]


def import_source(key: str) -> str:
    """The YAML of an import template, built from the shipped template it follows."""
    level = HazardLevel.MAJOR if key == IMPORT_KEYS[HazardLevel.MAJOR] else HazardLevel.GENERAL
    doc = yaml.safe_load(services.template_version(level).source)
    report = {"key": "report", "name": "历史台账导入", "fields": RECORD_FIELDS}
    if key == CLOSED_KEY:
        close = {"key": "close", "name": "历史销号归档", "actor": "system"}
        doc.update(key=key, name="历史隐患（已销号）", steps=[report, close],
                   description="从历史隐患台账导入的已销号隐患：导入记录与系统归档。")
        doc.pop("managers", None)
        doc["managers"] = ["safety_officer"]
    else:
        doc["steps"] = [report if step["key"] == "report" else step for step in doc["steps"]]
        doc.update(key=key, name=f"{doc['name']}（历史导入）",
                   description="从历史隐患台账导入、尚未销号的隐患：按派发规则派发后继续整改、验收、销号。")
    return dump_template(doc)


def import_version(company: OrgUnit, key: str) -> TemplateVersion:
    """The company's published import template `key`, created or brought in step with the shipped
    template on first use (by the system: it is the import's machinery, not a company's choice)."""
    source = import_source(key)
    template = FlowTemplate.objects.filter(owner=company, key=key).first()
    published = template.published() if template else None
    if published is not None and published.source == source:
        return published
    return flows.save_version(SYSTEM, template, source, owner=company, publish=True)


def record(actor: Any, line: dict[str, Any], versions: dict[str, TemplateVersion], batch_id: int) -> Hazard:
    """One checked row as a hazard: the report step by the importing user carries the ledger's
    record; a closed row is then closed by the system, an open one dispatched by the rules."""
    now = clock.now()
    values = {"description": line["description"], "source_no": line["number"], "found_on": line["found_on"].isoformat(),
              "import_responsible": line["responsible"], "import_measures": line["measures"],
              "import_due": line["due"].isoformat() if line["due"] else "",
              "import_rectified_on": line["rectified_on"].isoformat() if line["rectified_on"] else "",
              "import_verifier": line["verifier"],
              "import_verified_on": line["verified_on"].isoformat() if line["verified_on"] else "",
              "import_funds": float(line["funds"]) if line["funds"] is not None else None,
              "import_remarks": line["remarks"], "import_batch": str(batch_id)}
    values = {k: v for k, v in values.items() if v not in ("", None)}
    key = CLOSED_KEY if line["closed"] else IMPORT_KEYS[line["level"]]
    instance = flows.start(actor, versions[key], line["area"], first=core.Action("complete", step="report",
                                                                                 values=values), now=now)
    area = line["area"]
    hazard = Hazard.objects.create(
        instance=instance, company=company_of(area.org_unit), org_unit=area.org_unit, area=area,
        equipment=line["equipment"], category=line["category"], level=line["level"],
        description=line["description"], reported_by=actor.person, reported_at=historic(line["found_on"]))
    due = historic(line["due"], time(23, 59, 59)) if line["due"] else None
    if line["closed"]:
        flows.act_as_system(instance, core.Action("complete", step="close"), now=now)
        # The stage came from the events (closed); the times are the ledger's, not the import's.
        Hazard.objects.filter(pk=hazard.pk).update(
            responsible_unit=line["unit"], rectify_due=due, rectified_at=historic(line["rectified_on"]),
            verified_at=historic(line["verified_on"]), closed_at=historic(line["verified_on"]))
    else:
        services.dispatch(hazard, now=now)
        fields = {"responsible_unit": line["unit"]}
        if due is not None:
            fields["rectify_due"] = due
        Hazard.objects.filter(pk=hazard.pk).update(**fields)
    return hazard


# --- reading a workbook ----------------------------------------------------------------------------------


def read(batch: ImportBatch, progress: Any = None) -> HazardSheet:
    """Check every row of a batch's file; the sheet holds the checked rows and the errors."""
    return read_into(HazardSheet(batch), batch, progress, MAX_ROWS)


def preview_of(batch: ImportBatch) -> list[dict[str, Any]]:
    return preview_rows(batch, len(HazardSheet.columns))


def _invalid(message: str, code: str) -> Invalid:
    return Invalid(message, field="file", code=code)


def _check_workbook(data: bytes) -> int:
    """Open the workbook and check its header row; the row count it declares (0: unknown)."""
    try:
        book = open_book(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - any failure to parse an untrusted file means "not an xlsx"
        raise _invalid(_("无法读取这个文件：它不是有效的 Excel（.xlsx）文件"), "not_xlsx") from None
    try:
        if not book.worksheets:
            raise _invalid(_("工作簿里没有工作表"), "empty_sheet")
        worksheet = book.worksheets[0]
        header = next(worksheet.iter_rows(max_row=1, values_only=True), ())
        if not any(as_text(c) for c in header):
            raise _invalid(_("第一个工作表是空的：请使用下载的模板，在表头下方填写数据"), "empty_sheet")
        problems = header_problems(HazardSheet, header)
        if problems:
            raise _invalid(_("表头与模板不一致：{p}。请使用下载的模板").format(p="；".join(problems)), "wrong_headers")
        declared = (worksheet.max_row or 1) - 1
    except DomainError:
        raise
    except Exception:  # noqa: BLE001 - as above
        raise _invalid(_("无法读取这个文件：它不是有效的 Excel（.xlsx）文件"), "not_xlsx") from None
    finally:
        book.close()
    if declared > MAX_ROWS:
        raise _invalid(_("表格有{n}行，最多{max}行：请分成多个文件导入").format(n=declared, max=MAX_ROWS),
                       "too_many_rows")
    return max(declared, 0)


# --- upload, check, confirm, import ----------------------------------------------------------------------


def check_scope(actor: Any, org_unit: OrgUnit) -> None:
    access.require(actor, PERMISSION, org_unit)
    if company_of(org_unit) is None:
        raise Invalid(_("请选择公司或其下级组织作为导入范围"), field="org_unit")


def upload(actor: Any, *, org_unit: OrgUnit, file: Any) -> ImportBatch:
    """Keep an uploaded ledger for checking in the worker, after the cheap checks."""
    check_scope(actor, org_unit)
    person = getattr(actor, "person", None)
    if person is None:
        raise Invalid(_("只有登记为人员的账号可以导入"))
    data = _read_upload(file)
    declared = _check_workbook(data)
    batch = ImportBatch(org_unit=org_unit, kind=KIND, token=secrets.token_hex(16), created_by=person,
                        original_name=str(getattr(file, "name", ""))[:200], total_rows=declared)
    save_all_or_nothing(batch, data, field="upload")
    transaction.on_commit(lambda: check_import(batch.pk))
    return batch


@db_task()
def check_import(batch_id: int) -> None:
    """Check every row of an uploaded ledger (worker); progress every PROGRESS_EVERY rows."""
    batch = ImportBatch.objects.select_related("org_unit", "created_by__user").filter(
        pk=batch_id, kind=KIND, status=ImportStatus.CHECKING).first()
    if batch is None:
        return
    check_batch(batch, read, preview_of)


def confirm(actor: Any, batch: ImportBatch) -> ImportBatch:
    """Start the import of a checked ledger; confirming again changes nothing."""
    access.require(actor, PERMISSION, batch.org_unit)
    if batch.status in (ImportStatus.IMPORTING, ImportStatus.DONE):
        return batch
    if batch.status != ImportStatus.READY:
        raise Conflict(_("该批次状态为“{s}”，不能导入：请改正错误后重新上传").format(s=batch.get_status_display()),
                       code="not_ready")
    claimed = ImportBatch.objects.filter(pk=batch.pk, status=ImportStatus.READY).update(
        status=ImportStatus.IMPORTING, processed_rows=0)
    if claimed:
        transaction.on_commit(lambda: run_import(batch.pk))
    batch.refresh_from_db()
    return batch


@db_task()
def run_import(batch_id: int) -> None:
    """Import a confirmed ledger all or nothing (worker), checking every row again first."""
    try:
        with transaction.atomic():
            batch = ImportBatch.objects.select_for_update(of=("self",)).select_related(
                "org_unit", "created_by__user").filter(pk=batch_id, kind=KIND, status=ImportStatus.IMPORTING).first()
            if batch is None:
                return
            # One hazard import per company at a time: the duplicate check below stays true.
            OrgUnit.objects.select_for_update().filter(pk=company_of(batch.org_unit).pk).first()
            sheet = read(batch)
            if sheet.errors:
                raise Refused(sheet.errors)
            imported = sheet.write()
            _finish(batch_id, ImportStatus.DONE, imported_rows=imported, processed_rows=imported)
    except Refused as exc:
        _finish(batch_id, ImportStatus.FAILED, errors=[{
            "row": None, "column": "", "message": _("检查后数据库已有变化，没有导入任何数据；请改正以下错误后重新上传")},
            *exc.errors])
    except DomainError as exc:
        log.warning("hazard import %s refused: %s", batch_id, exc.message())
        _finish(batch_id, ImportStatus.FAILED, errors=[{"row": None, "column": "", "message": _(
            "导入被拒绝，没有导入任何数据：{m}").format(m=exc.message())}])
    except Exception:  # noqa: BLE001 - whatever failed, nothing was written: say so on the batch
        log.exception("hazard import %s failed", batch_id)
        _finish(batch_id, ImportStatus.FAILED, errors=[{"row": None, "column": "", "message": _(
            "导入时出错，没有导入任何数据；请重新上传")}])


# --- reading batches -------------------------------------------------------------------------------------


def batches_for(user: Any) -> QuerySet[ImportBatch]:
    return ImportBatch.objects.filter(Q(kind=KIND) & access.scope_filter(user, PERMISSION, "org_unit__path")
                                      ).select_related("org_unit", "created_by")


def get_batch(user: Any, batch_id: Any) -> ImportBatch:
    """One visible hazard import, or NotFound (another company's looks like a missing one)."""
    try:
        batch = batches_for(user).filter(pk=batch_id).first()
    except (ValueError, TypeError):
        batch = None
    if batch is None:
        raise NotFound()
    return batch


def units_for(user: Any) -> QuerySet[OrgUnit]:
    return access.visible(OrgUnit, user, PERMISSION).exclude(kind=OrgKind.GROUP).order_by("path")


# --- the template ----------------------------------------------------------------------------------------


def template_workbook(scope: OrgUnit) -> bytes:
    book = Workbook()
    data = book.active
    data.title = str(HazardSheet.title)
    for index, (column, example) in enumerate(zip(HazardSheet.columns, HazardSheet.example(scope)), start=1):
        letter = get_column_letter(index)
        head = _put(data, 1, index, column.header)
        head.font, head.fill = BOLD, HEAD_FILL
        cell = _put(data, 2, index, example)
        cell.font = EXAMPLE_FONT
        cell.number_format = "yyyy-mm-dd" if column.is_date else "@"
        data.column_dimensions[letter].width = max(column.width, len(column.header) * 2 + 2)
        data.column_dimensions[letter].number_format = cell.number_format
    data.freeze_panes = "A2"
    help_sheet = book.create_sheet(_("填写说明"))
    _help_sheet(help_sheet, HazardSheet, scope)
    # Its third line states the people import's limits: this import's are smaller.
    help_sheet["A3"] = _("导入范围：{unit}。最多{n}行，文件不超过20 MB。有任何一行出错时不导入任何数据。").format(
        unit=scope.name, n=MAX_ROWS)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_response(scope: OrgUnit) -> HttpResponse:
    response = HttpResponse(template_workbook(scope), content_type=XLSX)
    response["Content-Disposition"] = content_disposition_header(True, f"{_('隐患台账导入模板')}.xlsx")
    return response
