"""The organisation API: tree, areas and equipment; happy paths and the refusals that matter."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from anlian.accounts.tokens import issue_token
from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Area, Equipment, OrgKind, OrgUnit, Role
from tests.conftest import World

pytestmark = pytest.mark.django_db


class Api:
    """A token-authenticated JSON client for one person."""

    def __init__(self, person) -> None:
        self.client = Client()
        self.secret = issue_token(person.user, "t")[1]

    def __call__(self, method: str, url: str, body: dict | None = None, **headers):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {self.secret}", **headers}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(self.client, method)(f"/api/v1{url}", **kwargs)


def tree_snapshot(w: World) -> list[tuple]:
    return list(OrgUnit.objects.order_by("pk").values_list("pk", "parent_id", "path", "depth", "kind", "company_id"))


# --- org units -----------------------------------------------------------------------------------


def test_it_creates_reads_renames_and_deletes_a_unit(world):
    api = Api(world.a.admin)
    r = api("post", "/org-units", {"name": "二车间", "kind": "workshop", "parent_id": world.a.plant.pk, "code": "W2"})
    assert r.status_code == 201, r.content
    unit = r.json()
    assert unit["path"] == f"{world.a.plant.path}{unit['id']}/"
    assert unit["company_id"] == world.a.unit.pk and unit["depth"] == world.a.plant.depth + 1

    assert api("get", f"/org-units/{unit['id']}").json()["name"] == "二车间"
    r = api("patch", f"/org-units/{unit['id']}", {"name": "三车间"})
    assert r.status_code == 200 and r.json()["name"] == "三车间" and r.json()["code"] == "W2"

    assert api("delete", f"/org-units/{unit['id']}").status_code == 204
    assert not OrgUnit.objects.filter(pk=unit["id"]).exists()


def test_it_lists_units_with_filters_and_pagination(world):
    api = Api(world.a.admin)
    r = api("get", "/org-units")
    assert r.status_code == 200
    names = [u["name"] for u in r.json()["items"]]
    assert r.json()["count"] == 3 and names == ["甲公司", "甲公司一厂", "甲公司一班"]  # never 乙公司
    assert [u["name"] for u in api("get", f"/org-units?parent_id={world.a.unit.pk}").json()["items"]] == ["甲公司一厂"]
    assert api("get", "/org-units?kind=team").json()["count"] == 1
    assert api("get", "/org-units?q=一厂").json()["count"] == 1
    page = api("get", "/org-units?page=2&page_size=2").json()
    assert page["count"] == 3 and [u["name"] for u in page["items"]] == ["甲公司一班"]


def test_it_returns_a_subtree(world):
    r = Api(world.a.admin)("get", f"/org-units/{world.a.plant.pk}/subtree")
    assert r.status_code == 200
    assert [u["id"] for u in r.json()] == [world.a.plant.pk, world.a.team.pk]


def test_it_moves_a_unit_with_its_subtree(world):
    api = Api(world.a.admin)
    plant2 = api("post", "/org-units", {"name": "二厂", "kind": "plant", "parent_id": world.a.unit.pk}).json()
    r = api("post", f"/org-units/{world.a.team.pk}/move", {"parent_id": plant2["id"]})
    assert r.status_code == 200, r.content
    assert r.json()["parent_id"] == plant2["id"] and r.json()["path"] == f"{plant2['path']}{world.a.team.pk}/"


def test_it_refuses_a_worker_without_org_manage(world):
    api = Api(world.a.worker)
    before = tree_snapshot(world)
    r = api("post", "/org-units", {"name": "私建班组", "kind": "team", "parent_id": world.a.team.pk})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert api("patch", f"/org-units/{world.a.team.pk}", {"name": "改名"}).status_code == 403
    assert api("delete", f"/org-units/{world.a.team.pk}").status_code == 403
    assert tree_snapshot(world) == before


def test_it_hides_another_companys_units(world):
    api = Api(world.b.admin)
    for method, url, body in [
        ("get", f"/org-units/{world.a.plant.pk}", None),
        ("patch", f"/org-units/{world.a.plant.pk}", {"name": "x"}),
        ("get", f"/org-units/{world.a.plant.pk}/subtree", None),
        ("get", "/org-units/999999", None),
    ]:
        r = api(method, url, body)
        assert r.status_code == 404 and r.json()["code"] == "not_found", url
    r = api("post", "/org-units", {"name": "越权", "kind": "workshop", "parent_id": world.a.plant.pk})
    assert r.status_code == 404 and r.json()["field"] == "parent_id"
    assert api("get", f"/org-units?parent_id={world.a.plant.pk}").status_code == 404


@pytest.mark.parametrize("case", ["itself", "own_descendant", "level_order", "under_a_team"])
def test_it_refuses_invalid_moves_and_changes_nothing(world, case):
    api = Api(world.a.admin)
    workshop = api("post", "/org-units", {"name": "车间", "kind": "workshop", "parent_id": world.a.plant.pk}).json()
    unit, target = {
        "itself": (world.a.plant.pk, world.a.plant.pk),
        "own_descendant": (world.a.plant.pk, world.a.team.pk),
        "level_order": (world.a.plant.pk, workshop["id"]),  # a plant under a workshop
        "under_a_team": (workshop["id"], world.a.team.pk),  # a workshop under a team
    }[case]
    before = tree_snapshot(world)
    r = api("post", f"/org-units/{unit}/move", {"parent_id": target})
    assert r.status_code == 422, r.content
    assert r.json()["code"] == "invalid" and r.json()["field"] == "parent_id"
    assert tree_snapshot(world) == before


def test_it_refuses_a_move_across_companies_even_for_a_group_admin(world):
    # Group-level rights see both companies, so the request reaches the rule, not the scope.
    services.grant_role(SYSTEM, world.a.admin, Role.objects.get(code="admin", owner=None), world.group)
    before = tree_snapshot(world)
    r = Api(world.a.admin)("post", f"/org-units/{world.a.plant.pk}/move", {"parent_id": world.b.unit.pk})
    assert r.status_code == 422 and r.json()["code"] == "invalid" and r.json()["field"] == "parent_id"
    assert tree_snapshot(world) == before


def test_it_refuses_a_cross_company_move_for_a_company_admin_without_revealing_it(world):
    before = tree_snapshot(world)
    r = Api(world.a.admin)("post", f"/org-units/{world.a.plant.pk}/move", {"parent_id": world.b.unit.pk})
    assert r.status_code == 404 and r.json()["field"] == "parent_id"
    assert tree_snapshot(world) == before


def test_it_refuses_a_child_kind_not_below_its_parent(world):
    r = Api(world.a.admin)("post", "/org-units", {"name": "厂中厂", "kind": "plant", "parent_id": world.a.plant.pk})
    assert r.status_code == 422 and r.json()["code"] == "invalid" and r.json()["field"] == "kind"


def test_it_refuses_deleting_a_unit_that_is_not_empty(world):
    r = Api(world.a.admin)("delete", f"/org-units/{world.a.plant.pk}")
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert OrgUnit.objects.filter(pk=world.a.plant.pk).exists()


def test_it_refuses_a_duplicate_name_under_one_parent(world):
    r = Api(world.a.admin)("post", "/org-units", {"name": "甲公司一厂", "kind": "plant", "parent_id": world.a.unit.pk})
    assert r.status_code == 409 and r.json()["field"] == "name"


# --- areas ---------------------------------------------------------------------------------------


def test_it_creates_updates_and_deletes_an_area(world):
    api = Api(world.a.officer)
    r = api("post", "/areas", {"org_unit_id": world.a.team.pk, "name": "受限空间1", "is_confined_space": True,
                               "polygon": [[30.0, 120.0], [30.0, 120.01], [30.01, 120.01]]})
    assert r.status_code == 201, r.content
    area = r.json()
    assert area["is_confined_space"] and area["polygon"][0] == [30.0, 120.0]

    r = api("patch", f"/areas/{area['id']}", {"description": "进入须审批"})
    assert r.status_code == 200 and r.json()["polygon"] == area["polygon"]  # a PATCH keeps the fence
    assert api("get", f"/areas/{area['id']}").json()["description"] == "进入须审批"
    assert api("delete", f"/areas/{area['id']}").status_code == 204
    assert not Area.objects.filter(pk=area["id"]).exists()


def test_it_filters_areas_by_subtree_and_kind(world):
    api = Api(world.a.admin)
    api("post", "/areas", {"org_unit_id": world.a.team.pk, "name": "班组库房"})
    assert api("get", f"/areas?org_unit_id={world.a.plant.pk}").json()["count"] == 2  # plant + team below
    assert api("get", f"/areas?org_unit_id={world.a.team.pk}").json()["count"] == 1
    assert [a["name"] for a in api("get", "/areas?is_outdoor=true").json()["items"]] == ["甲公司罐区"]
    assert api("get", "/areas?is_explosion_zone=true").json()["count"] == 0
    assert api("get", "/areas?q=库房").json()["count"] == 1


def test_it_checks_a_position_against_the_geofence(world):
    api = Api(world.a.officer)
    inside = api("get", f"/areas/{world.a.area.pk}/contains?lat=30.0005&lng=120.0")
    assert inside.status_code == 200 and inside.json() == {"area_id": world.a.area.pk, "has_fence": True, "inside": True}
    assert api("get", f"/areas/{world.a.area.pk}/contains?lat=30.01&lng=120.0").json()["inside"] is False
    r = api("get", f"/areas/{world.a.area.pk}/contains?lat=91&lng=120.0")
    assert r.status_code == 422 and r.json()["field"] == "lat"
    assert api("get", f"/areas/{world.a.area.pk}/contains?lng=120").json()["code"] == "missing_field"


def test_it_refuses_a_half_given_centre(world):
    r = Api(world.a.admin)("post", "/areas", {"org_unit_id": world.a.plant.pk, "name": "x", "center_lat": 30.0})
    assert r.status_code == 422 and r.json()["field"] == "center_lng"


def test_it_refuses_an_area_without_org_manage(world):
    r = Api(world.a.worker)("post", "/areas", {"org_unit_id": world.a.team.pk, "name": "x"})
    assert r.status_code == 403
    assert not Area.objects.filter(name="x").exists()


# --- equipment -----------------------------------------------------------------------------------


def test_it_creates_and_changes_equipment(world):
    api = Api(world.a.officer)
    r = api("post", "/equipment", {"org_unit_id": world.a.plant.pk, "area_id": world.a.area.pk,
                                   "code": "A-PUMP-1", "name": "输送泵"})
    assert r.status_code == 201, r.content
    item = r.json()
    assert "scan_url" in item and "qr_svg_url" in item
    r = api("patch", f"/equipment/{item['id']}", {"area_id": None, "is_active": False})
    assert r.status_code == 200 and r.json()["area_id"] is None and r.json()["is_active"] is False
    assert r.json()["code"] == "A-PUMP-1"
    assert api("delete", f"/equipment/{item['id']}").status_code == 204


def test_equipment_detail_has_links(world):
    r = Api(world.a.officer)("get", f"/equipment/{world.a.equipment.pk}")
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == "A-EQ1"
    for key in ("scan_url", "qr_svg_url"):  # absent routes give null, present ones a link with the id
        assert body[key] is None or str(world.a.equipment.pk) in body[key]


def test_it_refuses_equipment_in_another_companys_area(world):
    api = Api(world.a.admin)
    r = api("post", "/equipment", {"org_unit_id": world.a.plant.pk, "area_id": world.b.area.pk, "code": "Z", "name": "z"})
    assert r.status_code == 404 and r.json()["field"] == "area_id"
    assert not Equipment.objects.filter(code="Z").exists()


def test_it_refuses_a_duplicate_equipment_code_in_the_company(world):
    r = Api(world.a.admin)("post", "/equipment", {"org_unit_id": world.a.team.pk, "code": "A-EQ1", "name": "另一个"})
    assert r.status_code == 409 and r.json()["field"] == "code"


def test_it_filters_equipment(world):
    api = Api(world.a.admin)
    assert api("get", f"/equipment?area_id={world.a.area.pk}").json()["count"] == 1
    assert api("get", f"/equipment?org_unit_id={world.a.team.pk}").json()["count"] == 0
    assert api("get", "/equipment?q=储罐").json()["count"] == 1
    assert api("get", f"/equipment?area_id={world.b.area.pk}").status_code == 404


def test_unit_kind_is_a_documented_choice(world):
    r = Api(world.a.admin)("post", "/org-units", {"name": "x", "kind": "department", "parent_id": world.a.unit.pk})
    assert r.status_code == 422 and r.json() == {**r.json(), "code": "invalid_value", "field": "kind"}
    assert set(OrgKind.values) == {"group", "company", "plant", "workshop", "team"}
