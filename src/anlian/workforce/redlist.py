"""The monthly contractor red/black list (承包商红黑榜): figures per contractor and a verdict.

For one calendar month in the site's time zone (TIME_ZONE, Asia/Shanghai by default) and the
contractors a user may see:

- workers: the contractor's people who are active (在职) now;
- violations: violations recorded against the contractor that occurred in the month (voided ones
  do not count), and the serious ones among them;
- violation rate: violations per 100 workers;
- rectification timeliness: of the violations whose rectification was due in the month, the share
  dealt with (rectified, or closed) on or before the due date;
- training completion: of the training assignments of the contractor's active workers that fell
  due by the end of the month, the share completed by the end of the month.

Verdict (thresholds are settings, defaults below):

- 黑榜 black when any serious violation, a violation rate above ANLIAN_REDLIST_BLACK_RATE (10 per
  100 workers; violations with no registered worker count as above it), timeliness below
  ANLIAN_REDLIST_BLACK_TIMELINESS (80 %) or training completion below ANLIAN_REDLIST_BLACK_TRAINING
  (80 %);
- 红榜 red when it has workers, no violation, and every rectification and training that fell due
  was done in time (100 %; nothing due counts as done);
- 一般 otherwise.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anlian.core import clock
from anlian.core.errors import DomainError, Invalid
from anlian.orgs import access
from anlian.orgs.models import Contractor, Person
from anlian.orgs.permissions import VIEW
from anlian.training.models import Assignment
from anlian.workforce.models import Violation, ViolationSeverity, ViolationStatus

DEFAULTS = {"ANLIAN_REDLIST_BLACK_RATE": 10.0, "ANLIAN_REDLIST_BLACK_TIMELINESS": 80.0,
            "ANLIAN_REDLIST_BLACK_TRAINING": 80.0}

BLACK, NORMAL, RED = "black", "normal", "red"
VERDICTS = {BLACK: gettext_lazy("黑榜"), NORMAL: gettext_lazy("一般"), RED: gettext_lazy("红榜")}
ORDER = {BLACK: 0, NORMAL: 1, RED: 2}  # the contractors that need action first


@dataclass(frozen=True)
class Thresholds:
    black_rate: float  # violations per 100 workers above which a contractor is blacklisted
    black_timeliness: float  # percent of rectifications in time below which
    black_training: float  # percent of training completed below which


def thresholds() -> Thresholds:
    value = {name: float(getattr(settings, name, default)) for name, default in DEFAULTS.items()}
    return Thresholds(value["ANLIAN_REDLIST_BLACK_RATE"], value["ANLIAN_REDLIST_BLACK_TIMELINESS"],
                      value["ANLIAN_REDLIST_BLACK_TRAINING"])


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next_first_day(self) -> date:
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def last_day(self) -> date:
        return self.next_first_day - timedelta(days=1)

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes: local midnight on the 1st to local midnight a month later."""
        zone = timezone.get_current_timezone()
        return (datetime.combine(self.first_day, time(), zone), datetime.combine(self.next_first_day, time(), zone))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def parse_month(text: str | None, default: date) -> Month:
    """"2025-06" → Month; empty → the month before `default` (the list is made for a month that
    has ended). Anything else is refused with a reason."""
    if not text:
        previous = default.replace(day=1) - timedelta(days=1)
        return Month(previous.year, previous.month)
    try:
        year, month = (int(part) for part in text.split("-"))
        if not (2000 <= year <= 2100 and 1 <= month <= 12) or len(text) != 7:
            raise ValueError(text)
    except ValueError:
        raise Invalid(_("月份格式应为“年-月”，如 2025-06"), field="month") from None
    return Month(year, month)


def recent_months(today: date, chosen: Month, count: int = 24) -> list[Month]:
    """The months offered by the month picker: this one and the ones before it, and the chosen one."""
    months, year, month = [], today.year, today.month
    for _step in range(count):
        months.append(Month(year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months if chosen in months else [chosen, *months]


def percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part * 100 / whole, 1)


@dataclass
class Row:
    contractor: Contractor
    workers: int = 0
    violations: int = 0
    serious: int = 0
    rectify_due: int = 0
    rectified_in_time: int = 0
    training_due: int = 0
    training_done: int = 0
    verdict: str = NORMAL
    reasons: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        """Violations per 100 workers; None when there are violations but no worker to divide by."""
        if self.workers == 0:
            return 0.0 if self.violations == 0 else None
        return round(self.violations * 100 / self.workers, 1)

    @property
    def timeliness(self) -> float | None:
        return percent(self.rectified_in_time, self.rectify_due)

    @property
    def training(self) -> float | None:
        return percent(self.training_done, self.training_due)

    @property
    def verdict_label(self) -> str:
        return str(VERDICTS[self.verdict])


def classify(row: Row, limits: Thresholds) -> None:
    """Set the row's verdict and the reasons for a black one (see the module docstring)."""
    reasons = []
    if row.serious:
        reasons.append(_("严重违章{n}起").format(n=row.serious))
    if row.rate is None or row.rate > limits.black_rate:
        reasons.append(_("违章率超过每百人{n}起").format(n=f"{limits.black_rate:g}"))
    if row.timeliness is not None and row.timeliness < limits.black_timeliness:
        reasons.append(_("整改及时率低于{n}%").format(n=f"{limits.black_timeliness:g}"))
    if row.training is not None and row.training < limits.black_training:
        reasons.append(_("培训完成率低于{n}%").format(n=f"{limits.black_training:g}"))
    row.reasons = reasons
    if reasons:
        row.verdict = BLACK
    elif row.workers and not row.violations and row.timeliness in (None, 100.0) and row.training in (None, 100.0):
        row.verdict = RED
    else:
        row.verdict = NORMAL


@dataclass
class Report:
    month: Month
    limits: Thresholds
    rows: list[Row]

    def counts(self) -> dict[str, int]:
        found = Counter(row.verdict for row in self.rows)
        return {key: found[key] for key in (RED, NORMAL, BLACK)}


def compute(user: Any, month: Month) -> Report:
    """The list for `month` over the contractors `user` may see (a handful of grouped queries)."""
    contractors = list(access.visible(Contractor, user, VIEW).order_by("name", "pk"))
    rows = {c.pk: Row(c) for c in contractors}
    start, end = month.bounds()
    workers = (Person.objects.filter(contractor__in=rows, is_active=True).values("contractor")
               .annotate(n=Count("pk")))
    for item in workers:
        rows[item["contractor"]].workers = item["n"]
    counted = Violation.objects.filter(contractor__in=rows).exclude(status=ViolationStatus.VOID)
    for item in (counted.filter(occurred_at__gte=start, occurred_at__lt=end).values("contractor")
                 .annotate(n=Count("pk"), serious=Count("pk", filter=Q(severity=ViolationSeverity.SERIOUS)))):
        rows[item["contractor"]].violations, rows[item["contractor"]].serious = item["n"], item["serious"]
    due = counted.filter(rectify_due__gte=month.first_day, rectify_due__lte=month.last_day)
    for contractor_id, rectify_due, rectified_at, closed_at in due.values_list(
            "contractor", "rectify_due", "rectified_at", "closed_at"):
        row = rows[contractor_id]
        row.rectify_due += 1
        done_at = rectified_at or closed_at
        # "On or before the due date" is a calendar day on site, not a UTC one.
        row.rectified_in_time += done_at is not None and timezone.localdate(done_at) <= rectify_due
    training = (Assignment.objects.filter(person__contractor__in=rows, person__is_active=True,
                                          due_on__lte=month.last_day)
                .values("person__contractor")
                .annotate(n=Count("pk"), done=Count("pk", filter=Q(completed_on__lte=month.last_day))))
    for item in training:
        row = rows[item["person__contractor"]]
        row.training_due, row.training_done = item["n"], item["done"]
    limits = thresholds()
    for row in rows.values():
        classify(row, limits)
    ordered = sorted(rows.values(), key=lambda r: (ORDER[r.verdict], r.contractor.name, r.contractor.pk))
    return Report(month, limits, ordered)


# --- exports -------------------------------------------------------------------------------------


def headers() -> list[str]:
    return [_("承包商"), _("状态"), _("在册人数"), _("当月违章"), _("严重违章"), _("违章率（每百人）"),
            _("到期整改"), _("按期整改"), _("整改及时率（%）"), _("到期培训"), _("完成培训"), _("培训完成率（%）"),
            _("评定"), _("原因")]


def table(report: Report) -> list[list[Any]]:
    """One row of cells per contractor, the same for Excel and PDF (None: nothing to measure)."""
    return [[r.contractor.name, r.contractor.get_status_display(), r.workers, r.violations, r.serious, r.rate,
             r.rectify_due, r.rectified_in_time, r.timeliness, r.training_due, r.training_done, r.training,
             r.verdict_label, "；".join(r.reasons)] for r in report.rows]


class PdfFontMissing(DomainError):
    code = "pdf_font_missing"
    http_status = 503

    def message(self) -> str:
        return str(_("服务器未安装中文字体，无法生成 PDF；请联系管理员安装 fonts-wqy-microhei"))


def pdf_bytes(report: Report, title: str) -> bytes:
    """The list as an A4 landscape PDF with the CJK font the photo watermark uses embedded."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    from anlian.evidence.watermark import WatermarkFontMissing, font_path

    try:
        font = font_path()
    except WatermarkFontMissing:
        raise PdfFontMissing() from None
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_font("cjk", "", font)
    pdf.add_page()
    pdf.set_font("cjk", size=15)
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)
    made_at = timezone.localtime(clock.now())
    pdf.cell(0, 5, _("生成时间：{t}").format(t=f"{made_at:%Y-%m-%d %H:%M}"), new_x="LMARGIN", new_y="NEXT")
    limits = report.limits
    pdf.multi_cell(0, 5, _("黑榜：有严重违章，或违章率超过每百人{rate}起，或整改及时率低于{t}%，或培训完成率低于{tr}%；"
                           "红榜：有在册人员、无违章、到期整改和培训全部按时完成。").format(
        rate=f"{limits.black_rate:g}", t=f"{limits.black_timeliness:g}", tr=f"{limits.black_training:g}"),
        new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    widths = (44, 14, 14, 14, 14, 18, 14, 14, 18, 14, 14, 18, 12, 45)
    # The CJK font has no bold face: the heading row is shaded instead.
    heading = FontFace(emphasis="", fill_color=(235, 238, 242))
    colours = {BLACK: FontFace(color=(180, 35, 24)), RED: FontFace(color=(27, 127, 59)), NORMAL: None}
    with pdf.table(col_widths=widths, text_align="CENTER", line_height=5.5, headings_style=heading) as grid:
        grid.row(headers())
        for row, cells in zip(report.rows, table(report)):
            line = grid.row()
            for index, value in enumerate(cells):
                # The verdict (second to last column) in its colour: red list green, black list red.
                style = colours[row.verdict] if index == len(cells) - 2 else None
                line.cell("—" if value is None else str(value), style=style)
    out = io.BytesIO()
    pdf.output(out)
    return out.getvalue()
