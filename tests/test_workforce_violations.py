"""Violations: recording (who, what, where, photo), the open → rectified → closed / void lifecycle,
the refusals, the API and the pages (phone record page, desktop list with export, detail)."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta, timezone as dt_timezone

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import load_workbook
from PIL import Image

from anlian.accounts.tokens import issue_token
from anlian.core import clock
from anlian.core.errors import Conflict, Forbidden, Invalid
from anlian.evidence.models import StoredFile
from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Contractor
from anlian.workforce import violations
from anlian.workforce.models import Violation
from anlian.workforce.signals import qualification_changed
from tests.conftest import client_for, make_person

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 20, 2, 0, tzinfo=dt_timezone.utc)  # 10:00 in Shanghai


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen(NOW):
        yield


@pytest.fixture
def welder(world):
    contractor = Contractor.objects.create(org_unit=world.a.plant, company=world.a.unit, name="甲方焊接公司")
    return services.save_person(SYSTEM, None, org_unit=world.a.team, name="外包焊工", employee_no="C001",
                                contractor=contractor)


@pytest.fixture
def signals():
    sent = []
    qualification_changed.connect(lambda sender, person, reason="", **kw: sent.append((person.pk, reason)),
                                  weak=False, dispatch_uid="test-violations")
    yield sent
    qualification_changed.disconnect(dispatch_uid="test-violations")


def jpeg(color="#aa3333", name="photo.jpg") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (80, 60), color).save(out, "JPEG")
    return SimpleUploadedFile(name, out.getvalue(), "image/jpeg")


def record(actor, person, **more):
    more.setdefault("what", "高处作业未系安全带")
    return violations.record_violation(actor.user, person=person, **more)


# --- recording -----------------------------------------------------------------------------------


def test_it_records_who_what_where_and_a_photo(world, welder, signals, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        item = record(world.a.officer, welder, area=world.a.area, photo=jpeg())
    assert item.contractor.name == "甲方焊接公司" and item.reported_by == world.a.officer
    assert item.status == "open" and item.occurred_at == NOW and item.rectify_due == date(2026, 5, 23)
    assert item.photo.company_id == world.a.unit.pk
    assert signals == [(welder.pk, "新增违章：高处作业未系安全带")]


def test_a_serious_violation_is_due_the_next_day(world, welder):
    assert record(world.a.officer, welder, severity="serious").rectify_due == date(2026, 5, 21)


@pytest.mark.parametrize("more, field", [
    ({"what": "  "}, "what"),
    ({"what": "x" * 301}, "what"),
    ({"severity": "fatal"}, "severity"),
    ({"occurred_at": NOW + timedelta(hours=1)}, "occurred_at"),
    ({"occurred_at": NOW - timedelta(days=400)}, "occurred_at"),
    ({"rectify_due": date(2026, 5, 19)}, "rectify_due"),
    ({"rectify_due": date(2030, 1, 1)}, "rectify_due"),
    ({"photo": SimpleUploadedFile("x.jpg", b"<?php system($_GET[1]); ?>", "image/jpeg")}, "file"),
])
def test_bad_input_is_refused_and_nothing_is_stored(world, welder, signals, django_capture_on_commit_callbacks,
                                                    more, field):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Invalid) as exc:
        record(world.a.officer, welder, **more)
    assert exc.value.field == field
    assert not Violation.objects.exists() and not StoredFile.objects.exists() and signals == []


def test_an_area_of_another_company_is_refused(world, welder):
    with pytest.raises(Invalid) as exc:
        record(world.a.officer, welder, area=world.b.area)
    assert exc.value.field == "area"


def test_only_recorders_who_see_the_person_may_record(world, welder):
    for actor in (world.a.worker, world.b.officer, world.b.admin):
        with pytest.raises(Forbidden):
            record(actor, welder)
    assert not Violation.objects.exists()


def test_a_recorder_of_an_area_may_record_a_visitor_there(world):
    visitor = make_person(world.a.unit, "公司来人", "A500")
    guard = make_person(world.a.plant, "区域监护", "A501", [("gate_guard", world.a.unit), ("guardian", world.a.plant)],
                        login="A-guard")
    with pytest.raises(Forbidden):
        record(guard, visitor)  # not at the person's unit, and no area named
    assert record(guard, visitor, area=world.a.area).area == world.a.area


# --- lifecycle -----------------------------------------------------------------------------------


def test_open_rectified_closed(world, welder):
    item = record(world.a.officer, welder)
    with pytest.raises(Conflict):
        violations.transition(world.a.officer.user, item, "close")
    violations.transition(world.a.officer.user, item, "rectify", note="已补系安全带并培训")
    assert item.status == "rectified" and item.rectified_at == NOW and item.note == "已补系安全带并培训"
    violations.transition(world.a.admin.user, item, "close")
    item.refresh_from_db()
    assert item.status == "closed" and item.closed_at == NOW
    for action in ("rectify", "close", "void"):
        with pytest.raises(Conflict):
            violations.transition(world.a.officer.user, item, action, note="x")


def test_void_needs_a_reason_and_unknown_actions_are_refused(world, welder):
    item = record(world.a.officer, welder)
    with pytest.raises(Invalid):
        violations.transition(world.a.officer.user, item, "void", note=" ")
    with pytest.raises(Invalid):
        violations.transition(world.a.officer.user, item, "delete")
    violations.transition(world.a.officer.user, item, "void", note="认错了人")
    item.refresh_from_db()
    assert item.status == "void" and item.note == "认错了人"


def test_nobody_closes_or_voids_their_own_violation(world):
    item = record(world.a.admin, world.a.officer)
    assert violations.actions_for(world.a.officer.user, item) == ["rectify"]
    with pytest.raises(Forbidden) as exc:
        violations.transition(world.a.officer.user, item, "void", note="不算")
    assert exc.value.code == "own_violation"
    violations.transition(world.a.officer.user, item, "rectify")
    with pytest.raises(Forbidden):
        violations.transition(world.a.officer.user, item, "close")
    violations.transition(world.a.admin.user, item, "close")
    assert item.status == "closed"


def test_the_allowed_moves_table_matches_the_actions(world, welder):
    for status, targets in violations.ALLOWED.items():
        for action, target in violations.ACTIONS.items():
            item = record(world.a.officer, welder)
            Violation.objects.filter(pk=item.pk).update(status=status)
            item.refresh_from_db()
            if target in targets:
                assert violations.transition(world.a.officer.user, item, action, note="n").status == target
            else:
                with pytest.raises(Conflict):
                    violations.transition(world.a.officer.user, item, action, note="n")


# --- API -----------------------------------------------------------------------------------------


class Api:
    def __init__(self, person) -> None:
        self.client = Client()
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {issue_token(person.user, 't')[1]}"}

    def __call__(self, method: str, url: str, body: dict | None = None):
        kwargs = dict(self.auth)
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(self.client, method)(f"/api/v1{url}", **kwargs)


def test_api_records_lists_and_moves_violations(world, welder):
    api = Api(world.a.officer)
    r = api("post", "/violations", {"person_id": welder.pk, "what": "未戴安全帽", "area_id": world.a.area.pk,
                                    "severity": "serious"})
    assert r.status_code == 201, r.content
    vid = r.json()["id"]
    assert r.json()["contractor_id"] == welder.contractor_id and r.json()["rectify_due"] == "2026-05-21"
    contractor = welder.contractor_id
    assert api("get", f"/violations?status=open&contractor_id={contractor}&month=2026-05").json()["count"] == 1
    assert api("get", "/violations?month=2026-04").json()["count"] == 0
    assert api("get", "/violations?month=2026-13").status_code == 422
    assert api("get", "/violations?status=bogus").status_code == 422
    r = api("post", f"/violations/{vid}/transition", {"action": "rectify", "note": "已整改"})
    assert r.status_code == 200 and r.json()["status"] == "rectified"
    assert api("post", f"/violations/{vid}/transition", {"action": "rectify"}).status_code == 409
    assert api("post", f"/violations/{vid}/transition", {"action": "explode"}).status_code == 422
    assert api("post", f"/violations/{vid}/transition", {"action": "void"}).json()["field"] == "note"
    assert api("get", f"/violations/{vid}").json()["status"] == "rectified"


def test_api_refusals_store_nothing(world, welder):
    api = Api(world.a.officer)
    assert api("post", "/violations", {"person_id": welder.pk, "what": ""}).status_code == 422
    assert api("post", "/violations", {"person_id": welder.pk, "what": "x" * 301}).status_code == 422
    assert api("post", "/violations", {"person_id": welder.pk, "what": "x", "occurred_at": "2030-01-01T00:00:00Z"}
               ).json()["field"] == "occurred_at"
    assert api("post", "/violations", {"person_id": welder.pk, "what": "x", "area_id": world.b.area.pk}
               ).json()["field"] == "area_id"
    assert api("post", "/violations", {"person_id": 2**80, "what": "x"}).status_code == 422
    assert Api(world.a.worker)("post", "/violations", {"person_id": welder.pk, "what": "x"}).status_code == 403
    assert not Violation.objects.exists()


def test_company_b_cannot_read_or_move_company_a_violations(world, welder):
    item = record(world.a.officer, welder, photo=jpeg())
    api = Api(world.b.admin)
    assert api("get", f"/violations/{item.pk}").status_code == 404
    assert api("get", "/violations").json()["count"] == 0
    assert api("get", f"/violations?person_id={welder.pk}").status_code == 404
    assert api("get", f"/violations?contractor_id={welder.contractor_id}").status_code == 404
    assert api("post", f"/violations/{item.pk}/transition", {"action": "void", "note": "x"}).status_code == 404
    r = api("post", "/violations", {"person_id": welder.pk, "what": "x"})
    assert r.status_code == 404 and r.json()["field"] == "person_id"
    b = client_for(world.b.admin)
    assert b.get(f"/qualifications/violations/{item.pk}/").status_code == 404
    assert b.post(f"/qualifications/violations/{item.pk}/act/", {"action": "void", "note": "x"}).status_code == 404
    assert "外包焊工" not in b.get("/qualifications/violations/").content.decode()
    assert b.get(f"/files/{item.photo.sha256}/").status_code == 404
    assert "外包焊工" not in b.get(f"/qualifications/m/violations/new/?person={welder.pk}").content.decode()
    r = b.post("/qualifications/m/violations/new/", {"person": welder.pk, "what": "x", "severity": "general"})
    # Like a missing person: the search again, nothing stored, the person not named.
    assert r.status_code == 400 and Violation.objects.count() == 1 and "外包焊工" not in r.content.decode()
    item.refresh_from_db()
    assert item.status == "open"


# --- pages ---------------------------------------------------------------------------------------


def test_the_phone_page_finds_the_person_by_number_and_records_with_a_photo(world, welder):
    phone = client_for(world.a.officer)
    r = phone.get("/qualifications/m/violations/new/?q=c001")
    assert r.status_code == 200 and f"?person={welder.pk}" in r.content.decode()
    r = phone.get(f"/qualifications/m/violations/new/?person={welder.pk}")
    page = r.content.decode()
    assert "外包焊工" in page and 'capture="environment"' in page and "高处作业未系安全带" in page
    assert "乙公司罐区" not in page  # only the person's company's areas
    r = phone.post("/qualifications/m/violations/new/", {
        "person": welder.pk, "preset": "高处作业未系安全带", "what": "", "severity": "serious",
        "area": world.a.area.pk, "photo": jpeg()})
    assert r.status_code == 302
    item = Violation.objects.get()
    assert (item.what, item.severity, item.area, item.reported_by) == ("高处作业未系安全带", "serious", world.a.area,
                                                                      world.a.officer)
    assert item.photo is not None


def test_the_phone_page_shows_refusals_and_keeps_nothing(world, welder):
    phone = client_for(world.a.officer)
    r = phone.post("/qualifications/m/violations/new/", {"person": welder.pk, "what": "", "severity": "general"})
    assert r.status_code == 400 and "请选择或填写违章内容" in r.content.decode()
    r = phone.post("/qualifications/m/violations/new/", {
        "person": welder.pk, "what": "x", "severity": "general", "photo": SimpleUploadedFile("a.jpg", b"GIF89a")})
    assert r.status_code == 400
    r = phone.post("/qualifications/m/violations/new/", {
        "person": welder.pk, "what": "x", "severity": "general", "rectify_due": "2026-01-01"})
    assert r.status_code == 422 and "整改期限" in r.content.decode()
    assert not Violation.objects.exists()
    assert client_for(world.a.worker).get("/qualifications/m/violations/new/").status_code == 403


def test_the_list_filters_and_exports(world, welder):
    record(world.a.officer, welder, what="未戴安全帽")
    other = record(world.a.officer, world.a.worker, what="=HYPERLINK(\"http://x\")")
    violations.transition(world.a.officer.user, other, "rectify")
    desk = client_for(world.a.officer)
    page = desk.get(f"/qualifications/violations/?status=open&contractor={welder.contractor_id}&month=2026-05")
    assert "未戴安全帽" in page.content.decode() and "HYPERLINK" not in page.content.decode()
    assert "未戴安全帽" not in desk.get("/qualifications/violations/?month=2026-04").content.decode()
    assert desk.get("/qualifications/violations/?month=garbage&contractor=999999999999999999999").status_code == 200
    r = desk.get("/qualifications/violations/?format=xlsx")
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.values)
    assert rows[0][:3] == ("发生时间", "违章人", "工号") and len(rows) == 3
    formula = [row for row in rows if row[1] == world.a.worker.name][0][6]
    assert formula.startswith("=HYPERLINK") and sheet.cell(row=2, column=7).data_type == "s"


def test_the_detail_page_offers_the_allowed_actions(world, welder):
    item = record(world.a.officer, welder)
    desk = client_for(world.a.officer)
    page = desk.get(f"/qualifications/violations/{item.pk}/").content.decode()
    assert 'value="rectify"' in page and 'value="void"' in page and 'value="close"' not in page
    r = desk.post(f"/qualifications/violations/{item.pk}/act/", {"action": "void", "note": ""})
    assert r.status_code == 422 and "撤销违章须说明原因" in r.content.decode()
    r = desk.post(f"/qualifications/violations/{item.pk}/act/", {"action": "rectify"})
    assert r.status_code == 302
    item.refresh_from_db()
    assert item.status == "rectified"
    assert client_for(world.a.worker).post(f"/qualifications/violations/{item.pk}/act/",
                                           {"action": "close"}).status_code == 403
    assert desk.get("/qualifications/violations/99999999999/").status_code == 404
