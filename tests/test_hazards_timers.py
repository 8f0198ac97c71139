"""Deadlines of hazards (issue 6, point 3): reminders before, the overdue mark, escalation up both
sides of the tree — each tier exactly once, at its minute, however often or late the worker runs —
and the per-company deadline policies (page and API)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from anlian.core import clock
from anlian.core.models import Notice
from anlian.notify import escalation
from anlian.notify.delivery import send_due
from anlian.notify.models import Message
from anlian.hazards import tasks, timers
from anlian.hazards.models import DeadlinePolicy, DispatchRule, Escalation, Hazard
from anlian.orgs import services as orgs
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import OrgKind
from tests.conftest import client_for, make_person
from tests.flows.test_photo_checks_in_steps import scene

pytestmark = pytest.mark.django_db
CST = timezone(timedelta(hours=8))
HERE = {"lat": 30.0, "lng": 120.0}


def at(hour: int, minute: int, day: int = 19) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=CST)


class Plant:
    """Company A with two sides: the hazard is found in a team's area of the production plant
    (area side: team → plant → company) and dispatched to the maintenance workshop (responsible
    side: workshop → maintenance plant → company). Managers sit at several levels, one above the
    company (the group) and one in company B: those two must never hear of it."""

    def __init__(self, world):
        a, b = world.a, world.b
        self.world = world
        self.area = orgs.save_area(SYSTEM, None, org_unit=a.team, name="车床区", center_lat=30.0, center_lng=120.0,
                                   radius_m=100)
        self.maint = orgs.create_unit(SYSTEM, name="机修厂", kind=OrgKind.PLANT, parent=a.unit)
        self.shop = orgs.create_unit(SYSTEM, name="机修车间", kind=OrgKind.WORKSHOP, parent=self.maint)
        self.fitter = make_person(self.shop, "钳工", "T01", [("approver_team", self.shop)], login="t-fitter")
        self.maint_manager = make_person(self.maint, "机修厂长", "T02", [("manager", self.maint)])
        # The production plant has no manager: its safety officer (a.officer) is told instead.
        self.ceo = make_person(a.unit, "总经理", "T03", [("manager", a.unit)])
        self.group_manager = make_person(world.group, "集团领导", "T04", [("manager", world.group)])
        self.b_manager = make_person(b.unit, "乙公司经理", "T05", [("manager", b.unit)])
        self.bystander = make_person(self.shop, "车间主任", "T06", [("manager", self.shop)])  # the side's own unit
        DispatchRule.objects.create(owner=a.unit, responsible_unit=self.shop, responsible_role="approver_team",
                                    verifier_role="safety_officer")
        DeadlinePolicy.objects.create(owner=a.unit, level="general", respond_minutes=60, on_site_minutes=120,
                                      rectify_hours=24, remind_before_minutes=15, escalate_every_minutes=30)

    def upload(self, person, data: bytes) -> str:
        response = client_for(person).post("/api/v1/files", {"file": SimpleUploadedFile("p.jpg", data,
                                                                                           content_type="image/jpeg")})
        assert response.status_code == 201, response.content
        return response.json()["sha256"]

    def report(self, when: datetime, seed: int = 1) -> Hazard:
        clock.set_now(when)
        payload = {"area_id": self.area.pk, "category": "mechanical", "level": "general",
                   "description": "车床防护罩缺失", "scene": [self.upload(self.world.a.worker, scene(seed))], **HERE}
        response = client_for(self.world.a.worker).post("/api/v1/hazards", payload, content_type="application/json")
        assert response.status_code == 201, response.content
        return Hazard.objects.get(pk=response.json()["id"])

    def act(self, person, hazard: Hazard, when: datetime, **body) -> None:
        clock.set_now(when)
        response = client_for(person).post(f"/api/v1/hazards/{hazard.pk}/actions", {**HERE, **body},
                                           content_type="application/json")
        assert response.status_code == 201, response.content


@pytest.fixture
def plant(world) -> Plant:
    return Plant(world)


def run(when: datetime) -> dict:
    """One worker run at `when`, as the worker calls it."""
    clock.set_now(when)
    counts = tasks.hazard_timers.call_local()
    send_due(when)  # the worker sends what the timers queued (the inbox writes the notices)
    return counts


def keys(person) -> list[str]:
    return sorted(Notice.objects.filter(person=person, key__contains=":remind:").values_list("key", flat=True)
                  ) + sorted(Notice.objects.filter(person=person, key__contains=":escalate:")
                             .values_list("key", flat=True))


def tiers(hazard: Hazard, stage: str = "respond") -> list[int]:
    return list(Escalation.objects.filter(hazard=hazard, stage=stage).order_by("pk").values_list("tier", flat=True))


def test_the_deadlines_come_from_the_companys_policy(plant):
    hazard = plant.report(at(9, 0))
    assert hazard.responsible_unit == plant.shop
    assert (hazard.respond_due, hazard.on_site_due, hazard.rectify_due) == (at(10, 0), at(11, 0), at(9, 0, day=20))


def test_a_reminder_goes_to_the_responsible_people_once_before_the_deadline(plant):
    hazard = plant.report(at(9, 0))
    run(at(9, 44))
    assert keys(plant.fitter) == []
    for minute in (45, 45, 46, 59):
        run(at(9, minute))
    assert keys(plant.fitter) == [f"hazard:{hazard.pk}:remind:respond"]
    notice = Notice.objects.get(person=plant.fitter, key=f"hazard:{hazard.pk}:remind:respond")
    assert notice.title == f"隐患{hazard.instance.number}将于2026-05-19 10:00接收超期"
    assert notice.url == reverse("todos:open_hazard", args=[hazard.pk])
    # Nobody else is reminded, and a reminder is not an escalation.
    assert Notice.objects.filter(key__contains=":remind:").count() == 1
    assert not Escalation.objects.exists()


def test_tier_one_fires_exactly_at_due_and_tier_two_exactly_one_interval_later(plant):
    hazard = plant.report(at(9, 0))
    run(at(9, 59))
    assert tiers(hazard) == [] and not Hazard.objects.get(pk=hazard.pk).overdue
    run(at(10, 0))
    assert tiers(hazard) == [1]
    assert Hazard.objects.get(pk=hazard.pk).overdue
    for minute in (0, 1, 15, 29, 29):
        run(at(10, minute))
    assert tiers(hazard) == [1]
    run(at(10, 30))
    assert tiers(hazard) == [1, 2]
    for hour, minute in ((10, 30), (10, 59), (11, 0), (12, 0), (18, 0)):
        run(at(hour, minute))
    # Both sides reached the company at tier 2: no tier 3, however long it stays open.
    assert tiers(hazard) == [1, 2]
    first = Escalation.objects.get(hazard=hazard, stage="respond", tier=1)
    assert first.created_at == at(10, 0) and first.unit == plant.maint  # the responsible side's unit
    assert Escalation.objects.get(hazard=hazard, stage="respond", tier=2).created_at == at(10, 30)


def test_each_tier_tells_the_managers_of_both_sides_never_another_company_or_above_it(plant):
    hazard = plant.report(at(9, 0))
    for hour, minute in ((10, 0), (10, 30), (11, 0), (11, 30), (12, 0)):
        run(at(hour, minute))
    one = f"hazard:{hazard.pk}:escalate:respond:1"
    two = f"hazard:{hazard.pk}:escalate:respond:2"
    # Tier 1: the unit above the workshop (maintenance plant: its manager) and the unit above the
    # team (production plant: no manager there, so its safety officer).
    assert one in keys(plant.maint_manager) and one in keys(plant.world.a.officer)
    assert one not in keys(plant.ceo)
    # Tier 2: both sides reach the company.
    assert two in keys(plant.ceo) and two not in keys(plant.maint_manager)
    assert set(Escalation.objects.get(hazard=hazard, stage="respond", tier=1).people) == {
        plant.maint_manager.pk, plant.world.a.officer.pk}
    assert Escalation.objects.get(hazard=hazard, stage="respond", tier=2).people == [plant.ceo.pk]
    for outsider in (plant.group_manager, plant.b_manager, plant.world.b.officer, plant.world.b.admin,
                     plant.bystander):
        assert keys(outsider) == []
    assert Notice.objects.get(person=plant.ceo, key=two).title == f"督办（第2级）：隐患{hazard.instance.number}接收已超期"


def test_a_companys_escalation_policy_replaces_the_default_tiers(plant):
    # Tier 1 at the deadline to each side's own unit, tier 2 ten minutes later straight to the company
    # (a policy shared with permits; the level's escalate_every no longer counts).
    escalation.save_policy(SYSTEM, plant.world.a.unit, "hazard", [
        {"after_minutes": 0, "levels_up": 0, "kinds": ["inbox"]},
        {"after_minutes": 10, "levels_up": 9, "kinds": ["inbox", "sms"]}])
    hazard = plant.report(at(9, 0))
    run(at(10, 0))
    one = f"hazard:{hazard.pk}:escalate:respond:1"
    assert tiers(hazard) == [1]
    assert one in keys(plant.bystander)  # the workshop's own manager
    run(at(10, 9))
    assert tiers(hazard) == [1]
    run(at(10, 10))
    assert tiers(hazard) == [1, 2] and f"hazard:{hazard.pk}:escalate:respond:2" in keys(plant.ceo)
    run(at(12, 0))
    assert tiers(hazard) == [1, 2]  # the policy has two tiers: nothing after the last
    assert keys(plant.group_manager) == [] and keys(plant.b_manager) == []


def test_reaching_the_stage_stops_its_escalation_and_clears_the_overdue_mark(plant):
    hazard = plant.report(at(9, 0))
    run(at(10, 0))
    assert tiers(hazard) == [1] and Hazard.objects.get(pk=hazard.pk).overdue
    plant.act(plant.fitter, hazard, at(10, 10), kind="complete", step="receive")  # late, but received
    run(at(10, 11))
    assert not Hazard.objects.get(pk=hazard.pk).overdue
    run(at(10, 30))
    assert tiers(hazard) == [1]  # no tier 2 for the respond clock
    # The on-site clock still runs: its reminder, then its own escalation and the mark again.
    run(at(10, 45))
    assert f"hazard:{hazard.pk}:remind:on_site" in keys(plant.fitter)
    run(at(11, 0))
    assert tiers(hazard, "on_site") == [1] and Hazard.objects.get(pk=hazard.pk).overdue
    plant.act(plant.fitter, hazard, at(11, 5), kind="complete", step="on_site",
              photos={"arrival": [plant.upload(plant.fitter, scene(2))]})
    run(at(11, 30))
    assert tiers(hazard, "on_site") == [1] and not Hazard.objects.get(pk=hazard.pk).overdue


def test_a_late_worker_catches_up_every_missed_tier_once_in_order(plant):
    hazard = plant.report(at(9, 0))
    counts = run(at(12, 0))  # the worker was down from 09:00 to 12:00
    assert tiers(hazard) == [1, 2] and tiers(hazard, "on_site") == [1, 2]
    assert counts["escalations"] == 4 and counts["overdue"] == 1
    # The reminders' moment has passed: the escalation speaks now, no stale "due soon".
    assert keys(plant.fitter) == []
    assert run(at(12, 0))["escalations"] == 0
    assert Escalation.objects.filter(hazard=hazard).count() == 4
    assert Notice.objects.filter(person=plant.ceo, key__contains=":escalate:").count() == 2  # tier 2 of each
    assert Notice.objects.filter(person=plant.maint_manager, key__contains=":escalate:").count() == 2


def test_a_tier_another_worker_already_sent_is_not_sent_again(plant):
    hazard = plant.report(at(9, 0))
    clock.set_now(at(10, 0))
    managers = escalation.Managers()
    respond = timers.CLOCKS[0]
    managers.load(timers._sides(hazard))
    tier = escalation.default_tiers(30, 2)[0]
    assert timers._escalate(hazard, respond, tier, managers, at(10, 0)) == 1
    # The second worker raced past the check: the unique row refuses it and no message is added.
    assert timers._escalate(hazard, respond, tier, managers, at(10, 0)) == 0
    assert Message.objects.filter(key__contains=":escalate:").count() == 1
    send_due(at(10, 0))
    assert Notice.objects.filter(key__contains=":escalate:").count() == 2
    assert run(at(10, 0))["escalations"] == 0


def test_a_closed_or_undispatched_hazard_is_left_alone(plant):
    hazard = plant.report(at(9, 0))
    Hazard.objects.filter(pk=hazard.pk).update(respond_due=None, on_site_due=None, rectify_due=None)
    assert run(at(12, 0))["hazards"] == 0
    assert not Escalation.objects.exists() and not Hazard.objects.get(pk=hazard.pk).overdue


def test_the_default_policy_applies_when_a_company_has_none(plant):
    DeadlinePolicy.objects.all().delete()
    hazard = plant.report(at(9, 0))
    assert hazard.respond_due == at(9, 0, day=20)  # general: respond in 24 h
    run(at(8, 59, day=20))
    assert tiers(hazard) == []
    assert keys(plant.fitter) == [f"hazard:{hazard.pk}:remind:respond"]  # 60 minutes before
    run(at(9, 0, day=20))
    assert tiers(hazard) == [1]


def test_the_worker_reads_a_bounded_number_of_times_whatever_the_number_of_hazards(plant):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(when: datetime) -> int:
        Escalation.objects.all().delete()
        Message.objects.all().delete()
        Hazard.objects.update(overdue=False)
        clock.set_now(when)
        with CaptureQueriesContext(connection) as seen:
            timers.run_timers()
        return len(seen)

    plant.report(at(9, 0), seed=1)
    quiet_one, busy_one = queries(at(9, 30)), queries(at(12, 0))
    plant.report(at(9, 0), seed=2)
    busy_two = queries(at(12, 0))
    for seed in (3, 4):
        plant.report(at(9, 0), seed=seed)
    # Nothing due: the same reads for four hazards as for one.
    assert queries(at(9, 30)) == quiet_one
    # Four tiers due per hazard: each costs its savepoint, its row and its message (a fixed number
    # of statements); the reads of the run stay the same, so the cost grows by the tiers alone.
    per_hazard = busy_two - busy_one
    assert 0 < per_hazard <= 4 * 20
    assert queries(at(12, 0)) == busy_one + 3 * per_hazard


# --- deadline policies: page and API -------------------------------------------------------------

API = "/api/v1/companies/{}/hazard-deadlines"
GOOD = {"respond_minutes": 30, "on_site_minutes": 240, "rectify_hours": 72, "remind_before_minutes": 10,
        "escalate_every_minutes": 60, "alert_role": "manager"}


def put(person, company, level: str, body: dict):
    return client_for(person).put(f"{API.format(company.pk)}/{level}", body, content_type="application/json")


def stored() -> list:
    return list(DeadlinePolicy.objects.order_by("pk").values())


def test_a_company_without_a_policy_shows_the_defaults(world):
    response = client_for(world.a.admin).get(API.format(world.a.unit.pk))
    assert response.status_code == 200
    general, major = response.json()
    assert general == {"level": "general", "own": False, "respond_minutes": 1440, "on_site_minutes": 2880,
                       "rectify_hours": 168, "remind_before_minutes": 60, "escalate_every_minutes": 1440,
                       "alert_role": ""}
    assert major["level"] == "major" and major["alert_role"] == "manager" and not major["own"]


def test_a_safety_officer_sets_and_resets_a_levels_policy(world):
    officer = make_person(world.a.unit, "公司安全员", "P01", [("safety_officer", world.a.unit)], login="p-officer")
    response = put(officer, world.a.unit, "major", GOOD)
    assert response.status_code == 200 and response.json() == {"level": "major", "own": True, **GOOD}
    assert put(officer, world.a.unit, "major", GOOD).json() == response.json()  # replayed: same, one row
    assert DeadlinePolicy.objects.filter(owner=world.a.unit).count() == 1
    assert client_for(officer).delete(f"{API.format(world.a.unit.pk)}/major").status_code == 204
    assert not DeadlinePolicy.objects.exists()
    assert client_for(officer).delete(f"{API.format(world.a.unit.pk)}/major").status_code == 204  # already default


@pytest.mark.parametrize("change, field", [
    ({"respond_minutes": 0}, "respond_minutes"),
    ({"respond_minutes": -5}, "respond_minutes"),
    ({"rectify_hours": 10**12}, "rectify_hours"),
    ({"escalate_every_minutes": 10**30}, "escalate_every_minutes"),
    ({"remind_before_minutes": 0}, "remind_before_minutes"),
    ({"on_site_minutes": 20}, "on_site_minutes"),  # shorter than responding
    ({"rectify_hours": 1}, "rectify_hours"),  # shorter than being on site
    ({"alert_role": "deputy_god"}, "alert_role"),
    ({"alert_role": "<script>alert(1)</script>"}, "alert_role"),
])
def test_bad_policy_values_are_refused_with_the_field_named(world, change, field):
    DeadlinePolicy.objects.create(owner=world.a.unit, level="general", respond_minutes=60, on_site_minutes=120,
                                  rectify_hours=24)
    before = stored()
    response = put(world.a.admin, world.a.unit, "general", {**GOOD, **change})
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field and response.json()["message"]
    assert stored() == before


@pytest.mark.parametrize("body", [
    {k: v for k, v in GOOD.items() if k != "rectify_hours"},  # missing
    {**GOOD, "respond_minutes": "sixty"},
    {**GOOD, "respond_minutes": 1.5},
    {**GOOD, "extra": 1},
    {**GOOD, "alert_role": "x" * 41},
])
def test_malformed_policy_bodies_are_refused(world, body):
    response = put(world.a.admin, world.a.unit, "general", body)
    assert response.status_code == 422 and not DeadlinePolicy.objects.exists()


def test_an_unknown_level_is_refused(world):
    response = put(world.a.admin, world.a.unit, "minor", GOOD)
    assert response.status_code == 422 and response.json()["field"] == "level"
    assert put(world.a.admin, world.a.unit, "x" * 11, GOOD).status_code == 422
    assert not DeadlinePolicy.objects.exists()


def test_company_b_can_neither_read_nor_change_company_as_policies(world):
    DeadlinePolicy.objects.create(owner=world.a.unit, level="general", respond_minutes=60, on_site_minutes=120,
                                  rectify_hours=24)
    before = stored()
    b = world.b.admin
    a_api = API.format(world.a.unit.pk)
    missing = API.format(10**9)
    for path in (a_api, missing):
        assert client_for(b).get(path).status_code == 404
        assert client_for(b).delete(f"{path}/general").status_code == 404
    assert put(b, world.a.unit, "general", GOOD).json()["code"] == "not_found"
    assert put(b, world.a.unit, "general", GOOD).status_code == 404
    # Not a company (A's plant), or beyond every id: the same 404.
    assert client_for(world.a.admin).get(API.format(world.a.plant.pk)).status_code == 404
    assert client_for(world.a.admin).get(API.format(2**63)).status_code == 422
    # Pages too: list shows only B's own company; A's edit and reset pages are 404.
    page = client_for(b).get(reverse("hazards:deadlines")).content.decode()
    assert world.b.unit.name in page and world.a.unit.name not in page
    edit = reverse("hazards:deadline_edit", args=[world.a.unit.pk, "general"])
    assert client_for(b).get(edit).status_code == 404
    assert client_for(b).post(edit, {**GOOD, "respond_minutes": 1}).status_code == 404
    assert client_for(b).post(reverse("hazards:deadline_reset", args=[world.a.unit.pk, "general"])).status_code == 404
    assert stored() == before


def test_reading_takes_view_at_the_company_and_changing_takes_manage_org(world):
    manager = make_person(world.a.unit, "经理", "P02", [("manager", world.a.unit)], login="p-manager")
    assert client_for(manager).get(API.format(world.a.unit.pk)).status_code == 200
    assert put(manager, world.a.unit, "general", GOOD).status_code == 403
    assert client_for(manager).delete(f"{API.format(world.a.unit.pk)}/general").status_code == 403
    edit = reverse("hazards:deadline_edit", args=[world.a.unit.pk, "general"])
    assert client_for(manager).get(edit).status_code == 403
    page = client_for(manager).get(reverse("hazards:deadlines")).content.decode()
    assert world.a.unit.name in page and edit not in page
    # A plant's safety officer answers for the plant, not for the company's policy.
    assert client_for(world.a.officer).get(API.format(world.a.unit.pk)).status_code == 404
    assert not DeadlinePolicy.objects.exists()


def test_the_policy_page_edits_with_the_defaults_filled_in(world):
    admin = client_for(world.a.admin)
    page = admin.get(reverse("hazards:deadlines"))
    assert page.status_code == 200 and "默认" in page.content.decode()
    edit = reverse("hazards:deadline_edit", args=[world.a.unit.pk, "general"])
    form = admin.get(edit)
    assert form.status_code == 200 and 'value="1440"' in form.content.decode()
    bad = admin.post(edit, {**GOOD, "respond_minutes": "0"})
    assert bad.status_code == 400 and not DeadlinePolicy.objects.exists()
    refused = admin.post(edit, {**GOOD, "on_site_minutes": "5"})  # the service's rule, on the field
    assert refused.status_code == 422 and "到场时限不能短于接收时限" in refused.content.decode()
    forged = admin.post(edit, {**GOOD, "alert_role": "deputy_god"})
    assert forged.status_code == 400 and not DeadlinePolicy.objects.exists()
    done = admin.post(edit, GOOD)
    assert done.status_code == 302 and done.url == reverse("hazards:deadlines")
    policy = DeadlinePolicy.objects.get(owner=world.a.unit, level="general")
    assert (policy.respond_minutes, policy.rectify_hours, policy.alert_role) == (30, 72, "manager")
    assert admin.get(reverse("hazards:deadline_edit", args=[world.a.unit.pk, "minor"])).status_code == 404
    reset = reverse("hazards:deadline_reset", args=[world.a.unit.pk, "general"])
    assert admin.get(reset).status_code == 405 and DeadlinePolicy.objects.exists()
    assert admin.post(reset).status_code == 302 and not DeadlinePolicy.objects.exists()
