"""Training pages: courses, sessions with the attendance sheet, a person's record, 我的培训.

Thin views as in orgs/views.py: objects come only through `access` (another company's object is
a 404), writes go through `training.services` in a transaction, refusals land on the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from anlian.core.errors import DomainError, Invalid, NotFound
from anlian.core.pages import form_page, paginate, require_somewhere
from anlian.orgs import access
from anlian.orgs.exports import xlsx_response
from anlian.orgs.models import OrgKind, OrgUnit, Person
from anlian.orgs.permissions import MANAGE_TRAINING
from anlian.training import forms, services
from anlian.training.models import Attendance, Course, CourseLevel, Session, TrainingPolicy

FORM = "training/form.html"  # the shared one-form page (orgs/form.html) with our styles


def _done(request: HttpRequest, message: str, to: Any) -> HttpResponse:
    messages.success(request, message)
    return redirect(to)


def _manages_somewhere(user: Any) -> bool:
    scope = access.scope_of(user)
    return scope.is_superuser or bool(scope.paths(MANAGE_TRAINING))


# --- courses -------------------------------------------------------------------------------------


@login_required
def courses(request: HttpRequest) -> HttpResponse:
    q, level = request.GET.get("q", "").strip(), request.GET.get("level", "")
    qs = access.visible(Course, request.user).select_related("org_unit").annotate(n_sessions=Count("sessions"))
    if level in CourseLevel.values:
        qs = qs.filter(level=level)
    if q:
        qs = qs.filter(Q(code__icontains=q) | Q(name__icontains=q) | Q(topic__icontains=q))
    companies = access.visible(OrgUnit, request.user, MANAGE_TRAINING).filter(kind=OrgKind.COMPANY)
    context = {"page": paginate(request, qs.order_by("company_id", "code")), "q": q, "level": level,
               "levels": CourseLevel.choices, "can_manage": _manages_somewhere(request.user),
               "policy_companies": companies}
    return render(request, "training/courses.html", context)


def _course_form_page(request: HttpRequest, course: Course | None, initial: dict[str, Any]) -> HttpResponse:
    form = forms.CourseForm(request.POST or None, user=request.user, initial=initial)

    def write(data: dict[str, Any]) -> Course:
        return services.save_course(request.user, course, **data)

    return form_page(request, form, write, template=FORM,
                     context={"title": _("编辑课程") if course else _("新建课程"), "back": course or "training:courses",
                              "subject": course},
                     done=lambda c: _done(request, _("已保存课程“{name}”").format(name=c.name), c))


@login_required
def course_new(request: HttpRequest) -> HttpResponse:
    require_somewhere(request.user, MANAGE_TRAINING)
    return _course_form_page(request, None, {"level": CourseLevel.COMPANY})


@login_required
def course_edit(request: HttpRequest, course_id: int) -> HttpResponse:
    course = access.get_for_user(Course, request.user, course_id, perm=MANAGE_TRAINING)
    initial = {f: getattr(course, f) for f in ("org_unit", "code", "name", "level", "topic", "hours", "pass_score")}
    return _course_form_page(request, course, initial)


@login_required
def course_detail(request: HttpRequest, course_id: int) -> HttpResponse:
    course = access.get_for_user(Course.objects.select_related("org_unit"), request.user, course_id)
    sessions = (access.visible(Session, request.user).filter(course=course)
                .annotate(n_people=Count("attendance"), n_passed=Count("attendance", filter=Q(attendance__passed=True)))
                .order_by("-starts_at"))
    return render(request, "training/course.html", {
        "course": course, "page": paginate(request, sessions),
        "can_manage": access.can(request.user, MANAGE_TRAINING, course)})


# --- sessions ------------------------------------------------------------------------------------


def _session_form_page(request: HttpRequest, course: Course, session: Session | None,
                       initial: dict[str, Any]) -> HttpResponse:
    form = forms.SessionForm(request.POST or None, initial=initial)

    def write(data: dict[str, Any]) -> Session:
        return services.save_session(request.user, session, course=course, **data)

    return form_page(request, form, write, template=FORM,
                     context={"title": _("编辑场次") if session else _("新建场次"), "back": session or course,
                              "subject": course},
                     done=lambda s: _done(request, _("已保存场次"), s))


@login_required
def session_new(request: HttpRequest, course_id: int) -> HttpResponse:
    course = access.get_for_user(Course, request.user, course_id, perm=MANAGE_TRAINING)
    return _session_form_page(request, course, None, {})


@login_required
def session_edit(request: HttpRequest, session_id: int) -> HttpResponse:
    session = access.get_for_user(Session.objects.select_related("course"), request.user, session_id)
    access.require(request.user, MANAGE_TRAINING, session.course)
    initial = {f: getattr(session, f) for f in ("place", "trainer")}
    initial |= {f: timezone.localtime(getattr(session, f)) for f in ("starts_at", "ends_at")}
    return _session_form_page(request, session.course, session, initial)


@dataclass
class SheetRow:
    """A line of the attendance sheet as shown: the person, the chosen state and score, a refusal."""

    person: Person
    state: str = ""  # "1" attended, "0" absent, "" not recorded
    score: str = ""
    error: str = ""
    attendance: Attendance | None = None


def _recorded(request: HttpRequest, session: Session) -> dict[int, Attendance]:
    rows = (access.visible(Attendance, request.user).filter(session=session)
            .select_related("person__org_unit").order_by("person__org_unit__path", "person__employee_no"))
    return {a.person_id: a for a in rows}


def _training_units(request: HttpRequest, session: Session):
    """Units of the session's company where the user may record training (the sheet's picker)."""
    return access.visible(OrgUnit, request.user, MANAGE_TRAINING).filter(
        path__startswith=session.course.company.path).order_by("path")


def _sheet_from_get(request: HttpRequest, session: Session, recorded: dict[int, Attendance]) -> tuple[list, Any]:
    rows = [SheetRow(a.person, "1" if a.attended else "0", "" if a.score is None else str(a.score), attendance=a)
            for a in recorded.values()]
    unit = None
    if request.GET.get("unit", "").isdigit():
        unit = _training_units(request, session).filter(pk=request.GET["unit"]).first()
    if unit is not None:  # people of the chosen unit's subtree not yet on the sheet
        people = (access.visible(Person, request.user, MANAGE_TRAINING)
                  .filter(org_unit__path__startswith=unit.path, is_active=True)
                  .exclude(pk__in=list(recorded)).select_related("org_unit")
                  .order_by("org_unit__path", "employee_no")[:services.MAX_ROWS])
        rows += [SheetRow(p) for p in people]
    return rows, unit


def _sheet_from_post(request: HttpRequest, recorded: dict[int, Attendance]) -> tuple[list[SheetRow], list]:
    """The posted sheet as rows to show again, and the service rows (or parse errors on the rows)."""
    ids = list(dict.fromkeys(v for v in request.POST.getlist("person") if v.isascii() and v.isdigit() and len(v) < 19))
    if len(ids) > services.MAX_ROWS:
        raise Invalid(_("一次最多登记{n}人").format(n=services.MAX_ROWS))
    people = access.visible(Person, request.user).filter(pk__in=ids).select_related("org_unit").in_bulk()
    if len(people) != len(ids):
        raise NotFound()  # someone else's person, posted by hand
    sheet, rows = [], []
    for pk in ids:
        person = people[int(pk)]
        line = SheetRow(person, request.POST.get(f"state_{pk}", ""), request.POST.get(f"score_{pk}", "").strip(),
                        attendance=recorded.get(person.pk))
        sheet.append(line)
        if line.state == "":
            continue
        # isdecimal: full-width digits from a Chinese input method count (int() reads them), ² does not.
        score = int(line.score) if line.score.isdecimal() and len(line.score) <= 3 else None
        if line.state not in ("0", "1"):
            line.error = _("请选择出勤或缺勤")
        elif line.score and score is None:
            line.error = _("成绩须为0到100的整数")
        rows.append((line, services.Row(person, line.state == "1", score)))
    return sheet, rows


@login_required
def session_detail(request: HttpRequest, session_id: int) -> HttpResponse:
    session = access.get_for_user(Session.objects.select_related("course__company"), request.user, session_id)
    recorded = _recorded(request, session)
    status, error, unit = 200, "", None
    if request.method == "POST":
        sheet, rows = _sheet_from_post(request, recorded)
        status, error = _record(request, session, sheet, rows)
        if status == 200:
            return _done(request, _("已登记{n}人的出勤和成绩").format(n=len(rows)), session)
    else:
        sheet, unit = _sheet_from_get(request, session, recorded)
    units = list(_training_units(request, session))
    context = {"session": session, "course": session.course, "sheet": sheet, "unit": unit, "error": error,
               "units": units, "can_record": bool(units),
               "n_passed": sum(a.passed for a in recorded.values()), "n_recorded": len(recorded)}
    return render(request, "training/session.html", context, status=status)


def _record(request: HttpRequest, session: Session, sheet: list[SheetRow], rows: list) -> tuple[int, str]:
    """Write the sheet through the service: (200, "") or the status and a message for the page."""
    bad = sum(1 for line in sheet if line.error)
    if bad:
        return 400, _("{n}行填写有误，未登记任何记录").format(n=bad)
    if not rows:
        return 400, _("请至少为一人选择出勤或缺勤")
    try:
        with transaction.atomic():
            services.record_attendance(request.user, session, [row for _line, row in rows])
    except services.RowsInvalid as exc:
        for index, reason in exc.errors.items():
            rows[index][0].error = reason
        return exc.http_status, _("{n}行填写有误，未登记任何记录").format(n=len(exc.errors))
    except DomainError as exc:
        return exc.http_status, exc.message()
    return 200, ""


@login_required
@require_POST
def attendance_delete(request: HttpRequest, attendance_id: int) -> HttpResponse:
    attendance = access.get_for_user(Attendance.objects.select_related("person", "session__course"),
                                     request.user, attendance_id)
    with transaction.atomic():
        services.delete_attendance(request.user, attendance)
    return _done(request, _("已删除{name}的记录").format(name=attendance.person.name), attendance.session)


@login_required
def session_xlsx(request: HttpRequest, session_id: int) -> HttpResponse:
    session = access.get_for_user(Session.objects.select_related("course"), request.user, session_id)
    day = services.training_day(session)
    return xlsx_response(f"{session.course.code}-{day:%Y%m%d}", [
        _("工号"), _("姓名"), _("所属组织"), _("出勤"), _("考试成绩"), _("合格"), _("学时")], (
        (a.person.employee_no, a.person.name, a.person.org_unit.name, _("是") if a.attended else _("否"),
         a.score if a.score is not None else "", _("是") if a.passed else _("否"), float(a.hours))
        for a in _recorded(request, session).values()))


# --- a person's record ---------------------------------------------------------------------------


@login_required
def person_record(request: HttpRequest, person_id: int) -> HttpResponse:
    person = access.get_for_user(Person.objects.select_related("org_unit", "contractor"), request.user, person_id)
    context = {"person": person, **services.record_of(person),
               "can_manage": access.can(request.user, MANAGE_TRAINING, person)}
    return render(request, "training/person.html", context)


@login_required
def person_xlsx(request: HttpRequest, person_id: int) -> HttpResponse:
    person = access.get_for_user(Person, request.user, person_id)
    record = services.record_of(person)
    return xlsx_response(f"{person.employee_no}-{_('培训档案')}", [
        _("培训日期"), _("课程编号"), _("课程名称"), _("类别"), _("出勤"), _("考试成绩"), _("合格"), _("学时")], (
        (services.training_day(a.session).isoformat(), a.session.course.code, a.session.course.name,
         a.session.course.get_level_display(), _("是") if a.attended else _("否"),
         a.score if a.score is not None else "", _("是") if a.passed else _("否"), float(a.hours))
        for a in record["attendance"]))


@login_required
@require_POST
def reassign(request: HttpRequest, person_id: int) -> HttpResponse:
    person = access.get_for_user(Person, request.user, person_id)
    with transaction.atomic():
        services.reassign_workshop_team(request.user, person)
    return _done(request, _("已为{name}重新安排车间级和班组级安全教育").format(name=person.name),
                 reverse("training:person", kwargs={"person_id": person.pk}))


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    person = getattr(request.user, "person", None)
    if person is None:
        raise NotFound(_("你的账号没有关联人员"))
    return render(request, "training/mine.html", {"person": person, **services.record_of(person)})


# --- refreshers and policy -----------------------------------------------------------------------


@login_required
def refreshers(request: HttpRequest) -> HttpResponse:
    require_somewhere(request.user, MANAGE_TRAINING)
    year = services.today().year
    form = forms.RefresherForm(request.POST or None, user=request.user, years=[year, year + 1],
                               initial={"year": year})

    def write(data: dict[str, Any]) -> tuple[int, Any]:
        return services.start_refreshers(request.user, data["org_unit"], data["year"]), data

    def done(result: tuple[int, Any]) -> HttpResponse:
        created, data = result
        return _done(request, _("已为{unit}安排{year}年度再培训：新增{n}人").format(
            unit=data["org_unit"].name, year=data["year"], n=created), "training:courses")

    return form_page(request, form, write, template=FORM, done=done, context={
        "title": _("安排年度再培训"), "back": "training:courses",
        "intro": _("每年1月1日系统自动为全部在职人员安排年度再培训（当年入职的除外）；新增人员或补漏时可在此手动安排。")})


@login_required
def policy(request: HttpRequest, company_id: int) -> HttpResponse:
    company = access.get_for_user(OrgUnit, request.user, company_id, perm=MANAGE_TRAINING)
    if company.kind != OrgKind.COMPANY:
        raise NotFound()
    current = TrainingPolicy.for_company(company.pk)
    form = forms.PolicyForm(request.POST or None, initial={
        "high_risk": current.high_risk, "deadline_days": current.deadline_days,
        "refresher_hours": current.refresher_hours})
    return form_page(request, form, lambda data: services.save_policy(request.user, company, **data),
                     template=FORM, done=lambda p: _done(request, _("已保存培训要求"), "training:courses"),
                     context={"title": _("培训要求"), "subject": company, "back": "training:courses",
                              "intro": _("修改只影响此后安排的培训任务，已安排的保持不变。")})
