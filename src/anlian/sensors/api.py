# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: batch ingestion by devices (their own ingest token) and the alarm list and lifecycle.

Devices (with their points and ingest token) and rules are configured here too (MANAGE_ORG).
`POST /readings` takes the JSON bodies of docs/sensors.md with `Authorization: Bearer anls_…`
(the device's ingest token, not a person's). Only the device's own registered points (and its
heartbeat `@<code>`) are fed to the company's rules; everything else is reported as rejected and
kept nowhere. Alarms: VIEW to read, MANAGE_ORG at the alarm's unit to acknowledge and resolve;
another company's alarm is a 404 like a missing one.
"""

import json
from datetime import datetime
from typing import Any, Optional

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from ninja.security import HttpBearer

from anlian.core import clock
from anlian.core.errors import DomainError, Invalid
from anlian.core.schemas import Id, Pages, Strict
from anlian.orgs import access
from anlian.orgs.api import ref, ref_or_none, writing
from anlian.orgs.models import Area, OrgKind, OrgUnit
from anlian.sensors import runner, services
from anlian.sensors.engine import HEARTBEAT_PREFIX, parse_batch
from anlian.sensors.models import Alarm, AlarmStatus, Device, Point, PointKind, Rule
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


# --- devices and rules (configuration; MANAGE_ORG) ------------------------------------------------


class PointOut(Schema):
    id: int
    code: str
    name: str
    unit: str
    kind: str
    set_point: Optional[float]


class DeviceOut(Schema):
    id: int
    company_id: int
    org_unit_id: int
    area_id: Optional[int]
    code: str
    name: str
    kind: str
    is_active: bool
    token_prefix: str = Field(description="The start of the current ingest token (the token itself is shown once)")
    last_seen_at: Optional[datetime]
    points: list[PointOut]

    @staticmethod
    def resolve_points(obj: Device) -> list:
        return list(obj.points.order_by("code"))


class DeviceIn(Strict):
    org_unit_id: Id
    area_id: Optional[Id] = None
    code: str = Field(max_length=64)
    name: str = Field(max_length=100)
    kind: str = Field("", max_length=40)


class PointIn(Strict):
    code: str = Field(max_length=128)
    name: str = Field("", max_length=100)
    unit: str = Field("", max_length=20)
    kind: PointKind = PointKind.OTHER
    set_point: Optional[float] = None


class TokenOut(Schema):
    token: str = Field(description="The new ingest token; it is never shown again and replaces the old one")


def _devices(request: HttpRequest):
    return access.visible(Device, request.user)


@router.get("/sensor-devices", response=list[DeviceOut], summary="Devices I may see")
@paginate(Pages)
def list_devices(request: HttpRequest):
    return _devices(request).order_by("company__path", "code")


@router.post("/sensor-devices", response={201: DeviceOut}, summary="Register a device (MANAGE_ORG at its unit)")
def create_device(request: HttpRequest, payload: DeviceIn):
    unit = ref(OrgUnit, request, payload.org_unit_id, "org_unit_id")
    area = ref_or_none(Area, request, payload.area_id, "area_id")
    with writing():
        device = services.create_device(request.user, org_unit=unit, area=area, code=payload.code,
                                        name=payload.name, kind=payload.kind)
    return Status(201, device)


def _device(request: HttpRequest, device_id: int) -> Device:
    return access.get_for_user(_devices(request), request.user, device_id)


@router.get("/sensor-devices/{device_id}", response=DeviceOut, summary="One device with its points")
def get_device(request: HttpRequest, device_id: Id):
    return _device(request, device_id)


@router.post("/sensor-devices/{device_id}/token", response={201: TokenOut},
             summary="Issue a new ingest token for the device (the old one stops working)")
def issue_device_token(request: HttpRequest, device_id: Id):
    device = _device(request, device_id)
    with writing():
        return Status(201, {"token": services.issue_ingest_token(request.user, device)})


@router.post("/sensor-devices/{device_id}/points", response={201: PointOut}, summary="Register a point of the device")
def add_device_point(request: HttpRequest, device_id: Id, payload: PointIn):
    device = _device(request, device_id)
    with writing():
        return Status(201, services.add_point(request.user, device, **payload.model_dump()))


class RuleOut(Schema):
    id: int
    company_id: int
    code: str
    name: str
    definition: dict
    area_id: Optional[int]
    is_active: bool
    updated_at: datetime


class RuleIn(Strict):
    company_id: Id
    definition: dict[str, Any] = Field(description="One rule as docs/sensors.md describes it; its key is the code")
    area_id: Optional[Id] = Field(None, description="The area its freeze action freezes")
    is_active: bool = True


class RulePatch(Strict):
    definition: Optional[dict[str, Any]] = None
    area_id: Optional[Id] = None
    is_active: Optional[bool] = None


def _rules(request: HttpRequest):
    return access.visible(Rule, request.user)


@router.get("/sensor-rules", response=list[RuleOut], summary="Alarm rules I may see")
@paginate(Pages)
def list_rules(request: HttpRequest):
    return _rules(request).order_by("company__path", "code")


@router.post("/sensor-rules", response={201: RuleOut},
             summary="Add a rule; an invalid one is refused with every problem (422 rule_invalid)")
def create_rule(request: HttpRequest, payload: RuleIn):
    company = ref(OrgUnit.objects.filter(kind=OrgKind.COMPANY), request, payload.company_id, "company_id")
    area = ref_or_none(Area, request, payload.area_id, "area_id")
    with writing():
        rule = services.save_rule(request.user, None, company=company, definition=payload.definition, area=area,
                                  is_active=payload.is_active)
    return Status(201, rule)


def _rule(request: HttpRequest, sensor_rule_id: int) -> Rule:
    return access.get_for_user(_rules(request), request.user, sensor_rule_id)


@router.get("/sensor-rules/{sensor_rule_id}", response=RuleOut, summary="One rule")
def get_rule(request: HttpRequest, sensor_rule_id: Id):
    return _rule(request, sensor_rule_id)


@router.patch("/sensor-rules/{sensor_rule_id}", response=RuleOut,
              summary="Change a rule (used from the next batch; a changed rule keeps whether it is raised)")
def update_rule(request: HttpRequest, sensor_rule_id: Id, payload: RulePatch):
    rule = _rule(request, sensor_rule_id)
    changes = payload.model_dump(exclude_unset=True)
    area = rule.area
    if "area_id" in changes:
        area = ref_or_none(Area, request, changes["area_id"], "area_id")
    with writing():
        return services.save_rule(
            request.user, rule, company=rule.company, area=area,
            definition=changes["definition"] if changes.get("definition") is not None else rule.definition,
            is_active=changes["is_active"] if changes.get("is_active") is not None else rule.is_active)
