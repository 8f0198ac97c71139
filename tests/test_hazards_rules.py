"""The dispatch rules table (a company's safety officer edits it) and its API: validation against the
company, which rule wins, disabled rules skipped, the "test a hazard" preview that records nothing,
double-blind verifiers drawn among those not involved (seeded), company isolation, CSRF."""

from __future__ import annotations

import random

import pytest

from anlian.flows.models import Event, Instance
from anlian.hazards import forms, services
from anlian.hazards.models import DispatchRule, Hazard
from anlian.orgs import services as orgs
from anlian.orgs.access import SYSTEM
from tests.conftest import client_for, csrf_client_for, make_person

pytestmark = pytest.mark.django_db
RULES = "/hazards/rules/"


class Plant:
    """Company A with a company-level safety officer (who edits the rules), an electrician on the
    team and two more safety officers a double-blind draw can pick."""

    def __init__(self, world):
        a = world.a
        self.world = world
        self.chief = make_person(a.unit, "安全部长", "R01", [("safety_officer", a.unit)], login="chief")
        self.electrician = make_person(a.team, "电工小王", "R02", [("approver_team", a.team)], login="electrician")
        self.second = make_person(a.plant, "安全员二", "R03", [("safety_officer", a.plant)], login="second")


@pytest.fixture
def plant(world) -> Plant:
    return Plant(world)


def row(world, **changes) -> dict:
    data = {"priority": "10", "category": "electrical", "level": "", "area": "", "responsible_unit": "",
            "responsible_role": "approver_team", "cosign_roles": [], "verifier_role": "safety_officer",
            "is_active": "on"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_table_lists_the_companys_rules_in_priority_order(plant):
    a = plant.world.a
    DispatchRule.objects.create(owner=a.unit, priority=20, responsible_role="safety_officer")
    DispatchRule.objects.create(owner=a.unit, priority=5, category="fire", responsible_role="fire_emergency")
    page = client_for(plant.chief).get(RULES)
    html = page.content.decode()
    assert page.status_code == 200 and a.unit.name in html
    assert html.index("消防应急") < html.index("<td>安全员</td>")  # priority 5 above 20


def test_only_who_manages_the_company_may_edit_the_rules(plant):
    assert client_for(plant.world.a.officer).get(RULES).status_code == 403  # a plant's safety officer
    assert client_for(plant.world.a.worker).get(RULES).status_code == 403
    assert client_for(plant.world.a.admin).get(RULES).status_code == 200


def test_a_rule_is_added_in_the_table(plant):
    a = plant.world.a
    added = client_for(plant.chief).post(RULES, row(plant.world, area=str(a.area.pk), responsible_unit=str(a.team.pk),
                                                    cosign_roles=["power_supply", "approver_plant"], double_blind="on"))
    assert added.status_code == 302
    rule = DispatchRule.objects.get()
    assert (rule.owner, rule.priority, rule.category, rule.area, rule.responsible_unit) == (
        a.unit, 10, "electrical", a.area, a.team)
    assert rule.cosign_roles == ["power_supply", "approver_plant"] and rule.double_blind and rule.is_active


@pytest.mark.parametrize("changes, status, message", [
    ({"priority": "0"}, 422, "优先级须为1～999的整数"),
    ({"priority": "1000"}, 422, "优先级须为1～999的整数"),
    ({"priority": "abc"}, 422, "优先级须为1～999的整数"),
    ({"priority": "９"}, 422, "优先级须为1～999的整数"),
    ({"category": "bogus"}, 422, "没有这个隐患类别"),
    ({"level": "fatal"}, 422, "没有这个隐患等级"),
    ({"responsible_role": ""}, 422, "请选择本公司或系统内置的角色"),
    ({"responsible_role": "nope"}, 422, "请选择本公司或系统内置的角色"),
    ({"verifier_role": "<script>"}, 422, "请选择本公司或系统内置的角色"),
    ({"cosign_roles": ["nope"]}, 422, "请选择本公司或系统内置的角色"),
    ({"area": "1 OR 1=1"}, 404, "区域不在本公司内"),
    ({"area": "9" * 30}, 404, "区域不在本公司内"),
])
def test_a_bad_rule_is_refused_with_the_reason_next_to_it(plant, changes, status, message):
    refused = client_for(plant.chief).post(RULES, row(plant.world, **changes))
    assert refused.status_code == status and message in refused.content.decode()
    assert not DispatchRule.objects.exists()


def test_another_companys_area_unit_or_role_is_refused(plant):
    b = plant.world.b
    b_role = orgs.save_role(SYSTEM, None, owner=b.unit, code="b_fixer", name="乙维修", permissions=[])
    a_role = orgs.save_role(SYSTEM, None, owner=plant.world.a.plant, code="a_fixer", name="甲维修", permissions=[])
    client = client_for(plant.chief)
    assert "区域不在本公司内" in client.post(RULES, row(plant.world, area=str(b.area.pk))).content.decode()
    assert "责任单位不在本公司内" in client.post(RULES, row(plant.world, responsible_unit=str(b.plant.pk))).content.decode()
    assert client.post(RULES, row(plant.world, responsible_role=b_role.code)).status_code == 422
    assert not DispatchRule.objects.exists()
    assert client.post(RULES, row(plant.world, responsible_role=a_role.code)).status_code == 302  # the company's own


def test_a_rule_is_edited_disabled_and_deleted_inline(plant):
    rule = DispatchRule.objects.create(owner=plant.world.a.unit, priority=10, responsible_role="safety_officer")
    client = client_for(plant.chief)
    editing = client.get(f"{RULES}?edit={rule.pk}").content.decode()
    assert f'action="/hazards/rules/{rule.pk}/edit/"' in editing and 'form="rule-edit"' in editing
    refused = client.post(f"/hazards/rules/{rule.pk}/edit/", row(plant.world, priority="-3"))
    assert refused.status_code == 422 and "优先级" in refused.content.decode()
    rule.refresh_from_db()
    assert rule.priority == 10
    assert client.post(f"/hazards/rules/{rule.pk}/edit/", row(plant.world, priority="30")).status_code == 302
    rule.refresh_from_db()
    assert (rule.priority, rule.category, rule.responsible_role) == (30, "electrical", "approver_team")
    assert client.post(f"/hazards/rules/{rule.pk}/toggle/").status_code == 302
    rule.refresh_from_db()
    assert not rule.is_active
    assert client.get(f"/hazards/rules/{rule.pk}/delete/").status_code == 405
    assert client.post(f"/hazards/rules/{rule.pk}/delete/").status_code == 302
    assert not DispatchRule.objects.exists()


def test_company_b_cannot_read_or_change_company_as_rules(plant):
    rule = DispatchRule.objects.create(owner=plant.world.a.unit, priority=10, responsible_role="safety_officer")
    b = client_for(plant.world.b.admin)
    assert b.get(f"{RULES}?company={plant.world.a.unit.pk}").status_code == 404
    assert f'id="rule-{rule.pk}"' not in b.get(RULES).content.decode()
    for action in ("edit", "toggle", "delete"):
        assert b.post(f"/hazards/rules/{rule.pk}/{action}/", row(plant.world)).status_code == 404
    assert b.get(f"{RULES}?edit={rule.pk}").status_code == 200  # its own table, without A's rule
    rule.refresh_from_db()
    assert (rule.priority, rule.is_active, rule.responsible_role) == (10, True, "safety_officer")
    api = b
    assert api.get(f"/api/v1/hazard-rules/{rule.pk}").status_code == 404
    changed = api.patch(f"/api/v1/hazard-rules/{rule.pk}", {"priority": 1}, content_type="application/json")
    assert changed.status_code == 404
    assert api.delete(f"/api/v1/hazard-rules/{rule.pk}").status_code == 404
    assert api.get(f"/api/v1/hazard-rules?company_id={plant.world.a.unit.pk}").status_code == 404
    made = api.post("/api/v1/hazard-rules", {"company_id": plant.world.a.unit.pk, "responsible_role": "safety_officer"},
                    content_type="application/json")
    assert made.status_code == 404 and made.json()["field"] == "company_id"
    peek = api.post("/api/v1/hazard-rules/preview", {"company_id": plant.world.a.unit.pk, "category": "fire",
                                                    "level": "general", "area_id": plant.world.a.area.pk},
                    content_type="application/json")
    assert peek.status_code == 404
    assert DispatchRule.objects.count() == 1


def test_the_table_needs_the_csrf_token(plant):
    rule = DispatchRule.objects.create(owner=plant.world.a.unit, priority=10, responsible_role="safety_officer")
    client = csrf_client_for(plant.chief)
    assert client.post(RULES, row(plant.world)).status_code == 403
    assert client.post(f"/hazards/rules/{rule.pk}/delete/").status_code == 403
    assert client.post("/api/v1/hazard-rules", {"responsible_role": "safety_officer"},
                       content_type="application/json").status_code == 403
    assert DispatchRule.objects.count() == 1


# --- which rule wins ----------------------------------------------------------------------------------


def two_rules(plant) -> tuple[DispatchRule, DispatchRule]:
    a = plant.world.a
    electrical = DispatchRule.objects.create(owner=a.unit, priority=10, category="electrical",
                                             responsible_role="approver_team")
    anything = DispatchRule.objects.create(owner=a.unit, priority=20, responsible_role="safety_officer",
                                           responsible_unit=a.plant)
    return electrical, anything


def ask(plant, **params) -> str:
    query = {"t_category": "electrical", "t_level": "general", "t_area": str(plant.world.a.area.pk), **params}
    answer = client_for(plant.chief).get(RULES, query, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    return answer.content.decode()


def test_the_preview_names_the_first_matching_rule_and_records_nothing(plant):
    electrical, anything = two_rules(plant)
    before = (Hazard.objects.count(), Instance.objects.count(), Event.objects.count())
    html = ask(plant)
    assert "优先级 10" in html and plant.electrician.name in html
    html = ask(plant, t_category="fire")
    assert "优先级 20" in html and plant.world.a.officer.name in html
    electrical.is_active = False
    electrical.save()
    assert "优先级 20" in ask(plant)  # a disabled rule is skipped
    assert (Hazard.objects.count(), Instance.objects.count(), Event.objects.count()) == before
    assert "区域不在本公司内" in ask(plant, t_area=str(plant.world.b.area.pk))
    assert "请选择隐患等级" in ask(plant, t_level="x")
    full = client_for(plant.chief).get(RULES, {"t_category": "fire", "t_level": "general",
                                               "t_area": str(plant.world.a.area.pk)})
    assert full.status_code == 200 and "优先级 20" in full.content.decode()  # without htmx: the whole page


def test_the_preview_through_the_api(plant):
    electrical, anything = two_rules(plant)
    api = client_for(plant.chief)
    body = {"category": "electrical", "level": "major", "area_id": plant.world.a.area.pk}
    got = api.post("/api/v1/hazard-rules/preview", body, content_type="application/json")
    assert got.status_code == 200, got.content
    assert got.json()["rule_id"] == electrical.pk
    assert [p["id"] for p in got.json()["responsible"]] == [plant.electrician.pk]
    foreign = api.post("/api/v1/hazard-rules/preview", {**body, "area_id": plant.world.b.area.pk},
                       content_type="application/json")
    assert foreign.status_code == 404 and foreign.json()["field"] == "area_id"
    assert api.post("/api/v1/hazard-rules/preview", {**body, "category": "x"},
                    content_type="application/json").status_code == 422


def test_a_double_blind_verifier_is_someone_not_involved_and_the_draw_is_seeded(plant):
    a = plant.world.a
    DispatchRule.objects.create(owner=a.unit, priority=1, responsible_role="safety_officer", responsible_unit=a.plant,
                                double_blind=True)
    # The plant's two safety officers rectify; the reporter is a safety officer too: none may verify.
    reporter = make_person(a.team, "上报的安全员", "R04", [("safety_officer", a.team)])
    hazard = Hazard(company=a.unit, org_unit=a.plant, area=a.area, category="fire", level="general",
                    reported_by=reporter)
    plan = services.assign(hazard, random.Random(1))
    involved = {p.pk for p in plan.responsible} | {reporter.pk}
    assert {p.pk for p in plan.responsible} >= {a.officer.pk, plant.second.pk}
    eligible = [p for p in services.holders("safety_officer", a.unit) if p.pk not in involved]
    assert [p.pk for p in eligible] == [plant.chief.pk]  # only the company's chief took no part
    picks = {services.assign(hazard, random.Random(seed)).verifiers[0].pk for seed in range(10)}
    assert picks == {plant.chief.pk}
    extra = make_person(a.unit, "安全员三", "R05", [("safety_officer", a.unit)])
    pool = [p for p in services.holders("safety_officer", a.unit) if p.pk not in involved]
    for seed in range(6):
        chosen = services.assign(hazard, random.Random(seed)).verifiers[0]
        assert chosen == random.Random(seed).choice(pool)  # the injected generator decides
        assert chosen.pk not in involved
    assert {services.assign(hazard, random.Random(s)).verifiers[0].pk for s in range(20)} == {plant.chief.pk, extra.pk}
    shown = forms.preview(a.unit, category="fire", level="general", area_id=a.area.pk, rng=random.Random(0))
    assert shown.pool == 2 and shown.plan.verifiers[0].pk in {plant.chief.pk, extra.pk}


# --- API CRUD -------------------------------------------------------------------------------------------


def test_rules_through_the_api(plant):
    a = plant.world.a
    api = client_for(plant.chief)
    made = api.post("/api/v1/hazard-rules", {"priority": 5, "category": "electrical", "level": "major",
                                              "area_id": a.area.pk, "responsible_unit_id": a.team.pk,
                                              "responsible_role": "approver_team", "cosign_roles": ["power_supply"],
                                              "verifier_role": "safety_officer", "double_blind": True},
                    content_type="application/json")
    assert made.status_code == 201, made.content
    rule = made.json()
    assert rule["company_id"] == a.unit.pk and rule["area_id"] == a.area.pk and rule["cosign_roles"] == ["power_supply"]
    listed = api.get("/api/v1/hazard-rules").json()
    assert [r["id"] for r in listed] == [rule["id"]]
    off = api.patch(f"/api/v1/hazard-rules/{rule['id']}", {"is_active": False}, content_type="application/json")
    assert off.status_code == 200 and off.json()["is_active"] is False and off.json()["priority"] == 5
    assert api.get(f"/api/v1/hazard-rules/{rule['id']}").json()["is_active"] is False
    assert api.delete(f"/api/v1/hazard-rules/{rule['id']}").status_code == 204
    assert not DispatchRule.objects.exists()


@pytest.mark.parametrize("body, status, field", [
    ({"priority": 0}, 422, None),
    ({"priority": 10**9}, 422, None),
    ({"category": "bogus"}, 422, "category"),
    ({"responsible_role": "nope"}, 422, "responsible_role"),
    ({"cosign_roles": ["nope"]}, 422, "cosign_roles"),
    ({"cosign_roles": ["power_supply"] * 6}, 422, None),
    ({"area_id": 2**70}, 422, None),
    ({"owner_id": 1}, 422, None),  # unknown field
])
def test_bad_api_input_is_a_clear_4xx(plant, body, status, field):
    answer = client_for(plant.chief).post("/api/v1/hazard-rules", {"responsible_role": "safety_officer", **body},
                                          content_type="application/json")
    assert answer.status_code == status, answer.content
    if field:
        assert answer.json()["field"] == field
    assert not DispatchRule.objects.exists()


def test_another_companys_area_or_unit_in_an_api_rule_looks_missing(plant):
    api = client_for(plant.chief)
    for name, value in (("area_id", plant.world.b.area.pk), ("responsible_unit_id", plant.world.b.plant.pk)):
        answer = api.post("/api/v1/hazard-rules", {"responsible_role": "safety_officer", name: value},
                          content_type="application/json")
        assert answer.status_code == 404 and answer.json()["field"] == name
    rule = DispatchRule.objects.create(owner=plant.world.a.unit, priority=10, responsible_role="safety_officer")
    moved = api.patch(f"/api/v1/hazard-rules/{rule.pk}", {"area_id": plant.world.b.area.pk},
                      content_type="application/json")
    assert moved.status_code == 404
    rule.refresh_from_db()
    assert rule.area is None
    assert client_for(plant.world.a.officer).get("/api/v1/hazard-rules").status_code == 404  # no company to manage
