"""The audit log records configuration and administration changes: who, when, from where, and
each field's old and new value, one row per change, nothing for a save that changes nothing;
secrets never reach the log."""

from __future__ import annotations

from datetime import datetime
from datetime import timezone as tz

import pytest
from django.db import transaction

from anlian import audit
from anlian.audit.models import AuditEntry
from anlian.audit.registry import CHANGED, MASK
from anlian.core import clock
from anlian.flows import services as flows
from anlian.flows.models import FlowTemplate
from anlian.hazards.models import DispatchRule
from anlian.notify.models import Channel, Route
from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Person, Role, RoleGrant
from tests.conftest import PASSWORD, client_for

pytestmark = pytest.mark.django_db

API = "/api/v1"
MOMENT = datetime(2026, 3, 2, 8, 30, tzinfo=tz.utc)


@pytest.fixture
def since(world):
    """Entries written after the fixtures: the ones the test itself causes."""
    clock.set_now(MOMENT)
    mark = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return lambda: list(AuditEntry.objects.filter(pk__gt=mark).order_by("pk"))


def only(entries: list[AuditEntry]) -> AuditEntry:
    assert len(entries) == 1, [(e.model, e.action, e.changes) for e in entries]
    return entries[0]


def test_renaming_a_person_on_the_api_is_one_entry_with_who_when_where_and_the_diff(world, since):
    person = world.a.worker
    answer = client_for(world.a.admin).patch(f"{API}/people/{person.pk}", {"name": "王小二"},
                                             content_type="application/json", HTTP_X_REQUEST_ID="req42")
    assert answer.status_code == 200, answer.content
    entry = only(since())
    assert (entry.model, entry.action, entry.object_id) == ("orgs.person", "update", str(person.pk))
    assert entry.changes == {"name": ["甲公司工人", "王小二"]}
    assert entry.actor_id == world.a.admin.user.pk and entry.actor_name == "甲公司管理员（A-admin）"
    assert entry.at == MOMENT and entry.ip == "127.0.0.1" and entry.request_id == "req42"
    assert entry.company_id == world.a.unit.pk and entry.org_path == person.org_unit.path
    assert entry.object_repr == "王小二"


def test_a_save_that_changes_nothing_writes_nothing(world, since):
    person = world.a.worker
    client = client_for(world.a.admin)
    assert client.patch(f"{API}/people/{person.pk}", {"name": person.name, "phone": ""},
                        content_type="application/json").status_code == 200
    Person.objects.get(pk=person.pk).save()
    with audit.acting(world.a.admin.user):
        services.save_person(SYSTEM, person, org_unit=person.org_unit, name=person.name,
                             employee_no=person.employee_no)
    assert since() == []


def test_logging_in_writes_nothing(world, since):
    from django.test import Client

    assert Client().post("/login/", {"username": "A-admin", "password": PASSWORD}).status_code in (200, 302)
    assert world.a.admin.user.__class__.objects.get(pk=world.a.admin.user.pk).last_login is not None
    assert since() == []


def test_granting_and_revoking_a_role(world, since):
    client = client_for(world.a.admin)
    role = Role.objects.get(code="guardian", owner=None)
    made = client.post(f"{API}/role-grants", {"person_id": world.a.worker.pk, "role_id": role.pk,
                                               "org_unit_id": world.a.team.pk}, content_type="application/json")
    assert made.status_code == 201, made.content
    granted = only(since())
    assert (granted.model, granted.action, granted.actor_id) == ("orgs.rolegrant", "create", world.a.admin.user.pk)
    assert granted.changes == {"person": [None, "甲公司工人"], "role": [None, "监护人"],
                               "org_unit": [None, "甲公司一班"]}
    assert granted.company_id == world.a.unit.pk
    grant = RoleGrant.objects.get(pk=made.json()["id"])
    assert client.delete(f"{API}/role-grants/{grant.pk}").status_code == 204
    revoked = since()[1:]
    assert len(revoked) == 1 and revoked[0].action == "delete" and revoked[0].object_id == str(grant.pk)
    assert revoked[0].changes == {"person": ["甲公司工人", None], "role": ["监护人", None],
                                  "org_unit": ["甲公司一班", None]}
    assert revoked[0].object_repr == "甲公司工人 · 监护人 @ 甲公司一班"


def test_editing_a_dispatch_rule(world, since):
    client = client_for(world.a.admin)
    made = client.post(f"{API}/hazard-rules", {"company_id": world.a.unit.pk, "priority": 20,
                                                "responsible_role": "guardian"}, content_type="application/json")
    assert made.status_code == 201, made.content
    rule_id = made.json()["id"]
    created = only(since())
    assert created.action == "create" and created.changes["priority"] == [None, 20]
    changed = client.patch(f"{API}/hazard-rules/{rule_id}", {"priority": 5, "level": "major",
                                                             "cosign_roles": ["safety_officer"]},
                           content_type="application/json")
    assert changed.status_code == 200, changed.content
    entry = only(since()[1:])
    assert (entry.model, entry.action, entry.actor_id) == ("hazards.dispatchrule", "update", world.a.admin.user.pk)
    assert entry.changes == {"priority": [20, 5], "level": ["", "major"], "cosign_roles": [[], ["safety_officer"]]}
    assert entry.company_id == world.a.unit.pk and entry.object_repr.startswith("派发规则 #")
    assert DispatchRule.objects.get(pk=rule_id).priority == 5


def test_saving_a_flow_template_version_in_code_names_the_actor(world, since):
    shipped = FlowTemplate.objects.filter(owner=None).order_by("key").first()
    with audit.acting(world.a.admin.user):
        first = flows.copy_template(world.a.admin.user, shipped, world.a.unit, "own-copy")
    source = first.source.replace(f"name: {shipped.name}", "name: 本公司作业票", 1)
    assert source != first.source
    before = len(since())
    with audit.acting(world.a.admin.user):
        second = flows.save_version(world.a.admin.user, first.template, source)
    written = since()[before:]
    version = [e for e in written if e.model == "flows.templateversion"]
    assert len(version) == 1 and version[0].action == "create" and version[0].object_id == str(second.pk)
    # a new version is compared with the one before it: the log shows what the version changed
    assert version[0].changes["number"] == [None, 2] and version[0].changes["source"] == [first.source, source]
    assert version[0].actor_id == world.a.admin.user.pk and version[0].ip is None
    assert version[0].company_id == world.a.unit.pk
    renamed = only([e for e in written if e.model == "flows.flowtemplate"])
    assert renamed.changes == {"name": [shipped.name, "本公司作业票"]}


def test_the_worker_and_cli_are_the_system_unless_they_say_who(world, since):
    person = world.a.worker
    services.save_person(SYSTEM, person, org_unit=person.org_unit, name="无人", employee_no=person.employee_no)
    with audit.acting(name="数据导入"):
        services.save_person(SYSTEM, person, org_unit=person.org_unit, name="导入", employee_no=person.employee_no)
    loose, named = since()
    assert loose.actor_id is None and loose.actor_name == "" and loose.ip is None
    assert named.actor_id is None and named.actor_name == "数据导入"


def test_editing_a_channel_masks_its_secrets(world, since):
    client = client_for(world.a.admin)
    body = {"company_id": world.a.unit.pk, "kind": "dingtalk", "name": "安全群",
            "config": {"webhook": "https://oapi.dingtalk.com/robot/send?access_token=tok-SECRET-1",
                       "secret": "SEC-first-secret"}}
    made = client.post(f"{API}/notification-channels", body, content_type="application/json")
    assert made.status_code == 201, made.content
    channel_id = made.json()["id"]
    changed = client.patch(f"{API}/notification-channels/{channel_id}",
                           {"name": "安全生产群", "config": {"webhook": "", "secret": "SEC-second-secret"}},
                           content_type="application/json")
    assert changed.status_code == 200, changed.content
    assert Channel.objects.get(pk=channel_id).config["secret"] == "SEC-second-secret"
    created, updated = since()
    assert created.changes["config"][1]["secret"] == MASK and created.changes["config"][1]["webhook"] == MASK
    assert updated.changes["name"] == ["安全群", "安全生产群"]
    assert updated.changes["config"] == [{"webhook": MASK, "secret": MASK}, {"webhook": MASK, "secret": CHANGED}]
    stored = "".join(str(e.changes) for e in AuditEntry.objects.all())
    assert "SECRET-1" not in stored and "first-secret" not in stored and "second-secret" not in stored
    # the page says it changed, without the value
    page = client.get(f"/audit/{updated.pk}/").content.decode()
    assert "已修改，内容隐藏" in page and "second-secret" not in page
    assert "配置 · secret" in page and "配置 · webhook" not in page  # one line per changed setting


def test_a_new_password_is_recorded_as_changed_only(world, since):
    person = world.a.worker
    answer = client_for(world.a.admin).patch(f"{API}/people/{person.pk}", {"password": "another-horse-77-battery"},
                                             content_type="application/json")
    assert answer.status_code == 200, answer.content
    entry = only([e for e in since() if e.model == "accounts.user"])
    assert entry.changes == {"password": [MASK, CHANGED]}
    assert entry.company_id == world.a.unit.pk  # an account belongs where its person works
    assert "argon2" not in str(AuditEntry.objects.values_list("changes", flat=True)[::1])


def test_changing_a_routes_people_is_one_entry(world, since):
    client = client_for(world.a.admin)
    made = client.post(f"{API}/notification-routes", {"company_id": world.a.unit.pk, "event": "hazard_escalated",
                                                       "person_ids": [world.a.officer.pk]},
                       content_type="application/json")
    assert made.status_code == 201, made.content
    route_id = made.json()["id"]
    created = only(since())  # the route and its people: one entry
    assert created.action == "create" and created.changes["people"] == [[], ["甲公司安全员"]]
    changed = client.patch(f"{API}/notification-routes/{route_id}",
                           {"person_ids": [world.a.worker.pk, world.a.admin.pk]}, content_type="application/json")
    assert changed.status_code == 200, changed.content
    entry = only(since()[1:])
    assert (entry.model, entry.action, entry.actor_id) == ("notify.route", "update", world.a.admin.user.pk)
    assert entry.changes == {"people": [["甲公司安全员"], ["甲公司工人", "甲公司管理员"]]}
    assert set(Route.objects.get(pk=route_id).people.values_list("pk", flat=True)) == {world.a.worker.pk,
                                                                                       world.a.admin.pk}
    # the same people again: nothing
    assert client.patch(f"{API}/notification-routes/{route_id}", {"person_ids": [world.a.admin.pk, world.a.worker.pk]},
                        content_type="application/json").status_code == 200
    assert len(since()) == 2


def test_m2m_change_from_the_other_side_and_clear_are_recorded(world, since):
    route = Route.objects.create(company=world.a.unit, event="hazard_escalated")
    channel = Channel.objects.create(company=world.a.unit, kind="webhook", name="外部系统",
                                     config={"url": "https://x.example/hook", "secret": "s3cret-value"})
    before = len(since())
    with audit.acting(world.a.admin.user):
        channel.routes.add(route)
    entry = only(since()[before:])
    assert entry.model == "notify.route" and entry.changes == {"channels": [[], ["外部系统"]]}
    with audit.acting(world.a.admin.user):
        route.channels.clear()
    cleared = only(since()[before + 1:])
    assert cleared.changes == {"channels": [["外部系统"], []]}


def test_deleting_a_person_records_their_grants_too(world, since):
    person = services.save_person(SYSTEM, None, org_unit=world.a.team, name="临时工", employee_no="A900")
    services.grant_role(SYSTEM, person, Role.objects.get(code="guardian", owner=None), world.a.team)
    before = len(since())
    with audit.acting(world.a.admin.user):
        person.delete()
    deleted = since()[before:]
    assert {(e.model, e.action) for e in deleted} == {("orgs.rolegrant", "delete"), ("orgs.person", "delete")}
    assert all(e.company_id == world.a.unit.pk for e in deleted)
    assert next(e for e in deleted if e.model == "orgs.person").changes["name"] == ["临时工", None]


def test_bulk_paths_can_be_recorded_explicitly(world, since):
    people = Person.objects.bulk_create([Person(org_unit=world.a.team, company=world.a.unit, name=f"导入{i}",
                                                employee_no=f"A5{i:02d}") for i in range(3)])
    assert since() == []  # bulk_create sends no signal: not seen on its own
    with audit.acting(world.a.admin.user):
        assert audit.record_created(people) == 3
    made = since()
    assert [(e.action, e.object_repr, e.company_id) for e in made] == [("create", f"导入{i}", world.a.unit.pk)
                                                                      for i in range(3)]
    team = world.a.team
    old_parent = team.parent_id
    workshop = services.create_unit(SYSTEM, name="新车间", kind="workshop", parent=world.a.plant)
    services.move_unit(SYSTEM, team, workshop)  # QuerySet.update(): no signal
    team.refresh_from_db()
    before = len(since())
    with audit.acting(world.a.admin.user):
        audit.record_changed(team, {"parent_id": old_parent})
    moved = only(since()[before:])
    assert moved.changes == {"parent": ["甲公司一厂", "新车间"]} and moved.actor_id == world.a.admin.user.pk
    assert audit.record_changed(team, {"parent_id": team.parent_id}) is None  # nothing changed: nothing written


def test_m2m_changes_undone_in_the_same_edit_leave_nothing(world, since):
    route = Route.objects.create(company=world.a.unit, event="hazard_escalated")
    route.people.add(world.a.worker)
    before = len(since())
    with audit.acting(world.a.admin.user):
        with transaction.atomic():
            route.people.remove(world.a.worker)
            route.people.add(world.a.worker)
    assert since()[before:] == []


def test_m2m_changes_in_separate_transactions_are_separate_entries(world, since, django_capture_on_commit_callbacks):
    route = Route.objects.create(company=world.a.unit, event="hazard_escalated")
    before = len(since())
    with audit.acting(world.a.admin.user):
        with django_capture_on_commit_callbacks(execute=True):
            route.people.add(world.a.worker)
        route.people.add(world.a.admin)
    first, second = since()[before:]
    assert first.changes == {"people": [[], ["甲公司工人"]]}
    assert second.changes == {"people": [["甲公司工人"], ["甲公司工人", "甲公司管理员"]]}


def test_an_api_token_call_is_attributed_to_the_tokens_owner(world, since):
    from django.test import Client

    from anlian.accounts.tokens import issue_token

    _token, secret = issue_token(world.a.admin.user, "脚本")
    answer = Client().patch(f"{API}/people/{world.a.worker.pk}", {"job_title": "司机"}, content_type="application/json",
                            HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="10.1.2.3")
    assert answer.status_code == 200, answer.content
    entry = only(since())
    assert entry.actor_id == world.a.admin.user.pk and entry.ip == "10.1.2.3"
    assert entry.changes == {"job_title": ["", "司机"]}


def test_moving_a_unit_and_importing_people_are_recorded_despite_their_bulk_writes(world):
    from anlian.audit.models import AuditEntry
    from anlian.orgs import services
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import OrgKind, Person

    a = world.a
    second = services.create_unit(SYSTEM, name="甲公司二厂", kind=OrgKind.PLANT, parent=a.unit)
    from anlian import audit

    AuditEntry.objects.all().delete()
    with audit.acting(a.admin.user):  # what the middleware does for a request
        services.move_unit(a.admin.user, a.team, second)
    moved = AuditEntry.objects.get(object_id=str(a.team.pk))
    assert moved.action == "update" and "parent" in str(moved.changes) and moved.actor_id == a.admin.user.pk
    # An Excel import writes people with bulk_create: each one still gets its entry.

    people = Person.objects.bulk_create([Person(org_unit=a.team, company=a.unit, name=f"导入{n}", employee_no=f"IMP{n}")
                                         for n in range(3)])
    assert audit.record_created(people) == 3
    assert AuditEntry.objects.filter(action="create", model="orgs.person").count() == 3
