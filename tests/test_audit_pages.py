"""The audit log page, its Excel export and API: readable diffs, filters, company isolation,
refusals (no MANAGE_ORG: 403; bad filters: 4xx, never 5xx) and no way to change an entry."""

from __future__ import annotations

import io
from datetime import datetime
from datetime import timezone as tz

import pytest
from django.test import Client
from openpyxl import load_workbook

from anlian import audit
from anlian.audit.models import AuditEntry
from anlian.core import clock
from anlian.flows import services as flows
from anlian.flows.models import FlowTemplate
from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Role
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def logged(world):
    """A few entries in each company, made by each company's administrator."""
    clock.set_now(datetime(2026, 3, 2, 8, 30, tzinfo=tz.utc))
    for company, name in ((world.a, "甲-改名"), (world.b, "乙-改名")):
        worker = company.worker
        with audit.acting(company.admin.user):
            services.save_person(SYSTEM, worker, org_unit=worker.org_unit, name=name, employee_no=worker.employee_no,
                                 phone="13800000000")
    clock.set_now(datetime(2026, 3, 5, 9, 0, tzinfo=tz.utc))
    with audit.acting(world.a.admin.user):
        services.grant_role(SYSTEM, world.a.worker, Role.objects.get(code="guardian", owner=None), world.a.team)
    return world


def entry_of(company, model="orgs.person") -> AuditEntry:
    return AuditEntry.objects.filter(company=company.unit, model=model).latest("pk")


def text(response) -> str:
    return response.content.decode()


def test_the_page_shows_my_companys_changes_as_a_readable_diff(logged):
    world = logged
    response = client_for(world.a.admin).get("/audit/")
    assert response.status_code == 200
    body = text(response)
    assert "甲公司工人" in body and "甲-改名" in body and "→" in body and "13800000000" in body
    assert "姓名" in body and "手机号" in body  # field labels, not names
    assert "乙-改名" not in body and "乙公司" not in body
    assert f'href="/people/{world.a.worker.pk}/"' in body  # link to the object
    # newest first: the grant (5 March) above the rename (2 March)
    grant, rename = entry_of(world.a, "orgs.rolegrant"), entry_of(world.a)
    assert body.index(f'href="/audit/{grant.pk}/"') < body.index(f'href="/audit/{rename.pk}/"')


def test_filters_narrow_the_list(logged):
    world = logged
    client = client_for(world.a.admin)
    by_kind = text(client.get("/audit/", {"kind": "orgs.rolegrant"}))
    assert "监护人" in by_kind and "13800000000" not in by_kind
    by_date = text(client.get("/audit/", {"start": "2026-03-01", "end": "2026-03-03"}))
    assert "13800000000" in by_date and "角色授权" not in by_date.split('id="results"')[1]
    by_text = text(client.get("/audit/", {"q": "13800000000"}))
    assert "甲-改名" in by_text
    by_chinese = text(client.get("/audit/", {"q": "甲-改", "kind": "orgs.person"})).split('id="results"')[1]
    assert "13800000000" in by_chinese and "甲公司安全员" not in by_chinese
    by_who = text(client.get("/audit/", {"who": "没有这个人"}))
    assert "没有符合条件的审计记录" in by_who
    by_object = text(client.get("/audit/", {"object": str(world.a.worker.pk), "kind": "orgs.person"}))
    assert "甲-改名" in by_object
    by_company = text(client.get("/audit/", {"company": world.a.unit.pk, "action": "update"}))
    assert "甲-改名" in by_company


def test_one_entry_page_and_long_text_as_a_line_diff(world):
    shipped = FlowTemplate.objects.filter(owner=None).order_by("key").first()
    with audit.acting(world.a.admin.user):
        first = flows.copy_template(world.a.admin.user, shipped, world.a.unit, "own")
    changed = first.source.replace("required: true", "required: false", 1)
    with audit.acting(world.a.admin.user):
        version = flows.save_version(world.a.admin.user, first.template, changed)
        version.source = changed.replace("required: true", "required: false", 1)
        version.save()  # (versions are not edited in place by the product; here to get an update)
    entry = AuditEntry.objects.filter(model="flows.templateversion", action="update").latest("pk")
    body = text(client_for(world.a.admin).get(f"/audit/{entry.pk}/"))
    assert "l-del" in body and "l-add" in body and "required: false" in body
    assert "行有改动" in body and "模板内容" in body and "模板版本" in body
    # a new version's entry shows only what changed against the version before, as lines
    created = AuditEntry.objects.filter(model="flows.templateversion", action="create",
                                        object_id=str(version.pk)).get()
    body = text(client_for(world.a.admin).get(f"/audit/{created.pk}/"))
    assert '<span class="l-del">- ' in body and '<span class="l-add">+ ' in body
    assert body.count('class="l-add"') == 1 and body.count('class="l-del"') == 1


def test_company_b_entries_are_invisible_to_company_a(logged):
    world = logged
    theirs = entry_of(world.b)
    client = client_for(world.a.admin)
    assert client.get(f"/audit/{theirs.pk}/").status_code == 404
    assert client.get(f"/audit/{entry_of(world.a).pk}/").status_code == 200
    assert client.get(f"{API}/audit/{theirs.pk}").status_code == 404
    listed = client.get(f"{API}/audit", {"page_size": 500}).json()
    assert listed["count"] >= 2 and all(e["company_id"] == world.a.unit.pk for e in listed["items"])
    assert theirs.pk not in {e["id"] for e in listed["items"]}
    # naming the other company in a filter: not found, like a missing one
    assert client.get(f"{API}/audit", {"company_id": world.b.unit.pk}).status_code == 404
    assert client.get(f"{API}/audit", {"company_id": 999999}).status_code == 404
    assert client.get("/audit/", {"company": world.b.unit.pk}).status_code == 400
    # the export holds only our company's rows
    book = load_workbook(io.BytesIO(client.get("/audit/export/").content))
    cells = " ".join(str(c.value) for row in book.active.iter_rows() for c in row)
    assert "甲-改名" in cells and "乙-改名" not in cells and "乙公司" not in cells
    # and B's administrator sees B's, not A's
    other = client_for(world.b.admin).get(f"{API}/audit/{theirs.pk}")
    assert other.status_code == 200 and other.json()["diff"][0]["label"] == "姓名"


def test_the_api_answers_entries_with_their_diff(logged):
    world = logged
    client = client_for(world.a.admin)
    answer = client.get(f"{API}/audit", {"model": "orgs.person", "company_id": world.a.unit.pk, "who": "管理员"})
    assert answer.status_code == 200, answer.content
    item = answer.json()["items"][0]
    assert item["model"] == "orgs.person" and item["model_name"] == "人员" and item["action"] == "update"
    assert item["actor_id"] == world.a.admin.user.pk and item["company_name"] == "甲公司"
    assert item["changes"]["name"] == ["甲公司工人", "甲-改名"]
    assert {"field": "name", "label": "姓名", "old": "甲公司工人", "new": "甲-改名", "added": [], "removed": []} in item["diff"]
    one = client.get(f"{API}/audit/{item['id']}")
    assert one.status_code == 200 and one.json()["id"] == item["id"]


def test_people_without_manage_org_are_refused(logged):
    world = logged
    for person in (world.a.worker,):
        client = client_for(person)
        assert client.get("/audit/").status_code == 403
        assert client.get("/audit/export/").status_code == 403
        assert client.get(f"/audit/{entry_of(world.a).pk}/").status_code == 403
        assert client.get(f"{API}/audit").status_code == 403
        assert client.get(f"{API}/audit/{entry_of(world.a).pk}").status_code == 403
    anonymous = Client()
    assert anonymous.get("/audit/").status_code == 302
    assert anonymous.get(f"{API}/audit").status_code == 401


def test_a_plant_safety_officer_does_not_read_the_company_log(logged):
    # MANAGE_ORG at a plant is not "managing the company": the log spans the whole company.
    client = client_for(logged.a.officer)
    assert client.get("/audit/").status_code == 403
    assert client.get(f"{API}/audit").status_code == 403


BAD_PAGE_FILTERS = [
    {"start": "2026-13-45"}, {"end": "yesterday"}, {"start": "2026-03-05", "end": "2026-03-01"},
    {"kind": "orgs.nothing"}, {"action": "explode"}, {"company": "abc"}, {"company": "99999999999999999999999"},
    {"who": "x" * 51}, {"q": "y" * 500}, {"object": "z" * 51},
]


@pytest.mark.parametrize("params", BAD_PAGE_FILTERS)
def test_bad_filters_on_the_page_and_export_are_a_clear_4xx(logged, params):
    client = client_for(logged.a.admin)
    page = client.get("/audit/", params)
    assert page.status_code == 400 and "筛选条件有误" in text(page)
    assert 'id="results"' not in text(page)  # no list that could be read as "nothing changed"
    export = client.get("/audit/export/", params)
    assert 400 <= export.status_code < 500 and "spreadsheet" not in export.get("Content-Type", "")


@pytest.mark.parametrize("params", [
    {"start": "2026-13-45"}, {"end": "nope"}, {"start": "2026-03-05", "end": "2026-03-01"}, {"model": "orgs.nothing"},
    {"action": "explode"}, {"company_id": "abc"}, {"company_id": "0"}, {"company_id": str(2**70)}, {"who": "x" * 51},
    {"q": "y" * 500}, {"page": "0"}, {"page": "abc"}, {"page_size": "100000"}, {"q": "a\x00b"},
])
def test_bad_filters_on_the_api_are_a_clear_4xx(logged, params):
    answer = client_for(logged.a.admin).get(f"{API}/audit", params)
    assert 400 <= answer.status_code < 500, (params, answer.status_code)
    assert answer.json()["code"] and answer.json()["message"]


def test_junk_paths_and_pages_never_fail(logged):
    client = client_for(logged.a.admin)
    assert client.get("/audit/", {"page": "abc"}).status_code == 200
    assert client.get("/audit/", {"page": "99999"}).status_code == 200
    assert client.get("/audit/", {"q": "a\x00b"}).status_code in (400, 422)
    assert client.get(f"{API}/audit/{2**70}").status_code in (404, 422)
    assert client.get(f"{API}/audit/abc").status_code in (404, 422)
    assert client.get("/audit/999999999/").status_code == 404


def test_entries_cannot_be_changed_or_deleted(logged):
    client = client_for(logged.a.admin)
    entry = entry_of(logged.a)
    before = dict(AuditEntry.objects.filter(pk=entry.pk).values().get())
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)(f"{API}/audit/{entry.pk}", {}, content_type="application/json").status_code == 405
        assert getattr(client, method)(f"/audit/{entry.pk}/").status_code == 405
    assert client.post("/audit/", {}).status_code == 405
    assert dict(AuditEntry.objects.filter(pk=entry.pk).values().get()) == before


def test_export_rows_one_per_changed_field(logged):
    response = client_for(logged.a.admin).get("/audit/export/", {"kind": "orgs.person", "action": "update"})
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("时间", "公司", "操作人") and rows[0][-3:] == ("字段", "原值", "新值")
    fields = {(r[8], r[9], r[10]) for r in rows[1:]}
    assert ("姓名", "甲公司工人", "甲-改名") in fields and ("手机号", None, "13800000000") in fields


def test_a_superuser_sees_every_company_and_global_entries(logged):
    from anlian.accounts.models import User

    root = User.objects.create_superuser("root", "root@example.com", "root-password-123456")
    client = Client()
    client.force_login(root)
    listed = client.get(f"{API}/audit", {"page_size": 500}).json()
    companies = {e["company_id"] for e in listed["items"]}
    assert {logged.a.unit.pk, logged.b.unit.pk} <= companies
    assert client.get("/audit/", {"kind": "orgs.role"}).status_code == 200


def test_the_page_costs_the_same_queries_for_few_or_many_entries(logged):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(logged.a.admin)
    client.get("/audit/")  # warm up session and scope
    with CaptureQueriesContext(connection) as few:
        assert client.get("/audit/", {"kind": "orgs.rolegrant"}).status_code == 200
    with audit.acting(logged.a.admin.user):
        for i in range(40):
            services.save_area(SYSTEM, logged.a.area, org_unit=logged.a.plant, name=f"罐区{i}")
    with CaptureQueriesContext(connection) as many:
        response = client.get("/audit/")
    assert response.status_code == 200 and "罐区39" in text(response)
    assert len(many.captured_queries) <= len(few.captured_queries) + 1
