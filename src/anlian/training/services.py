"""The only writers of training data: courses, sessions, attendance, assignments and policies.

Rules, in one place:
- Attendance is passed when the person attended and the course has no pass score or the exam
  score reaches it; a passed attendance credits the course's hours, any other credits 0.
- An `Assignment` (training a person owes) is never ticked by hand: `recompute` adds up the passed
  attendance of its level (the refresher: of its year; after a job change: from `counts_from`)
  and sets `completed_on` to the date of the session that reached `hours_required`, else empty.
  Recording attendance again for the same session and person replaces it and recomputes, so a
  corrected score can also undo a completion.
- New people owe three-level education (三级安全教育) by a deadline after hire; everyone active
  owes the annual refresher from January 1. Hours come from the company's `TrainingPolicy`.

Functions that act for a person take the acting user first and check `MANAGE_TRAINING` with
`access.require`; the bulk functions used by the hire signal, the import and the yearly task act
for the installation. Callers wrap writes in `transaction.atomic()`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.validators import slug_re
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.core.errors import Conflict, Forbidden, Invalid
from anlian.orgs import access
from anlian.orgs.models import OrgKind, OrgUnit, Person
from anlian.orgs.permissions import MANAGE_TRAINING
from anlian.training.models import (
    EDUCATION_LEVELS,
    Assignment,
    Attendance,
    Course,
    CourseLevel,
    Session,
    TrainingPolicy,
)

MAX_COURSE_HOURS = Decimal(200)  # one course; keeps a typed 800 for 8.0 out
MAX_SESSION_LENGTH = timedelta(days=31)
MAX_ROWS = 500  # people on one attendance sheet
ASSIGNED_LEVELS = (*EDUCATION_LEVELS, CourseLevel.REFRESHER)  # levels that complete assignments
HOURS_CAP = Decimal("9999.9")  # the largest value Assignment.hours_done can store


def today() -> date:
    return timezone.localdate(clock.now())


def training_day(session: Session) -> date:
    """The training date of a session: the local date it starts."""
    return timezone.localdate(session.starts_at)


def assignment_state(assignment: Assignment, on: date) -> str:
    """"done", "overdue" or "open" on a given day."""
    if assignment.completed_on is not None:
        return "done"
    return "overdue" if assignment.due_on < on else "open"


# --- checks shared by the writers -----------------------------------------------------------------


def _company_of(unit: OrgUnit) -> OrgUnit:
    company = unit if unit.kind == OrgKind.COMPANY else unit.company
    if company is None:
        raise Invalid(_("培训课程须属于某个公司"), field="org_unit")
    return company


def _text(value: Any, limit: int, field: str, label: str, required: bool = False) -> str:
    if value is not None and not isinstance(value, str):
        raise Invalid(_("{label}须为文字").format(label=label), field=field)
    text = (value or "").strip()
    if required and not text:
        raise Invalid(_("{label}不能为空").format(label=label), field=field)
    if len(text) > limit:
        raise Invalid(_("{label}不能超过{n}个字符").format(label=label, n=limit), field=field)
    return text


def _hours(value: Any, field: str = "hours", most: Decimal = MAX_COURSE_HOURS) -> Decimal:
    hours = None
    if not isinstance(value, bool) and value is not None:  # True would read as 1 hour
        try:
            hours = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            pass
    if hours is None or not hours.is_finite():
        raise Invalid(_("学时须为数字"), field=field)
    if not 0 < hours <= most:
        raise Invalid(_("学时须大于0且不超过{n}").format(n=most), field=field)
    if hours != hours.quantize(Decimal("0.1")):
        raise Invalid(_("学时最多保留一位小数"), field=field)
    return hours.quantize(Decimal("0.1"))


def _score(value: Any, field: str = "score") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise Invalid(_("成绩须为0到100的整数"), field=field)
    return value


def _aware(moment: Any, field: str) -> datetime:
    if not isinstance(moment, datetime):
        raise Invalid(_("请填写有效的日期时间"), field=field)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if not 2000 <= moment.year <= today().year + 5:
        raise Invalid(_("日期超出合理范围"), field=field)
    return moment


# --- courses and sessions -------------------------------------------------------------------------


def save_course(actor: Any, course: Course | None, *, org_unit: OrgUnit, code: str, name: str, level: str,
                hours: Any, topic: str = "", pass_score: int | None = None) -> Course:
    """Create (course=None) or change a course; codes are unique within the company.

    Level and hours are fixed once attendance exists: the hours already credited would no longer
    match the course.
    """
    access.require(actor, MANAGE_TRAINING, org_unit)
    company = _company_of(org_unit)
    if course is not None:
        access.require(actor, MANAGE_TRAINING, course)
        if course.company_id != company.pk:
            raise Invalid(_("课程不能移到另一家公司"), field="org_unit")
    code = _text(code, 40, "code", _("课程编号"), required=True)
    name = _text(name, 100, "name", _("课程名称"), required=True)
    if level not in CourseLevel.values:
        raise Invalid(_("未知的课程类别"), field="level")
    topic = _text(topic, 40, "topic", _("专题"))
    if topic and not slug_re.match(topic):
        raise Invalid(_("专题只能包含字母、数字、下划线和连字符"), field="topic")
    hours = _hours(hours)
    pass_score = _score(pass_score, "pass_score")
    clash = Course.objects.filter(company=company, code=code)
    if course is not None:
        clash = clash.exclude(pk=course.pk)
    if clash.exists():
        raise Conflict(_("本公司已有编号为“{code}”的课程").format(code=code), field="code")
    if course is not None and (course.level != level or course.hours != hours or course.pass_score != pass_score) \
            and Attendance.objects.filter(session__course=course).exists():
        raise Conflict(_("课程已有培训记录，不能再修改类别、学时或合格分数"), field="level")
    course = course or Course()
    course.org_unit, course.company = org_unit, company
    course.code, course.name, course.level, course.topic = code, name, level, topic
    course.hours, course.pass_score = hours, pass_score
    course.save()
    return course


def save_session(actor: Any, session: Session | None, *, course: Course, starts_at: Any, ends_at: Any,
                 place: str = "", trainer: str = "") -> Session:
    """Schedule (session=None) or change a run of a course. A new date recomputes its attendees."""
    access.require(actor, MANAGE_TRAINING, course)
    if session is not None and session.course_id != course.pk:
        raise Invalid(_("场次不能换到另一门课程"), field="course")
    starts_at, ends_at = _aware(starts_at, "starts_at"), _aware(ends_at, "ends_at")
    if ends_at <= starts_at:
        raise Invalid(_("结束时间须晚于开始时间"), field="ends_at")
    if ends_at - starts_at > MAX_SESSION_LENGTH:
        raise Invalid(_("一个场次不能超过31天"), field="ends_at")
    place = _text(place, 100, "place", _("地点"))
    trainer = _text(trainer, 50, "trainer", _("授课人"))
    moved = session is not None and timezone.localdate(session.starts_at) != timezone.localdate(starts_at)
    session = session or Session(course=course)
    session.starts_at, session.ends_at, session.place, session.trainer = starts_at, ends_at, place, trainer
    session.save()
    if moved:  # completion dates and refresher years follow the training date
        people = list(Person.objects.filter(attendance__session=session))
        recompute([p.pk for p in people], [course.level])
        _announce(people)
    return session


# --- attendance -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of an attendance sheet."""

    person: Person
    attended: bool = True
    score: int | None = None


class RowsInvalid(Invalid):
    """An attendance sheet refused line by line ({row index: reason}); nothing was recorded."""

    code = "invalid_rows"

    def __init__(self, errors: dict[int, str]):
        first = min(errors)
        message = _("第{n}行：{reason}").format(n=first + 1, reason=errors[first])
        if len(errors) > 1:
            message = _("{count}行有误，未登记任何记录。{first}").format(count=len(errors), first=message)
        super().__init__(message, field=f"rows.{first}")
        self.errors = errors


def passed(course: Course, attended: bool, score: int | None) -> bool:
    return attended and (course.pass_score is None or (score is not None and score >= course.pass_score))


def _row_problem(course: Course, row: Row, seen: set[int]) -> str | None:
    if row.person.pk in seen:
        return _("{name}在名单中重复出现").format(name=row.person.name)
    seen.add(row.person.pk)
    if row.person.company_id != course.company_id:
        return _("{name}不属于本课程所在公司").format(name=row.person.name)
    if isinstance(row.score, bool) or (row.score is not None and not (isinstance(row.score, int)
                                                                       and 0 <= row.score <= 100)):
        return _("{name}的成绩须为0到100的整数").format(name=row.person.name)
    if not row.attended and row.score is not None:
        return _("{name}缺勤，不能填写成绩").format(name=row.person.name)
    return None


def record_attendance(actor: Any, session: Session, rows: Sequence[Row]) -> list[Attendance]:
    """Record who attended a session and their scores, all rows or none.

    A person already recorded for the session is replaced (a corrected score), and the person's
    assignments are recomputed. Refusals: a session that has not started, a person outside the
    actor's training scope (403), and per-row problems (`RowsInvalid`).
    """
    course = session.course
    if not rows:
        raise Invalid(_("请至少登记一人"), field="rows")
    if len(rows) > MAX_ROWS:
        raise Invalid(_("一次最多登记{n}人").format(n=MAX_ROWS), field="rows")
    if session.starts_at > clock.now():
        raise Invalid(_("培训尚未开始，不能登记出勤"), field="session")
    for index, row in enumerate(rows):
        if not access.can(actor, MANAGE_TRAINING, row.person):
            raise Forbidden(_("你无权登记{name}的培训").format(name=row.person.name), field=f"rows.{index}")
    seen: set[int] = set()
    errors = {i: problem for i, row in enumerate(rows) if (problem := _row_problem(course, row, seen))}
    if errors:
        raise RowsInvalid(errors)
    existing = {a.person_id: a for a in Attendance.objects.filter(session=session,
                                                                 person__in=[row.person.pk for row in rows])}
    saved = []
    for row in rows:
        ok = passed(course, row.attended, row.score)
        line = existing.get(row.person.pk) or Attendance(session=session, person=row.person)
        line.attended, line.score, line.passed = row.attended, row.score, ok
        line.hours = course.hours if ok else Decimal(0)
        saved.append(line)
    Attendance.objects.bulk_update([line for line in saved if line.pk is not None],
                                   ["attended", "score", "passed", "hours"], batch_size=500)
    try:
        with transaction.atomic():
            Attendance.objects.bulk_create([line for line in saved if line.pk is None], batch_size=500)
    except IntegrityError:  # the same person recorded by someone else at this very moment
        raise Conflict(_("该场次的记录刚被他人修改，请刷新后重试")) from None
    recompute([row.person.pk for row in rows], [course.level])
    _announce([row.person for row in rows])
    return saved


def delete_attendance(actor: Any, attendance: Attendance) -> None:
    """Remove a line recorded by mistake; the person's assignments are recomputed."""
    access.require(actor, MANAGE_TRAINING, attendance.person)
    person, level = attendance.person, attendance.session.course.level
    attendance.delete()
    recompute([person.pk], [level])
    _announce([person])


def _announce(people: Iterable[Person]) -> None:
    """Tell the qualification sweep once the change is committed (training records count there)."""
    from anlian.workforce.signals import qualification_changed

    reason = _("培训记录变更")
    for person in {p.pk: p for p in people}.values():
        transaction.on_commit(lambda p=person: qualification_changed.send(sender=Attendance, person=p, reason=reason))


# --- what people owe ------------------------------------------------------------------------------


def _chunks(ids: Sequence[int], size: int = 2000) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def recompute(person_ids: Iterable[int], levels: Iterable[str] = ASSIGNED_LEVELS) -> int:
    """Bring the assignments of these people and levels in line with their passed attendance.

    Returns how many assignments changed. Hours are summed in training-date order, so
    `completed_on` is the date of the session at which the required hours were reached.
    """
    levels = [lv for lv in levels if lv in ASSIGNED_LEVELS]
    changed = 0
    for ids in _chunks(sorted(set(person_ids))):
        if not levels:
            break
        credits: dict[tuple[int, str], list[tuple[date, Decimal]]] = defaultdict(list)
        for person_id, level, starts_at, hours in Attendance.objects.filter(
                person_id__in=ids, passed=True, session__course__level__in=levels).values_list(
                "person_id", "session__course__level", "session__starts_at", "hours"):
            credits[(person_id, level)].append((timezone.localdate(starts_at), hours))
        stale = []
        for assignment in Assignment.objects.filter(person_id__in=ids, level__in=levels):
            total, done_on = Decimal(0), None
            for day, hours in sorted(credits[(assignment.person_id, assignment.level)]):
                if assignment.counts_from and day < assignment.counts_from:
                    continue
                if assignment.level == CourseLevel.REFRESHER and day.year != assignment.year:
                    continue
                total += hours
                if done_on is None and total >= assignment.hours_required:
                    done_on = day
            total = min(total, HOURS_CAP)
            if (assignment.hours_done, assignment.completed_on) != (total, done_on):
                assignment.hours_done, assignment.completed_on = total, done_on
                stale.append(assignment)
        Assignment.objects.bulk_update(stale, ["hours_done", "completed_on"], batch_size=1000)
        changed += len(stale)
    return changed


def _policies(company_ids: Iterable[int | None]) -> dict[int | None, TrainingPolicy]:
    ids = set(company_ids)
    found = {p.company_id: p for p in TrainingPolicy.objects.filter(company_id__in=[i for i in ids if i])}
    return {i: found.get(i) or TrainingPolicy(company_id=i) for i in ids}


def assign_education(people: Sequence[Person]) -> None:
    """Three-level education owed by new people, in bulk (the hire signal and the Excel import).

    Each person owes company, workshop and team level hours (the company's policy: 8 h each, 24 h
    in high-risk industries) by `deadline_days` after `hired_on` (today when unknown). Idempotent:
    what a person already owes is left as it is.
    """
    people = list(people)
    if not people:
        return
    policies = _policies(p.company_id for p in people)
    start = today()
    rows = []
    for person in people:
        policy = policies[person.company_id]
        due_on = (person.hired_on or start) + timedelta(days=policy.deadline_days)
        rows += [Assignment(person_id=person.pk, level=level, year=0, hours_required=policy.education_hours(),
                            due_on=due_on) for level in EDUCATION_LEVELS]
    Assignment.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    # Someone recorded before they were assigned (an import of older records) is credited now.
    ids = [p.pk for p in people]
    trained = set()
    for chunk in _chunks(ids):
        trained |= set(Attendance.objects.filter(person_id__in=chunk, passed=True,
                                                 session__course__level__in=EDUCATION_LEVELS)
                       .values_list("person_id", flat=True))
    recompute(trained, EDUCATION_LEVELS)


def on_person_hired(sender: Any, person: Person, **kwargs: Any) -> None:
    """Receiver of `orgs.services.person_hired` (connected in TrainingConfig.ready)."""
    assign_education([person])


def assign_refreshers(year: int, company: OrgUnit | None = None) -> int:
    """The annual refresher owed by every active person (in `company`'s subtree when given).

    Due December 31 of `year`, hours from the company's policy (default 20 h). People hired in
    `year` or later are left out: their three-level education is that year's training.
    Idempotent; returns how many assignments it created.
    """
    if not 2000 <= year <= 9999:
        raise Invalid(_("年度超出合理范围"), field="year")
    people = Person.objects.filter(is_active=True).filter(Q(hired_on__isnull=True) | Q(hired_on__lt=date(year, 1, 1)))
    if company is not None:
        people = people.filter(org_unit__path__startswith=company.path)
    owed = Assignment.objects.filter(person=OuterRef("pk"), level=CourseLevel.REFRESHER, year=year)
    pending = list(people.filter(~Exists(owed)).values_list("pk", "company_id"))
    policies = _policies(company_id for _pk, company_id in pending)
    Assignment.objects.bulk_create(
        [Assignment(person_id=pk, level=CourseLevel.REFRESHER, year=year, due_on=date(year, 12, 31),
                    hours_required=policies[company_id].refresher_hours) for pk, company_id in pending],
        batch_size=1000, ignore_conflicts=True)
    ids = [pk for pk, _company in pending]
    trained = set()
    for chunk in _chunks(ids):
        trained |= set(Attendance.objects.filter(person_id__in=chunk, passed=True,
                                                 session__course__level=CourseLevel.REFRESHER,
                                                 session__starts_at__year=year).values_list("person_id", flat=True))
    recompute(trained, [CourseLevel.REFRESHER])
    return len(pending)


def start_refreshers(actor: Any, unit: OrgUnit, year: int) -> int:
    """A trainer assigns this or next year's refresher to the people of a unit now."""
    access.require(actor, MANAGE_TRAINING, unit)
    if year not in (today().year, today().year + 1):
        raise Invalid(_("只能安排今年或明年的年度再培训"), field="year")
    return assign_refreshers(year, unit)


def reassign_workshop_team(actor: Any, person: Person) -> list[Assignment]:
    """Workshop- and team-level education owed again (a job change, or back after > 6 months away).

    The person's two assignments start over from today: only attendance from today on counts,
    due `deadline_days` from today. Done twice on one day it changes nothing.
    """
    access.require(actor, MANAGE_TRAINING, person)
    if not person.is_active:
        raise Invalid(_("离职人员不能安排再教育"), field="person")
    policy, start = TrainingPolicy.for_company(person.company_id), today()
    redone = []
    for level in (CourseLevel.WORKSHOP, CourseLevel.TEAM):
        assignment, _created = Assignment.objects.update_or_create(
            person=person, level=level, year=0,
            defaults={"hours_required": policy.education_hours(), "due_on": start + timedelta(days=policy.deadline_days),
                      "counts_from": start, "hours_done": Decimal(0), "completed_on": None})
        redone.append(assignment)
    recompute([person.pk], [CourseLevel.WORKSHOP, CourseLevel.TEAM])
    _announce([person])
    for assignment in redone:
        assignment.refresh_from_db()
    return redone


def save_policy(actor: Any, company: OrgUnit, *, high_risk: bool, deadline_days: Any, refresher_hours: Any
                ) -> TrainingPolicy:
    """Set a company's training policy. What people already owe stays as it was assigned."""
    if company.kind != OrgKind.COMPANY:
        raise Invalid(_("培训要求按公司设置"), field="company")
    access.require(actor, MANAGE_TRAINING, company)
    if isinstance(deadline_days, bool) or not isinstance(deadline_days, int) or not 1 <= deadline_days <= 365:
        raise Invalid(_("完成期限须为1到365天"), field="deadline_days")
    policy = TrainingPolicy.for_company(company.pk)
    policy.high_risk = bool(high_risk)
    policy.deadline_days = deadline_days
    policy.refresher_hours = _hours(refresher_hours, "refresher_hours")
    policy.save()
    return policy


# --- reading --------------------------------------------------------------------------------------


def record_of(person: Person, on: date | None = None) -> dict[str, Any]:
    """A person's training record: attendance (newest first), assignments with their state and
    the hours credited this year. The caller has already checked the person is visible."""
    on = on or today()
    attendance = list(person.attendance.select_related("session__course").order_by("-session__starts_at", "-pk"))
    assignments = list(person.training_assignments.all())
    for a in assignments:
        a.state = assignment_state(a, on)
    # What is still owed first, soonest deadline first; then what is done, latest first.
    assignments.sort(key=lambda a: (a.completed_on is not None, a.due_on.toordinal() if a.completed_on is None
                                    else -a.completed_on.toordinal(), a.level))
    year_hours = sum((a.hours for a in attendance if training_day(a.session).year == on.year), Decimal(0))
    return {
        "attendance": attendance,
        "assignments": assignments,
        "open": [a for a in assignments if a.state != "done"],
        "overdue": [a for a in assignments if a.state == "overdue"],
        "done": [a for a in assignments if a.state == "done"],
        "year": on.year,
        "year_hours": year_hours,
        "today": on,
    }
