"""The hazard loop's rules beyond the machine-shop example: sending a fix back, recurrence, dispatch
that names nobody, notices, and the report's server-side checks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from anlian.core import clock
from anlian.core.models import Notice
from anlian.notify.delivery import send_due
from anlian.notify.models import Message
from anlian.flows.models import Event
from anlian.hazards import services
from anlian.hazards.models import DispatchRule, Hazard, HazardStage
from tests.conftest import client_for
from tests.flows.test_photo_checks_in_steps import scene
from tests.test_hazards_example import HERE, Shop, at

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(world) -> Shop:
    return Shop(world)


def rectified(shop: Shop, seed: int) -> int:
    hid = shop.report(at(9, 23))["id"]
    shop.ok(shop.fitter, hid, at(9, 25), kind="complete", step="receive")
    shop.ok(shop.fitter, hid, at(9, 38), kind="complete", step="on_site", photos={"arrival": [shop.upload(shop.fitter, scene(seed))]})
    shop.ok(shop.fitter, hid, at(10, 12), kind="complete", step="rectify", values={"measures": "修好", "rectifier_sign": "李"},
            photos={"before": [shop.upload(shop.fitter, scene(seed + 1))], "after": [shop.upload(shop.fitter, scene(seed + 2))]})
    return hid


def test_the_verifier_sends_the_fix_back_with_a_reason(shop):
    hid = rectified(shop, 80)
    assert Hazard.objects.get(pk=hid).stage == HazardStage.RECTIFIED
    silent = shop.act(shop.officer, hid, at(10, 15), kind="return", step="verify", target="rectify", reason="")
    assert silent.status_code == 422 and silent.json()["field"] == "reason"
    shop.ok(shop.officer, hid, at(10, 15), kind="return", step="verify", target="rectify", reason="防护罩未固定牢")
    back = Hazard.objects.get(pk=hid)
    assert back.stage == HazardStage.ON_SITE and back.rectified_at is None
    # The rectifier must do it again (with new photos) before anyone can verify.
    early = shop.act(shop.officer, hid, at(10, 16), kind="approve", step="verify", values={"verify_sign": "安全员"})
    assert early.status_code == 409
    shop.ok(shop.fitter, hid, at(10, 40), kind="complete", step="rectify", values={"measures": "重新固定", "rectifier_sign": "李"},
            photos={"before": [shop.upload(shop.fitter, scene(90))], "after": [shop.upload(shop.fitter, scene(91))]})
    shop.ok(shop.officer, hid, at(10, 45), kind="approve", step="verify", values={"verify_sign": "安全员"})
    assert Hazard.objects.get(pk=hid).stage == HazardStage.VERIFIED


def test_the_same_category_on_the_same_equipment_within_n_days_is_a_recurrence(shop, settings):
    settings.ANLIAN_HAZARD_RECURRENCE_DAYS = 30
    first = shop.report(at(9, 23))
    again = shop.report(at(9, 23) + timedelta(days=20))
    other_kind = shop.report(at(9, 23) + timedelta(days=21), category="electrical")
    late = shop.report(at(9, 23) + timedelta(days=60))
    assert again["recurrence_of_id"] == first["id"]
    assert other_kind["recurrence_of_id"] is None
    assert late["recurrence_of_id"] is None  # 40 days after the last one


def test_a_hazard_nobody_can_take_is_reported_to_the_safety_officers(shop):
    DispatchRule.objects.all().delete()
    DispatchRule.objects.create(owner=shop.world.a.unit, responsible_role="no_such_role", verifier_role="safety_officer")
    hazard = shop.report(at(9, 23))
    assert hazard["stage"] == "reported"  # not dispatched
    assert not Event.objects.filter(instance_id=hazard["instance_id"], step="dispatch").exists()
    send_due()
    told = Notice.objects.get(key=f"hazard:{hazard['id']}:undispatched")
    assert told.person == shop.officer and "无法自动派发" in told.title


def test_dispatch_tells_the_responsible_people(shop):
    hazard = shop.report(at(9, 23))
    send_due()
    notice = Notice.objects.get(key=f"hazard:{hazard['id']}:dispatched")
    assert notice.person == shop.fitter and "车床防护罩缺失" in notice.body


def test_a_major_hazard_alerts_the_managers_at_once(shop, world):
    from tests.conftest import make_person

    deputy = make_person(world.a.unit, "副总经理", "M01", [("manager", world.a.unit)])
    hazard = shop.report(at(9, 23), level="major")
    send_due()
    assert Message.objects.get(key=f"hazard:{hazard['id']}:alert").severity == "critical"
    assert Notice.objects.filter(key=f"hazard:{hazard['id']}:alert", person=deputy).exists()


@pytest.mark.parametrize(("change", "field"), [
    ({"description": "  "}, "description"),
    ({"description": "长" * 501}, "description"),
    ({"category": "ghosts"}, "category"),
    ({"level": "huge"}, "level"),
    ({"scene": []}, "photos"),
])
def test_the_report_is_checked_on_the_server(shop, change, field):
    clock.set_now(at(9, 23))
    photo = shop.upload(shop.reporter, scene(99))
    body = {"area_id": shop.world.a.area.pk, "category": "fire", "level": "general", "description": "消防通道堵塞",
            "scene": [photo], **HERE, **change}
    response = client_for(shop.reporter).post("/api/v1/hazards", body, content_type="application/json")
    assert response.status_code == 422 and response.json()["field"] == field, response.content
    assert not Hazard.objects.exists()


def test_no_area_and_no_equipment_is_refused_and_other_companies_places_are_not_found(shop, world):
    clock.set_now(at(9, 23))
    photo = shop.upload(shop.reporter, scene(98))
    client = client_for(shop.reporter)
    body = {"category": "fire", "level": "general", "description": "消防通道堵塞", "scene": [photo]}
    assert client.post("/api/v1/hazards", body, content_type="application/json").json()["field"] == "area_id"
    foreign = client.post("/api/v1/hazards", {**body, "area_id": world.b.area.pk}, content_type="application/json")
    assert foreign.status_code == 404 and foreign.json()["field"] == "area_id"
    foreign = client.post("/api/v1/hazards", {**body, "equipment_id": world.b.equipment.pk},
                          content_type="application/json")
    assert foreign.status_code == 404 and foreign.json()["field"] == "equipment_id"
    assert not Hazard.objects.exists()


def test_hazards_are_not_started_as_permits_and_not_in_the_permit_ledger(shop):
    from anlian.flows.services import startable_versions

    hazard = shop.report(at(9, 23))
    assert not startable_versions(shop.reporter.user).filter(template__kind="hazard").exists()
    ledger = client_for(shop.officer).get("/permits/").content.decode()
    assert Hazard.objects.get(pk=hazard["id"]).instance.number not in ledger


def test_another_company_cannot_read_or_act_on_a_hazard(shop, world):
    hazard = shop.report(at(9, 23))
    intruder = client_for(world.b.admin)
    assert intruder.get(f"/api/v1/hazards/{hazard['id']}").status_code == 404
    assert intruder.get("/api/v1/hazards").json()["count"] == 0
    response = intruder.post(f"/api/v1/hazards/{hazard['id']}/actions", {"kind": "cancel", "reason": "x"},
                             content_type="application/json")
    assert response.status_code == 404
    assert Hazard.objects.get(pk=hazard["id"]).stage == HazardStage.DISPATCHED
