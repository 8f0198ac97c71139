"""Training rules: pass and hours, education assigned on hire, completion, refreshers, re-education."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from anlian.core import clock
from anlian.core.errors import Conflict, Forbidden, Invalid
from anlian.orgs import services as orgs
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Person
from anlian.training import services, tasks
from anlian.training.models import Assignment, Attendance, Course, CourseLevel, Session, TrainingPolicy
from anlian.workforce.signals import qualification_changed
from tests.conftest import make_person

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime(2026, 3, 10, 10, 0))  # Asia/Shanghai (tests use the site's zone)


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen(NOW):
        yield


def at(day: date, hour: int = 9) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


def make_course(unit, level=CourseLevel.COMPANY, hours="8", pass_score=60, code=None) -> Course:
    return services.save_course(SYSTEM, None, org_unit=unit, code=code or f"{level}-{hours}-{pass_score}",
                                name=f"{level}课程", level=level, hours=hours, pass_score=pass_score)


def make_session(course, day=date(2026, 3, 9)) -> Session:
    return services.save_session(SYSTEM, None, course=course, starts_at=at(day), ends_at=at(day, 17))


def record(session, person, attended=True, score=90) -> Attendance:
    return services.record_attendance(SYSTEM, session, [services.Row(person, attended, score)])[0]


def owed(person, level, year=0) -> Assignment:
    return Assignment.objects.get(person=person, level=level, year=year)


def snapshot() -> list:
    return [list(m.objects.order_by("pk").values()) for m in (Course, Session, Attendance, Assignment)]


# --- pass and hours ------------------------------------------------------------------------------


def test_passed_needs_attendance_and_the_pass_score_and_credits_the_course_hours(world):
    course = make_course(world.a.unit, CourseLevel.SPECIAL, hours="3.5", pass_score=60)
    session = make_session(course)
    w = world.a.worker
    assert (record(session, w, score=59).passed, record(session, w, score=59).hours) == (False, 0)
    assert (record(session, w, score=60).passed, record(session, w, score=60).hours) == (True, Decimal("3.5"))
    assert record(session, w, score=None).passed is False  # examined later: not passed yet
    assert record(session, w, attended=False, score=None).passed is False
    free = make_session(make_course(world.a.unit, CourseLevel.SPECIAL, hours="2", pass_score=None, code="NOEXAM"))
    line = record(free, w, score=None)
    assert line.passed and line.hours == 2
    assert Attendance.objects.filter(person=w).count() == 2  # re-recording replaced the line


# --- three-level education on hire ---------------------------------------------------------------


def test_hiring_through_save_person_assigns_three_levels_of_8_hours_due_7_days_after_hire(world):
    person = orgs.save_person(SYSTEM, None, org_unit=world.a.team, name="新人", employee_no="A100",
                              hired_on=date(2026, 3, 2))
    rows = Assignment.objects.filter(person=person).order_by("level")
    assert [(a.level, a.year, a.hours_required, a.due_on, a.completed_on) for a in rows] == [
        (level, 0, Decimal(8), date(2026, 3, 9), None) for level in sorted(["company", "team", "workshop"])]


def test_hire_without_a_date_counts_from_today(world):
    person = make_person(world.a.team, "无日期", "A101")
    assert {a.due_on for a in person.training_assignments.all()} == {date(2026, 3, 17)}


def test_high_risk_policy_owes_72_hours_and_its_own_deadline(world):
    services.save_policy(world.a.admin.user, world.a.unit, high_risk=True, deadline_days=30, refresher_hours="24")
    person = orgs.save_person(SYSTEM, None, org_unit=world.a.team, name="矿工", employee_no="A102",
                              hired_on=date(2026, 3, 1))
    rows = list(person.training_assignments.all())
    assert sum(a.hours_required for a in rows) == 72 and {a.hours_required for a in rows} == {24}
    assert {a.due_on for a in rows} == {date(2026, 3, 31)}
    other = make_person(world.b.team, "乙新人", "B100")  # company B keeps the defaults
    assert sum(a.hours_required for a in other.training_assignments.all()) == 24


def test_a_refused_hire_leaves_no_assignment(world):
    before = Assignment.objects.count()
    with pytest.raises(Conflict):
        orgs.save_person(SYSTEM, None, org_unit=world.a.team, name="重号", employee_no="A003")
    assert Assignment.objects.count() == before


def test_assign_education_in_bulk_is_idempotent_and_bounded_in_queries(world, django_assert_max_num_queries):
    people = [Person.objects.create(org_unit=world.a.team, company=world.a.unit, name=f"导入{i}",
                                    employee_no=f"IMP{i}") for i in range(300)]
    with django_assert_max_num_queries(12):  # a handful, whatever the number of people
        services.assign_education(people)
    services.assign_education(people)
    assert Assignment.objects.filter(person__in=people).count() == 900


def test_bulk_education_credits_attendance_recorded_before(world):
    person = Person.objects.create(org_unit=world.a.team, company=world.a.unit, name="旧档", employee_no="OLD1")
    record(make_session(make_course(world.a.unit)), person)
    services.assign_education([person])
    assert owed(person, "company").completed_on == date(2026, 3, 9)


# --- completion ----------------------------------------------------------------------------------


def test_hours_add_up_to_completion_on_the_session_date_and_a_corrected_score_undoes_it(world):
    w = world.a.worker
    workshop = make_course(world.a.plant, CourseLevel.WORKSHOP, hours="4")
    first, second = make_session(workshop, date(2026, 3, 2)), make_session(workshop, date(2026, 3, 5))
    record(first, w)
    assert (owed(w, "workshop").hours_done, owed(w, "workshop").completed_on) == (4, None)
    record(second, w)
    assert (owed(w, "workshop").hours_done, owed(w, "workshop").completed_on) == (8, date(2026, 3, 5))
    assert owed(w, "company").completed_on is None and owed(w, "team").hours_done == 0

    record(first, w, score=30)  # the exam was marked wrongly
    assert (owed(w, "workshop").hours_done, owed(w, "workshop").completed_on) == (4, None)
    assert Attendance.objects.filter(person=w).count() == 2


def test_moving_a_session_to_another_day_moves_the_completion_date(world):
    w = world.a.worker
    session = make_session(make_course(world.a.unit))
    record(session, w)
    services.save_session(SYSTEM, session, course=session.course, starts_at=at(date(2026, 3, 3)),
                          ends_at=at(date(2026, 3, 3), 17))
    assert owed(w, "company").completed_on == date(2026, 3, 3)


def test_deleting_a_mistaken_line_recomputes(world):
    w = world.a.worker
    line = record(make_session(make_course(world.a.unit)), w)
    services.delete_attendance(world.a.admin.user, line)
    assert owed(w, "company").completed_on is None and not Attendance.objects.exists()


def test_training_changes_tell_the_qualification_sweep_after_commit(world, django_capture_on_commit_callbacks):
    heard = []

    def listener(sender, person, **kwargs):
        heard.append((person.pk, kwargs.get("reason")))

    qualification_changed.connect(listener)
    try:
        session = make_session(make_course(world.a.unit))
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            record(session, world.a.worker)
        assert heard == []  # nothing before the commit
        for callback in callbacks:
            callback()
    finally:
        qualification_changed.disconnect(listener)
    assert heard == [(world.a.worker.pk, "培训记录变更")]


# --- refresher -----------------------------------------------------------------------------------


def test_refreshers_are_idempotent_and_skip_the_inactive_and_this_years_hires(world):
    gone = make_person(world.a.team, "离职", "A200")
    orgs.save_person(SYSTEM, gone, org_unit=world.a.team, name="离职", employee_no="A200", is_active=False)
    newcomer = orgs.save_person(SYSTEM, None, org_unit=world.a.team, name="今年入职", employee_no="A201",
                                hired_on=date(2026, 2, 1))
    veteran = orgs.save_person(SYSTEM, None, org_unit=world.a.team, name="老员工", employee_no="A202",
                               hired_on=date(2019, 5, 1))
    created = services.assign_refreshers(2026)
    assert created == Person.objects.filter(is_active=True).count() - 1  # all but the newcomer
    assert services.assign_refreshers(2026) == 0
    assert Assignment.objects.filter(level="refresher", year=2026).count() == created
    mine = owed(veteran, "refresher", 2026)
    assert (mine.hours_required, mine.due_on, mine.completed_on) == (20, date(2026, 12, 31), None)
    assert not Assignment.objects.filter(person__in=[gone, newcomer], level="refresher").exists()


def test_refresher_counts_only_its_own_year(world):
    w = world.a.worker
    course = make_course(world.a.unit, CourseLevel.REFRESHER, hours="12")
    record(make_session(course, date(2025, 12, 20)), w)
    record(make_session(course, date(2026, 1, 15)), w)
    services.assign_refreshers(2026)
    assert (owed(w, "refresher", 2026).hours_done, owed(w, "refresher", 2026).completed_on) == (12, None)
    record(make_session(course, date(2026, 3, 1)), w)
    assert owed(w, "refresher", 2026).completed_on == date(2026, 3, 1)


def test_refreshers_for_one_company_leave_the_other_alone(world):
    services.assign_refreshers(2026, world.a.unit)
    assert Assignment.objects.filter(level="refresher", person__company=world.a.unit).count() == 3
    assert not Assignment.objects.filter(level="refresher", person__company=world.b.unit).exists()


def test_a_trainer_may_start_only_this_or_next_years_refresher_in_their_scope(world):
    officer = world.a.officer.user  # safety officer of the plant
    assert services.start_refreshers(officer, world.a.plant, 2027) == 2  # officer and worker
    with pytest.raises(Invalid):
        services.start_refreshers(officer, world.a.plant, 2025)
    with pytest.raises(Forbidden):
        services.start_refreshers(officer, world.a.unit, 2026)
    with pytest.raises(Forbidden):
        services.start_refreshers(world.b.admin.user, world.a.unit, 2026)
    with pytest.raises(Invalid):
        services.assign_refreshers(99999)


def test_the_yearly_task_assigns_on_the_local_january_first_only(world):
    with clock.frozen(timezone.make_aware(datetime(2026, 12, 31, 23, 0))):
        assert tasks.assign_refreshers.call_local() == 0
    assert not Assignment.objects.filter(level="refresher").exists()
    with clock.frozen(timezone.make_aware(datetime(2027, 1, 1, 0, 5))):
        assert tasks.assign_refreshers.call_local() == Person.objects.count()
        assert tasks.assign_refreshers.call_local() == 0
    assert {a.due_on for a in Assignment.objects.filter(level="refresher")} == {date(2027, 12, 31)}


# --- job change ----------------------------------------------------------------------------------


def test_reassignment_owes_workshop_and_team_again_from_today(world):
    w = world.a.worker
    for level in ("company", "workshop", "team"):
        record(make_session(make_course(world.a.unit, level, code=level), date(2026, 3, 2)), w)
    assert all(a.completed_on for a in w.training_assignments.all())
    redone = services.reassign_workshop_team(world.a.officer.user, w)
    assert {(a.level, a.hours_done, a.completed_on, a.counts_from, a.due_on) for a in redone} == {
        (level, 0, None, date(2026, 3, 10), date(2026, 3, 17)) for level in ("workshop", "team")}
    assert owed(w, "company").completed_on == date(2026, 3, 2)  # company level stays done
    state = list(Assignment.objects.filter(person=w).order_by("pk").values())
    services.reassign_workshop_team(world.a.officer.user, w)  # replayed the same day: no change
    assert list(Assignment.objects.filter(person=w).order_by("pk").values()) == state

    record(make_session(Course.objects.get(code="workshop"), date(2026, 3, 10)), w)
    assert owed(w, "workshop").completed_on == date(2026, 3, 10) and owed(w, "team").completed_on is None


def test_reassignment_is_refused_for_the_inactive_and_outside_the_scope(world):
    with pytest.raises(Forbidden):
        services.reassign_workshop_team(world.b.admin.user, world.a.worker)
    with pytest.raises(Forbidden):
        services.reassign_workshop_team(world.a.worker.user, world.a.worker)
    orgs.save_person(SYSTEM, world.a.worker, org_unit=world.a.team, name="x", employee_no="A003", is_active=False)
    with pytest.raises(Invalid):
        services.reassign_workshop_team(world.a.admin.user, world.a.worker)


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("change, field", [
    ({"code": "  "}, "code"), ({"code": "x" * 41}, "code"), ({"name": ""}, "name"), ({"level": "weekly"}, "level"),
    ({"hours": 0}, "hours"), ({"hours": "-1"}, "hours"), ({"hours": 201}, "hours"), ({"hours": "abc"}, "hours"),
    ({"hours": "NaN"}, "hours"), ({"hours": "8.25"}, "hours"), ({"hours": True}, "hours"), ({"hours": None}, "hours"),
    ({"pass_score": 101}, "pass_score"), ({"pass_score": -1}, "pass_score"), ({"pass_score": True}, "pass_score"),
    ({"topic": "confined space"}, "topic"), ({"topic": "<script>"}, "topic"), ({"code": 12}, "code"),
])
def test_bad_course_input_is_refused_with_the_field(world, change, field):
    before = snapshot()
    data = {"org_unit": world.a.unit, "code": "C1", "name": "入厂教育", "level": "company", "hours": "8",
            "pass_score": 60} | change
    with pytest.raises(Invalid) as refused:
        services.save_course(world.a.admin.user, None, **data)
    assert refused.value.field == field and refused.value.message()
    assert snapshot() == before


def test_course_codes_are_unique_per_company_and_fixed_facts_once_attended(world):
    course = make_course(world.a.unit, code="C1")
    with pytest.raises(Conflict):
        make_course(world.a.plant, code="C1")
    make_course(world.b.unit, code="C1")  # another company may use the same code
    record(make_session(course), world.a.worker)
    with pytest.raises(Conflict):
        services.save_course(SYSTEM, course, org_unit=world.a.unit, code="C1", name="x", level="company",
                             hours="16", pass_score=60)
    services.save_course(SYSTEM, course, org_unit=world.a.unit, code="C1", name="改名", level="company",
                         hours="8", pass_score=60)
    with pytest.raises(Invalid):  # not into another company
        services.save_course(SYSTEM, course, org_unit=world.b.unit, code="C1", name="x", level="company",
                             hours="8", pass_score=60)
    with pytest.raises(Invalid):  # a group has no company
        make_course(world.group, code="G1")


def test_course_writes_need_training_rights_at_the_unit(world):
    with pytest.raises(Forbidden):
        make_course_as(world.a.worker.user, world.a.team)
    with pytest.raises(Forbidden):
        make_course_as(world.a.officer.user, world.a.unit)  # the officer trains only in the plant
    with pytest.raises(Forbidden):
        make_course_as(world.b.admin.user, world.a.unit)
    assert make_course_as(world.a.officer.user, world.a.plant).company == world.a.unit


def make_course_as(user, unit) -> Course:
    return services.save_course(user, None, org_unit=unit, code="X1", name="班组安全", level="team", hours="8")


@pytest.mark.parametrize("starts, ends, field", [
    (at(date(2026, 3, 9), 17), at(date(2026, 3, 9), 9), "ends_at"),
    (at(date(2026, 3, 9)), at(date(2026, 3, 9)), "ends_at"),
    (at(date(2026, 1, 1)), at(date(2026, 3, 1)), "ends_at"),
    (at(date(1999, 1, 1)), at(date(1999, 1, 2)), "starts_at"),
    ("2026-03-09", at(date(2026, 3, 9)), "starts_at"),
])
def test_bad_session_times_are_refused(world, starts, ends, field):
    course = make_course(world.a.unit)
    with pytest.raises(Invalid) as refused:
        services.save_session(SYSTEM, None, course=course, starts_at=starts, ends_at=ends)
    assert refused.value.field == field
    assert not Session.objects.exists()


def test_a_bad_sheet_records_nobody_and_names_each_bad_row(world):
    session = make_session(make_course(world.a.unit))
    w, o = world.a.worker, world.a.officer
    record(session, w, score=80)
    before = snapshot()
    rows = [services.Row(o, True, 101), services.Row(w, False, 70), services.Row(o, True, 90),
            services.Row(world.b.worker, True, 90), services.Row(w, True, True)]
    with pytest.raises(services.RowsInvalid) as refused:
        services.record_attendance(SYSTEM, session, rows)
    errors = refused.value.errors
    assert sorted(errors) == [0, 1, 2, 3, 4]
    assert "成绩须为0到100的整数" in errors[0] and "缺勤" in errors[1] and "重复" in errors[2]
    assert "不属于本课程所在公司" in errors[3] and "重复" in errors[4]
    assert refused.value.field == "rows.0" and refused.value.message().startswith("5行有误")
    assert snapshot() == before


def test_sheet_refusals_for_empty_huge_future_and_foreign_people(world):
    course = make_course(world.a.unit)
    session = make_session(course)
    with pytest.raises(Invalid):
        services.record_attendance(SYSTEM, session, [])
    with pytest.raises(Invalid):
        services.record_attendance(SYSTEM, session, [services.Row(world.a.worker)] * (services.MAX_ROWS + 1))
    later = make_session(course, date(2026, 3, 11))
    with pytest.raises(Invalid) as refused:
        services.record_attendance(SYSTEM, later, [services.Row(world.a.worker)])
    assert refused.value.field == "session"
    with pytest.raises(Forbidden):  # a team member who does not manage training
        services.record_attendance(world.a.worker.user, session, [services.Row(world.a.worker)])
    with pytest.raises(Forbidden):
        services.record_attendance(world.b.admin.user, session, [services.Row(world.a.worker)])
    assert not Attendance.objects.exists()


def test_policy_input_is_checked(world):
    admin = world.a.admin.user
    for days, hours in ((0, "20"), (366, "20"), (True, "20"), (7, "0"), (7, "abc")):
        with pytest.raises(Invalid):
            services.save_policy(admin, world.a.unit, high_risk=False, deadline_days=days, refresher_hours=hours)
    with pytest.raises(Invalid):
        services.save_policy(admin, world.a.plant, high_risk=False, deadline_days=7, refresher_hours="20")
    with pytest.raises(Forbidden):
        services.save_policy(world.b.admin.user, world.a.unit, high_risk=True, deadline_days=7, refresher_hours="20")
    assert not TrainingPolicy.objects.exists()


def test_record_of_sums_this_years_hours_and_sorts_states(world):
    w = world.a.worker
    record(make_session(make_course(world.a.unit, CourseLevel.SPECIAL, hours="3", code="S1"), date(2025, 12, 1)), w)
    record(make_session(make_course(world.a.unit, CourseLevel.COMPANY, hours="8", code="C1")), w)
    with clock.frozen(NOW + timedelta(days=30)):
        record_ = services.record_of(w)
    assert record_["year_hours"] == 8 and record_["year"] == 2026
    assert [a.level for a in record_["done"]] == ["company"]
    assert {a.level for a in record_["overdue"]} == {"workshop", "team"}
    assert [a.session.course.code for a in record_["attendance"]] == ["C1", "S1"]


def test_a_large_sheet_is_written_in_a_bounded_number_of_queries(world, django_assert_max_num_queries):
    people = [Person.objects.create(org_unit=world.a.team, company=world.a.unit, name=f"学员{i}",
                                    employee_no=f"S{i}") for i in range(200)]
    services.assign_education(people)
    people = list(Person.objects.filter(pk__in=[p.pk for p in people]).select_related("org_unit"))
    session = make_session(make_course(world.a.unit))
    with django_assert_max_num_queries(12):  # a handful, whatever the number of people
        services.record_attendance(SYSTEM, session, [services.Row(p, True, 80) for p in people])
    with django_assert_max_num_queries(12):  # corrected scores: the same lines, updated
        services.record_attendance(SYSTEM, session, [services.Row(p, True, 40) for p in people])
    assert Attendance.objects.filter(session=session, passed=False).count() == 200
    assert not Assignment.objects.filter(person__in=people, completed_on__isnull=False).exists()
