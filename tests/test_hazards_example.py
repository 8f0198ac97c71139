"""The machine-shop example of issue 6, through the API with the clock injected: reported at 09:23
with a video, dispatched automatically, received 09:25, on site 09:38, repaired with before/after
photos 10:12, verified 10:15, closed 10:17 — a 54-minute cycle. And the loop's refusals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from anlian.core import clock
from anlian.flows.models import Event
from anlian.hazards.models import DispatchRule, Hazard, HazardStage
from anlian.orgs import services as orgs
from anlian.orgs.access import SYSTEM
from tests.conftest import client_for, make_person
from tests.flows.test_photo_checks_in_steps import scene
from tests.test_evidence_video import clip

pytestmark = pytest.mark.django_db
CST = timezone(timedelta(hours=8))
HERE = {"lat": 30.0, "lng": 120.0}  # the centre of company A's area


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 5, 19, hour, minute, tzinfo=CST)


class Shop:
    def __init__(self, world):
        a = world.a
        self.world = world
        self.reporter = a.worker
        self.fitter = make_person(a.team, "钳工老李", "H01", [("approver_team", a.team)], login="fitter")
        self.officer = a.officer  # safety officer of the plant: verifies and closes
        DispatchRule.objects.create(owner=a.unit, category="mechanical", responsible_role="approver_team",
                                    verifier_role="safety_officer")

    def upload(self, person, data: bytes, name: str = "p.jpg", kind: str = "image/jpeg") -> str:
        response = client_for(person).post("/api/v1/files", {"file": SimpleUploadedFile(name, data, content_type=kind)})
        assert response.status_code == 201, response.content
        return response.json()["sha256"]

    def report(self, when: datetime, **body) -> dict:
        clock.set_now(when)
        video = self.upload(self.reporter, clip(3), "v.mp4", "video/mp4")
        payload = {"equipment_id": self.world.a.equipment.pk, "category": "mechanical", "level": "general",
                   "description": "车床防护罩缺失", "scene": [video], **HERE, **body}
        response = client_for(self.reporter).post("/api/v1/hazards", payload, content_type="application/json")
        assert response.status_code == 201, response.content
        return response.json()

    def act(self, person, hazard_id: int, when: datetime, **body):
        clock.set_now(when)
        return client_for(person).post(f"/api/v1/hazards/{hazard_id}/actions", {**HERE, **body},
                                       content_type="application/json")

    def ok(self, person, hazard_id: int, when: datetime, **body) -> dict:
        response = self.act(person, hazard_id, when, **body)
        assert response.status_code == 201, response.content
        return response.json()


@pytest.fixture
def shop(world) -> Shop:
    return Shop(world)


def test_the_machine_shop_hazard_closes_in_54_minutes(shop):
    hazard = shop.report(at(9, 23))
    assert hazard["stage"] == "dispatched" and hazard["area_id"] == shop.world.a.area.pk  # the equipment's area
    dispatched = Event.objects.get(instance_id=hazard["instance_id"], step="dispatch")
    assert dispatched.actor_key == "system" and dispatched.server_time == at(9, 23)
    assert dispatched.payload["values"]["responsible"] == [str(shop.fitter.pk)]
    assert dispatched.payload["values"]["verifiers"] == [str(shop.officer.pk)]
    hid = hazard["id"]
    shop.ok(shop.fitter, hid, at(9, 25), kind="complete", step="receive")
    arrival = shop.upload(shop.fitter, scene(41))
    shop.ok(shop.fitter, hid, at(9, 38), kind="complete", step="on_site", photos={"arrival": [arrival]})
    before, after = shop.upload(shop.fitter, scene(42)), shop.upload(shop.fitter, scene(43))
    shop.ok(shop.fitter, hid, at(10, 12), kind="complete", step="rectify",
            values={"measures": "加装防护罩并固定", "rectifier_sign": "李师傅"},
            photos={"before": [before], "after": [after]})
    shop.ok(shop.officer, hid, at(10, 15), kind="approve", step="verify", values={"verify_sign": "安全员"})
    shop.ok(shop.officer, hid, at(10, 17), kind="complete", step="close")
    done = client_for(shop.officer).get(f"/api/v1/hazards/{hid}").json()
    assert done["stage"] == "closed" and done["cycle_minutes"] == 54
    got = Hazard.objects.get(pk=hid)
    assert [got.received_at, got.on_site_at, got.rectified_at, got.verified_at, got.closed_at] == [
        at(9, 25), at(9, 38), at(10, 12), at(10, 15), at(10, 17)]
    assert got.instance.status == "closed"  # archived: the job ended with the close step


def test_the_rectifier_cannot_verify_their_own_fix(shop):
    shop.officer.grants.all().delete()  # the fitter is the only safety officer left…
    orgs.grant_role(SYSTEM, shop.fitter, shop.officer.grants.model.role.field.related_model.objects.get(
        code="safety_officer", owner=None), shop.world.a.plant)
    other = make_person(shop.world.a.plant, "另一安全员", "H02", [("safety_officer", shop.world.a.unit)], login="other")
    hazard = shop.report(at(9, 23))
    hid = hazard["id"]
    shop.ok(shop.fitter, hid, at(9, 25), kind="complete", step="receive")
    shop.ok(shop.fitter, hid, at(9, 38), kind="complete", step="on_site", photos={"arrival": [shop.upload(shop.fitter, scene(51))]})
    shop.ok(shop.fitter, hid, at(10, 12), kind="complete", step="rectify",
            values={"measures": "修好", "rectifier_sign": "李"},
            photos={"before": [shop.upload(shop.fitter, scene(52))], "after": [shop.upload(shop.fitter, scene(53))]})
    verifiers = Event.objects.get(instance_id=hazard["instance_id"], step="dispatch").payload["values"]["verifiers"]
    assert str(shop.fitter.pk) not in verifiers  # dispatch never names the rectifier as verifier
    assert verifiers == [str(other.pk)]
    refused = shop.act(shop.fitter, hid, at(10, 14), kind="approve", step="verify", values={"verify_sign": "李"})
    assert refused.status_code == 403 and refused.json()["code"] == "wrong_actor"
    shop.ok(other, hid, at(10, 15), kind="approve", step="verify", values={"verify_sign": "另一安全员"})
    # Closing takes a safety officer, but never the one who rectified (separation of duties).
    refused = shop.act(shop.fitter, hid, at(10, 16), kind="complete", step="close")
    assert refused.status_code == 403 and refused.json()["code"] == "distinct_actor"
    assert refused.json()["message"] == "做过「整改」的人不能再做「销号归档」"
    shop.ok(other, hid, at(10, 17), kind="complete", step="close")


def test_an_after_photo_that_reuses_the_before_photo_is_refused(shop):
    hid = shop.report(at(9, 23))["id"]
    shop.ok(shop.fitter, hid, at(9, 25), kind="complete", step="receive")
    shop.ok(shop.fitter, hid, at(9, 38), kind="complete", step="on_site", photos={"arrival": [shop.upload(shop.fitter, scene(61))]})
    before = shop.upload(shop.fitter, scene(62))
    refused = shop.act(shop.fitter, hid, at(10, 12), kind="complete", step="rectify",
                       values={"measures": "修好", "rectifier_sign": "李"}, photos={"before": [before], "after": [before]})
    assert refused.status_code == 422 and refused.json()["code"] in ("photo_before_after", "photo_reused")
    assert Hazard.objects.get(pk=hid).stage == HazardStage.ON_SITE


def test_a_major_hazard_cannot_be_rectified_before_its_five_item_plan(shop):
    hazard = shop.report(at(9, 23), level="major")
    hid = hazard["id"]
    shop.ok(shop.fitter, hid, at(9, 25), kind="complete", step="receive")
    shop.ok(shop.fitter, hid, at(9, 38), kind="complete", step="on_site", photos={"arrival": [shop.upload(shop.fitter, scene(71))]})
    before, after = shop.upload(shop.fitter, scene(72)), shop.upload(shop.fitter, scene(73))
    early = shop.act(shop.fitter, hid, at(10, 0), kind="complete", step="rectify",
                     values={"measures": "修好", "rectifier_sign": "李"}, photos={"before": [before], "after": [after]})
    assert early.status_code == 409 and early.json()["code"] == "predecessor_pending"
    assert "治理方案" in early.json()["message"]
    missing = shop.act(shop.fitter, hid, at(10, 1), kind="complete", step="plan",
                       values={"plan_owner": str(shop.fitter.pk), "plan_measures": "停机更换",
                               "plan_deadline": at(18, 0).isoformat(), "plan_contingency": "设隔离区"})
    assert missing.status_code == 422 and missing.json()["field"] == "plan_funds"
    shop.ok(shop.fitter, hid, at(10, 2), kind="complete", step="plan",
            values={"plan_owner": str(shop.fitter.pk), "plan_measures": "停机更换", "plan_funds": 1.5,
                    "plan_deadline": at(18, 0).isoformat(), "plan_contingency": "设隔离区"})
    shop.ok(shop.fitter, hid, at(10, 12), kind="complete", step="rectify",
            values={"measures": "修好", "rectifier_sign": "李"}, photos={"before": [before], "after": [after]})
