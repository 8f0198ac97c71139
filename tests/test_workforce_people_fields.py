"""The person's workforce fields (contractor, hire date, ID number, job title) on the form, the
detail page, the people list and the API; ID numbers shown whole only to those who manage the person."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from django.test import Client
from openpyxl import load_workbook

from anlian.accounts.tokens import issue_token
from anlian.core.codes import id18_check_char
from anlian.orgs import services as orgs
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Person
from anlian.workforce import contractors
from tests.conftest import client_for, csrf_client_for, make_person
from tests.test_pages import post_form, text

pytestmark = pytest.mark.django_db

ID = "11010519900307123" + id18_check_char("11010519900307123")
BAD_ID = ID[:17] + ("0" if ID[17] != "0" else "1")


@pytest.fixture
def hg(world):
    return contractors.save_contractor(SYSTEM, None, org_unit=world.a.plant, name="海工建设")


@pytest.fixture
def theirs(world):
    return contractors.save_contractor(SYSTEM, None, org_unit=world.b.plant, name="乙方承包商")


def form(world, **extra) -> dict:
    return {"org_unit": world.a.team.pk, "name": "李焊", "employee_no": "A500", "phone": "", "is_active": "on",
            "contractor": "", "job_title": "", "hired_on": "", "id_number": ""} | extra


def test_the_form_stores_the_workforce_fields_and_the_page_shows_them(world, hg):
    client = csrf_client_for(world.a.admin)
    response = post_form(client, "/people/new/", form(world, contractor=hg.pk, job_title="电焊工",
                                                      hired_on="2026-03-02", id_number=ID.lower()))
    person = Person.objects.get(employee_no="A500")
    assert response.status_code == 302
    assert (person.contractor, person.job_title, person.hired_on, person.id_number) == (
        hg, "电焊工", date(2026, 3, 2), ID)
    body = text(client.get(f"/people/{person.pk}/"))
    assert "承包商人员" in body and f'href="/contractors/{hg.pk}/"' in body and "电焊工" in body
    assert "2026-03-02" in body and ID in body

    # Edit: the form starts from the stored values, and choosing no contractor makes an employee.
    page = text(client.get(f"/people/{person.pk}/edit/"))
    assert f'<option value="{hg.pk}" selected>' in page and 'value="2026-03-02"' in page
    response = post_form(client, f"/people/{person.pk}/edit/", form(world, job_title="电焊工", id_number=ID))
    person.refresh_from_db()
    assert response.status_code == 302 and person.contractor is None and person.hired_on is None
    assert "本单位员工" in text(client.get(f"/people/{person.pk}/"))


@pytest.mark.parametrize(("changes", "status", "message"), [
    ({"id_number": BAD_ID}, 422, "身份证号"),
    ({"id_number": "11010519900230123X"}, 422, "身份证号"),  # 30 February
    ({"id_number": "1" * 19}, 400, "18"),
    ({"hired_on": "2026-02-30"}, 400, "有效的日期"),
    ({"job_title": "岗" * 51}, 400, "50"),
    ({"contractor": "abc"}, 400, ""),
])
def test_the_form_refuses_bad_fields_and_stores_nothing(world, hg, changes, status, message):
    response = post_form(csrf_client_for(world.a.admin), "/people/new/", form(world, **changes))
    assert response.status_code == status and message in text(response)
    assert not Person.objects.filter(employee_no="A500").exists()


def test_another_companys_contractor_is_never_a_choice(world, hg, theirs):
    client = csrf_client_for(world.a.admin)
    page = text(client.get("/people/new/"))
    assert "海工建设" in page and "乙方承包商" not in page
    response = post_form(client, "/people/new/", form(world, contractor=theirs.pk))
    assert response.status_code == 400 and not Person.objects.filter(employee_no="A500").exists()


def test_a_group_admin_cannot_give_a_person_another_companys_contractor(world, hg, theirs):
    boss = make_person(world.group, "集团管理员", "G001", [("admin", world.group)], login="G-admin")
    response = post_form(csrf_client_for(boss), "/people/new/", form(world, contractor=theirs.pk))
    assert response.status_code == 422 and "承包商不属于该人员所在公司" in text(response)
    assert not Person.objects.filter(employee_no="A500").exists()


def test_the_id_number_is_masked_for_those_who_do_not_manage_the_person(world):
    orgs.save_person(SYSTEM, world.a.worker, org_unit=world.a.team, name=world.a.worker.name, employee_no="A003",
                     id_number=ID)
    masked = f"{ID[:6]}********{ID[-4:]}"
    assert ID in text(client_for(world.a.admin).get(f"/people/{world.a.worker.pk}/"))
    officer_view = text(client_for(world.a.officer).get(f"/people/{world.a.worker.pk}/"))
    assert masked in officer_view and ID not in officer_view


def test_the_people_list_filters_by_contractor_or_employees_only(world, hg, theirs):
    orgs.save_person(SYSTEM, None, org_unit=world.a.team, name="海工一号", employee_no="C1", contractor=hg,
                     job_title="架子工")
    orgs.save_person(SYSTEM, None, org_unit=world.b.team, name="乙方一号", employee_no="C9", contractor=theirs)
    client = client_for(world.a.admin)
    body = text(client.get(f"/people/?contractor={hg.pk}"))
    assert "海工一号" in body and "甲公司工人" not in body and "只显示承包商“海工建设”的人员" in body
    body = text(client.get("/people/?contractor=none"))
    assert "海工一号" not in body and "甲公司工人" in body and "只显示本单位员工" in body
    # Another company's contractor, or junk, is not a filter at all: nothing of theirs shows up.
    for junk in (theirs.pk, "<script>", "99999999999999999999999"):
        body = text(client.get(f"/people/?contractor={junk}"))
        assert "海工一号" in body and "甲公司工人" in body and "乙方一号" not in body and "<script>" not in body
    rows = list(load_workbook(io.BytesIO(client.get(f"/people/?contractor={hg.pk}&format=xlsx").content))
                .active.iter_rows(values_only=True))
    assert rows[0][4:6] == ("承包商", "岗位") and rows[1][:2] == ("C1", "海工一号") and rows[1][4:6] == ("海工建设", "架子工")
    assert len(rows) == 2


# --- API -----------------------------------------------------------------------------------------


class Api:
    def __init__(self, person) -> None:
        self.client = Client()
        self.secret = issue_token(person.user, "t")[1]

    def __call__(self, method: str, url: str, body: dict | None = None):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(self.client, method)(f"/api/v1{url}", **kwargs)


def test_the_api_creates_and_changes_the_workforce_fields(world, hg):
    api = Api(world.a.admin)
    r = api("post", "/people", {"org_unit_id": world.a.team.pk, "name": "李焊", "employee_no": "A500",
                                "contractor_id": hg.pk, "hired_on": "2026-03-02", "id_number": ID,
                                "job_title": "电焊工"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["contractor_id"], body["hired_on"], body["id_number"], body["job_title"]) == (
        hg.pk, "2026-03-02", ID, "电焊工")
    pid = body["id"]
    r = api("patch", f"/people/{pid}", {"phone": "13900000000"})  # left out: kept
    assert r.json()["contractor_id"] == hg.pk and r.json()["id_number"] == ID
    r = api("patch", f"/people/{pid}", {"contractor_id": None, "hired_on": None})
    assert r.status_code == 200 and r.json()["contractor_id"] is None and r.json()["hired_on"] is None
    assert Person.objects.get(pk=pid).job_title == "电焊工"
    r = api("get", f"/people?contractor_id={hg.pk}")
    assert r.json()["count"] == 0
    api("patch", f"/people/{pid}", {"contractor_id": hg.pk})
    assert [p["id"] for p in api("get", f"/people?contractor_id={hg.pk}").json()["items"]] == [pid]
    employees = {p["employee_no"] for p in api("get", "/people?employees_only=true").json()["items"]}
    assert employees == {"A001", "A002", "A003"}


@pytest.mark.parametrize(("changes", "status", "code", "field"), [
    ({"id_number": BAD_ID}, 422, "invalid", "id_number"),
    ({"id_number": "1" * 19}, 422, "invalid_value", "id_number"),
    ({"hired_on": "2026-02-30"}, 422, "invalid_value", "hired_on"),
    ({"job_title": "岗" * 51}, 422, "invalid_value", "job_title"),
    ({"contractor_id": 2**70}, 422, "invalid_value", "contractor_id"),
    ({"contractor_id": "海工"}, 422, "invalid_value", "contractor_id"),
    ({"id_number": None}, 422, "invalid_value", "id_number"),
])
def test_the_api_refuses_bad_fields_and_changes_nothing(world, changes, status, code, field):
    before = list(Person.objects.order_by("pk").values_list())
    r = Api(world.a.admin)("patch", f"/people/{world.a.worker.pk}", changes)
    assert r.status_code == status and r.json()["code"] == code and r.json()["field"] == field
    assert list(Person.objects.order_by("pk").values_list()) == before


def test_the_api_never_reaches_another_companys_contractor(world, hg, theirs):
    api = Api(world.b.admin)
    r = api("patch", f"/people/{world.b.worker.pk}", {"contractor_id": hg.pk})
    assert r.status_code == 404 and r.json()["field"] == "contractor_id"
    r = api("post", "/people", {"org_unit_id": world.b.team.pk, "name": "X", "employee_no": "B900",
                                "contractor_id": hg.pk})
    assert r.status_code == 404 and not Person.objects.filter(employee_no="B900").exists()
    assert api("get", f"/people?contractor_id={hg.pk}").status_code == 404
    assert Person.objects.get(pk=world.b.worker.pk).contractor is None


def test_the_api_masks_the_id_number_for_viewers(world):
    orgs.save_person(SYSTEM, world.a.worker, org_unit=world.a.team, name=world.a.worker.name, employee_no="A003",
                     id_number=ID)
    assert Api(world.a.admin)("get", f"/people/{world.a.worker.pk}").json()["id_number"] == ID
    seen = Api(world.a.officer)("get", f"/people/{world.a.worker.pk}").json()["id_number"]
    assert seen == f"{ID[:6]}********{ID[-4:]}"
    listed = {p["employee_no"]: p["id_number"] for p in Api(world.a.officer)("get", "/people").json()["items"]}
    assert listed["A003"] == seen
