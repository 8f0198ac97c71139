"""Make a person qualified for a work type the way a safety office would record it: a valid
certificate of a kind the requirement accepts, and the topic training passed today. Used by the
demo loader, the screenshot scripts and tests that need qualified crews."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from anlian.core import clock
from anlian.core.codes import id18_check_char
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
