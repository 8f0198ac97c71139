"""Devices, points and rules of the sensors app: what is refused, and tokens kept only as hashes."""

from __future__ import annotations

import pytest

from anlian.core.errors import Forbidden, Invalid, NotFound
from anlian.sensors import services
from anlian.sensors.models import Device, Rule

pytestmark = pytest.mark.django_db

TEMP = {"key": "r101-temp", "name": "R-101 反应釜温度偏离设定值", "kind": "threshold", "point": "TT-101",
        "setpoint": 80, "band": 5, "for": "120s", "level": 2, "actions": ["notify", "freeze"]}


def test_ingest_token_is_stored_only_as_a_hash(world):
    a = world.a
    device = services.create_device(a.admin.user, org_unit=a.plant, area=a.area, code="gw-1", name="罐区网关")
    secret = services.issue_ingest_token(a.admin.user, device)
    device.refresh_from_db()
    assert secret.startswith("anls_") and secret not in (device.token_hash, device.token_prefix)
    assert device.token_hash == services.digest(secret)
    assert services.device_for_secret(secret) == device
    assert services.device_for_secret(secret + "x") is None
    assert services.device_for_secret("anl_" + secret[5:]) is None  # a person's token prefix is not a device's
    again = services.issue_ingest_token(a.admin.user, device)
    assert services.device_for_secret(secret) is None and services.device_for_secret(again) == device
    device.is_active = False
    device.save()
    assert services.device_for_secret(again) is None


def test_codes_are_unique_per_company_not_across(world):
    a, b = world.a, world.b
    device = services.create_device(a.admin.user, org_unit=a.plant, code="gw-1", name="网关")
    services.add_point(a.admin.user, device, code="TT-101", kind="temperature", unit="℃", set_point=80)
    with pytest.raises(Invalid) as dup:
        services.create_device(a.admin.user, org_unit=a.unit, code="gw-1", name="又一个")
    assert dup.value.code == "duplicate"
    with pytest.raises(Invalid):
        services.add_point(a.admin.user, device, code="TT-101")
    with pytest.raises(Invalid):
        services.add_point(a.admin.user, device, code="@gw-1")  # heartbeats are the engine's names
    other = services.create_device(b.admin.user, org_unit=b.plant, code="gw-1", name="乙网关")
    services.add_point(b.admin.user, other, code="TT-101")
    assert Device.objects.filter(code="gw-1").count() == 2


def test_people_of_another_company_cannot_register_devices_or_rules(world):
    a, b = world.a, world.b
    with pytest.raises(Forbidden):
        services.create_device(b.admin.user, org_unit=a.plant, code="x", name="越权")
    with pytest.raises(Forbidden):
        services.create_device(a.worker.user, org_unit=a.team, code="x", name="工人无权")
    with pytest.raises(NotFound):
        services.create_device(a.admin.user, org_unit=a.plant, area=b.area, code="x", name="乙的区域")
    with pytest.raises(Forbidden):
        services.save_rule(b.admin.user, None, company=a.unit, definition=TEMP, area=a.area)
    with pytest.raises(NotFound):
        services.save_rule(a.admin.user, None, company=a.unit, definition=TEMP, area=b.area)
    assert not Device.objects.exists() and not Rule.objects.exists()


def test_rules_are_validated_by_the_engine_with_its_chinese_reasons(world):
    a = world.a
    bad = {**TEMP, "for": "2 分钟", "band": -1}
    with pytest.raises(Invalid) as refused:
        services.save_rule(a.admin.user, None, company=a.unit, definition=bad, area=a.area)
    assert refused.value.code == "rule_invalid" and refused.value.field == "definition"
    assert "不是有效时长" in refused.value.message() and "band" in refused.value.message()
    with pytest.raises(Invalid) as no_area:
        services.save_rule(a.admin.user, None, company=a.unit, definition=TEMP)
    assert no_area.value.code == "freeze_needs_area"
    with pytest.raises(Invalid):
        services.save_rule(a.admin.user, None, company=a.unit, definition=["not", "a", "mapping"])
    rule = services.save_rule(a.admin.user, None, company=a.unit, definition=TEMP, area=a.area)
    assert (rule.code, rule.name, rule.definition) == ("r101-temp", TEMP["name"], TEMP)
    with pytest.raises(Invalid) as dup:
        services.save_rule(a.admin.user, None, company=a.unit, definition=TEMP, area=a.area)
    assert dup.value.code == "duplicate"
    assert Rule.objects.count() == 1
