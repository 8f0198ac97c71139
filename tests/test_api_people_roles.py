"""People, logins, roles and grants through the API; privilege escalation is refused."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from anlian.accounts.models import User
from anlian.accounts.tokens import issue_token
from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Person, Role, RoleGrant

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


def builtin(code: str) -> Role:
    return Role.objects.get(code=code, owner=None)


# --- people --------------------------------------------------------------------------------------


def test_it_creates_a_person_with_a_login_hashed_with_argon2(world):
    r = Api(world.a.admin)("post", "/people", {"org_unit_id": world.a.team.pk, "name": "李四", "employee_no": "A100",
                                               "phone": "13800000000", "username": "lisi", "password": "Steel-gate-42x"})
    assert r.status_code == 201, r.content
    assert r.json()["username"] == "lisi" and r.json()["company_id"] == world.a.unit.pk
    assert "password" not in r.json()
    user = User.objects.get(username="lisi")
    assert user.password.startswith("argon2") and user.check_password("Steel-gate-42x")
    assert Person.objects.get(pk=r.json()["id"]).user == user


def test_it_creates_a_person_without_a_login(world):
    r = Api(world.a.admin)("post", "/people", {"org_unit_id": world.a.team.pk, "name": "王五", "employee_no": "A101"})
    assert r.status_code == 201 and r.json()["username"] is None


def test_it_refuses_a_weak_password_and_keeps_nothing(world):
    r = Api(world.a.admin)("post", "/people", {"org_unit_id": world.a.team.pk, "name": "赵六", "employee_no": "A102",
                                               "username": "zhaoliu", "password": "12345678"})
    assert r.status_code == 422 and r.json()["field"] == "password"
    assert not Person.objects.filter(employee_no="A102").exists()  # the person is rolled back too
    assert not User.objects.filter(username="zhaoliu").exists()


def test_it_refuses_a_login_name_without_a_password(world):
    r = Api(world.a.admin)("post", "/people", {"org_unit_id": world.a.team.pk, "name": "钱七", "employee_no": "A103",
                                               "username": "qianqi"})
    assert r.status_code == 422 and r.json() == {**r.json(), "code": "missing_field", "field": "password"}
    assert not Person.objects.filter(employee_no="A103").exists()


def test_it_refuses_a_duplicate_employee_number_and_a_taken_username(world):
    api = Api(world.a.admin)
    r = api("post", "/people", {"org_unit_id": world.a.team.pk, "name": "重号", "employee_no": "A003"})
    assert r.status_code == 409 and r.json()["field"] == "employee_no"
    r = api("post", "/people", {"org_unit_id": world.a.team.pk, "name": "重名", "employee_no": "A104",
                                "username": "B-admin", "password": "Steel-gate-42x"})
    assert r.status_code == 409 and r.json()["field"] == "username"


def test_it_updates_a_person_and_deactivating_ends_the_login(world):
    api = Api(world.a.admin)
    r = api("patch", f"/people/{world.a.worker.pk}", {"phone": "13900000000", "is_active": False})
    assert r.status_code == 200 and r.json()["phone"] == "13900000000" and r.json()["name"] == "甲公司工人"
    world.a.worker.user.refresh_from_db()
    assert world.a.worker.user.is_active is False


def test_it_lists_and_filters_people(world):
    api = Api(world.a.admin)
    body = api("get", "/people").json()
    assert body["count"] == 3 and {p["name"] for p in body["items"]} == {"甲公司管理员", "甲公司安全员", "甲公司工人"}
    assert api("get", f"/people?org_unit_id={world.a.plant.pk}").json()["count"] == 2
    assert api("get", "/people?q=A003").json()["items"][0]["name"] == "甲公司工人"
    assert api("get", "/people?is_active=false").json()["count"] == 0


def test_people_management_needs_people_manage(world):
    r = Api(world.a.officer)("post", "/people", {"org_unit_id": world.a.team.pk, "name": "x", "employee_no": "A9"})
    assert r.status_code == 403
    assert not Person.objects.filter(employee_no="A9").exists()


def test_it_lists_a_persons_grants(world):
    r = Api(world.a.admin)("get", f"/people/{world.a.officer.pk}/grants")
    assert r.status_code == 200
    assert [(g["role_code"], g["org_unit_id"]) for g in r.json()] == [("safety_officer", world.a.plant.pk)]


# --- roles ---------------------------------------------------------------------------------------


def test_it_defines_and_edits_a_custom_role(world):
    api = Api(world.a.admin)
    r = api("post", "/roles", {"owner_id": world.a.unit.pk, "code": "inspector", "name": "巡检员",
                               "permissions": ["org.view", "org.manage"], "description": "区域巡检"})
    assert r.status_code == 201, r.content
    role = r.json()
    assert role["permissions"] == ["org.manage", "org.view"] and role["is_builtin"] is False
    r = api("patch", f"/roles/{role['id']}", {"name": "高级巡检员"})
    assert r.status_code == 200 and r.json()["name"] == "高级巡检员" and r.json()["code"] == "inspector"
    assert api("get", f"/roles/{role['id']}").json()["name"] == "高级巡检员"
    codes = [x["code"] for x in api("get", "/roles?page_size=100").json()["items"]]
    assert "inspector" in codes and "admin" in codes
    assert "inspector" not in [x["code"] for x in Api(world.b.admin)("get", "/roles?page_size=100").json()["items"]]


def test_it_refuses_editing_a_builtin_role(world):
    r = Api(world.a.admin)("patch", f"/roles/{builtin('applicant').pk}", {"permissions": ["org.view", "org.manage"]})
    assert r.status_code == 403
    assert builtin("applicant").permissions == ["org.view"]


def test_it_refuses_an_unknown_permission(world):
    r = Api(world.a.admin)("post", "/roles", {"owner_id": world.a.unit.pk, "code": "x", "name": "x",
                                              "permissions": ["everything"]})
    assert r.status_code == 422 and r.json()["field"] == "permissions"


def test_an_officer_cannot_define_a_role_beyond_their_rights(world):
    r = Api(world.a.officer)("post", "/roles", {"owner_id": world.a.plant.pk, "code": "boss", "name": "x",
                                                "permissions": ["roles.grant"]})
    assert r.status_code == 403
    assert not Role.objects.filter(code="boss").exists()


# --- grants --------------------------------------------------------------------------------------


def test_it_grants_and_revokes_a_role(world):
    api = Api(world.a.admin)
    r = api("post", "/role-grants", {"person_id": world.a.worker.pk, "role_id": builtin("guardian").pk,
                                     "org_unit_id": world.a.team.pk})
    assert r.status_code == 201, r.content
    grant = r.json()
    assert grant["role_code"] == "guardian" and grant["person_name"] == "甲公司工人"
    assert grant["granted_by_id"] == world.a.admin.pk
    listed = api("get", f"/role-grants?person_id={world.a.worker.pk}").json()
    assert listed["count"] == 2
    assert api("delete", f"/role-grants/{grant['id']}").status_code == 204
    assert not RoleGrant.objects.filter(pk=grant["id"]).exists()


def test_a_duplicate_grant_is_a_conflict(world):
    api = Api(world.a.admin)
    body = {"person_id": world.a.worker.pk, "role_id": builtin("applicant").pk, "org_unit_id": world.a.team.pk}
    r = api("post", "/role-grants", body)
    assert r.status_code == 409 and r.json()["code"] == "conflict" and r.json()["field"] == "role_id"
    assert world.a.worker.grants.count() == 1


def test_an_officer_cannot_grant_admin(world):
    before = RoleGrant.objects.count()
    r = Api(world.a.officer)("post", "/role-grants", {"person_id": world.a.worker.pk, "role_id": builtin("admin").pk,
                                                      "org_unit_id": world.a.plant.pk})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert RoleGrant.objects.count() == before


def test_a_granter_cannot_hand_out_more_than_they_hold(world):
    # A plant-level "granter" may grant roles but holds no people.manage: admin would exceed that.
    granter = services.save_role(SYSTEM, None, owner=world.a.unit, code="granter", name="授权员",
                                 permissions=["org.view", "roles.grant"])
    services.grant_role(SYSTEM, world.a.officer, granter, world.a.plant)
    api = Api(world.a.officer)
    r = api("post", "/role-grants", {"person_id": world.a.worker.pk, "role_id": builtin("admin").pk,
                                     "org_unit_id": world.a.plant.pk})
    assert r.status_code == 403 and r.json()["field"] == "role_id"
    assert not world.a.worker.grants.filter(role__code="admin").exists()
    # Within their own rights they may grant.
    r = api("post", "/role-grants", {"person_id": world.a.worker.pk, "role_id": builtin("guardian").pk,
                                     "org_unit_id": world.a.plant.pk})
    assert r.status_code == 201


def test_grants_refuse_foreign_people_roles_and_units(world):
    api = Api(world.a.admin)
    foreign_role = services.save_role(SYSTEM, None, owner=world.b.unit, code="b-only", name="乙角色",
                                      permissions=["org.view"])
    cases = [
        ({"person_id": world.b.worker.pk, "role_id": builtin("guardian").pk, "org_unit_id": world.a.team.pk}, "person_id"),
        ({"person_id": world.a.worker.pk, "role_id": foreign_role.pk, "org_unit_id": world.a.team.pk}, "role_id"),
        ({"person_id": world.a.worker.pk, "role_id": builtin("guardian").pk, "org_unit_id": world.b.team.pk}, "org_unit_id"),
    ]
    before = RoleGrant.objects.count()
    for body, field in cases:
        r = api("post", "/role-grants", body)
        assert r.status_code == 404 and r.json()["field"] == field, body
    assert RoleGrant.objects.count() == before


def test_an_admin_cannot_revoke_their_own_granting_role(world):
    grant = world.a.admin.grants.get()
    r = Api(world.a.admin)("delete", f"/role-grants/{grant.pk}")
    assert r.status_code == 409
    assert RoleGrant.objects.filter(pk=grant.pk).exists()
