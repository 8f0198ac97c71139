"""Training API: courses, sessions, attendance, a person's assignments and record; refusals."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone

from anlian.core import clock
from anlian.orgs.access import SYSTEM
from anlian.training import services
from anlian.training.models import Assignment, Attendance, Course, CourseLevel, Session, TrainingPolicy
from tests.test_api_orgs import Api

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime(2026, 3, 10, 10, 0))


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen(NOW):
        yield


@pytest.fixture
def data(world):
    made = {}
    for key, company in (("a", world.a), ("b", world.b)):
        course = services.save_course(SYSTEM, None, org_unit=company.unit, code="C1", name="公司级安全教育",
                                      level=CourseLevel.COMPANY, hours="8", pass_score=60)
        session = services.save_session(SYSTEM, None, course=course, starts_at=NOW.replace(day=9, hour=9),
                                        ends_at=NOW.replace(day=9, hour=17))
        line = services.record_attendance(SYSTEM, session, [services.Row(company.worker, True, 88)])[0]
        made[key] = {"course": course, "session": session, "attendance": line}
    return made


def snapshot() -> list:
    return [list(m.objects.order_by("pk").values()) for m in (Course, Session, Attendance, Assignment, TrainingPolicy)]


def test_courses_sessions_and_attendance_round_trip(world, data):
    api = Api(world.a.admin)
    r = api("post", "/training/courses", {"org_unit_id": world.a.plant.pk, "code": "W1", "name": "车间级教育",
                                          "level": "workshop", "hours": 8, "pass_score": 60, "topic": "general"})
    assert r.status_code == 201, r.content
    course = r.json()
    assert course["company_id"] == world.a.unit.pk and course["hours"] == 8.0
    assert api("patch", f"/training/courses/{course['id']}", {"name": "车间级安全教育"}).json()["name"] == "车间级安全教育"
    r = api("get", "/training/courses", QUERY_STRING="level=workshop")
    assert [c["code"] for c in r.json()["items"]] == ["W1"] and r.json()["count"] == 1

    r = api("post", "/training/sessions", {"course_id": course["id"], "starts_at": "2026-03-09T08:00:00+08:00",
                                           "ends_at": "2026-03-09T12:00:00+08:00", "place": "二楼"})
    assert r.status_code == 201, r.content
    session = r.json()
    w, o = world.a.worker, world.a.officer
    r = api("post", f"/training/sessions/{session['id']}/attendance",
            {"rows": [{"person_id": w.pk, "score": 59}, {"person_id": o.pk, "attended": True, "score": 90}]})
    assert r.status_code == 200, r.content
    assert {(x["person_id"], x["passed"], x["hours"]) for x in r.json()} == {(w.pk, False, 0), (o.pk, True, 8)}
    r = api("post", f"/training/sessions/{session['id']}/attendance", {"rows": [{"person_id": w.pk, "score": 60}]})
    assert r.json()[0]["passed"] is True  # replaced, not added
    r = api("get", f"/training/sessions/{session['id']}/attendance")
    assert r.json()["count"] == 2

    r = api("get", f"/training/people/{w.pk}/assignments")
    states = {a["level"]: (a["state"], a["hours_done"], a["completed_on"]) for a in r.json()}
    assert states["workshop"] == ("done", 8.0, "2026-03-09") and states["team"][0] == "open"
    r = api("get", f"/training/people/{w.pk}/record")
    record = r.json()
    assert record["hours_this_year"] == 16.0 and [x["course_code"] for x in record["attendance"]] == ["C1", "W1"]

    line = Attendance.objects.get(person=o)
    assert api("delete", f"/training/attendance/{line.pk}").status_code == 204
    r = api("post", f"/training/people/{w.pk}/reassign")  # the workshop session before today no longer counts
    assert r.status_code == 200 and {(a["level"], a["state"], a["hours_done"]) for a in r.json()} == {
        ("workshop", "open", 0), ("team", "open", 0)}


def test_refreshers_and_policy(world, data):
    api = Api(world.a.admin)
    r = api("put", f"/training/policies/{world.a.unit.pk}", {"high_risk": True, "deadline_days": 10,
                                                             "refresher_hours": 24})
    assert r.status_code == 200 and r.json()["education_hours"] == 24.0
    assert api("get", f"/training/policies/{world.a.unit.pk}").json()["deadline_days"] == 10
    r = api("post", "/training/refreshers", {"org_unit_id": world.a.unit.pk, "year": 2026})
    assert r.json() == {"year": 2026, "created": 3}
    assert api("post", "/training/refreshers", {"org_unit_id": world.a.unit.pk, "year": 2026}).json()["created"] == 0
    r = api("post", "/training/refreshers", {"org_unit_id": world.a.unit.pk, "year": 2024})
    assert r.status_code == 422 and r.json()["field"] == "year"
    r = api("get", f"/training/policies/{world.a.plant.pk}")
    assert r.status_code == 422 and r.json()["field"] == "company_id"


def test_company_b_cannot_read_or_change_company_a_through_any_path(world, data):
    a = data["a"]
    api = Api(world.b.admin)
    before = snapshot()
    person = world.a.worker.pk
    calls = [
        ("get", f"/training/courses/{a['course'].pk}", None),
        ("patch", f"/training/courses/{a['course'].pk}", {"name": "x"}),
        ("get", f"/training/sessions/{a['session'].pk}", None),
        ("patch", f"/training/sessions/{a['session'].pk}", {"place": "x"}),
        ("get", f"/training/sessions/{a['session'].pk}/attendance", None),
        ("post", f"/training/sessions/{a['session'].pk}/attendance", {"rows": [{"person_id": world.b.worker.pk}]}),
        ("delete", f"/training/attendance/{a['attendance'].pk}", None),
        ("get", f"/training/people/{person}/assignments", None),
        ("get", f"/training/people/{person}/record", None),
        ("post", f"/training/people/{person}/reassign", None),
        ("get", f"/training/policies/{world.a.unit.pk}", None),
        ("put", f"/training/policies/{world.a.unit.pk}", {"high_risk": True, "deadline_days": 3, "refresher_hours": 1}),
        ("post", "/training/refreshers", {"org_unit_id": world.a.unit.pk, "year": 2026}),
        ("post", "/training/courses", {"org_unit_id": world.a.unit.pk, "code": "Z", "name": "x", "level": "team",
                                       "hours": 1}),
        ("post", "/training/sessions", {"course_id": a["course"].pk, "starts_at": "2026-03-10T08:00:00+08:00",
                                        "ends_at": "2026-03-10T09:00:00+08:00"}),
        ("get", "/training/sessions", None),  # filtered by A's course
    ]
    for method, url, body in calls:
        if url == "/training/sessions" and method == "get":
            r = api("get", url, QUERY_STRING=f"course_id={a['course'].pk}")
        else:
            r = api(method, url, body)
        assert r.status_code == 404, (method, url, r.content)
    # A's person named in B's own session: not found, by the row that named them
    r = api("post", f"/training/sessions/{data['b']['session'].pk}/attendance", {"rows": [{"person_id": person}]})
    assert r.status_code == 404 and r.json()["field"] == "rows.0.person_id"
    assert snapshot() == before
    # and B's lists hold only B's things
    assert {c["company_id"] for c in api("get", "/training/courses").json()["items"]} == {world.b.unit.pk}
    assert {s["course_id"] for s in api("get", "/training/sessions").json()["items"]} == {data["b"]["course"].pk}


@pytest.mark.parametrize("body, status", [
    ({"rows": []}, 422),
    ({"rows": [{"person_id": 0}]}, 422),
    ({"rows": [{"person_id": 2**63}]}, 422),
    ({"rows": [{"person_id": "x"}]}, 422),
    ({"rows": [{"person_id": "W", "score": 101}]}, 422),
    ({"rows": [{"person_id": "W", "score": -1}]}, 422),
    ({"rows": [{"person_id": "W", "attended": False, "score": 80}]}, 422),
    ({"rows": [{"person_id": "W"}, {"person_id": "W"}]}, 422),
    ({"rows": [{"person_id": "W", "extra": 1}]}, 422),
    ({"rows": [{"person_id": "W"}] * 501}, 422),
    ({"rows": "all"}, 422),
    ({}, 422),
])
def test_bad_attendance_bodies_are_refused_and_change_nothing(world, data, body, status):
    api = Api(world.a.admin)
    body = {k: [{**r, "person_id": world.a.officer.pk} if r.get("person_id") == "W" else r for r in v]
            if isinstance(v, list) else v for k, v in body.items()}
    before = snapshot()
    r = api("post", f"/training/sessions/{data['a']['session'].pk}/attendance", body)
    assert r.status_code == status, r.content
    assert r.json()["message"] and r.json()["code"]
    assert snapshot() == before


@pytest.mark.parametrize("body", [
    {"code": "C2", "name": "x", "level": "team", "hours": "NaN"},
    {"code": "C2", "name": "x", "level": "team", "hours": 0},
    {"code": "C2", "name": "x", "level": "team", "hours": 8.25},
    {"code": "C2", "name": "x", "level": "yearly", "hours": 8},
    {"code": "C2", "name": "x", "level": "team", "hours": 8, "pass_score": 101},
    {"code": "C2", "name": "x", "level": "team", "hours": 8, "topic": "a b"},
    {"code": "C1", "name": "x", "level": "team", "hours": 8},  # duplicate code: 409
    {"code": "", "name": "x", "level": "team", "hours": 8},
    {"code": "C2", "name": "x", "level": "team", "hours": 8, "company_id": 1},
])
def test_bad_course_bodies_are_refused(world, data, body):
    api = Api(world.a.admin)
    before = snapshot()
    r = api("post", "/training/courses", {"org_unit_id": world.a.unit.pk, **body})
    assert r.status_code in (409, 422), r.content
    assert snapshot() == before


def test_a_worker_reads_but_cannot_write(world, data):
    api = Api(world.a.worker)
    assert api("get", f"/training/people/{world.a.worker.pk}/record").status_code == 200
    assert api("get", "/training/courses").json()["count"] == 1
    before = snapshot()
    assert api("post", f"/training/sessions/{data['a']['session'].pk}/attendance",
               {"rows": [{"person_id": world.a.worker.pk, "score": 100}]}).status_code == 403
    assert api("post", f"/training/people/{world.a.worker.pk}/reassign").status_code == 403
    assert api("post", "/training/courses", {"org_unit_id": world.a.team.pk, "code": "Z", "name": "x",
                                             "level": "team", "hours": 1}).status_code == 403
    assert snapshot() == before


def test_bad_session_bodies(world, data):
    api = Api(world.a.admin)
    course = data["a"]["course"].pk
    for body in ({"course_id": course, "starts_at": "2026-03-10T12:00:00+08:00", "ends_at": "2026-03-10T08:00:00+08:00"},
                 {"course_id": course, "starts_at": "yesterday", "ends_at": "2026-03-10T08:00:00+08:00"},
                 {"course_id": course, "starts_at": "1990-03-10T08:00:00+08:00", "ends_at": "1990-03-10T09:00:00+08:00"},
                 {"course_id": course, "starts_at": "2026-03-10T08:00:00+08:00", "ends_at": "2026-05-10T08:00:00+08:00"},
                 {"course_id": course, "starts_at": "2026-03-10T08:00:00", "ends_at": "2026-03-10T09:00:00",
                  "place": "x" * 101}):
        assert api("post", "/training/sessions", body).status_code == 422, body
    r = api("post", "/training/sessions", {"course_id": course, "starts_at": "2026-03-10T08:00:00",
                                           "ends_at": "2026-03-10T09:00:00"})  # naive: the site's time
    assert r.status_code == 201 and r.json()["starts_at"].startswith("2026-03-10T08:00:00+08:00")


def test_a_replayed_sheet_changes_nothing_more(world, data):
    api = Api(world.a.admin)
    url = f"/training/sessions/{data['a']['session'].pk}/attendance"
    body = {"rows": [{"person_id": world.a.officer.pk, "score": 75}, {"person_id": world.a.worker.pk, "score": 88}]}
    assert api("post", url, body).status_code == 200
    once = snapshot()
    assert api("post", url, body).status_code == 200
    assert snapshot() == once
    assert Attendance.objects.filter(session=data["a"]["session"]).count() == 2
