# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: report a hazard, list and read hazards, and act on one (the same actions as any job).

A hazard's steps are engine actions on its job, so POST /hazards/{id}/actions takes the body of
POST /instances/{id}/actions; the answer is the recorded event. Another company's hazard is 404.
"""

from datetime import datetime
from typing import Optional

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from anlian.core.errors import Invalid, NotFound
from anlian.core.schemas import Id, Pages
from anlian.flows import core
from anlian.flows.api import ActionIn, EventOut, Sha256, Submission, _location
from anlian.hazards import services
from anlian.hazards.models import Hazard, HazardCategory, HazardLevel, HazardStage
from anlian.orgs import access
from anlian.orgs.models import Area, Equipment

router = Router(tags=["hazards"])


class HazardIn(Submission):
    area_id: Optional[Id] = None
    equipment_id: Optional[Id] = Field(None, description="Scanning the equipment's QR fills the area too")
    category: str = Field(max_length=20)
    level: str = Field(max_length=10)
    description: str = Field(max_length=2000)
    scene: list[Sha256] = Field(default_factory=list, max_length=6, description="Photos or clips uploaded first")


class HazardOut(Schema):
    id: int
    number: str
    instance_id: int
    area_id: int
    area_name: str
    equipment_id: Optional[int]
    category: str
    level: str
    description: str
    stage: str
    reported_by_id: int
    reported_at: datetime
    responsible_unit_id: Optional[int]
    respond_due: Optional[datetime]
    on_site_due: Optional[datetime]
    rectify_due: Optional[datetime]
    received_at: Optional[datetime]
    on_site_at: Optional[datetime]
    rectified_at: Optional[datetime]
    verified_at: Optional[datetime]
    closed_at: Optional[datetime]
    overdue: bool
    cycle_minutes: Optional[int]
    recurrence_of_id: Optional[int]

    @staticmethod
    def resolve_number(obj: Hazard) -> str:
        return obj.instance.number

    @staticmethod
    def resolve_area_name(obj: Hazard) -> str:
        return obj.area.name

    @staticmethod
    def resolve_cycle_minutes(obj: Hazard) -> Optional[int]:
        return services.cycle_minutes(obj)


def _hazards(request: HttpRequest):
    return services.visible(request.user).select_related("instance", "area")


def _get(request: HttpRequest, hazard_id: int) -> Hazard:
    found = _hazards(request).filter(pk=hazard_id).first()
    if found is None:
        raise NotFound()
    return found


@router.post("/hazards", response={201: HazardOut}, summary="Report a hazard (随手拍); it is dispatched at once")
def report_hazard(request: HttpRequest, payload: HazardIn):
    equipment = None
    if payload.equipment_id is not None:
        try:
            equipment = access.get_for_user(Equipment.objects.select_related("area", "org_unit"), request.user,
                                            payload.equipment_id)
        except NotFound:
            raise NotFound(field="equipment_id") from None
    if payload.area_id is not None:
        try:
            area = access.get_for_user(Area.objects.select_related("org_unit"), request.user, payload.area_id)
        except NotFound:
            raise NotFound(field="area_id") from None
    elif equipment is not None and equipment.area_id:
        area = Area.objects.select_related("org_unit").get(pk=equipment.area_id)
    else:
        raise Invalid(_("请选择区域，或扫描设备二维码"), field="area_id")
    photos = payload.scene or payload.photos.get("scene", [])
    hazard = services.report(request.user, area=area, category=payload.category, level=payload.level,
                             description=payload.description, photos=photos, equipment=equipment,
                             location=_location(payload), accuracy=payload.accuracy,
                             device_time=payload.device_time)
    return Status(201, _get(request, hazard.pk))


@router.get("/hazards", response=list[HazardOut], summary="Hazards, newest first")
@paginate(Pages)
def list_hazards(request: HttpRequest, stage: Optional[str] = Query(None, max_length=12),
            level: Optional[str] = Query(None, max_length=10), category: Optional[str] = Query(None, max_length=20),
            area_id: Optional[int] = None, overdue: Optional[bool] = None,
            q: Optional[str] = Query(None, max_length=100)):
    qs = _hazards(request)
    if stage in HazardStage.values:
        qs = qs.filter(stage=stage)
    if level in HazardLevel.values:
        qs = qs.filter(level=level)
    if category in HazardCategory.values:
        qs = qs.filter(category=category)
    if area_id is not None:
        qs = qs.filter(area_id=area_id)
    if overdue is not None:
        qs = qs.filter(overdue=overdue)
    if q:
        qs = qs.filter(description__icontains=q)
    return qs.order_by("-reported_at", "-pk")


@router.get("/hazards/{hazard_id}", response=HazardOut, summary="One hazard")
def get_hazard(request: HttpRequest, hazard_id: Id):
    return _get(request, hazard_id)


@router.post("/hazards/{hazard_id}/actions", response={201: EventOut},
             summary="Act on a hazard: receive, on site, plan, rectify, verify (or return), close")
def act_on_hazard(request: HttpRequest, hazard_id: Id, payload: ActionIn):
    found = _get(request, hazard_id)
    if payload.kind not in core.events.ACTIONS or payload.kind == "start":
        raise Invalid(_("不支持的操作「{action}」").format(action=payload.kind), field="kind", code="unknown_action")
    action = core.Action(payload.kind, step=payload.step, values=payload.values, photos=payload.photos,
                         target=payload.target, reason=payload.reason, device_time=payload.device_time,
                         location=_location(payload), accuracy=payload.accuracy)
    with transaction.atomic():
        event = services.flows.act(request.user, found.instance_id, action)
    return Status(201, event)
