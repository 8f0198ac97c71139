"""Access: scopes, visible() per model, read-only regulators, and the rules of handing out roles."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from anlian.core.errors import Conflict, Forbidden, Invalid, NotFound
from anlian.orgs import access, services
from anlian.orgs.access import SYSTEM, Scope
from anlian.orgs.models import Area, Equipment, OrgKind, OrgUnit, Person, Role, RoleGrant
from anlian.orgs.permissions import GRANT_ROLES, MANAGE_ORG, MANAGE_PEOPLE, VIEW

from .conftest import make_person

pytestmark = pytest.mark.django_db


def fresh_user(person):
    return get_user_model().objects.get(pk=person.user_id)


def builtin(code: str) -> Role:
    return Role.objects.get(code=code, owner=None)


def ids(qs) -> set[int]:
    return set(qs.values_list("pk", flat=True))


# --- Scope -----------------------------------------------------------------------------------------


def test_scope_paths_fold_nested_prefixes():
    v, m = frozenset({VIEW}), frozenset({VIEW, MANAGE_ORG})
    scope = Scope(False, (("/1/2/", v), ("/1/", v), ("/1/2/7/", m), ("/3/", m), ("/10/", v), ("/3/4/", v)))
    assert scope.paths(VIEW) == ["/1/", "/10/", "/3/"]  # /10/ is not inside /1/
    assert scope.paths(MANAGE_ORG) == ["/1/2/7/", "/3/"]
    assert scope.paths(GRANT_ROLES) == []
    assert scope.allows(MANAGE_ORG, "/3/4/5/") and not scope.allows(MANAGE_ORG, "/1/2/")
    assert not scope.allows(VIEW, "/2/")
    assert scope.permissions_at("/1/2/7/8/") == {VIEW, MANAGE_ORG}
    assert scope.permissions_at("/1/5/") == {VIEW}
    assert Scope(True, ()).allows(GRANT_ROLES, "/anything/")


def test_scope_is_empty_for_anonymous_and_inactive_accounts(world):
    from django.contrib.auth.models import AnonymousUser

    assert access.scope_of(None) == access.NO_SCOPE
    assert access.scope_of(AnonymousUser()) == access.NO_SCOPE
    user = fresh_user(world.a.admin)
    user.is_active = False
    assert access.scope_of(user) == access.NO_SCOPE


# --- visible() -------------------------------------------------------------------------------------


def test_visible_returns_exactly_the_subtree_for_every_model(world):
    a, b = world.a, world.b
    custom_a = services.save_role(SYSTEM, None, owner=a.plant, code="crane_op", name="桥吊司机", permissions=[VIEW])
    services.save_role(SYSTEM, None, owner=b.plant, code="crane_op", name="桥吊司机", permissions=[VIEW])
    officer = fresh_user(a.officer)  # safety officer at plant A
    assert ids(access.visible(OrgUnit, officer)) == {a.plant.pk, a.team.pk}
    assert ids(access.visible(Area, officer)) == {a.area.pk}
    assert ids(access.visible(Equipment, officer)) == {a.equipment.pk}
    assert ids(access.visible(Person, officer)) == {a.officer.pk, a.worker.pk}
    assert ids(access.visible(RoleGrant, officer)) == ids(RoleGrant.objects.filter(org_unit__in=[a.plant, a.team]))
    assert ids(access.visible(Role, officer)) == {custom_a.pk}  # the model's scope; visible_roles adds built-ins
    # a queryset can be narrowed first, and the scope still applies
    assert ids(access.visible(OrgUnit.objects.filter(kind=OrgKind.TEAM), officer)) == {a.team.pk}

    admin = fresh_user(a.admin)  # admin at company A
    assert ids(access.visible(OrgUnit, admin)) == ids(OrgUnit.objects.filter(path__startswith=a.unit.path))
    assert ids(access.visible(Person, admin)) == {a.admin.pk, a.officer.pk, a.worker.pk}
    assert not access.visible(Area, admin).filter(pk=b.area.pk).exists()

    worker = fresh_user(a.worker)  # applicant in team A
    assert ids(access.visible(OrgUnit, worker)) == {a.team.pk}
    # the equipment belongs to the plant, but labels on site are readable company-wide
    assert ids(access.visible(Equipment, worker)) == {a.equipment.pk}
    assert ids(access.visible(Equipment, worker, MANAGE_ORG)) == set()


def test_visible_with_a_permission(world):
    a = world.a
    officer = fresh_user(a.officer)
    assert ids(access.visible(OrgUnit, officer, MANAGE_ORG)) == {a.plant.pk, a.team.pk}
    assert ids(access.visible(Person, officer, MANAGE_PEOPLE)) == set()
    assert ids(access.visible(OrgUnit, fresh_user(a.worker), MANAGE_ORG)) == set()


def test_a_plant_grant_does_not_see_the_sibling_plant(world):
    a = world.a
    sibling = services.create_unit(SYSTEM, name="甲公司二厂", kind=OrgKind.PLANT, parent=a.unit)
    sibling_area = services.save_area(SYSTEM, None, org_unit=sibling, name="二厂罐区")
    sibling_person = make_person(sibling, "二厂工人", "A777")
    officer = fresh_user(a.officer)
    assert sibling.pk not in ids(access.visible(OrgUnit, officer))
    assert sibling_person.pk not in ids(access.visible(Person, officer))
    assert not access.can(officer, VIEW, sibling)
    # Areas are readable company-wide, but only managed inside the officer's own plant.
    assert access.get_for_user(Area, officer, sibling_area.pk) == sibling_area
    assert sibling_area.pk not in ids(access.visible(Area, officer, MANAGE_ORG))
    with pytest.raises(Forbidden):
        access.get_for_user(Area, officer, sibling_area.pk, perm=MANAGE_ORG)


def test_get_for_user_with_garbage_ids_is_not_found(world):
    admin = fresh_user(world.a.admin)
    for pk in ["abc", None, "1 OR 1=1", -5, 10**12]:
        with pytest.raises(NotFound):
            access.get_for_user(Area, admin, pk)
    with pytest.raises(NotFound):
        access.get_for_user(Area, admin, world.b.area.pk)  # another company's: simply not found


def test_regulator_reads_but_cannot_manage(world):
    a = world.a
    regulator = make_person(world.group, "监管员", "G900", [("regulator", a.unit)], login="regulator")
    user = fresh_user(regulator)
    assert ids(access.visible(OrgUnit, user)) == ids(OrgUnit.objects.filter(path__startswith=a.unit.path))
    assert ids(access.visible(Area, user)) == {a.area.pk}
    assert not access.visible(Area, user).filter(pk=world.b.area.pk).exists()
    assert access.can(user, VIEW, a.plant) and not access.can(user, MANAGE_ORG, a.plant)
    assert ids(access.visible(OrgUnit, user, MANAGE_ORG)) == set()
    with pytest.raises(Forbidden):
        access.get_for_user(Area, user, a.area.pk, perm=MANAGE_ORG)
    with pytest.raises(Forbidden):
        services.create_unit(user, name="监管车间", kind=OrgKind.WORKSHOP, parent=a.plant)
    with pytest.raises(Forbidden):
        services.save_area(user, a.area, org_unit=a.plant, name="改名")
    with pytest.raises(Forbidden):
        services.save_person(user, a.worker, org_unit=a.team, name="改名", employee_no=a.worker.employee_no)
    with pytest.raises(Forbidden):
        services.grant_role(user, a.worker, builtin("guardian"), a.team)


def test_superuser_sees_everything(world):
    su = get_user_model().objects.create_superuser("root", password="x-very-long-secret-1")
    assert ids(access.visible(OrgUnit, su)) == ids(OrgUnit.objects.all())
    assert ids(access.visible(Person, su)) == ids(Person.objects.all())
    assert ids(access.visible(Equipment, su, MANAGE_ORG)) == ids(Equipment.objects.all())
    assert ids(access.visible_roles(su)) == ids(Role.objects.all())
    assert access.can(su, GRANT_ROLES, world.b.team)


def test_an_inactive_persons_grants_are_ignored(world):
    a = world.a
    # the account stays active (e.g. a data fix forgot it): the person's state still decides
    Person.objects.filter(pk=a.officer.pk).update(is_active=False)
    officer = fresh_user(a.officer)
    assert officer.is_active
    assert access.scope_of(officer).grants == ()
    assert ids(access.visible(OrgUnit, officer)) == set()
    assert not access.can(officer, VIEW, a.plant)
    # through the service, leaving also ends the login
    services.save_person(SYSTEM, Person.objects.get(pk=a.worker.pk), org_unit=a.team, name=a.worker.name,
                         employee_no=a.worker.employee_no, is_active=False)
    worker = fresh_user(a.worker)
    assert not worker.is_active and access.scope_of(worker) == access.NO_SCOPE


def test_scope_is_cached_per_user_object_and_can_be_forgotten(world):
    a = world.a
    officer = fresh_user(a.officer)
    assert not access.can(officer, VIEW, a.unit)
    services.grant_role(SYSTEM, a.officer, builtin("manager"), a.unit)
    assert not access.can(officer, VIEW, a.unit)  # still the cached scope of this request
    access.forget_scope(officer)
    assert access.can(officer, VIEW, a.unit)


# --- granting roles --------------------------------------------------------------------------------


@pytest.fixture
def granter_role(world):
    """A custom role that may hand out roles, but holds no admin rights itself."""
    return services.save_role(SYSTEM, None, owner=world.a.unit, code="granter", name="授权员",
                              permissions=[VIEW, MANAGE_ORG, GRANT_ROLES])


def test_safety_officer_cannot_grant_at_all(world):
    with pytest.raises(Forbidden):
        services.grant_role(fresh_user(world.a.officer), world.a.worker, builtin("guardian"), world.a.team)


def test_no_escalation_beyond_ones_own_permissions(world, granter_role):
    a = world.a
    services.grant_role(SYSTEM, a.officer, granter_role, a.plant)
    officer = fresh_user(a.officer)
    count = RoleGrant.objects.count()
    with pytest.raises(Forbidden) as exc:
        services.grant_role(officer, a.worker, builtin("admin"), a.team)
    assert exc.value.field == "role"
    with pytest.raises(Forbidden):  # not to themselves either
        services.grant_role(officer, a.officer, builtin("admin"), a.plant)
    with pytest.raises(Forbidden):  # nor outside the plant, where they hold no grant right
        services.grant_role(officer, a.worker, builtin("guardian"), a.unit)
    assert RoleGrant.objects.count() == count
    # within their rights it works: guardian is view-only, safety_officer is view + org.manage
    services.grant_role(officer, a.worker, builtin("guardian"), a.team)
    services.grant_role(officer, a.worker, builtin("safety_officer"), a.team)
    with pytest.raises(Conflict):
        services.grant_role(officer, a.worker, builtin("guardian"), a.team)
    assert RoleGrant.objects.count() == count + 2


def test_no_escalation_through_custom_role_definitions(world, granter_role):
    a = world.a
    services.grant_role(SYSTEM, a.officer, granter_role, a.plant)
    services.grant_role(SYSTEM, a.officer, builtin("admin"), a.team)  # admin only on the team
    officer = fresh_user(a.officer)
    with pytest.raises(Forbidden):  # defining a role needs roles.manage there
        services.save_role(officer, None, owner=a.plant, code="boss", name="老板", permissions=[MANAGE_PEOPLE])
    role = services.save_role(officer, None, owner=a.team, code="team_boss", name="班组管理",
                              permissions=[VIEW, MANAGE_PEOPLE])
    assert role.owner_id == a.team.pk
    admin = fresh_user(a.admin)
    with pytest.raises(Forbidden):
        services.save_role(admin, builtin("applicant"), owner=a.unit, code="applicant", name="x", permissions=[VIEW])


def test_grant_refuses_a_person_the_actor_cannot_see(world):
    a, b = world.a, world.b
    admin = fresh_user(a.admin)
    before = RoleGrant.objects.count()
    with pytest.raises(Forbidden):
        services.grant_role(admin, b.worker, builtin("guardian"), a.team)  # B's worker into A's team
    with pytest.raises(Forbidden):
        services.grant_role(admin, a.worker, builtin("guardian"), b.team)  # A's worker into B's team
    assert RoleGrant.objects.count() == before


def test_revoking_ones_own_grant_right_is_refused(world):
    a = world.a
    admin = fresh_user(a.admin)
    own = RoleGrant.objects.get(person=a.admin, role__code="admin")
    with pytest.raises(Conflict):
        services.revoke_grant(admin, own)
    assert RoleGrant.objects.filter(pk=own.pk).exists()
    # another admin may revoke it; and an admin may drop their own view-only roles
    other = make_person(a.unit, "副管理员", "A010", [("admin", a.unit)], login="a-admin2")
    manager = services.grant_role(admin, a.admin, builtin("manager"), a.unit)
    services.revoke_grant(admin, manager)
    services.revoke_grant(fresh_user(other), own)
    assert not RoleGrant.objects.filter(pk__in=[own.pk, manager.pk]).exists()


def test_revoke_needs_grant_rights_where_the_grant_is(world):
    a, b = world.a, world.b
    grant_b = RoleGrant.objects.get(person=b.worker)
    with pytest.raises(Forbidden):
        services.revoke_grant(fresh_user(a.admin), grant_b)
    with pytest.raises(Forbidden):
        services.revoke_grant(fresh_user(a.officer), RoleGrant.objects.get(person=a.worker))
    assert RoleGrant.objects.filter(pk=grant_b.pk).exists()


def test_a_custom_role_of_company_a_cannot_be_granted_in_company_b(world):
    a, b = world.a, world.b
    role = services.save_role(SYSTEM, None, owner=a.unit, code="crane_op", name="桥吊司机", permissions=[VIEW])
    with pytest.raises(Invalid) as exc:
        services.grant_role(SYSTEM, b.worker, role, b.team)
    assert exc.value.field == "role"
    with pytest.raises(Forbidden):  # B's admin cannot use it either (nor see it)
        services.grant_role(fresh_user(b.admin), b.worker, role, b.team)
    assert not RoleGrant.objects.filter(role=role).exists()
    services.grant_role(fresh_user(a.admin), a.worker, role, a.team)
    assert RoleGrant.objects.filter(role=role).count() == 1


def test_visible_roles(world):
    a, b = world.a, world.b
    role_a = services.save_role(SYSTEM, None, owner=a.unit, code="crane_op", name="桥吊司机", permissions=[VIEW])
    role_a_plant = services.save_role(SYSTEM, None, owner=a.plant, code="tank_op", name="罐区操作", permissions=[VIEW])
    role_b = services.save_role(SYSTEM, None, owner=b.unit, code="crane_op", name="桥吊司机", permissions=[VIEW])
    builtins = ids(Role.objects.filter(owner__isnull=True))
    assert builtins and all(r.is_builtin for r in Role.objects.filter(pk__in=builtins))
    assert ids(access.visible_roles(fresh_user(a.admin))) == builtins | {role_a.pk, role_a_plant.pk}
    assert ids(access.visible_roles(fresh_user(b.admin))) == builtins | {role_b.pk}
    # a plant-level officer sees the roles defined in their plant, not the company's
    assert ids(access.visible_roles(fresh_user(a.officer))) == builtins | {role_a_plant.pk}
    nobody = get_user_model().objects.create_user("nobody", password="x-very-long-secret-1")
    assert not access.visible_roles(nobody).exists()


def test_areas_and_equipment_are_readable_company_wide_but_people_are_not(world):
    from anlian.orgs import access
    from anlian.orgs.models import Area, Equipment, Person

    worker = world.a.worker.user  # granted at the team, below the plant that owns area and equipment
    assert list(access.visible(Equipment, worker)) == [world.a.equipment]
    assert list(access.visible(Area, worker)) == [world.a.area]
    assert world.a.officer not in access.visible(Person, worker)  # the plant's people stay hidden
    assert not access.can(worker, "org.manage", world.a.area)
