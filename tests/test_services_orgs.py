"""The org tree services: paths, subtrees, moves, deletes and who may change the tree."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from anlian.core.errors import Conflict, Forbidden, Invalid
from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import OrgKind, OrgUnit, Role

from .conftest import make_person

pytestmark = pytest.mark.django_db


def fresh_user(person):
    """The person's account as a new object, so no scope is cached on it."""
    return get_user_model().objects.get(pk=person.user_id)


def snapshot():
    return sorted(OrgUnit.objects.values_list("pk", "parent_id", "path", "depth", "company_id", "kind"))


def unit(name_or_pk) -> OrgUnit:
    return OrgUnit.objects.get(pk=name_or_pk.pk if isinstance(name_or_pk, OrgUnit) else name_or_pk)


# --- create ----------------------------------------------------------------------------------------


def test_create_sets_path_depth_and_company(world):
    group, a = world.group, world.a
    assert group.path == f"/{group.pk}/" and group.depth == 0 and group.company is None
    assert a.unit.path == f"/{group.pk}/{a.unit.pk}/" and a.unit.depth == 1
    assert a.unit.company_id == a.unit.pk  # a company is its own company
    assert a.plant.path == f"{a.unit.path}{a.plant.pk}/" and a.plant.depth == 2
    assert a.plant.company_id == a.unit.pk
    assert a.team.path == f"{a.plant.path}{a.team.pk}/" and a.team.depth == 3
    assert a.team.company_id == a.unit.pk
    # what the services wrote is what the database holds
    stored = unit(a.team)
    assert (stored.path, stored.depth, stored.company_id) == (a.team.path, 3, a.unit.pk)
    assert stored.ancestor_ids() == [group.pk, a.unit.pk, a.plant.pk, a.team.pk]
    assert stored.is_within(a.unit) and not stored.is_within(world.b.unit)


def test_levels_may_be_skipped_but_not_reversed(world):
    workshop = services.create_unit(SYSTEM, name="直属车间", kind=OrgKind.WORKSHOP, parent=world.a.unit)
    assert workshop.depth == 2 and workshop.company_id == world.a.unit.pk
    for kind, parent in [(OrgKind.TEAM, world.a.team), (OrgKind.COMPANY, world.a.plant),
                         (OrgKind.PLANT, world.a.plant), (OrgKind.GROUP, world.group)]:
        before = snapshot()
        with pytest.raises(Invalid) as exc:
            services.create_unit(SYSTEM, name="错层", kind=kind, parent=parent)
        assert exc.value.code == "invalid" and exc.value.field == "kind"
        assert snapshot() == before
    with pytest.raises(Invalid):
        services.create_unit(SYSTEM, name="未知", kind="department", parent=world.a.unit)


def test_blank_and_overlong_names_are_invalid(world):
    for name in ["", "   ", "名" * 101]:
        with pytest.raises(Invalid) as exc:
            services.create_unit(SYSTEM, name=name, kind=OrgKind.PLANT, parent=world.a.unit)
        assert exc.value.field == "name"


def test_only_a_superuser_creates_a_root(world):
    with pytest.raises(Forbidden):
        services.create_unit(fresh_user(world.a.admin), name="新集团", kind=OrgKind.GROUP, parent=None)
    root = services.create_unit(SYSTEM, name="新集团", kind=OrgKind.GROUP, parent=None)
    assert root.path == f"/{root.pk}/" and root.depth == 0 and root.parent_id is None


def test_duplicate_names_conflict(world):
    a = world.a
    with pytest.raises(Conflict) as exc:
        services.create_unit(SYSTEM, name=a.plant.name, kind=OrgKind.PLANT, parent=a.unit)
    assert exc.value.code == "conflict" and exc.value.field == "name"
    # the same name under another parent is fine
    services.create_unit(SYSTEM, name=a.plant.name, kind=OrgKind.PLANT, parent=world.b.unit)
    # renaming onto a sibling's name conflicts; renaming to itself does not
    second = services.create_unit(SYSTEM, name="二厂", kind=OrgKind.PLANT, parent=a.unit)
    with pytest.raises(Conflict):
        services.update_unit(SYSTEM, second, name=f"  {a.plant.name} ")
    services.update_unit(SYSTEM, second, name="二厂")
    assert unit(second).name == "二厂"


def test_a_five_level_tree_with_fan_out(db):
    fan = 3
    root = services.create_unit(SYSTEM, name="大集团", kind=OrgKind.GROUP, parent=None)
    level = [root]
    kinds = [OrgKind.COMPANY, OrgKind.PLANT, OrgKind.WORKSHOP, OrgKind.TEAM]
    for depth, kind in enumerate(kinds, start=1):
        level = [services.create_unit(SYSTEM, name=f"{kind}-{parent.pk}-{i}", kind=kind, parent=parent)
                 for parent in level for i in range(fan)]
        assert all(u.depth == depth for u in level)
    assert OrgUnit.objects.count() == sum(fan**d for d in range(5))  # 1 + 3 + 9 + 27 + 81
    assert OrgUnit.objects.filter(depth=4, kind=OrgKind.TEAM).count() == fan**4
    for team in OrgUnit.objects.filter(kind=OrgKind.TEAM):
        ids = team.ancestor_ids()
        assert len(ids) == 5 and ids[0] == root.pk and ids[-1] == team.pk
        assert team.company_id == ids[1]
        assert unit(ids[3]).parent_id == ids[2]
    company = OrgUnit.objects.filter(kind=OrgKind.COMPANY).first()
    assert services.subtree(company).count() == 1 + fan + fan**2 + fan**3
    assert set(services.subtree(company).values_list("company_id", flat=True)) == {company.pk}


# --- subtree ---------------------------------------------------------------------------------------


def test_subtree_is_one_prefix_query(world, django_assert_num_queries):
    a = world.a
    workshop = services.create_unit(SYSTEM, name="车间", kind=OrgKind.WORKSHOP, parent=a.plant)
    team = services.create_unit(SYSTEM, name="车间一班", kind=OrgKind.TEAM, parent=workshop)
    with django_assert_num_queries(1) as captured:
        found = {u.pk for u in services.subtree(a.plant)}
    assert found == {a.plant.pk, a.team.pk, workshop.pk, team.pk}
    sql = captured.captured_queries[0]["sql"].upper()
    assert "LIKE" in sql and "JOIN" not in sql
    everything = set(OrgUnit.objects.values_list("pk", flat=True))
    with django_assert_num_queries(1):
        assert {u.pk for u in services.subtree(world.group)} == everything


def test_subtree_prefix_does_not_match_a_longer_sibling_id(db):
    """/1/2/ must not match /1/23/: the trailing slash is part of every path."""
    root = services.create_unit(SYSTEM, name="根", kind=OrgKind.GROUP, parent=None)
    companies = [services.create_unit(SYSTEM, name=f"公司{i}", kind=OrgKind.COMPANY, parent=root) for i in range(12)]
    for company in companies:
        others = {c.pk for c in companies} - {company.pk}
        assert not set(services.subtree(company).values_list("pk", flat=True)) & others


# --- move ------------------------------------------------------------------------------------------


@pytest.fixture
def deep(world):
    """Company A: plant → workshop → two teams, and a second plant to move things to."""
    a = world.a
    workshop = services.create_unit(SYSTEM, name="检修车间", kind=OrgKind.WORKSHOP, parent=a.plant)
    t1 = services.create_unit(SYSTEM, name="检修一班", kind=OrgKind.TEAM, parent=workshop)
    t2 = services.create_unit(SYSTEM, name="检修二班", kind=OrgKind.TEAM, parent=workshop)
    plant2 = services.create_unit(SYSTEM, name="二厂", kind=OrgKind.PLANT, parent=a.unit)
    return world, workshop, t1, t2, plant2


def test_move_updates_the_whole_subtree_in_one_update(deep):
    world, workshop, t1, t2, plant2 = deep
    untouched = {u.pk: (u.path, u.depth) for u in OrgUnit.objects.exclude(path__startswith=workshop.path)}
    with CaptureQueriesContext(connection) as ctx:
        moved = services.move_unit(SYSTEM, workshop, plant2)
    path_updates = [q["sql"] for q in ctx.captured_queries
                    if q["sql"].upper().startswith("UPDATE") and '"PATH"' in q["sql"].upper()]
    assert len(path_updates) == 1, path_updates
    assert moved.parent_id == plant2.pk
    assert moved.path == f"{plant2.path}{workshop.pk}/" and moved.depth == 3
    for team in (t1, t2):
        team = unit(team)
        assert team.path == f"{moved.path}{team.pk}/" and team.depth == 4
        assert team.parent_id == workshop.pk
        assert team.company_id == world.a.unit.pk
    assert unit(workshop).company_id == world.a.unit.pk
    # nothing outside the moved subtree changed
    assert {u.pk: (u.path, u.depth) for u in OrgUnit.objects.exclude(path__startswith=moved.path)} == untouched
    assert {u.pk for u in services.subtree(plant2)} == {plant2.pk, workshop.pk, t1.pk, t2.pk}
    assert not services.subtree(world.a.plant).filter(pk__in=[t1.pk, t2.pk]).exists()


def test_move_changes_depth_when_levels_are_skipped(deep):
    world, workshop, t1, t2, plant2 = deep
    moved = services.move_unit(SYSTEM, workshop, world.a.unit)  # workshop directly under the company
    assert moved.depth == 2 and unit(t1).depth == 3 and unit(t1).path == f"{moved.path}{t1.pk}/"
    back = services.move_unit(SYSTEM, moved, world.a.plant)
    assert back.depth == 3 and unit(t2).depth == 4 and unit(t2).path == f"{world.a.plant.path}{workshop.pk}/{t2.pk}/"


def test_move_of_a_company_keeps_its_company(world):
    group2 = services.create_unit(SYSTEM, name="第二集团", kind=OrgKind.GROUP, parent=None)
    moved = services.move_unit(SYSTEM, world.b.unit, group2)
    assert moved.path == f"/{group2.pk}/{world.b.unit.pk}/" and moved.depth == 1
    for u in services.subtree(moved):
        assert u.company_id == world.b.unit.pk and u.path.startswith(moved.path)


@pytest.mark.parametrize("case", ["itself", "descendant", "grandchild", "other_company", "team_under_team",
                                  "company_under_plant", "plant_under_plant", "root", "workshop_under_workshop"])
def test_move_refusals_change_nothing(deep, case):
    world, workshop, t1, t2, plant2 = deep
    a, b = world.a, world.b
    lone_team = services.create_unit(SYSTEM, name="独立班", kind=OrgKind.TEAM, parent=plant2)
    other_workshop = services.create_unit(SYSTEM, name="二厂车间", kind=OrgKind.WORKSHOP, parent=plant2)
    moves = {
        "itself": (workshop, workshop),
        "descendant": (a.plant, workshop),
        "grandchild": (a.plant, t1),
        "other_company": (workshop, b.plant),
        "team_under_team": (t1, lone_team),
        "company_under_plant": (b.unit, a.plant),
        "plant_under_plant": (plant2, a.plant),
        "root": (world.group, a.unit),
        "workshop_under_workshop": (workshop, other_workshop),
    }
    target, new_parent = moves[case]
    before = snapshot()
    with pytest.raises(Invalid) as exc:
        services.move_unit(SYSTEM, unit(target), unit(new_parent))
    assert exc.value.code == "invalid" and exc.value.field == "parent"
    assert exc.value.message()
    assert snapshot() == before


def test_move_onto_a_same_named_sibling_conflicts(deep):
    world, workshop, t1, t2, plant2 = deep
    services.create_unit(SYSTEM, name=workshop.name, kind=OrgKind.WORKSHOP, parent=plant2)
    before = snapshot()
    with pytest.raises(Conflict):
        services.move_unit(SYSTEM, workshop, plant2)
    assert snapshot() == before


def test_move_needs_manage_rights_at_both_ends(deep):
    world, workshop, t1, t2, plant2 = deep
    officer = fresh_user(world.a.officer)  # safety officer: org.manage on plant A only
    before = snapshot()
    with pytest.raises(Forbidden):
        services.move_unit(officer, workshop, plant2)
    with pytest.raises(Forbidden):
        services.move_unit(fresh_user(world.b.admin), workshop, plant2)
    with pytest.raises(Forbidden):  # A's admin cannot even reach into company B
        services.move_unit(fresh_user(world.a.admin), workshop, world.b.plant)
    assert snapshot() == before
    moved = services.move_unit(fresh_user(world.a.admin), workshop, plant2)
    assert moved.parent_id == plant2.pk


# --- delete ----------------------------------------------------------------------------------------


def test_delete_empty_unit(world):
    empty = services.create_unit(SYSTEM, name="空车间", kind=OrgKind.WORKSHOP, parent=world.a.plant)
    services.delete_unit(fresh_user(world.a.officer), empty)
    assert not OrgUnit.objects.filter(pk=empty.pk).exists()


@pytest.mark.parametrize("blocker", ["children", "people", "areas", "equipment", "grants"])
def test_delete_refused_while_something_hangs_on_it(world, blocker):
    a = world.a
    target = services.create_unit(SYSTEM, name="待删车间", kind=OrgKind.WORKSHOP, parent=a.plant)
    if blocker == "children":
        services.create_unit(SYSTEM, name="待删一班", kind=OrgKind.TEAM, parent=target)
    elif blocker == "people":
        make_person(target, "某人", "A900")
    elif blocker == "areas":
        services.save_area(SYSTEM, None, org_unit=target, name="角落")
    elif blocker == "equipment":
        services.save_equipment(SYSTEM, None, org_unit=target, area=None, code="X-1", name="泵")
    else:
        services.grant_role(SYSTEM, a.worker, Role.objects.get(code="guardian", owner=None), target)
    before = snapshot()
    with pytest.raises(Conflict) as exc:
        services.delete_unit(SYSTEM, target)
    assert exc.value.code == "conflict"
    assert snapshot() == before


def test_delete_needs_rights(world):
    with pytest.raises(Forbidden):
        services.delete_unit(fresh_user(world.b.admin), world.a.team)
    with pytest.raises(Forbidden):
        services.delete_unit(fresh_user(world.a.worker), world.a.team)
    with pytest.raises(Forbidden):  # a root is the platform's, even for a group-level admin
        group_admin = make_person(world.group, "集团管理员", "G1", [("admin", world.group)], login="g-admin")
        lonely_root = services.create_unit(SYSTEM, name="空集团", kind=OrgKind.GROUP, parent=None)
        services.grant_role(SYSTEM, group_admin, Role.objects.get(code="admin", owner=None), lonely_root)
        services.delete_unit(fresh_user(group_admin), lonely_root)
    assert OrgUnit.objects.filter(pk=world.a.team.pk).exists()


# --- who may create --------------------------------------------------------------------------------


def test_a_worker_cannot_create_units(world):
    before = snapshot()
    with pytest.raises(Forbidden) as exc:
        services.create_unit(fresh_user(world.a.worker), name="私设班组", kind=OrgKind.TEAM, parent=world.a.plant)
    assert exc.value.code == "forbidden" and exc.value.http_status == 403
    with pytest.raises(Forbidden):  # not even inside their own team's subtree
        services.create_unit(fresh_user(world.a.worker), name="子班", kind=OrgKind.TEAM, parent=world.a.team)
    assert snapshot() == before


def test_a_company_admin_cannot_create_in_another_company(world):
    admin = fresh_user(world.a.admin)
    before = snapshot()
    for parent in (world.b.unit, world.b.plant, world.group):
        with pytest.raises(Forbidden):
            services.create_unit(admin, name="越权厂", kind=OrgKind.WORKSHOP, parent=parent)
    assert snapshot() == before
    created = services.create_unit(admin, name="新厂", kind=OrgKind.PLANT, parent=world.a.unit)
    assert created.company_id == world.a.unit.pk


def test_a_safety_officer_manages_only_their_plant(world):
    officer = fresh_user(world.a.officer)
    services.create_unit(officer, name="新车间", kind=OrgKind.WORKSHOP, parent=world.a.plant)
    with pytest.raises(Forbidden):
        services.create_unit(officer, name="新厂", kind=OrgKind.PLANT, parent=world.a.unit)
    with pytest.raises(Forbidden):
        services.update_unit(officer, unit(world.a.unit), name="改名")
    assert unit(world.a.unit).name == world.a.unit.name
