"""Qualification as a checked fact: every reason that stops a person, the permit guard that uses
it (refused, then allowed after renewal) and the sweep that takes a worker off a running job."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from anlian.core import clock
from anlian.core.models import Notice
from anlian.notify.delivery import send_due
from anlian.flows.models import Event, Instance, InstanceStatus
from anlian.flows.services import withdraw_unqualified
from anlian.orgs.models import Contractor, ContractorStatus
from anlian.training.models import Assignment, Attendance, CourseLevel
from anlian.workforce.demo import qualify
from anlian.workforce.models import (
    Certificate,
    CertificateKind,
    ContractorArea,
    ContractorDocument,
    DocumentKind,
    Violation,
    ViolationSeverity,
    WorkRequirement,
)
from anlian.workforce.qualification import assess
from anlian.workforce.signals import qualification_changed
from tests.conftest import make_person
from tests.flows.port import WELD, Crew, at, make_crew

pytestmark = pytest.mark.django_db
TODAY = date(2026, 6, 15)
CONFINED = "受限空间作业"


@pytest.fixture(autouse=True)
def chinese():
    from django.utils import translation

    with translation.override("zh-hans"):
        yield


def codes(person, **kw) -> list[str]:
    return [r.code for r in assess(person, today=TODAY, **kw)]


def texts(person, **kw) -> str:
    return "；".join(r.text for r in assess(person, today=TODAY, **kw))


@pytest.fixture
def welder(world):
    person = make_person(world.a.team, "焊工甲", "W01")
    qualify(person, WELD, today=TODAY)
    return person


@pytest.fixture
def contractor(world):
    return Contractor.objects.create(org_unit=world.a.plant, company=world.a.unit, name="华建安装",
                                     contract_start=date(2026, 1, 1), contract_end=date(2026, 12, 31))


def test_a_qualified_welder_is_go(welder):
    assert codes(welder, work_type=WELD) == []
    assert codes(welder) == []


def test_left_the_company(welder):
    welder.is_active = False
    welder.save()
    assert codes(welder, work_type=WELD) == ["person_inactive"]


@pytest.mark.parametrize("status", [ContractorStatus.SUSPENDED, ContractorStatus.BLACKLISTED])
def test_contractor_suspended_or_blacklisted(world, welder, contractor, status):
    contractor.status, contractor.status_reason = status, "发生重大违章"
    contractor.save()
    welder.contractor = contractor
    welder.save()
    assert codes(welder, work_type=WELD) == ["company_suspended"]
    assert "华建安装" in texts(welder) and "发生重大违章" in texts(welder)


def test_contract_not_started_or_ended(welder, contractor):
    welder.contractor = contractor
    welder.save()
    assert codes(welder) == []
    assert [r.code for r in assess(welder, today=date(2025, 12, 31))] == ["contract_invalid"]
    assert [r.code for r in assess(welder, today=date(2027, 1, 1))] == ["contract_invalid"]
    assert "2026-12-31" in assess(welder, today=date(2027, 1, 1))[0].text


def test_contractor_document_expired(welder, contractor):
    welder.contractor = contractor
    welder.save()
    ContractorDocument.objects.create(contractor=contractor, kind=DocumentKind.SAFETY_PERMIT, expires_on=TODAY)
    assert codes(welder) == []  # valid through its last day
    ContractorDocument.objects.create(contractor=contractor, kind=DocumentKind.LICENSE,
                                      expires_on=TODAY - timedelta(days=1))
    assert codes(welder) == ["company_document_expired"]
    assert "营业执照" in texts(welder)


def test_contractor_worker_outside_authorised_areas(world, welder, contractor):
    welder.contractor = contractor
    welder.save()
    area = world.a.area
    assert codes(welder, area_id=area.pk) == ["area_not_authorised"]
    grant = ContractorArea.objects.create(contractor=contractor, area=area, valid_from=date(2026, 7, 1),
                                          valid_until=date(2026, 7, 31))
    assert codes(welder, area_id=area.pk) == ["area_not_authorised"]
    assert "2026-07-01" in texts(welder, area_id=area.pk)
    grant.valid_from = date(2026, 6, 1)
    grant.save()
    assert codes(welder, area_id=area.pk) == []


def test_an_employee_may_work_in_any_area_of_the_company(world, welder):
    assert codes(welder, area_id=world.a.area.pk) == []


def test_three_level_education_must_be_finished_before_work(world):
    newcomer = make_person(world.a.team, "新员工", "N01")  # hired now: education assigned
    assert Assignment.objects.filter(person=newcomer).count() == 3
    assert set(codes(newcomer)) == {"training_incomplete"}
    assert "三级安全教育" in texts(newcomer)


def test_an_overdue_refresher_stops_work(welder):
    Assignment.objects.create(person=welder, level=CourseLevel.REFRESHER, year=2025, hours_required=20,
                              due_on=date(2025, 12, 31))
    assert codes(welder) == ["training_incomplete"]
    assert "2025-12-31" in texts(welder)


def test_certificate_missing(world):
    person = make_person(world.a.team, "无证人员", "N02")
    qualify(person, CONFINED, today=TODAY)  # educated and trained, but holds no welding certificate
    assert codes(person, work_type=WELD) == ["cert_missing"]
    assert "熔化焊接与热切割作业" in texts(person, work_type=WELD)


def test_certificate_expired_72_days_ago(welder):
    welder.certificates.update(expires_on=TODAY - timedelta(days=72))
    assert codes(welder, work_type=WELD) == ["cert_expired"]
    assert "（72天）" in texts(welder, work_type=WELD)


def test_certificate_revoked(welder):
    welder.certificates.update(revoked_at=clock.now(), revoked_reason="考核作弊")
    assert codes(welder, work_type=WELD) == ["cert_revoked"]
    assert "考核作弊" in texts(welder, work_type=WELD)


def test_certificate_review_overdue_until_reviewed(welder):
    welder.certificates.update(review_due_on=TODAY - timedelta(days=3))
    assert codes(welder, work_type=WELD) == ["cert_review_overdue"]
    assert "已逾期3天" in texts(welder, work_type=WELD)
    welder.certificates.update(reviewed_on=TODAY, review_due_on=TODAY + timedelta(days=3 * 365))
    assert codes(welder, work_type=WELD) == []


def test_one_valid_certificate_of_an_accepted_kind_is_enough(welder):
    old = welder.certificates.get()
    Certificate.objects.create(person=welder, company=welder.company, kind=old.kind, number="OLD-1",
                               issued_on=date(2010, 1, 1), expires_on=date(2016, 1, 1))
    assert codes(welder, work_type=WELD) == []


def test_confined_space_training_within_30_days(world):
    person = make_person(world.a.team, "受限空间申请人", "N03")
    qualify(person, CONFINED, today=TODAY - timedelta(days=30))
    assert codes(person, work_type=CONFINED) == []
    Attendance.objects.filter(person=person).update(passed=False)
    assert codes(person, work_type=CONFINED) == ["training_stale"]
    qualify(person, CONFINED, today=TODAY - timedelta(days=31))
    Attendance.objects.filter(person=person, session__starts_at__date__gt=TODAY - timedelta(days=31)).delete()
    assert codes(person, work_type=CONFINED) == ["training_stale"]
    assert "30天内" in texts(person, work_type=CONFINED)


def test_open_violations_where_the_work_forbids_them_and_serious_ones_everywhere(world, welder):
    qualify(welder, CONFINED, today=TODAY)
    Violation.objects.create(person=welder, what="未系安全带", occurred_at=clock.now())
    assert codes(welder, work_type=CONFINED) == ["open_violations"]
    assert codes(welder, work_type=WELD) == []  # a general violation does not stop welding
    Violation.objects.create(person=welder, what="无票动火", occurred_at=clock.now(),
                             severity=ViolationSeverity.SERIOUS)
    assert codes(welder, work_type=WELD) == ["open_violations"]
    assert codes(welder) == ["open_violations"]
    Violation.objects.filter(person=welder).update(status="closed")
    assert codes(welder, work_type=CONFINED) == []


def test_a_work_type_without_requirement_fails_closed(welder):
    assert codes(welder, work_type="潜水作业") == ["no_requirement"]


def test_a_company_requirement_replaces_the_shipped_one(world, welder):
    own = WorkRequirement.objects.create(owner=world.a.unit, work_type=WELD)
    own.certificate_kinds.set([CertificateKind.objects.get(owner=None, code="so-electric-low")])
    assert codes(welder, work_type=WELD) == ["cert_missing"]
    assert codes(make_person(world.b.team, "乙焊工", "W09"), work_type=WELD) != []  # B: shipped rule, no cert


def test_every_reason_is_listed_at_once(welder, contractor, world):
    welder.contractor = contractor
    welder.save()
    contractor.status = ContractorStatus.SUSPENDED
    contractor.save()
    welder.certificates.update(expires_on=TODAY - timedelta(days=1))
    assert codes(welder, work_type=WELD, area_id=world.a.area.pk) == [
        "company_suspended", "area_not_authorised", "cert_expired"]


def test_assessing_many_people_takes_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    from anlian.workforce.qualification import assess_many

    people = [make_person(world.a.team, f"批量{i}", f"M{i:03d}") for i in range(30)]
    for person in people:
        qualify(person, WELD, today=TODAY)
    with django_assert_max_num_queries(9):
        result = assess_many(people, work_type=WELD, today=TODAY)
    assert all(reasons == [] for reasons in result.values())


# --- the permit guard ----------------------------------------------------------------------------


@pytest.fixture
def crew(world) -> Crew:
    return make_crew(world)


def test_permit_start_refused_for_an_unqualified_operator_then_allowed_after_renewal(crew):
    operator = crew.operators[1]
    cert = operator.certificates.get()
    Certificate.objects.filter(pk=cert.pk).update(expires_on=date(2025, 3, 8))  # 72 days before the job
    clock.set_now(at(8, 55))
    body = {"version_id": crew.version_id, "area_id": crew.world.a.area.pk, "values": crew.apply_values(),
            "photos": {"crew": [crew.photo(crew.applicant)], "loto": [crew.photo(crew.applicant)]}}
    refused = crew.client(crew.applicant).post("/api/v1/instances", body, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_qualified"
    assert refused.json()["message"] == (
        f"郑十不具备「焊接与热切割作业」作业资格：证书熔化焊接与热切割作业（{cert.number[:6]}********{cert.number[-4:]}）"
        "已于2025-03-08过期（72天）")  # an ID number is never shown whole in a reason
    assert not Instance.objects.exists()
    # Renewed: the new certificate is recorded, and the same application goes through.
    Certificate.objects.create(person=operator, company=operator.company, kind=cert.kind, number=f"{cert.number}R",
                               issued_on=date(2025, 5, 10), expires_on=date(2031, 5, 9))
    crew.start()
    assert Instance.objects.count() == 1


def test_the_refusal_is_translated(crew):
    crew.operators[0].certificates.update(revoked_at=clock.now(), revoked_reason="吊销")
    clock.set_now(at(8, 55))
    body = {"version_id": crew.version_id, "area_id": crew.world.a.area.pk, "values": crew.apply_values(),
            "photos": {"crew": [crew.photo(crew.applicant)], "loto": [crew.photo(crew.applicant)]}}
    refused = crew.client(crew.applicant).post("/api/v1/instances", body, content_type="application/json",
                                                HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 403 and refused.json()["code"] == "not_qualified"
    assert "is not qualified" in refused.json()["message"]


# --- running jobs ---------------------------------------------------------------------------------


def test_a_certificate_revoked_mid_job_takes_the_worker_off_and_tells_the_guardian(
        crew, django_capture_on_commit_callbacks):
    job = crew.start()
    crew.gas(job["id"], at(9, 0))
    revoked = crew.operators[0]
    cert = revoked.certificates.get()
    cert.revoked_at, cert.revoked_reason = clock.now(), "监管部门注销"
    cert.save()
    with django_capture_on_commit_callbacks(execute=True):
        qualification_changed.send(sender=Certificate, person=revoked)  # tests run the worker inline
    events = list(Event.objects.filter(instance_id=job["id"]).order_by("seq"))
    withdrawn = events[-1]
    assert withdrawn.kind == "withdrawn" and withdrawn.actor_key == "system"
    assert withdrawn.payload["person"] == str(revoked.pk) and withdrawn.payload["fields"] == ["operators"]
    assert "监管部门注销" in withdrawn.payload["reason"]
    instance = Instance.objects.get(pk=job["id"])
    assert instance.status == InstanceStatus.ACTIVE  # the other operator carries on
    send_due()
    notices = Notice.objects.filter(key__startswith=f"job:{job['id']}:")
    assert {n.person_id for n in notices} == {crew.guardian.pk, crew.applicant.pk, revoked.pk}
    assert all("吴九" in n.body for n in notices)
    # The remaining operator is still named; the withdrawn one is not.
    from anlian.flows.services import state_of
    assert state_of(instance).values["operators"] == [str(crew.operators[1].pk)]
    # Sweeping again changes nothing (no duplicate event, no duplicate notice).
    assert withdraw_unqualified() == 0
    assert Event.objects.filter(instance_id=job["id"]).count() == len(events)


def test_the_job_is_suspended_when_no_qualified_operator_is_left_and_cannot_resume(crew):
    job = crew.start()
    for op in crew.operators:
        op.certificates.update(revoked_at=clock.now(), revoked_reason="注销")
    assert withdraw_unqualified() == 3  # two withdrawals, one suspension
    instance = Instance.objects.get(pk=job["id"])
    assert instance.status == InstanceStatus.SUSPENDED
    kinds = list(Event.objects.filter(instance_id=job["id"]).order_by("seq").values_list("kind", flat=True))
    assert kinds[-3:] == ["withdrawn", "withdrawn", "suspended"]
    refused = crew.act(crew.owner, job["id"], kind="resume")
    assert refused.status_code in (403, 409, 422)
    assert refused.json()["code"] in ("crew_withdrawn", "not_permitted")


def test_a_certificate_that_runs_out_overnight_is_caught_by_the_periodic_sweep(crew):
    job = crew.start()
    crew.operators[1].certificates.update(expires_on=date(2025, 5, 19))
    assert withdraw_unqualified(now=at(23, 59)) == 0  # still valid on its last day
    assert withdraw_unqualified(now=at(0, 1, day=20)) == 1
    last = Event.objects.filter(instance_id=job["id"]).order_by("-seq").first()
    assert last.kind == "withdrawn" and last.payload["person"] == str(crew.operators[1].pk)


def test_steps_are_refused_while_a_named_worker_is_unqualified(crew):
    job = crew.start()
    crew.operators[0].certificates.update(expires_on=date(2025, 5, 1))
    response = crew.act(crew.analyst, job["id"], at(9, 0), kind="complete", step="gas",
                        values={"lel": 0, "instrument": str(crew.instrument.pk)},
                        photos={"meter": [crew.photo(crew.analyst)]})
    assert response.status_code == 403 and response.json()["code"] == "not_qualified"
    assert "吴九" in response.json()["message"]


# --- API and person page ------------------------------------------------------------------------------


def test_the_api_answers_the_question_and_every_work_type(world, welder):
    from tests.conftest import client_for

    welder.certificates.update(expires_on=date(2020, 1, 1))
    client = client_for(world.a.officer)
    answer = client.get(f"/api/v1/people/{welder.pk}/qualification?work_type={WELD}").json()
    assert answer["asked"]["go"] is False and answer["asked"]["reasons"][0]["code"] == "cert_expired"
    standing = {s["work_type"]: s for s in answer["work_types"]}
    assert standing[WELD]["go"] is False and standing["电工作业"]["reasons"][0]["code"] == "cert_missing"
    assert client.get(f"/api/v1/people/{welder.pk}/qualification").json()["asked"]["go"] is True
    assert client_for(world.b.admin).get(f"/api/v1/people/{welder.pk}/qualification").status_code == 404
    foreign_area = client.get(f"/api/v1/people/{welder.pk}/qualification?area_id={world.b.area.pk}")
    assert foreign_area.status_code == 404 and foreign_area.json()["field"] == "area_id"
    assert client.get(f"/api/v1/people/{welder.pk}/qualification?work_type={'长' * 61}").status_code == 422


def test_the_person_page_shows_the_standing_per_work_type(world, welder):
    from tests.conftest import client_for

    welder.certificates.update(expires_on=date(2020, 1, 1))
    page = client_for(world.a.admin).get(f"/people/{welder.pk}/").content.decode()
    assert "作业资格" in page and "不可作业" in page and "已于2020-01-01过期" in page
