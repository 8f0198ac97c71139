"""Desktop and phone pages: they render for the people allowed, write through the forms, and refuse
with a reason (and change nothing) for everyone else."""

from __future__ import annotations

import io
import re

import pytest
import segno
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Area, Equipment, OrgKind, OrgUnit
from tests.conftest import World, client_for, csrf_client_for

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def post_form(client, url: str, data: dict, *, form_url: str | None = None, **extra):
    """Fetch the page that holds the form, then post it with that page's CSRF token, as a browser does."""
    page = client.get(form_url or url)
    assert page.status_code == 200, (form_url or url, page.status_code)
    token = TOKEN.search(page.content.decode()).group(1)
    return client.post(url, {**data, "csrfmiddlewaretoken": token}, **extra)


def text(response) -> str:
    return response.content.decode()


# --- every page renders ----------------------------------------------------------------------------


def pages(w: World) -> list[tuple[str, dict, str]]:
    """(URL name, kwargs, a Chinese text the page must show) for company A's admin."""
    grant = w.a.worker.grants.get()
    return [
        ("home", {}, "我的角色"),
        ("accounts:tokens", {}, "创建令牌"),
        ("orgs:tree", {}, "组织架构"),
        ("orgs:unit", {"unit_id": w.a.plant.pk}, "下级组织"),
        ("orgs:unit_new", {}, "新建组织"),
        ("orgs:unit_edit", {"unit_id": w.a.plant.pk}, "编辑组织"),
        ("orgs:unit_move", {"unit_id": w.a.team.pk}, "移动组织"),
        ("orgs:unit_delete", {"unit_id": w.a.team.pk}, "确认删除"),
        ("orgs:areas", {}, "受限空间"),
        ("orgs:area_new", {}, "新建区域"),
        ("orgs:area", {"area_id": w.a.area.pk}, "电子围栏中心"),
        ("orgs:area_edit", {"area_id": w.a.area.pk}, "编辑区域"),
        ("orgs:area_delete", {"area_id": w.a.area.pk}, "确认删除"),
        ("orgs:equipment_list", {}, "导出 Excel"),
        ("orgs:equipment_new", {}, "新建设备"),
        ("orgs:equipment", {"equipment_id": w.a.equipment.pk}, "扫码地址"),
        ("orgs:equipment_label", {"equipment_id": w.a.equipment.pk}, "设备标签"),
        ("orgs:equipment_edit", {"equipment_id": w.a.equipment.pk}, "编辑设备"),
        ("orgs:equipment_delete", {"equipment_id": w.a.equipment.pk}, "确认删除"),
        ("orgs:people", {}, "工号"),
        ("orgs:person_new", {}, "新建人员"),
        ("orgs:person", {"person_id": w.a.worker.pk}, "授予角色"),
        ("orgs:person_edit", {"person_id": w.a.worker.pk}, "编辑人员"),
        ("orgs:roles", {}, "作业申请人"),
        ("orgs:role_new", {}, "新建角色"),
        ("mobile:home", {}, "扫码"),
        ("mobile:equipment_search", {}, "储罐"),
        ("mobile:equipment", {"equipment_id": w.a.equipment.pk}, "区域类型"),
        ("mobile:people_search", {}, "甲公司工人"),
        ("mobile:person", {"person_id": w.a.worker.pk}, "工号"),
        ("mobile:me", {}, "退出登录"),
    ] + [("orgs:person", {"person_id": grant.person_id}, "撤销")]


def test_it_renders_every_page_in_chinese(world):
    client = client_for(world.a.admin)
    for name, kwargs, expected in pages(world):
        response = client.get(reverse(name, kwargs=kwargs))
        assert response.status_code == 200, (name, response.status_code)
        assert expected in text(response), (name, expected)
        assert '<html lang="zh-hans">' in text(response), name


def test_it_renders_the_login_page_with_a_language_switch(client):
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 200
    assert "登录" in text(response) and 'action="/i18n/setlang/"' in text(response)


def test_it_switches_the_language_through_the_form(world):
    client = csrf_client_for(world.a.admin)
    response = post_form(client, reverse("set_language"), {"language": "en", "next": "/org/"}, form_url="/org/")
    assert response.status_code == 302
    assert '<html lang="en">' in text(client.get("/org/"))


def test_it_shows_the_nav_per_permission(world):
    worker_page = text(client_for(world.a.worker).get("/"))
    assert 'href="/org/"' in worker_page and "新建组织" not in text(client_for(world.a.worker).get("/org/"))
    assert "新建组织" in text(client_for(world.a.admin).get("/org/"))


def test_it_answers_htmx_filters_with_the_results_fragment(world):
    response = client_for(world.a.admin).get("/equipment/?q=EQ1", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "<html" not in text(response) and "A-EQ1" in text(response)


# --- org tree -------------------------------------------------------------------------------------


def test_it_shows_the_visible_tree_indented_in_one_query(world):
    client = client_for(world.a.admin)
    client.get("/org/")  # warm up session and scope
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/org/")
    body = text(response)
    assert world.a.team.name in body and world.b.team.name not in body
    assert "--depth: 2" in body  # company → plant → team
    tree_queries = [q for q in queries.captured_queries if 'FROM "orgs_orgunit"' in q["sql"]]
    assert len(tree_queries) == 1


def test_it_creates_edits_and_deletes_a_unit_through_the_forms(world):
    client = csrf_client_for(world.a.admin)
    response = post_form(client, f"/org/new/?parent={world.a.plant.pk}",
                         {"parent": world.a.plant.pk, "name": "新车间", "kind": OrgKind.WORKSHOP, "code": "W9"})
    unit = OrgUnit.objects.get(name="新车间")
    assert response.status_code == 302 and response["Location"] == f"/org/{unit.pk}/"
    assert unit.path == f"{world.a.plant.path}{unit.pk}/" and unit.company == world.a.unit
    assert "已创建组织“新车间”" in text(client.get(response["Location"]))

    response = post_form(client, f"/org/{unit.pk}/edit/", {"name": "新车间二", "code": "W10", "sort_order": 3})
    assert response.status_code == 302
    unit.refresh_from_db()
    assert (unit.name, unit.code, unit.sort_order) == ("新车间二", "W10", 3)

    response = post_form(client, f"/org/{unit.pk}/delete/", {})
    assert response.status_code == 302 and not OrgUnit.objects.filter(pk=unit.pk).exists()


def test_it_moves_a_unit_and_refuses_a_move_under_its_own_descendant(world):
    client = csrf_client_for(world.a.admin)
    workshop = services.create_unit(SYSTEM, name="机修车间", kind=OrgKind.WORKSHOP, parent=world.a.unit)
    response = post_form(client, f"/org/{world.a.team.pk}/move/", {"parent": workshop.pk})
    assert response.status_code == 302
    world.a.team.refresh_from_db()
    assert world.a.team.parent == workshop and world.a.team.path == f"{workshop.path}{world.a.team.pk}/"

    before = list(OrgUnit.objects.values_list("pk", "parent_id", "path").order_by("pk"))
    response = post_form(client, f"/org/{world.a.plant.pk}/move/", {"parent": world.a.plant.pk})
    assert response.status_code == 400  # itself: not even a choice
    response = post_form(client, f"/org/{workshop.pk}/move/", {"parent": world.a.team.pk})
    assert response.status_code == 422
    assert "不能把组织移到它自己或它的下级之下" in text(response)
    assert list(OrgUnit.objects.values_list("pk", "parent_id", "path").order_by("pk")) == before


def test_it_refuses_a_duplicate_name_with_the_reason(world):
    client = csrf_client_for(world.a.admin)
    count = OrgUnit.objects.count()
    response = post_form(client, "/org/new/", {"parent": world.a.unit.pk, "name": world.a.plant.name,
                                               "kind": OrgKind.PLANT})
    assert response.status_code == 409
    assert f"同一上级下已有名为“{world.a.plant.name}”的组织" in text(response)
    assert OrgUnit.objects.count() == count


def test_it_refuses_to_delete_a_unit_that_is_not_empty(world):
    client = csrf_client_for(world.a.admin)
    response = post_form(client, f"/org/{world.a.plant.pk}/delete/", {})
    assert response.status_code == 409
    assert "该组织下还有下级组织、人员、区域、设备、角色授权，不能删除" in text(response)
    assert OrgUnit.objects.filter(pk=world.a.plant.pk).exists()


def test_a_worker_without_org_manage_is_refused_and_nothing_changes(world):
    client = csrf_client_for(world.a.worker)
    area = services.save_area(SYSTEM, None, org_unit=world.a.team, name="班组休息室")
    equipment = services.save_equipment(SYSTEM, None, org_unit=world.a.team, area=area, code="A-T1", name="风机")
    assert client.get(f"/equipment/{equipment.pk}/").status_code == 200  # seen, but not managed
    for url in (f"/org/{world.a.team.pk}/edit/", "/org/new/", f"/areas/{area.pk}/edit/",
                f"/equipment/{equipment.pk}/edit/", f"/equipment/{equipment.pk}/delete/", "/people/new/",
                f"/people/{world.a.worker.pk}/edit/", "/roles/new/"):
        assert client.get(url).status_code == 403, url
    token = TOKEN.search(text(client.get("/org/"))).group(1)  # the logout form carries one
    response = client.post(f"/org/{world.a.team.pk}/edit/", {"name": "改名", "csrfmiddlewaretoken": token})
    assert response.status_code == 403 and "你没有执行此操作的权限" in text(response)
    world.a.team.refresh_from_db()
    assert world.a.team.name == "甲公司一班"


def test_another_companys_objects_are_not_found(world):
    client = csrf_client_for(world.b.admin)
    for url in (f"/org/{world.a.plant.pk}/", f"/areas/{world.a.area.pk}/", f"/equipment/{world.a.equipment.pk}/",
                f"/people/{world.a.worker.pk}/", f"/people/{world.a.worker.pk}/photo",
                f"/equipment/{world.a.equipment.pk}/qr.svg", f"/m/equipment/{world.a.equipment.pk}/",
                f"/org/new/?parent={world.a.plant.pk}"):
        assert client.get(url).status_code == 404, url
    token = TOKEN.search(text(client.get("/org/"))).group(1)
    response = client.post(f"/org/{world.a.plant.pk}/delete/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 404 and OrgUnit.objects.filter(pk=world.a.plant.pk).exists()
    # A foreign unit posted by hand into a form is not a valid choice.
    response = post_form(client, "/org/new/", {"parent": world.a.plant.pk, "name": "越权", "kind": "workshop"})
    assert response.status_code == 400 and not OrgUnit.objects.filter(name="越权").exists()


def test_a_csrf_less_post_is_refused(world):
    response = csrf_client_for(world.a.admin).post("/org/new/", {"parent": world.a.unit.pk, "name": "X", "kind": "plant"})
    assert response.status_code == 403 and "页面已过期" in text(response)


# --- areas ----------------------------------------------------------------------------------------


def test_it_creates_an_area_with_a_polygon_and_filters_by_kind(world):
    client = csrf_client_for(world.a.admin)
    data = {"org_unit": world.a.team.pk, "name": "受限空间A", "is_confined_space": "on",
            "polygon": "[[30.0, 120.0], [30.001, 120.0], [30.001, 120.001]]"}
    response = post_form(client, "/areas/new/", data)
    area = Area.objects.get(name="受限空间A")
    assert response.status_code == 302 and area.is_confined_space and len(area.polygon) == 3
    listed = text(client.get("/areas/?is_confined_space=1"))
    assert "受限空间A" in listed and world.a.area.name not in listed
    assert world.a.area.name in text(client.get("/areas/?q=罐区"))


def test_it_shows_bad_area_input_on_the_form(world):
    client = csrf_client_for(world.a.admin)
    response = post_form(client, "/areas/new/", {"org_unit": world.a.plant.pk, "name": "坏区域", "polygon": "[[1,2]"})
    assert response.status_code == 400 and "不是有效的 JSON" in text(response)
    response = post_form(client, "/areas/new/", {"org_unit": world.a.plant.pk, "name": "坏区域", "center_lat": "30"})
    assert response.status_code == 422 and "中心点需要同时填写纬度和经度" in text(response)
    response = post_form(client, "/areas/new/", {"org_unit": world.a.plant.pk, "name": "坏区域", "radius_m": "abc"})
    assert response.status_code == 400
    assert not Area.objects.filter(name="坏区域").exists()


def test_it_edits_an_area_and_refuses_to_delete_one_with_equipment(world):
    client = csrf_client_for(world.a.admin)
    response = post_form(client, f"/areas/{world.a.area.pk}/edit/",
                         {"org_unit": world.a.plant.pk, "name": "新罐区", "is_outdoor": "on", "is_explosion_zone": "on",
                          "center_lat": "30", "center_lng": "120", "radius_m": "50"})
    assert response.status_code == 302
    world.a.area.refresh_from_db()
    assert (world.a.area.name, world.a.area.is_explosion_zone, world.a.area.radius_m) == ("新罐区", True, 50)
    response = post_form(client, f"/areas/{world.a.area.pk}/delete/", {})
    assert response.status_code == 409 and "该区域下还有设备" in text(response)
    assert Area.objects.filter(pk=world.a.area.pk).exists()


# --- equipment ------------------------------------------------------------------------------------


def test_it_creates_edits_and_deletes_equipment(world):
    client = csrf_client_for(world.a.admin)
    data = {"org_unit": world.a.team.pk, "area": world.a.area.pk, "code": "A-EQ2", "name": "2#泵", "is_active": "on"}
    response = post_form(client, "/equipment/new/", data)
    equipment = Equipment.objects.get(code="A-EQ2")
    assert response.status_code == 302 and equipment.area == world.a.area
    response = post_form(client, f"/equipment/{equipment.pk}/edit/", {**data, "name": "2#离心泵", "is_active": ""})
    equipment.refresh_from_db()
    assert response.status_code == 302 and equipment.name == "2#离心泵" and not equipment.is_active
    response = post_form(client, f"/equipment/{equipment.pk}/delete/", {})
    assert response.status_code == 302 and not Equipment.objects.filter(pk=equipment.pk).exists()


def test_it_refuses_a_duplicate_equipment_code_on_the_field(world):
    response = post_form(csrf_client_for(world.a.admin), "/equipment/new/",
                         {"org_unit": world.a.team.pk, "code": "A-EQ1", "name": "重复"})
    assert response.status_code == 409
    assert re.search(r'has-error.*?本公司已有编号为“A-EQ1”的设备', text(response), re.S)
    assert Equipment.objects.filter(code="A-EQ1").count() == 1


def test_it_exports_equipment_to_excel(world):
    for n in range(3):
        services.save_equipment(SYSTEM, None, org_unit=world.a.team, area=None, code=f"A-X{n}", name=f"=泵{n}")
    response = client_for(world.a.admin).get("/equipment/?format=xlsx&q=A-X")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxml")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("设备编号", "名称", "型号规格")
    assert sorted(r[0] for r in rows[1:]) == ["A-X0", "A-X1", "A-X2"]
    assert {r[1] for r in rows[1:]} == {"=泵0", "=泵1", "=泵2"}  # text, not formulas
    assert world.b.equipment.code not in str(rows)


def test_it_serves_the_qr_of_the_scan_url(world):
    equipment = world.a.equipment
    response = client_for(world.a.officer).get(f"/equipment/{equipment.pk}/qr.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml" and response["X-Content-Type-Options"] == "nosniff"
    expected = io.BytesIO()
    segno.make(equipment.scan_url(), error="m", micro=False).save(expected, kind="svg", scale=8, border=2,
                                                                   xmldecl=False)
    assert response.content == expected.getvalue()
    assert equipment.scan_url().endswith(f"/m/equipment/{equipment.pk}/")


# --- list pages stay flat in queries ----------------------------------------------------------------


@pytest.mark.parametrize("url", ["/equipment/", "/people/", "/areas/", "/org/", "/roles/", "/m/equipment/"])
def test_list_pages_do_not_grow_queries_with_rows(world, url):
    client = client_for(world.a.admin)
    client.get(url)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    for n in range(5):
        unit = services.create_unit(SYSTEM, name=f"车间{n}", kind=OrgKind.WORKSHOP, parent=world.a.plant)
        area = services.save_area(SYSTEM, None, org_unit=unit, name=f"区域{n}")
        services.save_equipment(SYSTEM, None, org_unit=unit, area=area, code=f"N-{n}", name=f"设备{n}")
        services.save_person(SYSTEM, None, org_unit=unit, name=f"人{n}", employee_no=f"N{n}")
    assert queries() == few


# --- phone pages ----------------------------------------------------------------------------------


def test_the_qr_target_shows_the_equipment_with_its_area_kinds(world):
    response = client_for(world.a.officer).get(f"/m/equipment/{world.a.equipment.pk}/")
    body = text(response)
    assert response.status_code == 200 and "base_mobile" not in body
    for expected in (world.a.equipment.name, world.a.equipment.code, world.a.area.name, "室外", world.a.plant.name):
        assert expected in body
    assert 'class="m' in body


def test_phone_pages_need_a_login(client, world):
    response = client.get(f"/m/equipment/{world.a.equipment.pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/m/equipment/")


def test_a_phone_refusal_uses_the_phone_layout(world):
    response = client_for(world.b.worker).get(f"/m/people/{world.a.worker.pk}/")
    assert response.status_code == 404 and "m-bar" in text(response) and "对象不存在或你无权查看" in text(response)

