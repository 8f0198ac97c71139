"""`anlian demo`: idempotent, two companies, about thirty people, working logins."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.test import RequestFactory

from anlian.orgs import access
from anlian.orgs.demo import DEMO_PASSWORD, PEOPLE
from anlian.orgs.models import Area, Equipment, OrgKind, OrgUnit, Person, Role, RoleGrant
from anlian.orgs.permissions import MANAGE_ORG, VIEW
from anlian.workforce.demo import CONTRACT_WORKERS

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {
        "units": OrgUnit.objects.count(), "companies": OrgUnit.objects.filter(kind=OrgKind.COMPANY).count(),
        "areas": Area.objects.count(), "equipment": Equipment.objects.count(), "people": Person.objects.count(),
        "grants": RoleGrant.objects.count(), "users": get_user_model().objects.count(),
        "roles": Role.objects.count(),
    }


def demo() -> str:
    out = io.StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def test_demo_is_idempotent():
    first_output = demo()
    first = counts()
    snapshot = sorted(OrgUnit.objects.values_list("pk", "path", "depth", "company_id"))
    second_output = demo()
    assert counts() == first
    assert sorted(OrgUnit.objects.values_list("pk", "path", "depth", "company_id")) == snapshot
    assert first_output == second_output
    assert first["companies"] == 2
    assert 25 <= first["people"] <= 40 and first["people"] == len(PEOPLE) + len(CONTRACT_WORKERS)
    assert first["areas"] >= 5 and first["equipment"] >= 5
    assert first["users"] == sum(1 for p in PEOPLE if p.login)
    assert DEMO_PASSWORD in first_output and "port-admin" in first_output
    # the tree the services built is consistent
    for unit in OrgUnit.objects.select_related("parent"):
        if unit.parent is None:
            assert unit.path == f"/{unit.pk}/" and unit.depth == 0
        else:
            assert unit.path == f"{unit.parent.path}{unit.pk}/" and unit.depth == unit.parent.depth + 1
            assert unit.company_id == (unit.pk if unit.kind == OrgKind.COMPANY else unit.parent.company_id
                                       if unit.parent.kind != OrgKind.COMPANY else unit.parent.pk)
    for person in Person.objects.select_related("org_unit"):
        expected = person.org_unit.pk if person.org_unit.kind == OrgKind.COMPANY else person.org_unit.company_id
        assert person.company_id == expected


def test_demo_logins_authenticate_and_are_scoped():
    demo()
    request = RequestFactory().post("/login/")
    logins = [p.login for p in PEOPLE if p.login]
    for login in logins:
        user = authenticate(request, username=login, password=DEMO_PASSWORD)
        assert user is not None, login
        assert user.password.startswith("argon2$")
    assert authenticate(request, username="admin", password="wrong") is None

    def scope(login):
        return get_user_model().objects.get(username=login)

    port, bulk = (OrgUnit.objects.get(name=n) for n in ("临海港务股份有限公司", "临海散货码头有限公司"))
    port_admin, regulator, group_admin = scope("port-admin"), scope("regulator"), scope("admin")
    assert access.can(port_admin, MANAGE_ORG, port) and not access.can(port_admin, VIEW, bulk)
    assert access.can(regulator, VIEW, port) and not access.can(regulator, MANAGE_ORG, port)
    assert not access.can(regulator, VIEW, bulk)
    assert access.can(group_admin, MANAGE_ORG, bulk) and access.can(group_admin, MANAGE_ORG, port)
    assert set(access.visible(Person, scope("bulk-admin")).values_list("company_id", flat=True)) == {bulk.pk}


def test_demo_jobs_are_ready_to_try():
    from anlian.flows import services as flow_services
    from anlian.flows.models import Instance

    demo()
    demo()
    permits = Instance.objects.exclude(version__template__kind="hazard")
    assert sorted(permits.values_list("status", flat=True)) == ["active", "active", "closed"]
    hazards = Instance.objects.filter(version__template__kind="hazard")
    assert sorted(hazards.values_list("status", flat=True)) == ["active", "closed"]  # the 54-minute example, and one new
    guardian = get_user_model().objects.get(username="guardian")  # the hazard waits to be received
    assert ("complete", "receive") in [(d.action, d.step) for _job, allowed in flow_services.my_tasks(guardian)
                                       for d in allowed]
    worker = get_user_model().objects.get(username="worker")
    tasks = flow_services.my_tasks(worker)
    assert [(d.action, d.step) for _job, allowed in tasks for d in allowed] == [("complete", "exit")]
    welder = get_user_model().objects.get(username="welder")
    assert [d.step for _job, allowed in flow_services.my_tasks(welder) for d in allowed] == ["measures"]
