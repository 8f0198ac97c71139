# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: batch ingestion by devices (their own ingest token) and the alarm list and lifecycle.

`POST /readings` takes the JSON bodies of docs/sensors.md with `Authorization: Bearer anls_…`
(the device's ingest token, not a person's). Only the device's own registered points (and its
heartbeat `@<code>`) are fed to the company's rules; everything else is reported as rejected and
kept nowhere. Alarms: VIEW to read, MANAGE_ORG at the alarm's unit to acknowledge and resolve;
another company's alarm is a 404 like a missing one.
"""

import json
from datetime import datetime
from typing import Optional

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate
from ninja.security import HttpBearer

from anlian.core import clock
from anlian.core.errors import DomainError, Invalid
from anlian.core.schemas import Id, Pages
from anlian.orgs import access
from anlian.orgs.api import writing
from anlian.sensors import runner
from anlian.sensors.engine import HEARTBEAT_PREFIX, parse_batch
from anlian.sensors.models import Alarm, AlarmStatus, Device, Point
from anlian.sensors.services import device_for_secret

router = Router(tags=["sensors"])

MAX_BODY = 1024 * 1024  # = DATA_UPLOAD_MAX_MEMORY_SIZE: Django refuses larger bodies first (413)
MAX_READINGS = 20_000
MAX_SHOWN = 100  # rejections listed in one answer; the count has them all


class DeviceAuth(HttpBearer):
    """`Authorization: Bearer anls_…`: the device's ingest token."""

    def authenticate(self, request: HttpRequest, token: str) -> Optional[Device]:
        return device_for_secret(token)


class BodyRefused(DomainError):
    code = "body_too_large"
    http_status = 413


class RejectionOut(Schema):
    where: str = Field(description="The item's place ([3], values.TT-101) or the point's code")
    code: str
    message: str


class ReadingsOut(Schema):
    accepted: int
    rejected: int
    rejections: list[RejectionOut] = Field(description=f"The first {MAX_SHOWN} rejections")


READINGS_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "description": "One reading {point, value, ts, quality}, a list of them, or a gateway object "
                           "{device, ts, values: {point: value}} (docs/sensors.md)",
            "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}}},
    }
}


@router.post("/readings", response=ReadingsOut, auth=[DeviceAuth()], openapi_extra=READINGS_BODY,
             summary="A device's batch of readings (its ingest token as bearer)")
def post_readings(request: HttpRequest):
    device: Device = request.auth
    now = clock.now()
    body = request.body  # more than DATA_UPLOAD_MAX_MEMORY_SIZE: RequestDataTooBig → 413
    batch = parse_batch(body, now, max_bytes=MAX_BODY, max_items=MAX_READINGS)
    whole = [r for r in batch.rejected if r.code.startswith("batch_")]
    if whole:
        if whole[0].code in ("batch_too_large", "batch_too_many"):
            raise BodyRefused(whole[0].message)
        if whole[0].code in ("batch_not_json", "batch_not_text"):
            raise DomainError(whole[0].message, code="malformed_json")  # 400, like any body that is not JSON
        raise Invalid(whole[0].message, code=whole[0].code)
    if b'"device"' in body:
        _same_device(body, device)
    rejections = [{"where": r.where, "code": r.code, "message": r.message} for r in batch.rejected]
    own = set(Point.objects.filter(device=device).values_list("code", flat=True))
    own.add(HEARTBEAT_PREFIX + device.code)
    readings, unknown = [], {}
    for reading in batch:
        if reading.point in own:
            readings.append(reading)
        else:
            unknown[reading.point] = unknown.get(reading.point, 0) + 1
    for point, count in unknown.items():
        # Another company's point reads exactly like one never registered.
        rejections.append({"where": point, "code": "point_unknown", "message": _(
            "测点「{point}」未在该设备下登记，{count}个读数未采用").format(point=point, count=count)})
    rejected = len(batch.rejected) + sum(unknown.values())
    with writing():
        if readings:
            runner.accept(device.company, readings, now)
        Device.objects.filter(pk=device.pk).update(last_seen_at=now)
    return {"accepted": len(readings), "rejected": rejected, "rejections": rejections[:MAX_SHOWN]}


def _same_device(body: bytes, device: Device) -> None:
    """A payload naming another device is refused whole: a token reports for its own device only
    (its values would otherwise pass under this device's points)."""
    doc = json.loads(body)  # parse_batch has read it already: valid, bounded JSON
    for item in doc if isinstance(doc, list) else [doc]:
        if isinstance(item, dict) and "device" in item and item["device"] != device.code:
            raise Invalid(_("数据包中的设备「{got}」不是该令牌所属的设备「{code}」").format(
                got=str(item["device"])[:64], code=device.code), field="device", code="device_mismatch")


# --- alarms ------------------------------------------------------------------------------------


class AlarmOut(Schema):
    id: int
    company_id: int
    rule_id: int
    rule_code: str = Field(alias="rule.code")
    rule_name: str = Field(alias="rule.name")
    area_id: Optional[int]
    area_name: Optional[str] = Field(None, alias="area.name")
    level: int
    points: list[str]
    value: Optional[float]
    reason: str
    status: str
    since: datetime
    raised_at: datetime
    raised_count: int
    acknowledged_at: Optional[datetime]
    acknowledged_by_name: Optional[str] = Field(None, alias="acknowledged_by.name")
    cleared_at: Optional[datetime]
    resolved_at: Optional[datetime]
    resolved_by_name: Optional[str] = Field(None, alias="resolved_by.name")
    area_frozen: bool = Field(description="The alarm's freeze of its area is still in force")

    @staticmethod
    def resolve_area_frozen(obj: Alarm) -> bool:
        return obj.freeze is not None and obj.freeze.ended_at is None


class AlarmFilter(Schema):
    status: Optional[AlarmStatus] = Query(None)
    area_id: Optional[Id] = Query(None)


def _alarms(request: HttpRequest):
    return access.visible(Alarm, request.user).select_related(
        "rule", "area", "acknowledged_by", "resolved_by", "freeze")


@router.get("/sensor-alarms", response=list[AlarmOut], summary="Alarms I may see, newest first")
@paginate(Pages)
def list_alarms(request: HttpRequest, filters: Query[AlarmFilter]):
    alarms = _alarms(request)
    if filters.status:
        alarms = alarms.filter(status=filters.status)
    if filters.area_id is not None:
        alarms = alarms.filter(area_id=filters.area_id)
    return alarms.order_by("-raised_at", "-pk")


def _alarm(request: HttpRequest, alarm_id: int) -> Alarm:
    return access.get_for_user(_alarms(request), request.user, alarm_id)


@router.get("/sensor-alarms/{alarm_id}", response=AlarmOut, summary="One alarm")
def get_alarm(request: HttpRequest, alarm_id: Id):
    return _alarm(request, alarm_id)


@router.post("/sensor-alarms/{alarm_id}/acknowledge", response=AlarmOut,
             summary="Take charge of an alarm (MANAGE_ORG at its unit)")
def acknowledge_alarm(request: HttpRequest, alarm_id: Id):
    alarm = _alarm(request, alarm_id)
    with writing():
        runner.acknowledge(request.user, alarm)
    return _alarm(request, alarm_id)


@router.post("/sensor-alarms/{alarm_id}/resolve", response=AlarmOut,
             summary="Confirm the danger is over and lift the area's freeze (values must be back to normal)")
def resolve_alarm(request: HttpRequest, alarm_id: Id):
    alarm = _alarm(request, alarm_id)
    with writing():
        runner.resolve(request.user, alarm)
    return _alarm(request, alarm_id)
