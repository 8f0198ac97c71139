"""Bulk import of people, certificates and training records from Excel.

An upload is checked at once for what is cheap to tell (size, a real .xlsx, the header row), kept,
and then checked row by row in the worker (`check_import`), which records per-row, per-column
errors and its progress. Only a sheet without errors can be confirmed. The import (`run_import`)
also runs in the worker, in one transaction: it checks every row again against the database as it
is by then, and writes all rows with bulk inserts, or nothing at all.

Rows are checked against lookups loaded once per sheet (org units, people, contractors,
certificate kinds, courses, existing numbers), with the limits of the single-record services
(`orgs.services.save_person`, `workforce.certificates`, `training.services`).
"""

from __future__ import annotations

import io
import logging
import re
import secrets
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.http import HttpResponse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.utils.translation import override
from huey.contrib.djhuey import db_task
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from anlian import audit
from anlian.core import clock
from anlian.core.codes import id18_check_char, id18_problem
from anlian.core.errors import Conflict, DomainError, Invalid, NotFound
from anlian.evidence.services import save_all_or_nothing
from anlian.orgs import access
from anlian.orgs.models import Contractor, OrgKind, OrgUnit, Person
from anlian.orgs.permissions import MANAGE_CERTIFICATES, MANAGE_PEOPLE, MANAGE_TRAINING
from anlian.training import services as training
from anlian.training.models import Attendance, Course, Session
from anlian.workforce import certificates
from anlian.workforce.models import Certificate, CertificateKind, ImportBatch, ImportKind, ImportStatus

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024
MAX_UNPACKED_BYTES = 400 * 1024 * 1024  # a small zip that inflates to gigabytes is refused unread
MAX_ROWS = 50_000
MAX_ERRORS = 5_000  # kept on the batch; beyond that one line says how many more there are
PREVIEW_ROWS = 20
PREVIEW_CHARS = 60
PROGRESS_EVERY = 500
EXAMPLE_NO = "示例0001"  # the template's example row; a row with this number is refused, not imported

PERMISSION = {ImportKind.PEOPLE: MANAGE_PEOPLE, ImportKind.CERTIFICATES: MANAGE_CERTIFICATES,
              ImportKind.TRAINING: MANAGE_TRAINING}
IN_PROGRESS = (ImportStatus.CHECKING, ImportStatus.IMPORTING)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (and password-protected .xlsx)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DATE_TEXT = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
YES = {"是", "合格", "通过", "y", "yes", "true", "1", "√"}
NO = {"否", "不合格", "未通过", "n", "no", "false", "0", "×"}


class TooLarge(DomainError):
    code = "file_too_large"
    http_status = 413


def _invalid(message: str, code: str) -> Invalid:
    return Invalid(message, field="file", code=code)


# --- columns and cells -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a sheet: its header, the limits of its cells and its line on the help sheet."""

    key: str
    label: Promise
    hint: Promise | str = ""
    required: bool = False
    max_length: int = 0
    is_date: bool = False
    width: int = 14
    note: Promise | str = ""

    @property
    def header(self) -> str:
        return f"{self.label}（{self.hint}）" if self.hint else str(self.label)

    def accepts(self, text: str) -> bool:
        """A header cell names this column by its full header or its bare label, in Chinese or in
        the language the template was downloaded in."""
        with override("zh-hans"):
            chinese = {self.header, str(self.label)}
        return text in chinese | {self.header, str(self.label)}


class Bad(Exception):
    """A cell that cannot be read as what its column holds (the message says why)."""


def as_text(value: Any) -> str:
    """A cell as text: numbers typed into text columns lose Excel's ".0", dates become ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _shown(value: Any) -> str:
    text = as_text(value)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def as_date(value: Any) -> date:
    """A date cell: an Excel date, or text such as 2025-03-01, 2025/3/1 or 2025年3月1日."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = as_text(value)
    match = DATE_TEXT.match(text)
    if not match:
        raise Bad(_("“{v}”不是日期，请填写如 2025-03-01 的日期").format(v=_shown(value)))
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        raise Bad(_("日期“{v}”不存在（月份或日期超出范围）").format(v=text)) from None


def as_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise Bad(_("“{v}”不是数字").format(v=_shown(value)))
    try:
        number = Decimal(str(value).strip()) if isinstance(value, (int, float, str)) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise Bad(_("“{v}”不是数字").format(v=_shown(value)))
    return number


class Row:
    """One data row being checked. Each read returns the cell's value, or records an error for its
    column and returns None (`ok` turns False)."""

    def __init__(self, sheet: Sheet, number: int, cells: tuple[Any, ...]):
        self.sheet, self.number, self.ok = sheet, number, True
        self.cells = dict(zip((c.key for c in sheet.columns), cells))

    def fail(self, key: str, message: str) -> None:
        self.ok = False
        self.sheet.error(self.number, key, message)

    def blank(self, key: str) -> bool:
        return as_text(self.cells.get(key)) == ""

    def _missing(self, key: str) -> bool:
        """True when the cell is empty (an error if the column is required)."""
        if not self.blank(key):
            return False
        column = self.sheet.column(key)
        if column.required:
            self.fail(key, _("{label}不能为空").format(label=column.label))
        return True

    def text(self, key: str) -> str | None:
        if self._missing(key):
            return ""
        column, value = self.sheet.column(key), as_text(self.cells[key])
        if column.max_length and len(value) > column.max_length:
            return self.fail(key, _("{label}不能超过{n}个字符（现有{m}个）").format(
                label=column.label, n=column.max_length, m=len(value)))
        if CONTROL.search(value):
            return self.fail(key, _("{label}含有不允许的控制字符").format(label=column.label))
        return value

    def date(self, key: str, earliest: date, latest: date) -> date | None:
        if self._missing(key):
            return None
        try:
            day = as_date(self.cells[key])
        except Bad as exc:
            return self.fail(key, str(exc))
        if not earliest <= day <= latest:
            return self.fail(key, _("日期{d}超出范围：须在{a}至{b}之间").format(d=day, a=earliest, b=latest))
        return day

    def decimal(self, key: str) -> Decimal | None:
        if self._missing(key):
            return None
        try:
            return as_decimal(self.cells[key])
        except Bad as exc:
            return self.fail(key, str(exc))


# --- the sheets --------------------------------------------------------------------------------------


def company_of(unit: OrgUnit) -> OrgUnit | None:
    return unit if unit.kind == OrgKind.COMPANY else unit.company


def _split_path(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.replace("／", "/").split("/") if part.strip())


class Sheet:
    """The rules of one kind of sheet: its columns, the lookups it loads once, how a row is
    checked (`take`) and how the checked rows are written (`write`)."""

    columns: tuple[Column, ...]
    title: Promise

    def __init__(self, batch: ImportBatch):
        self.batch, self.scope = batch, batch.org_unit
        self.company = company_of(batch.org_unit)
        self.errors: list[dict[str, Any]] = []
        self.hidden_errors = 0
        self.clean: list[Any] = []
        self.rows = 0
        self._columns = {c.key: c for c in self.columns}
        self.load()

    def column(self, key: str) -> Column:
        return self._columns[key]

    def error(self, row: int | None, key: str, message: str) -> None:
        if len(self.errors) >= MAX_ERRORS:
            self.hidden_errors += 1
            return
        label = str(self._columns[key].label) if key in self._columns else ""
        self.errors.append({"row": row, "column": label, "message": str(message)})

    def take(self, number: int, cells: tuple[Any, ...]) -> None:
        self.rows += 1
        row = Row(self, number, cells)
        if as_text(row.cells.get("employee_no")) == EXAMPLE_NO:
            row.fail("employee_no", _("这是模板中的示例行，请删除后再上传"))
            return
        checked = self.check(row)
        if row.ok and checked is not None:
            self.clean.append(checked)

    def finish(self) -> None:
        """Checks that need every row first (against the database, in bulk)."""
        self.errors.sort(key=lambda e: (e["row"] is not None, e["row"] or 0))
        if self.hidden_errors:
            self.errors.append({"row": None, "column": "", "message": _("另有{n}处错误未列出，请先改正以上错误").format(
                n=self.hidden_errors)})

    def in_scope(self, path: str) -> bool:
        return path.startswith(self.scope.path)

    def out_of_scope(self) -> str:
        return _("不在所选导入范围“{unit}”内").format(unit=self.scope.name)

    # Each kind implements the five below.
    def load(self) -> None:
        """Load the lookups every row is checked against, once."""
        raise NotImplementedError

    def check(self, row: Row) -> Any:
        """The object to write for a row, or None (its errors are recorded on the row)."""
        raise NotImplementedError

    def write(self) -> int:
        """Write every checked row in bulk; returns how many were written."""
        raise NotImplementedError

    @classmethod
    def example(cls, scope: OrgUnit) -> list[Any]:
        """The template's example row."""
        raise NotImplementedError

    @classmethod
    def allowed(cls, scope: OrgUnit) -> list[tuple[str, list[str], list[list[Any]]]]:
        """Sections of the help sheet listing the values a column may take: (title, headers, rows)."""
        raise NotImplementedError


class People:
    """People named by employee number within the company, with their unit path."""

    def __init__(self, company: OrgUnit):
        rows = Person.objects.filter(company=company).only("pk", "employee_no", "name", "id_number", "company")
        self.by_no = {p.employee_no: p for p in rows.annotate(unit_path=F("org_unit__path"))}

    def get(self, sheet: Sheet, row: Row, no: str) -> Person | None:
        person = self.by_no.get(no)
        if person is None:
            return row.fail("employee_no", _("本公司没有工号为“{no}”的人员").format(no=no))
        if not sheet.in_scope(person.unit_path):
            return row.fail("employee_no", _("工号“{no}”的人员{where}").format(no=no, where=sheet.out_of_scope()))
        return person


class Units:
    """The company's org units by code and by name path ("一厂/一班", with or without the company)."""

    def __init__(self, company: OrgUnit):
        units = list(OrgUnit.objects.filter(path__startswith=company.path).order_by("depth"))
        names: dict[int, tuple[str, ...]] = {}
        self.by_path: dict[tuple[str, ...], OrgUnit] = {}
        self.by_code: dict[str, list[OrgUnit]] = defaultdict(list)
        for unit in units:
            names[unit.pk] = () if unit.pk == company.pk else names.get(unit.parent_id, ()) + (unit.name,)
            self.by_path[names[unit.pk]] = unit
            self.by_path[(company.name, *names[unit.pk])] = unit
            if unit.code:
                self.by_code[unit.code].append(unit)
        self.path_of = {unit.pk: "/".join(names[unit.pk]) or unit.name for unit in units}
        self.units = units

    def find(self, text: str) -> OrgUnit:
        by_code = self.by_code.get(text, [])
        if len(by_code) > 1:
            raise Bad(_("编码“{c}”对应多个组织，请改填路径，如“一厂/一班”").format(c=text))
        found = by_code[0] if by_code else self.by_path.get(_split_path(text))
        if found is None:
            raise Bad(_("找不到组织“{v}”：请填写组织编码，或从公司下一级开始的路径，如“一厂/一班”").format(v=text))
        return found


class PeopleSheet(Sheet):
    title = gettext_lazy("人员")
    columns = (
        Column("org_unit", gettext_lazy("组织"), gettext_lazy("编码或“一厂/一班”路径"), required=True, max_length=255,
               width=26, note=gettext_lazy("组织编码，或从公司下一级开始、用“/”分隔的组织名称；须在所选导入范围内")),
        Column("name", gettext_lazy("姓名"), required=True, max_length=50, width=12),
        Column("employee_no", gettext_lazy("工号"), required=True, max_length=40, note=gettext_lazy("本公司内唯一")),
        Column("phone", gettext_lazy("手机号"), max_length=20, width=16, note=gettext_lazy("5到20位数字，可空")),
        Column("id_number", gettext_lazy("身份证号"), max_length=18, width=22,
               note=gettext_lazy("18位，末位校验码须正确，可空")),
        Column("hired_on", gettext_lazy("入职日期"), is_date=True, width=14,
               note=gettext_lazy("如 2025-03-01，可空；三级安全教育的完成期限从此日算起")),
        Column("job_title", gettext_lazy("岗位"), max_length=50, width=14),
        Column("contractor", gettext_lazy("承包商"), gettext_lazy("名称，可空"), max_length=100, width=24,
               note=gettext_lazy("承包商人员填写其单位名称（须已在本公司登记）；本公司员工留空")),
    )

    def load(self) -> None:
        self.units = Units(self.company)
        self.taken = set(Person.objects.filter(company=self.company).values_list("employee_no", flat=True))
        self.contractors = {c.name: c for c in Contractor.objects.filter(company=self.company)}
        self.seen: dict[str, int] = {}

    def check(self, row: Row) -> Person | None:
        unit = self._unit(row)
        name = row.text("name")
        no = row.text("employee_no")
        if no:
            if no in self.seen:
                row.fail("employee_no", _("工号“{no}”与第{n}行重复").format(no=no, n=self.seen[no]))
            elif no in self.taken:
                row.fail("employee_no", _("本公司已有工号为“{no}”的人员").format(no=no))
            self.seen.setdefault(no, row.number)
        phone = row.text("phone")
        if phone and not (phone.isdigit() and 5 <= len(phone) <= 20):
            row.fail("phone", _("手机号只能包含5到20位数字"))
        id_number = (row.text("id_number") or "").upper()
        if id_number and id18_problem(id_number):
            row.fail("id_number", _("身份证号“{n}”无效（18位，末位校验码须正确）").format(n=id_number))
        hired_on = row.date("hired_on", date(1950, 1, 1), date(2199, 12, 31))
        job_title = row.text("job_title")
        contractor = self._contractor(row)
        if not row.ok:
            return None
        return Person(org_unit=unit, company=self.company, name=name, employee_no=no, phone=phone,
                      id_number=id_number, hired_on=hired_on, job_title=job_title, contractor=contractor)

    def _unit(self, row: Row) -> OrgUnit | None:
        text = row.text("org_unit")
        if not text:
            return None
        try:
            unit = self.units.find(text)
        except Bad as exc:
            return row.fail("org_unit", str(exc))
        if not self.in_scope(unit.path):
            return row.fail("org_unit", _("组织“{v}”{where}").format(v=text, where=self.out_of_scope()))
        return unit

    def _contractor(self, row: Row) -> Contractor | None:
        name = row.text("contractor")
        if not name:
            return None
        contractor = self.contractors.get(name)
        if contractor is None:
            return row.fail("contractor", _("本公司没有名为“{v}”的承包商，请先登记承包商").format(v=name))
        return contractor

    def write(self) -> int:
        people = Person.objects.bulk_create(self.clean, batch_size=1000)
        audit.record_created(people)  # bulk_create sends no signals: one audit entry per person
        # Three-level education for everyone at once (not one person_hired signal per row).
        training.assign_education(people)
        return len(people)

    @classmethod
    def example(cls, scope: OrgUnit) -> list[Any]:
        place = scope.code or Units(company_of(scope)).path_of[scope.pk]
        first17 = "11010519900307002"
        return [place, "张三", EXAMPLE_NO, "13800000000", first17 + id18_check_char(first17), date(2025, 3, 1),
                "操作工", ""]

    @classmethod
    def allowed(cls, scope: OrgUnit) -> list[tuple[str, list[str], list[list[Any]]]]:
        company = company_of(scope)
        units = Units(company)
        inside = [u for u in units.units if u.path.startswith(scope.path)]
        contractors = Contractor.objects.filter(company=company).order_by("name")
        return [
            (_("可填的组织（编码或路径）"), [_("编码"), _("路径"), _("层级")],
             [[u.code, units.path_of[u.pk], u.get_kind_display()] for u in inside]),
            (_("本公司登记的承包商"), [_("名称"), _("状态")], [[c.name, c.get_status_display()] for c in contractors]),
        ]


class KindChoice:
    """Certificate kinds a company's people may hold, by code or name; a kind defined by a unit
    above the person wins over a shipped kind of the same code."""

    def __init__(self, company: OrgUnit):
        kinds = CertificateKind.objects.filter(Q(owner__isnull=True) | Q(owner__path__startswith=company.path))
        self.by_key: dict[str, list[CertificateKind]] = defaultdict(list)
        for kind in kinds.select_related("owner"):
            self.by_key[kind.code].append(kind)
            if kind.name != kind.code:
                self.by_key[kind.name].append(kind)

    def find(self, text: str, unit_path: str) -> CertificateKind:
        fits = [k for k in self.by_key.get(text, []) if k.owner is None or unit_path.startswith(k.owner.path)]
        if not fits:
            if self.by_key.get(text):
                raise Bad(_("证书类型“{v}”不适用于此人员所在单位").format(v=text))
            raise Bad(_("找不到证书类型“{v}”：请填写“填写说明”中列出的代码或名称").format(v=text))
        return max(fits, key=lambda k: len(k.owner.path) if k.owner else 0)


class CertificateSheet(Sheet):
    title = gettext_lazy("证书")
    columns = (
        Column("employee_no", gettext_lazy("工号"), required=True, max_length=40,
               note=gettext_lazy("持证人的工号；须在所选导入范围内")),
        Column("kind", gettext_lazy("证书类型"), gettext_lazy("代码或名称"), required=True, max_length=60, width=24,
               note=gettext_lazy("见下方可用的证书类型")),
        Column("number", gettext_lazy("证书编号"), required=True, max_length=certificates.MAX_NUMBER, width=22,
               note=gettext_lazy("特种作业操作证的编号是持证人的18位身份证号；同一类型内编号唯一")),
        Column("issuer", gettext_lazy("发证机关"), max_length=certificates.MAX_ISSUER, width=20),
        Column("issued_on", gettext_lazy("发证日期"), required=True, is_date=True, note=gettext_lazy("不能晚于今天")),
        Column("expires_on", gettext_lazy("有效期至"), required=True, is_date=True,
               note=gettext_lazy("不能早于发证日期")),
        Column("review_due_on", gettext_lazy("复审日期"), gettext_lazy("可空"), is_date=True, width=16,
               note=gettext_lazy("须在发证日期与有效期至之间；留空按证书类型的复审周期计算")),
    )

    def load(self) -> None:
        self.people = People(self.company)
        self.kinds = KindChoice(self.company)
        self.taken = set(Certificate.objects.filter(company=self.company).values_list("kind_id", "number"))
        self.seen: dict[tuple[int, str], int] = {}

    def check(self, row: Row) -> Certificate | None:
        no = row.text("employee_no")
        person = self.people.get(self, row, no) if no else None
        kind = self._kind(row, person)
        number = self._number(row, kind, person)
        issuer = row.text("issuer")
        earliest, latest = certificates.EARLIEST, certificates.LATEST
        issued_on = row.date("issued_on", earliest, min(latest, certificates.today()))
        expires_on = row.date("expires_on", earliest, latest)
        review_due_on = row.date("review_due_on", earliest, latest)
        if issued_on and expires_on and expires_on < issued_on:
            row.fail("expires_on", _("有效期至{e}早于发证日期{i}").format(e=expires_on, i=issued_on))
        elif issued_on and expires_on and review_due_on and not issued_on <= review_due_on <= expires_on:
            row.fail("review_due_on", _("复审日期须在发证日期与有效期至之间"))
        if not row.ok:
            return None
        review_due_on = review_due_on or certificates.default_review_due(kind, issued_on, expires_on)
        return Certificate(person=person, company_id=person.company_id, kind=kind, number=number, issuer=issuer,
                           issued_on=issued_on, expires_on=expires_on, review_due_on=review_due_on)

    def _kind(self, row: Row, person: Person | None) -> CertificateKind | None:
        text = row.text("kind")
        if not text or person is None:
            return None
        try:
            return self.kinds.find(text, person.unit_path)
        except Bad as exc:
            return row.fail("kind", str(exc))

    def _number(self, row: Row, kind: CertificateKind | None, person: Person | None) -> str | None:
        text = row.text("number")
        if not text or kind is None:
            return None
        try:
            number = certificates.clean_number(text, kind, person)
        except Invalid as exc:
            return row.fail("number", exc.message())
        key = (kind.pk, number)
        if key in self.seen:
            row.fail("number", _("{kind}编号“{n}”与第{row}行重复").format(kind=kind.name, n=number, row=self.seen[key]))
        elif key in self.taken:
            row.fail("number", _("本公司已登记编号为“{n}”的{kind}").format(n=number, kind=kind.name))
        self.seen.setdefault(key, row.number)
        return number

    def write(self) -> int:
        return len(Certificate.objects.bulk_create(self.clean, batch_size=1000))

    @classmethod
    def example(cls, scope: OrgUnit) -> list[Any]:
        first17 = "11010519900307002"
        return [EXAMPLE_NO, "so-welding", first17 + id18_check_char(first17), "某市应急管理局", date(2024, 3, 1),
                date(2030, 3, 1), date(2027, 3, 1)]

    @classmethod
    def allowed(cls, scope: OrgUnit) -> list[tuple[str, list[str], list[list[Any]]]]:
        company = company_of(scope)
        kinds = CertificateKind.objects.filter(Q(owner__isnull=True) | Q(owner__path__startswith=company.path))
        return [(_("可用的证书类型"), [_("代码"), _("名称"), _("类别"), _("编号格式"), _("定义单位")],
                 [[k.code, k.name, k.get_family_display(), k.get_number_format_display(),
                   k.owner.name if k.owner else _("系统内置")] for k in kinds.select_related("owner")])]


@dataclass
class Line:
    """A checked training row, written as attendance of the (course, date) session."""

    person: Person
    course: Course
    day: date
    score: int | None
    passed: bool
    hours: Decimal


class TrainingSheet(Sheet):
    title = gettext_lazy("培训记录")
    columns = (
        Column("employee_no", gettext_lazy("工号"), required=True, max_length=40,
               note=gettext_lazy("受训人的工号；须在所选导入范围内")),
        Column("course", gettext_lazy("课程编号"), required=True, max_length=40, width=16,
               note=gettext_lazy("见下方本公司的课程")),
        Column("day", gettext_lazy("培训日期"), required=True, is_date=True,
               note=gettext_lazy("不能晚于今天；同一课程同一天的记录归入同一场次")),
        Column("hours", gettext_lazy("学时"), gettext_lazy("可空"), width=12,
               note=gettext_lazy("最多一位小数，不超过课程学时；留空按课程学时；不合格计0学时")),
        Column("score", gettext_lazy("成绩"), gettext_lazy("可空"), width=12, note=gettext_lazy("0到100的整数")),
        Column("passed", gettext_lazy("是否合格"), gettext_lazy("可空"), width=14,
               note=gettext_lazy("填“是”或“否”；留空按课程的合格分数判定（课程无合格分数即为合格）")),
    )

    def load(self) -> None:
        self.people = People(self.company)
        self.courses = {c.code: c for c in Course.objects.filter(company=self.company).select_related("org_unit")}
        self.actor = self.batch.created_by.user
        self.seen: dict[tuple[int, int, date], int] = {}
        self.row_of: dict[int, int] = {}  # id(line) → its row, for the checks made after all rows

    def check(self, row: Row) -> Line | None:
        no = row.text("employee_no")
        person = self.people.get(self, row, no) if no else None
        course = self._course(row)
        day = row.date("day", date(2000, 1, 1), training.today())
        score = self._score(row)
        # A score that could not be read has its own error; no second one about the pass mark.
        passed = self._passed(row, course, score) if score is not None or row.blank("score") else None
        hours = self._hours(row, course)
        if not row.ok:
            return None
        key = (person.pk, course.pk, day)
        if key in self.seen:
            return row.fail("employee_no", _("与第{n}行重复：同一人同一课程同一天").format(n=self.seen[key]))
        self.seen[key] = row.number
        line = Line(person, course, day, score, passed, hours if passed else Decimal(0))
        self.row_of[id(line)] = row.number
        return line

    def _course(self, row: Row) -> Course | None:
        code = row.text("course")
        if not code:
            return None
        course = self.courses.get(code)
        if course is None:
            return row.fail("course", _("本公司没有编号为“{v}”的课程").format(v=code))
        return course

    def _score(self, row: Row) -> int | None:
        number = row.decimal("score")
        if number is None:
            return None
        if number != number.to_integral_value() or not 0 <= number <= 100:
            return row.fail("score", _("成绩须为0到100的整数"))
        return int(number)

    def _passed(self, row: Row, course: Course | None, score: int | None) -> bool | None:
        text = as_text(row.cells.get("passed")).lower()
        given = True if text in YES else False if text in NO else None
        if text and given is None:
            return row.fail("passed", _("是否合格请填“是”或“否”，或留空"))
        if course is None:
            return None
        if course.pass_score is None or score is None:
            if given is None and course.pass_score is not None:
                return row.fail("score", _("课程合格分数为{p}：请填写成绩或是否合格").format(p=course.pass_score))
            return True if given is None else given
        computed = score >= course.pass_score
        if given is not None and given != computed:
            return row.fail("passed", _("成绩{s}与合格分数{p}不符：应为“{v}”").format(
                s=score, p=course.pass_score, v=_("是") if computed else _("否")))
        return computed

    def _hours(self, row: Row, course: Course | None) -> Decimal | None:
        hours = row.decimal("hours")
        if course is None or (hours is None and not row.blank("hours")):
            return None
        if hours is None:
            return course.hours
        if not 0 < hours <= course.hours:
            return row.fail("hours", _("学时须大于0且不超过课程学时{n}").format(n=course.hours))
        if hours != hours.quantize(Decimal("0.1")):
            return row.fail("hours", _("学时最多保留一位小数"))
        return hours.quantize(Decimal("0.1"))

    def finish(self) -> None:
        self.sessions = self._existing_sessions()
        recorded = set(Attendance.objects.filter(session__in=[s.pk for s in self.sessions.values()],
                                                 person__in={line.person.pk for line in self.clean})
                       .values_list("session_id", "person_id"))
        kept = []
        for line in self.clean:
            session = self.sessions.get((line.course.pk, line.day))
            if session is not None and (session.pk, line.person.pk) in recorded:
                self.error(self.row_of[id(line)], "employee_no", _("{name}已有{course}在{day}的培训记录").format(
                    name=line.person.name, course=line.course.name, day=line.day))
            elif session is None and not access.can(self.actor, MANAGE_TRAINING, line.course.org_unit):
                self.error(self.row_of[id(line)], "course", _(
                    "{day}没有“{course}”的场次，你也无权为该课程新建场次：请课程管理单位先建场次").format(
                    day=line.day, course=line.course.name))
            else:
                kept.append(line)
        self.clean = kept
        super().finish()

    def _existing_sessions(self) -> dict[tuple[int, date], Session]:
        courses = {line.course.pk for line in self.clean}
        days = {line.day for line in self.clean}
        if not courses:
            return {}
        found: dict[tuple[int, date], Session] = {}
        for session in Session.objects.filter(course__in=courses, starts_at__date__in=days).order_by("-starts_at"):
            found[(session.course_id, training.training_day(session))] = session  # the earliest one wins
        return found

    def write(self) -> int:
        missing = {(line.course.pk, line.day): line.course for line in self.clean
                   if (line.course.pk, line.day) not in self.sessions}
        created = Session.objects.bulk_create([_new_session(course, day) for (_pk, day), course in missing.items()])
        sessions = self.sessions | {(s.course_id, key[1]): s for key, s in zip(missing, created)}
        rows = [Attendance(session=sessions[(line.course.pk, line.day)], person=line.person, attended=True,
                           score=line.score, passed=line.passed, hours=line.hours) for line in self.clean]
        Attendance.objects.bulk_create(rows, batch_size=1000)
        training.recompute({line.person.pk for line in self.clean}, {line.course.level for line in self.clean})
        return len(rows)

    @classmethod
    def example(cls, scope: OrgUnit) -> list[Any]:
        course = Course.objects.filter(company=company_of(scope)).order_by("code").first()
        return [EXAMPLE_NO, course.code if course else "AQ-001", date(2025, 3, 1), 8, 90, ""]

    @classmethod
    def allowed(cls, scope: OrgUnit) -> list[tuple[str, list[str], list[list[Any]]]]:
        courses = Course.objects.filter(company=company_of(scope)).order_by("code")
        return [
            (_("本公司的课程"), [_("课程编号"), _("课程名称"), _("类别"), _("学时"), _("合格分数")],
             [[c.code, c.name, c.get_level_display(), float(c.hours), c.pass_score] for c in courses]),
            (_("是否合格可填"), [_("合格"), _("不合格")], [[_("是"), _("否")]]),
        ]


def _new_session(course: Course, day: date) -> Session:
    """A session for imported records: 08:00 on the training day (not later than now), lasting
    the course's hours."""
    starts_at = min(timezone.make_aware(datetime.combine(day, time(8, 0))), clock.now())
    return Session(course=course, starts_at=starts_at, ends_at=starts_at + timedelta(hours=float(course.hours)))


SHEETS: dict[str, type[Sheet]] = {ImportKind.PEOPLE: PeopleSheet, ImportKind.CERTIFICATES: CertificateSheet,
                                  ImportKind.TRAINING: TrainingSheet}


# --- reading a workbook ------------------------------------------------------------------------------


def open_book(source: Any) -> Any:
    """The workbook in read-only mode; formulas stay text (`data_only=False`: "=cmd|…" is read as
    that string and never evaluated)."""
    return load_workbook(source, read_only=True, data_only=False, keep_links=False)


def header_problems(sheet: type[Sheet], header: tuple[Any, ...]) -> list[str]:
    problems = []
    for index, column in enumerate(sheet.columns):
        found = as_text(header[index]) if index < len(header) else ""
        if not column.accepts(found):
            problems.append(_("第{col}列应为“{want}”，实际为“{got}”").format(
                col=get_column_letter(index + 1), want=column.header, got=_shown(found) or _("空")))
    return problems


def data_rows(worksheet: Any, width: int) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(Excel row number, cells) of every non-empty row below the header. The size the file
    declares is ignored: a wrong one would hide rows below it."""
    worksheet.reset_dimensions()
    for number, cells in enumerate(worksheet.iter_rows(min_row=2, max_col=width, values_only=True), start=2):
        if any(as_text(c) for c in cells):
            yield number, tuple(cells) + (None,) * (width - len(cells))


def read(batch: ImportBatch, progress: Callable[[int], None] | None = None) -> Sheet:
    """Check every row of a batch's file; the sheet holds the checked rows and the errors."""
    return read_into(SHEETS[batch.kind](batch), batch, progress, MAX_ROWS)


def read_into(sheet: Any, batch: Any, progress: Callable[[int], None] | None, max_rows: int) -> Any:
    """Fill `sheet` (a Sheet subclass: columns, error(), take(), finish()) from the batch's file:
    headers first, then every data row, reporting progress every PROGRESS_EVERY rows. Shared by
    every Excel import (people, certificates, training, hazard ledgers)."""
    with batch.upload.open("rb") as handle:
        book = open_book(handle)
        try:
            worksheet = book.worksheets[0]
            header = next(worksheet.iter_rows(max_row=1, values_only=True), ())
            for problem in header_problems(type(sheet), header):
                sheet.error(1, "", problem)
            if sheet.errors:
                return sheet
            for number, cells in data_rows(worksheet, len(sheet.columns)):
                if sheet.rows >= max_rows:
                    sheet.error(None, "", _("超过{n}行，请分成多个文件导入").format(n=max_rows))
                    break
                sheet.take(number, cells)
                if progress and sheet.rows % PROGRESS_EVERY == 0:
                    progress(sheet.rows)
        finally:
            book.close()
    if sheet.rows == 0 and not sheet.errors:
        sheet.error(None, "", _("表格里没有数据行：请在表头下方逐行填写"))
    sheet.finish()
    return sheet


def preview_of(batch: ImportBatch) -> list[dict[str, Any]]:
    return preview_rows(batch, len(SHEETS[batch.kind].columns))


def preview_rows(batch: Any, width: int) -> list[dict[str, Any]]:
    """The first rows as read, for the preview page (cells as text, shortened)."""
    rows = []
    with batch.upload.open("rb") as handle:
        book = open_book(handle)
        try:
            for number, cells in data_rows(book.worksheets[0], width):
                rows.append({"row": number, "cells": [_shown(c) for c in cells]})
                if len(rows) >= PREVIEW_ROWS:
                    break
        finally:
            book.close()
    return rows


# --- upload, check, confirm, import ------------------------------------------------------------------


def permission_for(kind: str) -> str:
    if kind not in PERMISSION:
        raise Invalid(_("未知的导入类型"), field="kind")
    return PERMISSION[kind]


def check_scope(actor: Any, kind: str, org_unit: OrgUnit) -> None:
    access.require(actor, permission_for(kind), org_unit)
    if company_of(org_unit) is None:
        raise Invalid(_("请选择公司或其下级组织作为导入范围"), field="org_unit")


def _read_upload(upload: Any) -> bytes:
    size = getattr(upload, "size", None) or 0
    if size > MAX_BYTES:
        raise TooLarge(_("文件过大（{mb:.1f} MB），最大 {max} MB；请分成多个文件导入").format(
            mb=size / 1024 / 1024, max=MAX_BYTES // 1024 // 1024), field="file")
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise TooLarge(_("文件过大，最大 {max} MB；请分成多个文件导入").format(max=MAX_BYTES // 1024 // 1024),
                       field="file")
    if not data:
        raise _invalid(_("文件是空的"), "file_empty")
    if data.startswith(OLE_MAGIC):
        raise _invalid(_("这是旧版 .xls 文件或加密的文件：请在 Excel 中另存为不加密的 .xlsx 后再上传"), "not_xlsx")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _invalid(_("这不是 Excel（.xlsx）文件：请下载模板填写后上传"), "not_xlsx") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise TooLarge(_("文件解压后过大，请分成多个文件导入"), field="file")
    return data


def _check_workbook(data: bytes, kind: str) -> int:
    """Open the workbook and check its header row; returns the row count it declares (0: unknown)."""
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
        problems = header_problems(SHEETS[kind], header)
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


def upload(actor: Any, *, kind: str, org_unit: OrgUnit, file: Any) -> ImportBatch:
    """Keep an uploaded sheet for checking in the worker, after the checks that are cheap to make
    here: permission at `org_unit`, size, a real .xlsx, the header row, the declared row count."""
    check_scope(actor, kind, org_unit)
    person = getattr(actor, "person", None)
    if person is None:
        raise Invalid(_("只有登记为人员的账号可以导入"))
    data = _read_upload(file)
    declared = _check_workbook(data, kind)
    batch = ImportBatch(org_unit=org_unit, kind=kind, token=secrets.token_hex(16), created_by=person,
                        original_name=str(getattr(file, "name", ""))[:200], total_rows=declared)
    save_all_or_nothing(batch, data, field="upload")
    transaction.on_commit(lambda: check_import(batch.pk))
    return batch


def _finish(batch_id: int, status: str, **fields: Any) -> None:
    """Settle a batch (invalid, done or failed). Its sheet is then deleted: nothing reads it again,
    and it holds personal data (ID and phone numbers) that should not lie around."""
    ImportBatch.objects.filter(pk=batch_id).update(status=status, finished_at=clock.now(), **fields)
    name = ImportBatch.objects.filter(pk=batch_id).values_list("upload", flat=True).first()
    if name:
        storage = ImportBatch._meta.get_field("upload").storage
        transaction.on_commit(lambda: storage.delete(name))


@db_task()
def check_import(batch_id: int) -> None:
    """Check every row of an uploaded sheet (worker); progress every PROGRESS_EVERY rows."""
    batch = ImportBatch.objects.select_related("org_unit", "created_by__user").filter(
        pk=batch_id, status=ImportStatus.CHECKING).first()
    if batch is None:
        return  # checked already (a repeated task)
    check_batch(batch, read, preview_of)


def check_batch(batch: Any, read_rows: Callable, preview: Callable) -> None:
    """Check every row of a batch (worker), saving progress, and settle it: invalid with its
    errors, or ready to import. Shared by every Excel import."""
    batch_id = batch.pk

    def progress(rows: int) -> None:
        ImportBatch.objects.filter(pk=batch_id).update(processed_rows=rows)

    try:
        sheet = read_rows(batch, progress)
        shown = preview(batch)
    except Exception:  # noqa: BLE001 - a file that breaks the reader half-way is the user's to fix
        log.exception("%s import %s: the sheet could not be read", batch.kind, batch_id)
        _finish(batch_id, ImportStatus.INVALID, errors=[
            {"row": None, "column": "", "message": _("文件内容损坏，无法读完：请在 Excel 中另存后再上传")}])
        return
    if sheet.errors:
        _finish(batch_id, ImportStatus.INVALID, total_rows=sheet.rows, processed_rows=sheet.rows,
                errors=sheet.errors, preview=shown)
    else:
        ImportBatch.objects.filter(pk=batch_id).update(status=ImportStatus.READY, total_rows=sheet.rows,
                                                       processed_rows=sheet.rows, errors=[], preview=shown)


def confirm(actor: Any, batch: ImportBatch) -> ImportBatch:
    """Start the import of a checked sheet. Confirming again (a double click, a second tab, an API
    retry) while it runs or after it is done changes nothing: only the first claims the batch."""
    access.require(actor, permission_for(batch.kind), batch.org_unit)
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


class Refused(Exception):
    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


@db_task()
def run_import(batch_id: int) -> None:
    """Import a confirmed sheet all or nothing (worker): every row is checked again against the
    database as it is now, then written in bulk in the same transaction."""
    try:
        with transaction.atomic():
            batch = ImportBatch.objects.select_for_update(of=("self",)).select_related("org_unit", "created_by__user").filter(
                pk=batch_id, status=ImportStatus.IMPORTING).first()
            if batch is None:
                return  # done already, or never confirmed
            sheet = read(batch)
            if sheet.errors:
                raise Refused(sheet.errors)
            # The audit log names who uploaded the sheet, not the worker.
            with audit.acting(getattr(batch.created_by, "user", None), name=str(batch.created_by or "")):
                imported = sheet.write()
            _finish(batch_id, ImportStatus.DONE, imported_rows=imported, processed_rows=imported)
    except Refused as exc:
        _finish(batch_id, ImportStatus.FAILED, errors=[{
            "row": None, "column": "", "message": _("检查后数据库已有变化，没有导入任何数据；请改正以下错误后重新上传")},
            *exc.errors])
    except Exception:  # noqa: BLE001 - whatever failed, nothing was written: say so on the batch
        log.exception("import %s failed", batch_id)
        _finish(batch_id, ImportStatus.FAILED, errors=[{"row": None, "column": "", "message": _(
            "导入时出错（可能有人同时登记了相同的工号或编号），没有导入任何数据；请重新上传")}])


# --- reading batches -----------------------------------------------------------------------------------


def batches_for(user: Any) -> QuerySet[ImportBatch]:
    """Batches a user may see: those of a kind they may import, within the subtrees they may."""
    condition = Q(pk__in=[])
    for kind, perm in PERMISSION.items():
        condition |= Q(kind=kind) & access.scope_filter(user, perm, "org_unit__path")
    return ImportBatch.objects.filter(condition).select_related("org_unit", "created_by")


def get_batch(user: Any, batch_id: Any) -> ImportBatch:
    """One visible batch, or NotFound (another company's batch looks like a missing one)."""
    try:
        batch = batches_for(user).filter(pk=batch_id).first()
    except (ValueError, TypeError):
        batch = None
    if batch is None:
        raise NotFound()
    return batch


def units_for(user: Any, kind: str) -> QuerySet[OrgUnit]:
    """Where a user may import this kind: units they hold its permission at, inside a company."""
    return access.visible(OrgUnit, user, permission_for(kind)).exclude(kind=OrgKind.GROUP).order_by("path")


def progress_percent(batch: ImportBatch) -> int:
    if batch.status not in IN_PROGRESS:
        return 100
    if not batch.total_rows:
        return 0
    return min(99, batch.processed_rows * 100 // batch.total_rows)


# --- the template ------------------------------------------------------------------------------------


BOLD = Font(bold=True)
HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
EXAMPLE_FONT = Font(italic=True, color="808080")


def _put(worksheet: Any, row: int, column: int, value: Any) -> Any:
    """Write a cell; text that looks like a formula stays text (openpyxl would store "=…" as one)."""
    cell = worksheet.cell(row=row, column=column, value=str(value) if isinstance(value, Promise) else value)
    if isinstance(cell.value, str) and cell.data_type == "f":
        cell.data_type = "s"
    return cell


def template_workbook(kind: str, scope: OrgUnit) -> bytes:
    """The .xlsx template for a kind: a header row and one example row on the first sheet, and
    a help sheet with each column's rules and the values allowed at `scope`."""
    sheet = SHEETS[kind]
    book = Workbook()
    data = book.active
    data.title = str(sheet.title)
    for index, (column, example) in enumerate(zip(sheet.columns, sheet.example(scope)), start=1):
        letter = get_column_letter(index)
        head = _put(data, 1, index, column.header)
        head.font, head.fill = BOLD, HEAD_FILL
        cell = _put(data, 2, index, example)
        cell.font = EXAMPLE_FONT
        # Text columns stay text in Excel: an ID number typed as a number would lose its digits.
        cell.number_format = "yyyy-mm-dd" if column.is_date else "@"
        data.column_dimensions[letter].width = max(column.width, len(column.header) * 2 + 2)
        data.column_dimensions[letter].number_format = cell.number_format
    data.freeze_panes = "A2"
    _help_sheet(book.create_sheet(_("填写说明")), sheet, scope)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_response(kind: str, scope: OrgUnit) -> HttpResponse:
    response = HttpResponse(template_workbook(kind, scope), content_type=XLSX)
    name = _("{kind}导入模板").format(kind=ImportKind(kind).label)
    response["Content-Disposition"] = content_disposition_header(True, f"{name}.xlsx")
    return response


def _help_sheet(worksheet: Any, sheet: type[Sheet], scope: OrgUnit) -> None:
    lines: list[tuple[list[Any], bool]] = [  # (cells, bold)
        ([_("填写说明")], True),
        ([_("在第一个工作表的表头下方逐行填写，每行一条；第2行是示例，上传前请删除。不要改动表头。")], False),
        ([_("导入范围：{unit}。最多{n}行，文件不超过{mb} MB。有任何一行出错时不导入任何数据。").format(
            unit=scope.name, n=MAX_ROWS, mb=MAX_BYTES // 1024 // 1024)], False),
        ([], False),
        ([_("列"), _("必填"), _("说明")], True),
        *(([column.header, _("是") if column.required else _("否"), column.note], False) for column in sheet.columns),
    ]
    for title, headers, rows in sheet.allowed(scope):
        lines += [([], False), ([title], True), (headers, True)]
        lines += [(row, False) for row in rows or [[_("（暂无）")]]]
    for number, (values, bold) in enumerate(lines, start=1):
        for index, value in enumerate(values, start=1):
            cell = _put(worksheet, number, index, value)
            if bold:
                cell.font = BOLD
    for letter, width in zip("ABCDE", (30, 30, 60, 16, 16)):
        worksheet.column_dimensions[letter].width = width
