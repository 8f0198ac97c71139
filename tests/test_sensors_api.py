"""HTTP: batch ingestion with a device's token, and the alarm list and lifecycle per company."""

from __future__ import annotations

import json

import pytest

from anlian.accounts.tokens import issue_token
from anlian.core import clock
from anlian.flows.models import AreaFreeze
from anlian.flows.services import EngineRefusal
from anlian.sensors import services
from anlian.sensors.models import Alarm, AlarmStatus, Device, EngineState
from tests.conftest import client_for
from tests.test_sensors_site import Site, at

pytestmark = pytest.mark.django_db
URL = "/api/v1/readings"


@pytest.fixture
def site(world) -> Site:
    return Site(world)


def post(client, token: str | None, body, *, raw: bool = False):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    data = body if raw else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **headers)


def send(client, site: Site, second: int, values: dict, device: str = "gw-tank"):
    """A gateway object at minute 0 + `second`, as the device publishes it."""
    clock.set_now(at(0, second))
    return post(client, site.token, {"device": device, "ts": at(0, second).isoformat(), "values": values})


def state_of(site: Site) -> str:
    row = EngineState.objects.filter(company=site.a.unit).first()
    return row.state if row else ""


def test_sustained_breach_through_http_raises_one_alarm_and_freezes_the_area(client, site):
    for second in range(0, 91, 30):
        answer = send(client, site, second, {"TT-101": 90.0, "LT-3": 2.0})
        assert answer.status_code == 200, answer.content
        assert answer.json() == {"accepted": 3, "rejected": 0, "rejections": []}  # two values + the heartbeat
    assert not Alarm.objects.exists()
    assert send(client, site, 120, {"TT-101": 90.5}).status_code == 200
    alarm = Alarm.objects.get()
    assert alarm.status == AlarmStatus.RAISED and alarm.raised_at == at(2) and alarm.value == 90.5
    assert AreaFreeze.objects.get(area=site.a.area, ended_at__isnull=True) == alarm.freeze
    assert Device.objects.get(pk=site.device.pk).last_seen_at == at(2)
    with pytest.raises(EngineRefusal) as refused:
        site.apply(at(3))
    assert refused.value.code == "area_frozen"
    # the same batch again (an MQTT redelivery, a gateway's retry): nothing raised twice
    assert send(client, site, 120, {"TT-101": 90.5}).status_code == 200
    for second in range(0, 121, 30):
        send(client, site, second, {"TT-101": 90.0, "LT-3": 2.0})
    assert Alarm.objects.count() == 1 and AreaFreeze.objects.count() == 1


def test_a_short_spike_through_http_raises_nothing(client, site):
    for second, value in ((0, 99.0), (60, 99.0), (110, 80.0), (130, 99.0), (200, 99.0)):
        assert send(client, site, second, {"TT-101": value}).status_code == 200
    assert not Alarm.objects.exists() and not AreaFreeze.objects.exists()


def test_resolve_through_the_api_refused_until_cleared_then_allowed(client, site):
    for second in range(0, 121, 60):
        send(client, site, second, {"TT-101": 95.0})
    alarm = Alarm.objects.get()
    officer = client_for(site.a.officer)
    path = f"/api/v1/sensor-alarms/{alarm.pk}"
    assert client_for(site.a.worker).post(f"{path}/resolve").status_code == 404  # a worker at the team cannot see it
    refused = officer.post(f"{path}/resolve")
    assert refused.status_code == 422 and refused.json()["code"] == "alarm_not_cleared"
    assert "尚未恢复正常" in refused.json()["message"]
    acknowledged = officer.post(f"{path}/acknowledge")
    assert acknowledged.status_code == 200
    assert acknowledged.json()["status"] == "acknowledged"
    assert acknowledged.json()["acknowledged_by_name"] == site.a.officer.name
    for second in (180, 240, 300):
        send(client, site, second, {"TT-101": 80.0})
    assert officer.get(path).json()["status"] == "cleared"
    assert officer.get(path).json()["area_frozen"] is True
    clock.set_now(at(6))
    resolved = officer.post(f"{path}/resolve")
    assert resolved.status_code == 200, resolved.content
    body = resolved.json()
    assert body["status"] == "resolved" and body["area_frozen"] is False and body["resolved_by_name"] == site.a.officer.name
    assert AreaFreeze.objects.get().ended_at == at(6)
    assert officer.post(f"{path}/resolve").json()["code"] == "alarm_resolved"
    listed = officer.get(f"/api/v1/sensor-alarms?status=resolved&area_id={site.a.area.pk}").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == alarm.pk and listed["items"][0]["rule_code"] == "r101-temp"
    assert officer.get("/api/v1/sensor-alarms?status=raised").json()["count"] == 0
    assert officer.get("/api/v1/sensor-alarms?status=bogus").status_code == 422


def test_company_b_can_neither_read_nor_act_on_a_alarms(client, site, world):
    for second in range(0, 121, 60):
        send(client, site, second, {"TT-101": 95.0})
    alarm = Alarm.objects.get()
    before = list(Alarm.objects.values())
    for person in (world.b.admin, world.b.officer):
        b = client_for(person)
        assert b.get("/api/v1/sensor-alarms").json()["count"] == 0
        assert b.get(f"/api/v1/sensor-alarms?area_id={site.a.area.pk}").json()["count"] == 0
        for method, suffix in (("get", ""), ("post", "/acknowledge"), ("post", "/resolve")):
            answer = getattr(b, method)(f"/api/v1/sensor-alarms/{alarm.pk}{suffix}")
            assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    _token, secret = issue_token(world.b.admin.user, "b")
    assert client.get(f"/api/v1/sensor-alarms/{alarm.pk}", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 404
    assert list(Alarm.objects.values()) == before
    assert client_for(site.a.admin).get(f"/api/v1/sensor-alarms/{alarm.pk}").status_code == 200


def test_bad_or_missing_tokens_are_401_and_change_nothing(client, site, world):
    body = {"point": "TT-101", "value": 99.0, "ts": at(0).isoformat()}
    clock.set_now(at(0))
    _token, personal = issue_token(site.a.admin.user, "a person's token")
    for token in (None, "", "anls_wrong", site.token + "x", site.token[:-1], personal, "x" * 5000):
        answer = post(client, token, body)
        assert answer.status_code == 401, (token, answer.content)
        assert answer.json()["code"] == "unauthenticated"
    # a logged-in person's session is no device either
    assert post(client_for(site.a.admin), None, body).status_code == 401
    site.device.is_active = False
    site.device.save()
    assert post(client, site.token, body).status_code == 401
    assert state_of(site) == "" and Device.objects.get(pk=site.device.pk).last_seen_at is None


def test_points_of_another_device_or_company_are_rejected_never_fed(client, site, world):
    b = world.b
    other = services.create_device(b.admin.user, org_unit=b.plant, area=b.area, code="gw-b", name="乙网关")
    services.add_point(b.admin.user, other, code="PT-9")
    b_token = services.issue_ingest_token(b.admin.user, other)
    services.save_rule(b.admin.user, None, company=b.unit, definition={
        "key": "b-pt", "kind": "threshold", "point": "PT-9", "above": 1, "actions": ["notify"]})
    clock.set_now(at(0))
    # A's device reporting B's point, an unknown point and its own, one bad value, and a foreign heartbeat
    answer = post(client, site.token, [
        {"point": "PT-9", "value": 50.0, "ts": at(0).isoformat()},
        {"point": "NOPE-1", "value": 1.0, "ts": at(0).isoformat()},
        {"point": "NOPE-1", "value": 2.0, "ts": at(0, 1).isoformat()},
        {"point": "TT-101", "value": 80.0, "ts": at(0).isoformat()},
        {"point": "TT-101", "value": "hot", "ts": at(0).isoformat()},
    ])
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (1, 4)
    codes = {(r["where"], r["code"]) for r in body["rejections"]}
    assert codes == {("PT-9", "point_unknown"), ("NOPE-1", "point_unknown"), ("[4]", "value_not_number")}
    assert all(r["message"] for r in body["rejections"])
    assert "PT-9" not in state_of(site) and "NOPE-1" not in state_of(site)
    assert not EngineState.objects.filter(company=b.unit).exists() and not Alarm.objects.exists()
    # a payload naming another device (B's, or any other) is refused whole, even for A's own points
    for named in ({"device": "gw-b", "ts": at(1).isoformat(), "values": {"TT-101": 99.0}},
                  [{"point": "TT-101", "value": 99.0, "ts": at(1).isoformat(), "device": "gw-b"}],
                  b'{"\\u0064evice": "gw-b", "values": {"TT-101": 99.0}}'):
        refused = post(client, site.token, named, raw=isinstance(named, bytes))
        assert refused.status_code == 422 and refused.json()["code"] == "device_mismatch", refused.content
    assert '"TT-101":[' in state_of(site) and "99" not in state_of(site)
    # B's own device may report its point: B's engine, B's alarm
    assert post(client, b_token, {"point": "PT-9", "value": 50.0, "ts": at(0).isoformat()}).json()["accepted"] == 1
    assert Alarm.objects.get().company == b.unit


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"not json", 400, "malformed_json"),
    (b"\xff\xfe", 400, "malformed_json"),
    (b"42", 422, "batch_shape"),
    (b'"text"', 422, "batch_shape"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "malformed_json"),  # nested too deep
    (json.dumps([{"point": "TT-101", "value": 1.0}] * 20_001).encode(), 413, "body_too_large"),
    (b" " * (1024 * 1024 + 1), 413, "body_too_large"),
])
def test_bad_and_huge_bodies_are_4xx_and_change_nothing(client, site, body, status, code):
    clock.set_now(at(0))
    answer = post(client, site.token, body, raw=True)
    assert answer.status_code == status, answer.content[:300]
    assert answer.json()["code"] == code and answer.json()["message"]
    assert state_of(site) == "" and not Alarm.objects.exists()


def test_items_with_bad_times_or_values_are_reported_one_by_one(client, site):
    clock.set_now(at(0))
    answer = post(client, site.token, [
        {"point": "TT-101", "value": 80.0, "ts": "2026-11-23T09:00:00"},  # no zone
        {"point": "TT-101", "value": 80.0, "ts": at(10).isoformat()},  # device clock ahead
        {"point": "TT-101", "value": 1e300, "ts": at(0).isoformat()},
        {"point": "TT-101", "value": 80.0, "ts": at(0).isoformat(), "colour": "red"},
        {"point": "TT-101", "value": 81.0, "ts": at(0).isoformat()},
    ])
    assert answer.status_code == 200
    body = answer.json()
    assert body["accepted"] == 1 and body["rejected"] == 4
    assert [r["code"] for r in body["rejections"]] == ["ts_no_zone", "ts_future", "value_too_large", "item_unknown"]
