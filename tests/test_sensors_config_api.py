"""HTTP configuration: devices, their points and ingest tokens, and rules refused with the
engine's reasons; all MANAGE_ORG and per company."""

from __future__ import annotations

import json

import pytest

from anlian.core import clock
from anlian.sensors.models import Device, Point, Rule
from tests.conftest import client_for
from tests.test_sensors_site import TEMP, at

pytestmark = pytest.mark.django_db


def post(client, url: str, body: dict):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_register_a_device_with_points_and_report_with_its_token(world, client):
    a = world.a
    admin = client_for(a.admin)
    made = post(admin, "/api/v1/sensor-devices", {"org_unit_id": a.plant.pk, "area_id": a.area.pk, "code": "gw-1",
                                                  "name": "罐区网关"})
    assert made.status_code == 201, made.content
    device = made.json()
    assert device["token_prefix"] == "" and device["points"] == []
    point = post(admin, f"/api/v1/sensor-devices/{device['id']}/points", {"code": "TT-1", "kind": "temperature",
                                                                          "unit": "℃", "set_point": 80})
    assert point.status_code == 201 and point.json()["kind"] == "temperature"
    assert post(admin, f"/api/v1/sensor-devices/{device['id']}/points", {"code": "TT-1"}).json()["code"] == "duplicate"
    assert post(admin, f"/api/v1/sensor-devices/{device['id']}/points", {"code": "T", "kind": "x"}).status_code == 422
    token = admin.post(f"/api/v1/sensor-devices/{device['id']}/token")
    assert token.status_code == 201
    secret = token.json()["token"]
    shown = admin.get(f"/api/v1/sensor-devices/{device['id']}").json()
    assert secret.startswith(shown["token_prefix"]) and secret not in json.dumps(shown)
    assert [p["code"] for p in shown["points"]] == ["TT-1"]
    clock.set_now(at(0))
    sent = client.post("/api/v1/readings", data=json.dumps({"point": "TT-1", "value": 81.0}),
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert sent.status_code == 200 and sent.json()["accepted"] == 1
    again = admin.post(f"/api/v1/sensor-devices/{device['id']}/token").json()["token"]
    assert client.post("/api/v1/readings", data="{}", content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert again != secret


def test_rules_through_the_api_are_refused_with_the_engines_reasons(world):
    a = world.a
    admin = client_for(a.admin)
    bad = post(admin, "/api/v1/sensor-rules", {"company_id": a.unit.pk, "area_id": a.area.pk,
                                               "definition": {**TEMP, "for": "2 分钟", "kind": "thresh"}})
    assert bad.status_code == 422 and bad.json()["code"] == "rule_invalid" and bad.json()["field"] == "definition"
    assert "thresh" in bad.json()["message"]
    no_area = post(admin, "/api/v1/sensor-rules", {"company_id": a.unit.pk, "definition": TEMP})
    assert no_area.json()["code"] == "freeze_needs_area"
    made = post(admin, "/api/v1/sensor-rules", {"company_id": a.unit.pk, "area_id": a.area.pk, "definition": TEMP})
    assert made.status_code == 201, made.content
    rule = made.json()
    assert (rule["code"], rule["definition"]) == ("r101-temp", TEMP)
    url = f"/api/v1/sensor-rules/{rule['id']}"
    off = admin.patch(url, data=json.dumps({"is_active": False}), content_type="application/json")
    assert off.status_code == 200 and off.json()["is_active"] is False and off.json()["area_id"] == a.area.pk
    broken = admin.patch(url, data=json.dumps({"definition": {**TEMP, "band": 0}}), content_type="application/json")
    assert broken.status_code == 422 and broken.json()["code"] == "rule_invalid"
    assert Rule.objects.get().definition == TEMP
    assert admin.get(url).json()["is_active"] is False


def test_other_companies_and_workers_cannot_configure(world):
    a, b = world.a, world.b
    admin = client_for(a.admin)
    device = post(admin, "/api/v1/sensor-devices", {"org_unit_id": a.plant.pk, "code": "gw-1", "name": "网关"}).json()
    rule = post(admin, "/api/v1/sensor-rules", {"company_id": a.unit.pk, "area_id": a.area.pk, "definition": TEMP}).json()
    for person in (b.admin, a.worker):
        other = client_for(person)
        assert other.get(f"/api/v1/sensor-devices/{device['id']}").status_code == 404
        assert other.post(f"/api/v1/sensor-devices/{device['id']}/token").status_code == 404
        assert post(other, f"/api/v1/sensor-devices/{device['id']}/points", {"code": "X"}).status_code == 404
        assert other.get(f"/api/v1/sensor-rules/{rule['id']}").status_code == 404
        assert other.patch(f"/api/v1/sensor-rules/{rule['id']}", data=json.dumps({"is_active": False}),
                           content_type="application/json").status_code == 404
        assert other.get("/api/v1/sensor-devices").json()["count"] == 0
    b_admin = client_for(b.admin)
    assert post(b_admin, "/api/v1/sensor-devices", {"org_unit_id": a.plant.pk, "code": "x", "name": "越权"}).status_code == 404
    assert post(b_admin, "/api/v1/sensor-devices", {"org_unit_id": b.plant.pk, "area_id": a.area.pk, "code": "x",
                                                    "name": "越权"}).status_code == 404
    assert post(b_admin, "/api/v1/sensor-rules", {"company_id": a.unit.pk, "definition": TEMP}).status_code == 404
    assert post(b_admin, "/api/v1/sensor-rules", {"company_id": b.unit.pk, "area_id": a.area.pk,
                                                  "definition": TEMP}).status_code == 404
    worker = client_for(a.worker)
    assert post(worker, "/api/v1/sensor-devices", {"org_unit_id": a.team.pk, "code": "x", "name": "工人"}).status_code == 403
    assert Device.objects.count() == 1 and Point.objects.count() == 0 and Rule.objects.count() == 1
    assert Device.objects.get().token_hash == "" and Rule.objects.get().is_active
