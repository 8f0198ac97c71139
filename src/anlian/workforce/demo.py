"""Demo data of issue 5 (`load`), and `qualify`: make a person qualified for a work type the way a
safety office would record it (a valid certificate of a kind the requirement accepts, the topic
training passed today). `qualify` serves the demo, the screenshot scripts and tests."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from anlian.core import clock
from anlian.core.codes import credit_check_char, id18_check_char
from anlian.orgs.models import Person
from anlian.training.models import Assignment, Attendance, Course, CourseLevel, Session
from anlian.workforce.models import Certificate, NumberFormat
from anlian.workforce.qualification import EDUCATION_LEVELS, requirement


def id_number_for(person: Person) -> str:
    """A well-formed ID number unique per person (birth date from the primary key)."""
    if person.id_number:
        return person.id_number
    first17 = "110105" + (date(1970, 1, 1) + timedelta(days=person.pk)).strftime("%Y%m%d") + "123"
    return first17 + id18_check_char(first17)


def qualify(person: Person, work_type: str, today: date | None = None) -> list[Certificate]:
    """Record what `work_type` requires of `person` as held and valid from today on."""
    today = today or clock.today()
    need = requirement(person.company_id, work_type)
    if need is None:
        raise LookupError(f"no requirement for work type {work_type!r}")
    # A qualified worker has been through their three-level education (the fixture shortcut:
    # marked done rather than attended course by course).
    Assignment.objects.filter(person=person, completed_on__isnull=True, level__in=EDUCATION_LEVELS).update(
        completed_on=today)
    made = []
    kind = need.certificate_kinds.order_by("pk").first()  # the first kind listed in shipped.yaml
    if kind is not None:
        number = id_number_for(person) if kind.number_format == NumberFormat.ID18 else f"{kind.code}-{person.pk}"
        cert, _ = Certificate.objects.get_or_create(
            company_id=person.company_id, kind=kind, number=number,
            defaults={"person": person, "issuer": "应急管理局", "issued_on": today - timedelta(days=365),
                      "expires_on": today + timedelta(days=5 * 365),
                      "review_due_on": today + timedelta(days=2 * 365)})
        made.append(cert)
    if need.training_topic:
        course, _ = Course.objects.get_or_create(
            company_id=person.company_id, code=f"T-{need.training_topic}",
            defaults={"org_unit_id": person.company_id, "name": f"{work_type}专项培训",
                      "level": CourseLevel.SPECIAL, "topic": need.training_topic, "hours": 4})
        start = timezone.make_aware(datetime.combine(today, time(8, 0)))
        session, _ = Session.objects.get_or_create(course=course, starts_at=start,
                                                   defaults={"ends_at": start + timedelta(hours=4)})
        Attendance.objects.update_or_create(session=session, person=person,
                                            defaults={"attended": True, "passed": True, "hours": course.hours})
    return made


# --- the demo port group's people, contractors, training and badges ---------------------------------

EDUCATION = (("JY-01", "公司级安全教育", CourseLevel.COMPANY), ("JY-02", "车间级安全教育", CourseLevel.WORKSHOP),
             ("JY-03", "班组级安全教育", CourseLevel.TEAM))

# (name, credit code without its check character, status, reason, contract days from today (start, end))
CONTRACTORS = (
    ("宁波海工建设有限公司", "91330200MA2H4B7C", "active", "", (-240, 480)),
    ("东海起重设备维保有限公司", "91330201MA2AQ5UT", "blacklisted", "起重作业无证上岗，发生未遂事故", (-600, -30)),
)

WELDING = "焊接与热切割作业"

# (contractor, name, employee no, work type, certificate expires in days (None: no certificate))
CONTRACT_WORKERS = (
    ("宁波海工建设有限公司", "马建设", "C0101", WELDING, 900),
    ("宁波海工建设有限公司", "何力", "C0102", WELDING, -72),
    ("宁波海工建设有限公司", "罗小平", "C0103", WELDING, 25),
    ("东海起重设备维保有限公司", "石大鹏", "C0201", "起重机司机", 400),
)


def load() -> int:
    """Education done for the demo employees, two contractors with workers whose certificates show
    every state (valid, expiring, expired 72 days ago), a serious violation, and a badge for everyone.
    Safe to run again: nothing is added when the contractors exist."""
    from anlian.orgs import services as orgs
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import Area, Contractor, OrgUnit
    from anlian.training import services as training
    from anlian.workforce import badges, violations
    from anlian.workforce.models import ContractorArea, ContractorDocument, ViolationSeverity

    if Contractor.objects.exists():
        return 0
    today = clock.today()
    port = OrgUnit.objects.get(name="临海港务股份有限公司")
    safety = OrgUnit.objects.get(name="安全环保部")
    for company in OrgUnit.objects.filter(kind="company"):
        people = list(Person.objects.filter(company=company, contractor__isnull=True, is_active=True))
        for code, name, level in EDUCATION:
            course = Course.objects.create(org_unit=company, company=company, code=code, name=name, level=level,
                                           hours=8, pass_score=60)
            start = timezone.make_aware(datetime.combine(today - timedelta(days=30), time(8, 0)))
            session = Session.objects.create(course=course, starts_at=start, ends_at=start + timedelta(hours=8),
                                             place="安全培训室", trainer="张安")
            training.record_attendance(SYSTEM, session, [training.Row(p, True, 90) for p in people])

    made = {}
    for name, code, status, reason, (start, end) in CONTRACTORS:
        contractor = Contractor.objects.create(
            org_unit=safety, company=port, name=name, credit_code=code + credit_check_char(code),
            contact_name="项目经理", contact_phone="13600000000", contract_start=today + timedelta(days=start),
            contract_end=today + timedelta(days=end), status=status, status_reason=reason)
        ContractorDocument.objects.create(contractor=contractor, kind="safety_permit", number=f"(浙)JZ安许证字{code[-6:]}",
                                          expires_on=today + timedelta(days=20 if status == "active" else -10))
        for area in Area.objects.filter(org_unit__company=port, name__in=["3#泊位", "机修车间厂房"]):
            ContractorArea.objects.create(contractor=contractor, area=area, valid_from=today - timedelta(days=30),
                                          valid_until=contractor.contract_end)
        made[name] = contractor
    team = OrgUnit.objects.get(name="焊工班")
    for contractor_name, name, no, work_type, expires_in in CONTRACT_WORKERS:
        contractor = made[contractor_name]
        person = orgs.save_person(SYSTEM, None, org_unit=team, name=name, employee_no=no, contractor=contractor,
                                  hired_on=today - timedelta(days=60), phone="1360000" + no[-4:])
        qualify(person, work_type, today - timedelta(days=20))
        if expires_in is not None:
            Certificate.objects.filter(person=person).update(expires_on=today + timedelta(days=expires_in))
    officer = Person.objects.get(name="张安")
    violations.record_violation(officer.user, person=Person.objects.get(employee_no="C0103", company=port),
                                what="动火作业未配置灭火器", area=Area.objects.get(name="机修车间厂房"),
                                severity=ViolationSeverity.SERIOUS)
    for person in Person.objects.filter(is_active=True):
        if person.contractor is None or person.contractor.contract_end >= today:
            badges.issue_badge(SYSTEM, person)
    return len(made)
