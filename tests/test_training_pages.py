"""Training pages: who may open what, the attendance sheet with per-row errors, exports, 我的培训."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from anlian.core import clock
from anlian.orgs.access import SYSTEM
from anlian.training import services
from anlian.training.models import Assignment, Attendance, Course, CourseLevel, Session, TrainingPolicy
from tests.conftest import client_for, make_person

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime(2026, 3, 10, 10, 0))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen(NOW):
        yield


@pytest.fixture
def data(world):
    """A company course with one session in each company; the A worker recorded once."""
    made = {}
    for key, company in (("a", world.a), ("b", world.b)):
        course = services.save_course(SYSTEM, None, org_unit=company.unit, code="C1", name="公司级安全教育",
                                      level=CourseLevel.COMPANY, hours="8", pass_score=60)
        session = services.save_session(SYSTEM, None, course=course, starts_at=NOW.replace(day=9, hour=9),
                                        ends_at=NOW.replace(day=9, hour=17), place="培训室")
        line = services.record_attendance(SYSTEM, session, [services.Row(company.worker, True, 88)])[0]
        made[key] = {"course": course, "session": session, "attendance": line, "person": company.worker,
                     "company": company.unit}
    return made


def urls(objs) -> dict[str, tuple[str, str]]:
    """Every page with its objects, and the method it is used with."""
    return {
        "course": ("get", reverse("training:course", args=[objs["course"].pk])),
        "course_edit": ("get", reverse("training:course_edit", args=[objs["course"].pk])),
        "session_new": ("get", reverse("training:session_new", args=[objs["course"].pk])),
        "session": ("get", reverse("training:session", args=[objs["session"].pk])),
        "session_record": ("post", reverse("training:session", args=[objs["session"].pk])),
        "session_edit": ("get", reverse("training:session_edit", args=[objs["session"].pk])),
        "session_xlsx": ("get", reverse("training:session_xlsx", args=[objs["session"].pk])),
        "attendance_delete": ("post", reverse("training:attendance_delete", args=[objs["attendance"].pk])),
        "person": ("get", reverse("training:person", args=[objs["person"].pk])),
        "person_xlsx": ("get", reverse("training:person_xlsx", args=[objs["person"].pk])),
        "reassign": ("post", reverse("training:reassign", args=[objs["person"].pk])),
        "policy": ("get", reverse("training:policy", args=[objs["company"].pk])),
        "policy_post": ("post", reverse("training:policy", args=[objs["company"].pk])),
    }


def snapshot() -> list:
    return [list(m.objects.order_by("pk").values()) for m in (Course, Session, Attendance, Assignment, TrainingPolicy)]


def test_another_company_cannot_open_or_change_anything_through_any_page(world, data):
    before = snapshot()
    client = client_for(world.b.admin)
    for name, (method, url) in urls(data["a"]).items():
        body = {"person": [str(world.a.worker.pk)], f"state_{world.a.worker.pk}": "1",
                f"score_{world.a.worker.pk}": "10", "high_risk": "on", "deadline_days": "3",
                "refresher_hours": "1"}
        response = getattr(client, method)(url, body) if method == "post" else client.get(url)
        assert response.status_code == 404, name
    assert snapshot() == before
    # …while their own objects open
    for name, (method, url) in urls(data["b"]).items():
        if method == "get":
            assert client.get(url).status_code == 200, name


def test_a_person_of_the_same_company_posted_into_another_companys_session_is_not_found(world, data):
    client = client_for(world.b.admin)
    url = reverse("training:session", args=[data["b"]["session"].pk])
    pk = world.a.officer.pk
    response = client.post(url, {"person": [str(pk)], f"state_{pk}": "1", f"score_{pk}": "90"})
    assert response.status_code == 404
    assert not Attendance.objects.filter(person=world.a.officer).exists()


def test_anonymous_visitors_are_sent_to_log_in(data):
    for name, (method, url) in {**urls(data["a"]), "mine": ("get", reverse("training:mine")),
                                "courses": ("get", reverse("training:courses"))}.items():
        response = getattr(Client(), method)(url)
        assert response.status_code == 302 and "/login/" in response["Location"], name


def test_a_worker_reads_but_cannot_manage(world, data):
    client = client_for(world.a.worker)
    a = urls(data["a"])
    for name in ("course", "session", "person", "person_xlsx", "session_xlsx"):
        assert client.get(a[name][1]).status_code == 200, name
    assert client.get(reverse("training:courses")).status_code == 200
    for name in ("course_edit", "session_new", "session_edit", "policy"):
        assert client.get(a[name][1]).status_code in (403, 404), name
    assert client.get(reverse("training:course_new")).status_code == 403
    assert client.get(reverse("training:refreshers")).status_code == 403
    before = snapshot()
    for name in ("reassign", "attendance_delete", "session_record", "policy_post"):
        response = client.post(a[name][1], {"person": [str(world.a.worker.pk)], f"state_{world.a.worker.pk}": "1"})
        assert response.status_code in (403, 404), name
    assert snapshot() == before
    page = client.get(a["session"][1]).content.decode()
    assert "保存出勤和成绩" not in page and 'name="state_' not in page


def test_a_trainer_manages_courses_and_sessions(world, data):
    trainer = make_person(world.a.unit, "培训员", "A050", [("trainer", world.a.unit)], login="A-trainer")
    client = client_for(trainer)
    for name, (method, url) in urls(data["a"]).items():
        if method == "get":
            assert client.get(url).status_code == 200, name
    response = client.post(reverse("training:course_new"), {
        "org_unit": world.a.plant.pk, "code": "W1", "name": "车间级教育", "level": "workshop", "hours": "8",
        "pass_score": "60", "topic": ""})
    course = Course.objects.get(code="W1")
    assert response.status_code == 302 and response["Location"] == course.get_absolute_url()
    response = client.post(reverse("training:session_new", args=[course.pk]), {
        "starts_at": "2026-03-10T08:00", "ends_at": "2026-03-10T12:00", "place": "二楼", "trainer": "王老师"})
    session = course.sessions.get()
    assert response.status_code == 302 and timezone.localtime(session.starts_at).hour == 8
    # refused by the service: a duplicate code lands on the form
    response = client.post(reverse("training:course_new"), {
        "org_unit": world.a.plant.pk, "code": "W1", "name": "x", "level": "team", "hours": "8"})
    assert response.status_code == 409 and "本公司已有编号为“W1”的课程" in response.content.decode()
    # a foreign unit is not a choice
    response = client.post(reverse("training:course_new"), {
        "org_unit": world.b.unit.pk, "code": "W9", "name": "x", "level": "team", "hours": "8"})
    assert response.status_code == 400 and not Course.objects.filter(code="W9").exists()
    response = client.post(reverse("training:session_new", args=[course.pk]), {
        "starts_at": "2026-03-10T12:00", "ends_at": "2026-03-10T08:00"})
    assert response.status_code == 422 and "结束时间须晚于开始时间" in response.content.decode()


def test_the_sheet_lists_a_units_people_and_records_many_at_once(world, data):
    client = client_for(world.a.admin)
    session = data["a"]["session"]
    url = reverse("training:session", args=[session.pk])
    page = client.get(url, {"unit": world.a.plant.pk}).content.decode()
    assert world.a.officer.name in page and world.a.worker.name in page and world.b.worker.name not in page
    assert client.get(url, {"unit": world.b.plant.pk}).status_code == 200  # a foreign unit is ignored
    w, o, adm = world.a.worker, world.a.officer, world.a.admin
    response = client.post(url, {"person": [str(w.pk), str(o.pk), str(adm.pk)],
                                 f"state_{w.pk}": "1", f"score_{w.pk}": "50",  # corrected
                                 f"state_{o.pk}": "1", f"score_{o.pk}": "95",
                                 f"state_{adm.pk}": ""})                       # not recorded
    assert response.status_code == 302
    response = client.post(url, {"person": [str(adm.pk)], f"state_{adm.pk}": "1", f"score_{adm.pk}": "９０"})
    assert response.status_code == 302  # full-width digits from a Chinese input method
    assert session.attendance.get(person=adm).score == 90
    session.attendance.filter(person=adm).delete()
    lines = {a.person_id: (a.passed, a.score) for a in session.attendance.all()}
    assert lines == {w.pk: (False, 50), o.pk: (True, 95)}
    assert Assignment.objects.get(person=o, level="company").completed_on == date(2026, 3, 9)


def test_the_sheet_shows_every_bad_row_and_records_nothing(world, data):
    client = client_for(world.a.admin)
    url = reverse("training:session", args=[data["a"]["session"].pk])
    w, o, adm = world.a.worker, world.a.officer, world.a.admin
    before = snapshot()
    response = client.post(url, {"person": [str(w.pk), str(o.pk), str(adm.pk)],
                                 f"state_{w.pk}": "1", f"score_{w.pk}": "abc",
                                 f"state_{o.pk}": "0", f"score_{o.pk}": "80",
                                 f"state_{adm.pk}": "1", f"score_{adm.pk}": "90"})
    page = response.content.decode()
    assert response.status_code == 400 and page.count('class="row-error"') == 1 and "成绩须为0到100的整数" in page
    response = client.post(url, {"person": [str(w.pk), str(o.pk), str(adm.pk)],
                                 f"state_{w.pk}": "1", f"score_{w.pk}": "150",
                                 f"state_{o.pk}": "0", f"score_{o.pk}": "80",
                                 f"state_{adm.pk}": "1", f"score_{adm.pk}": "90"})
    page = response.content.decode()
    assert response.status_code == 422 and page.count('class="row-error"') == 2
    assert "缺勤，不能填写成绩" in page and 'value="150"' in page  # what was typed stays
    for bad in ({"person": ["x"], "state_x": "1"}, {}, {"person": [str(w.pk)], f"state_{w.pk}": "maybe"},
                {"person": ["9" * 30]}, {"person": ["²"], "state_²": "1"},
                {"person": [str(w.pk)], f"state_{w.pk}": "1", f"score_{w.pk}": "²"},
                {"person": [str(w.pk)], f"state_{w.pk}": "1", f"score_{w.pk}": "<script>"}):
        assert client.post(url, bad).status_code == 400
    assert client.post(url, {"person": ["999999"], "state_999999": "1"}).status_code == 404
    assert snapshot() == before


def test_deleting_a_line_and_reassigning_from_the_pages(world, data):
    client = client_for(world.a.admin)
    line = data["a"]["attendance"]
    response = client.post(reverse("training:attendance_delete", args=[line.pk]))
    assert response.status_code == 302 and not Attendance.objects.filter(pk=line.pk).exists()
    assert client.get(reverse("training:attendance_delete", args=[line.pk])).status_code == 405
    response = client.post(reverse("training:reassign", args=[world.a.worker.pk]))
    assert response.status_code == 302
    assert Assignment.objects.get(person=world.a.worker, level="team").counts_from == date(2026, 3, 10)


def test_policy_and_refresher_pages(world, data):
    client = client_for(world.a.admin)
    url = reverse("training:policy", args=[world.a.unit.pk])
    assert client.post(url, {"deadline_days": "0", "refresher_hours": "20"}).status_code == 400
    response = client.post(url, {"high_risk": "on", "deadline_days": "10", "refresher_hours": "24"})
    assert response.status_code == 302
    assert TrainingPolicy.objects.get(company=world.a.unit).high_risk is True
    assert client.get(reverse("training:policy", args=[world.a.plant.pk])).status_code == 404  # not a company
    response = client.post(reverse("training:refreshers"), {"org_unit": world.a.unit.pk, "year": "2026"})
    assert response.status_code == 302
    assert Assignment.objects.filter(level="refresher", year=2026, hours_required=24).count() == 3
    assert client.post(reverse("training:refreshers"), {"org_unit": world.a.unit.pk, "year": "2020"}).status_code == 400
    response = client.post(reverse("training:refreshers"), {"org_unit": world.b.unit.pk, "year": "2026"})
    assert response.status_code == 400
    assert not Assignment.objects.filter(level="refresher", person__company=world.b.unit).exists()


def test_record_pages_and_exports(world, data):
    client = client_for(world.a.officer)
    page = client.get(reverse("training:person", args=[world.a.worker.pk])).content.decode()
    assert "公司级安全教育" in page and "8.0" in page and "重新安排车间级、班组级教育" in page
    response = client.get(reverse("training:person_xlsx", args=[world.a.worker.pk]))
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    response = client.get(reverse("training:session_xlsx", args=[data["a"]["session"].pk]))
    assert response.status_code == 200 and response["Content-Type"] == XLSX


def test_my_training_on_the_phone(world, data):
    page = client_for(world.a.worker).get(reverse("training:mine"))
    html = page.content.decode()
    assert page.status_code == 200 and "我的培训" in html and "公司级安全教育" in html and "m-tabs" in html
    assert world.b.worker.name not in html
    from django.contrib.auth import get_user_model

    loner = get_user_model().objects.create_user("loner", password="x-horse-battery-9")
    client = Client()
    client.force_login(loner)
    assert client.get(reverse("training:mine")).status_code == 404


def test_the_person_page_include_summarises_and_links(world, data):
    html = render_to_string("training/_person_training.html", {"person": world.a.worker})
    assert reverse("training:person", args=[world.a.worker.pk]) in html
    assert "2项待完成" in html or "2项逾期" in html
