# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: courses, sessions, attendance, what a person owes and their training record.

As in orgs/api.py: every object comes through `access` (another company's id is a 404, like a
missing one), ids in bodies through `ref()`, every write through `training.services` inside
`writing()`, and lists are paginated with `?page=&page_size=` ({"items", "count"}).
"""

from datetime import date, datetime
from decimal import Decimal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from anlian.core.errors import Invalid, NotFound
from anlian.core.schemas import Id, Pages, Strict
from anlian.orgs import access
from anlian.orgs.api import Text, ref, search, writing
from anlian.orgs.models import OrgKind, OrgUnit, Person
from anlian.training import services
from anlian.training.models import Assignment, Attendance, Course, CourseLevel, Session, TrainingPolicy

router = Router(tags=["training"])

Hours = Field(gt=0, le=200, max_digits=4, decimal_places=1)
Score = Field(None, ge=0, le=100)


# --- courses -------------------------------------------------------------------------------------


class CourseOut(Schema):
    id: int
    org_unit_id: int
    company_id: int
    code: str
    name: str
    level: str
    topic: str
    hours: float
    pass_score: int | None


class CourseIn(Strict):
    org_unit_id: Id
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=100)
    level: CourseLevel
    topic: str = Field("", max_length=40)
    hours: Decimal = Hours
    pass_score: int | None = Score


class CoursePatch(Strict):
    org_unit_id: Id = None
    code: str = Field(None, min_length=1, max_length=40)
    name: str = Field(None, min_length=1, max_length=100)
    level: CourseLevel = None
    topic: str = Field(None, max_length=40)
    hours: Decimal = Field(None, gt=0, le=200, max_digits=4, decimal_places=1)
    pass_score: int | None = Score


COURSE_FIELDS = ("code", "name", "level", "topic", "hours", "pass_score")


@router.get("/training/courses", response=list[CourseOut], summary="Courses of the companies I may see")
@paginate(Pages)
def list_courses(request: HttpRequest, level: CourseLevel | None = None, topic: str | None = Query(None, max_length=40),
                 q: str | None = Text):
    courses = access.visible(Course, request.user)
    if level is not None:
        courses = courses.filter(level=level)
    if topic:
        courses = courses.filter(topic=topic)
    return search(courses, q, "code", "name").order_by("company_id", "code", "pk")


@router.post("/training/courses", response={201: CourseOut}, summary="Add a course")
def create_course(request: HttpRequest, payload: CourseIn):
    unit = ref(OrgUnit, request, payload.org_unit_id, "org_unit_id")
    with writing():
        course = services.save_course(request.user, None, org_unit=unit, **payload.model_dump(include=set(COURSE_FIELDS)))
    return Status(201, course)


@router.get("/training/courses/{course_id}", response=CourseOut, summary="One course")
def get_course(request: HttpRequest, course_id: Id):
    return access.get_for_user(Course, request.user, course_id)


@router.patch("/training/courses/{course_id}", response=CourseOut, summary="Change a course")
def update_course(request: HttpRequest, course_id: Id, payload: CoursePatch):
    course = access.get_for_user(Course.objects.select_related("org_unit"), request.user, course_id)
    changes = payload.model_dump(exclude_unset=True)
    unit = ref(OrgUnit, request, changes.pop("org_unit_id"), "org_unit_id") if "org_unit_id" in changes \
        else course.org_unit
    data = {name: getattr(course, name) for name in COURSE_FIELDS} | changes
    with writing():
        return services.save_course(request.user, course, org_unit=unit, **data)


# --- sessions ------------------------------------------------------------------------------------


class SessionOut(Schema):
    id: int
    course_id: int
    course_name: str
    starts_at: datetime
    ends_at: datetime
    place: str
    trainer: str

    @staticmethod
    def resolve_course_name(obj: Session) -> str:
        return obj.course.name


class SessionIn(Strict):
    course_id: Id
    starts_at: datetime
    ends_at: datetime
    place: str = Field("", max_length=100)
    trainer: str = Field("", max_length=50)


class SessionPatch(Strict):
    starts_at: datetime = None
    ends_at: datetime = None
    place: str = Field(None, max_length=100)
    trainer: str = Field(None, max_length=50)


@router.get("/training/sessions", response=list[SessionOut], summary="Sessions of courses I may see")
@paginate(Pages)
def list_sessions(request: HttpRequest, course_id: Id | None = None, since: date | None = None,
                  until: date | None = None):
    sessions = access.visible(Session, request.user).select_related("course")
    if course_id is not None:
        sessions = sessions.filter(course=ref(Course, request, course_id, "course_id"))
    if since is not None:
        sessions = sessions.filter(starts_at__date__gte=since)
    if until is not None:
        sessions = sessions.filter(starts_at__date__lte=until)
    return sessions.order_by("-starts_at", "pk")


@router.post("/training/sessions", response={201: SessionOut}, summary="Schedule a session of a course")
def create_session(request: HttpRequest, payload: SessionIn):
    course = ref(Course, request, payload.course_id, "course_id")
    with writing():
        session = services.save_session(request.user, None, course=course,
                                        **payload.model_dump(exclude={"course_id"}))
    return Status(201, session)


@router.get("/training/sessions/{session_id}", response=SessionOut, summary="One session")
def get_session(request: HttpRequest, session_id: Id):
    return access.get_for_user(Session.objects.select_related("course"), request.user, session_id)


@router.patch("/training/sessions/{session_id}", response=SessionOut, summary="Change a session's time or place")
def update_session(request: HttpRequest, session_id: Id, payload: SessionPatch):
    session = access.get_for_user(Session.objects.select_related("course"), request.user, session_id)
    data = {name: getattr(session, name) for name in ("starts_at", "ends_at", "place", "trainer")}
    with writing():
        return services.save_session(request.user, session, course=session.course,
                                     **(data | payload.model_dump(exclude_unset=True)))


# --- attendance ----------------------------------------------------------------------------------


class AttendanceOut(Schema):
    id: int
    session_id: int
    person_id: int
    person_name: str
    attended: bool
    score: int | None
    passed: bool
    hours: float

    @staticmethod
    def resolve_person_name(obj: Attendance) -> str:
        return obj.person.name


class RowIn(Strict):
    person_id: Id
    attended: bool = True
    score: int | None = Score


class SheetIn(Strict):
    rows: list[RowIn] = Field(min_length=1, max_length=services.MAX_ROWS)


@router.get("/training/sessions/{session_id}/attendance", response=list[AttendanceOut],
            summary="Attendance of a session (the people I may see)")
@paginate(Pages)
def list_attendance(request: HttpRequest, session_id: Id):
    session = access.get_for_user(Session, request.user, session_id)
    return (access.visible(Attendance, request.user).filter(session=session).select_related("person")
            .order_by("person__employee_no", "pk"))


@router.post("/training/sessions/{session_id}/attendance", response=list[AttendanceOut],
             summary="Record (or replace) attendance and scores of people at a session")
def record_attendance(request: HttpRequest, session_id: Id, payload: SheetIn):
    session = access.get_for_user(Session.objects.select_related("course"), request.user, session_id)
    people = access.visible(Person, request.user).select_related("org_unit").in_bulk(
        [row.person_id for row in payload.rows])
    for i, row in enumerate(payload.rows):
        if row.person_id not in people:  # another company's person looks like a missing one
            raise NotFound(field=f"rows.{i}.person_id")
    rows = [services.Row(people[row.person_id], row.attended, row.score) for row in payload.rows]
    with writing():
        return services.record_attendance(request.user, session, rows)


@router.delete("/training/attendance/{attendance_id}", response={204: None}, summary="Remove a mistaken line")
def delete_attendance(request: HttpRequest, attendance_id: Id):
    attendance = access.get_for_user(Attendance.objects.select_related("person", "session__course"),
                                     request.user, attendance_id)
    with writing():
        services.delete_attendance(request.user, attendance)
    return Status(204, None)


# --- people --------------------------------------------------------------------------------------


class AssignmentOut(Schema):
    id: int
    person_id: int
    level: str
    year: int
    hours_required: float
    hours_done: float
    due_on: date
    counts_from: date | None
    completed_on: date | None
    state: str = Field(description="done, open or overdue (today)")

    @staticmethod
    def resolve_state(obj: Assignment) -> str:
        return services.assignment_state(obj, services.today())


class RecordLineOut(Schema):
    attendance_id: int
    session_id: int
    course_id: int
    course_code: str
    course_name: str
    level: str
    topic: str
    training_date: date
    attended: bool
    score: int | None
    passed: bool
    hours: float


class RecordOut(Schema):
    person_id: int
    year: int
    hours_this_year: float
    attendance: list[RecordLineOut]
    assignments: list[AssignmentOut]


@router.get("/training/people/{person_id}/assignments", response=list[AssignmentOut],
            summary="Training a person owes (done, open and overdue)")
def person_assignments(request: HttpRequest, person_id: Id):
    person = access.get_for_user(Person, request.user, person_id)
    return person.training_assignments.order_by("due_on", "level")


@router.get("/training/people/{person_id}/record", response=RecordOut, summary="A person's training record")
def person_record(request: HttpRequest, person_id: Id):
    person = access.get_for_user(Person, request.user, person_id)
    record = services.record_of(person)
    lines = [{"attendance_id": a.pk, "session_id": a.session_id, "course_id": a.session.course_id,
              "course_code": a.session.course.code, "course_name": a.session.course.name,
              "level": a.session.course.level, "topic": a.session.course.topic,
              "training_date": services.training_day(a.session), "attended": a.attended, "score": a.score,
              "passed": a.passed, "hours": a.hours} for a in record["attendance"]]
    return {"person_id": person.pk, "year": record["year"], "hours_this_year": record["year_hours"],
            "attendance": lines, "assignments": record["assignments"]}


@router.post("/training/people/{person_id}/reassign", response=list[AssignmentOut],
             summary="Workshop- and team-level education owed again (job change, back after > 6 months)")
def reassign(request: HttpRequest, person_id: Id):
    person = access.get_for_user(Person, request.user, person_id)
    with writing():
        return services.reassign_workshop_team(request.user, person)


# --- refreshers and policy -----------------------------------------------------------------------


class RefreshersIn(Strict):
    org_unit_id: Id
    year: int = Field(ge=2000, le=9999)


class RefreshersOut(Schema):
    year: int
    created: int


class PolicyOut(Schema):
    company_id: int
    high_risk: bool
    deadline_days: int
    education_hours: float = Field(description="Hours owed at each of the three levels")
    refresher_hours: float

    @staticmethod
    def resolve_education_hours(obj: TrainingPolicy) -> Decimal:
        return obj.education_hours()


class PolicyIn(Strict):
    high_risk: bool
    deadline_days: int = Field(ge=1, le=365)
    refresher_hours: Decimal = Hours


@router.post("/training/refreshers", response=RefreshersOut,
             summary="Assign this or next year's refresher to the active people of a unit (idempotent)")
def refreshers(request: HttpRequest, payload: RefreshersIn):
    unit = ref(OrgUnit, request, payload.org_unit_id, "org_unit_id")
    with writing():
        created = services.start_refreshers(request.user, unit, payload.year)
    return {"year": payload.year, "created": created}


def _company(request: HttpRequest, company_id: int) -> OrgUnit:
    company = access.get_for_user(OrgUnit, request.user, company_id)
    if company.kind != OrgKind.COMPANY:
        raise Invalid(_("培训要求按公司设置"), field="company_id")
    return company


@router.get("/training/policies/{company_id}", response=PolicyOut, summary="A company's training policy")
def get_policy(request: HttpRequest, company_id: Id):
    return TrainingPolicy.for_company(_company(request, company_id).pk)


@router.put("/training/policies/{company_id}", response=PolicyOut, summary="Set a company's training policy")
def put_policy(request: HttpRequest, company_id: Id, payload: PolicyIn):
    company = _company(request, company_id)
    with writing():
        return services.save_policy(request.user, company, **payload.model_dump())
