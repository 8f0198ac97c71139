# No `from __future__ import annotations`: ninja must see the real parameter types (e.g. Id).
"""API: workflow templates and their versions, evidence photos, running jobs and their steps.

Every action on a job goes through `flows.services`, i.e. through the engine core: the answer to
"what may I do now" (GET …/actions) and the check of a submission (POST …/actions) are the same
rules. A refusal is a 4xx whose `code` names the rule; nothing is recorded for it.
"""

from datetime import datetime, timedelta
from typing import Annotated, Any

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from anlian.core.errors import Invalid, NotFound
from anlian.core.schemas import Id, Pages, Strict
from anlian.evidence.models import StoredFile
from anlian.evidence.services import store_upload
from anlian.flows import core, services
from anlian.flows.checking import check
from anlian.flows.preview import describe
from anlian.flows.models import Endorsement, FlowTemplate, Instance, InstanceStatus, TemplateVersion
from anlian.orgs import access
from anlian.orgs.api import ref_or_none, url_or_none
from anlian.orgs.models import Area, OrgKind, OrgUnit

router = Router(tags=["flows"])

MAX_SOURCE = 200_000  # characters of YAML: the largest shipped template is ~15 000
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=60)]


# --- templates -----------------------------------------------------------------------------------


class TemplateOut(Schema):
    id: int
    key: str
    name: str
    kind: str
    owner_id: int | None
    is_shipped: bool
    published_version_id: int | None
    published_number: int | None

    @staticmethod
    def resolve_published_version_id(obj: FlowTemplate) -> int | None:
        found = obj.published()
        return found.pk if found else None

    @staticmethod
    def resolve_published_number(obj: FlowTemplate) -> int | None:
        found = obj.published()
        return found.number if found else None


class VersionOut(Schema):
    id: int
    template_id: int
    key: str
    number: int
    status: str
    created_at: datetime
    published_at: datetime | None


    @staticmethod
    def resolve_key(obj: TemplateVersion) -> str:
        return obj.template.key


class VersionSourceOut(VersionOut):
    source: str


class TemplateDetailOut(TemplateOut):
    versions: list[VersionOut]

    @staticmethod
    def resolve_versions(obj: FlowTemplate) -> list[TemplateVersion]:
        return list(obj.versions.select_related("template").order_by("-number"))


class SourceIn(Strict):
    source: str = Field(min_length=1, max_length=MAX_SOURCE)


class ImportIn(SourceIn):
    owner_id: Id
    publish: bool = False


class VersionIn(SourceIn):
    publish: bool = False


class CopyIn(Strict):
    owner_id: Id
    key: Key


class ValidationOut(Schema):
    valid: bool
    errors: list[str]
    key: str | None = None
    name: str | None = None
    steps: list[dict[str, Any]] = []  # flows.preview.describe: one readable summary per step


@router.get("/templates", response=list[TemplateOut], summary="List templates (shipped and own)")
@paginate(Pages)
def list_templates(request: HttpRequest, kind: str | None = Query(None, max_length=20)):
    found = services.visible_templates(request.user).order_by("key", "pk")
    return found.filter(kind=kind) if kind else found


@router.post("/templates/validate", response=ValidationOut, summary="Check a template without saving it")
def validate_template(request: HttpRequest, payload: SourceIn):
    result = check(payload.source)
    if not result.ok:
        return {"valid": False, "errors": [str(p) for p in result.problems]}
    tpl = result.template
    return {"valid": True, "errors": [], "key": tpl.key, "name": tpl.name, "steps": describe(tpl)}


@router.post("/templates", response={201: VersionOut}, summary="Import a template (a new version if the key exists)")
def import_template(request: HttpRequest, payload: ImportIn):
    owner = ref_or_none(OrgUnit, request, payload.owner_id, "owner_id")
    version = services.save_version(request.user, None, payload.source, owner=owner, publish=payload.publish)
    return Status(201, version)


@router.get("/templates/{template_id}", response=TemplateDetailOut)
def get_template(request: HttpRequest, template_id: Id):
    return services.get_template_for_user(request.user, template_id)


@router.post("/templates/{template_id}/versions", response={201: VersionOut}, summary="Save a new version")
def add_version(request: HttpRequest, template_id: Id, payload: VersionIn):
    template = services.get_template_for_user(request.user, template_id)
    return Status(201, services.save_version(request.user, template, payload.source, publish=payload.publish))


@router.post("/templates/{template_id}/copy", response={201: VersionOut}, summary="Copy into an own template")
def copy_template(request: HttpRequest, template_id: Id, payload: CopyIn):
    template = services.get_template_for_user(request.user, template_id)
    owner = ref_or_none(OrgUnit, request, payload.owner_id, "owner_id")
    return Status(201, services.copy_template(request.user, template, owner, payload.key))


@router.get("/template-versions/{version_id}", response=VersionSourceOut)
def get_version(request: HttpRequest, version_id: Id):
    return services.get_version_for_user(request.user, version_id)


@router.get("/template-versions/{version_id}/export", summary="The version's YAML, as a file")
def export_version(request: HttpRequest, version_id: Id):
    version = services.get_version_for_user(request.user, version_id)
    response = HttpResponse(version.source, content_type="application/x-yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{version.template.key}-v{version.number}.yaml"'
    return response


@router.post("/template-versions/{version_id}/publish", response=VersionOut)
def publish_version(request: HttpRequest, version_id: Id):
    version = services.get_version_for_user(request.user, version_id)
    return services.publish_version(request.user, version)


# --- evidence files ------------------------------------------------------------------------------


class FileOut(Schema):
    sha256: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    seconds: float | None
    created_at: datetime


def _company_of(request: HttpRequest, company_id: int | None) -> OrgUnit:
    """Photos belong to the uploader's company; someone with grants elsewhere may name another."""
    person = getattr(request.user, "person", None)
    own = person.company if person is not None else None
    if company_id is None or (own is not None and company_id == own.pk):
        if own is None:
            raise Invalid(_("请指定照片所属公司"), field="company_id")
        return own
    unit = ref_or_none(OrgUnit, request, company_id, "company_id")
    if unit.kind != OrgKind.COMPANY:
        raise Invalid(_("请选择公司"), field="company_id")
    return unit


@router.post("/files", response={201: FileOut}, summary="Upload a photo (JPEG, PNG, WebP, HEIC) or a clip ≤ 60 s (MP4, WebM)")
def upload_file(request: HttpRequest, file: File[UploadedFile], company_id: Form[Id | None] = None):
    return Status(201, store_upload(request.user, _company_of(request, company_id), file))


@router.get("/files/{sha256}", response=FileOut)
def get_file(request: HttpRequest, sha256: Sha256):
    found = access.visible(StoredFile, request.user).filter(sha256=sha256).first()
    if found is None:
        raise NotFound()
    return found


# --- jobs ----------------------------------------------------------------------------------------


class StepOut(Schema):
    key: str
    name: str
    kind: str
    done: bool
    completed_at: datetime | None
    completions: list[datetime]
    approvals: dict[str, str]
    returned: str | None


class InstanceOut(Schema):
    id: int
    number: str
    title: str
    status: str
    template_key: str
    template_name: str
    version_id: int
    version_number: int
    area_id: int
    area_name: str
    org_unit_id: int
    applicant_id: int
    applicant_name: str
    current_steps: list[str]
    started_at: datetime
    expires_at: datetime | None
    closed_at: datetime | None

    @staticmethod
    def resolve_template_key(obj: Instance) -> str:
        return obj.version.template.key

    @staticmethod
    def resolve_template_name(obj: Instance) -> str:
        return obj.version.template.name

    @staticmethod
    def resolve_version_number(obj: Instance) -> int:
        return obj.version.number

    @staticmethod
    def resolve_area_name(obj: Instance) -> str:
        return obj.area.name

    @staticmethod
    def resolve_applicant_name(obj: Instance) -> str:
        return obj.applicant.name


class InstanceDetailOut(InstanceOut):
    steps: list[StepOut]
    values: dict[str, Any]
    holder_id: str | None
    last_hash: str
    verify_url: str


class EventOut(Schema):
    seq: int
    kind: str
    step: str
    actor_id: int | None
    actor_name: str | None
    payload: dict[str, Any]
    server_time: datetime
    device_time: datetime | None
    lat: float | None
    lng: float | None
    accuracy: float | None
    prev_hash: str
    hash: str

    @staticmethod
    def resolve_actor_name(obj) -> str | None:
        return obj.actor.name if obj.actor_id else None


class DecisionOut(Schema):
    action: str
    step: str | None
    allowed: bool
    code: str | None
    message: str | None
    field: str | None
    due_at: datetime | None


Lat = Annotated[float, Field(ge=-90, le=90)]
Lng = Annotated[float, Field(ge=-180, le=180)]
Photos = dict[Annotated[str, Field(max_length=60)], Annotated[list[Sha256], Field(max_length=20)]]


class Submission(Strict):
    values: dict[Annotated[str, Field(max_length=60)], Any] = Field(default_factory=dict, max_length=200)
    photos: Photos = Field(default_factory=dict, max_length=30)
    device_time: datetime | None = None
    lat: Lat | None = None
    lng: Lng | None = None
    accuracy: float | None = Field(None, ge=0, le=100_000, description="Of lat/lng, in metres")


class StartIn(Submission):
    version_id: Id
    area_id: Id
    endorsement_id: Id | None = None
    submit_first_step: bool = False


class ActionIn(Submission):
    kind: str = Field(max_length=20)
    step: str | None = Field(None, max_length=60)
    target: str | None = Field(None, max_length=60)
    reason: str = Field("", max_length=2000)
    extend_minutes: int | None = Field(None, ge=1, le=100_000)


def _location(payload: Submission) -> tuple[float, float] | None:
    if (payload.lat is None) != (payload.lng is None):
        raise Invalid(_("经纬度须同时提供"), field="lat")
    return (payload.lat, payload.lng) if payload.lat is not None else None


def _detail(instance: Instance) -> Instance:
    """The job with what its events say now, for InstanceDetailOut."""
    tpl, state = services.template_of(instance.version), services.state_of(instance)
    instance.steps = [{"key": s.key, "name": s.name, "kind": s.kind, **vars(state.steps[s.key])} for s in tpl.steps]
    instance.values, instance.holder_id = state.values, state.holder
    instance.verify_url = url_or_none("permits:verify", token=instance.verify_token) or ""
    return instance


def _jobs(request: HttpRequest):
    return access.visible(Instance, request.user).select_related(
        "version__template", "area", "applicant").distinct()


@router.get("/instances", response=list[InstanceOut], summary="The permit ledger, filtered")
@paginate(Pages)
def list_instances(request: HttpRequest, status: InstanceStatus | None = None,
                   template: str | None = Query(None, max_length=60), area_id: Id | None = None,
                   person_id: Id | None = None, since: datetime | None = None, until: datetime | None = None):
    found = _jobs(request)
    if status:
        found = found.filter(status=status)
    if template:
        found = found.filter(version__template__key=template)
    if area_id:
        found = found.filter(area_id=area_id)
    if person_id:
        found = found.filter(Q(applicant_id=person_id) | Q(participants=person_id))
    if since:
        found = found.filter(started_at__gte=since)
    if until:
        found = found.filter(started_at__lt=until)
    return found.order_by("-started_at", "-pk")


@router.post("/instances", response={201: InstanceDetailOut}, summary="Start a job (and submit its first step)")
def start_instance(request: HttpRequest, payload: StartIn):
    version = services.get_version_for_user(request.user, payload.version_id)
    area = ref_or_none(Area, request, payload.area_id, "area_id")
    endorsement = ref_or_none(Endorsement, request, payload.endorsement_id, "endorsement_id")
    first = None
    if payload.submit_first_step or payload.values or payload.photos:
        first = core.Action("complete", step=services.template_of(version).steps[0].key, values=payload.values,
                            photos=payload.photos, device_time=payload.device_time, location=_location(payload),
                            accuracy=payload.accuracy)
    instance = services.start(request.user, version, area, first=first, endorsement=endorsement,
                              device_time=payload.device_time, location=_location(payload),
                              accuracy=payload.accuracy)
    return Status(201, _detail(services.get_instance_for_user(request.user, instance.pk)))


@router.get("/instances/{instance_id}", response=InstanceDetailOut)
def get_instance(request: HttpRequest, instance_id: Id):
    return _detail(services.get_instance_for_user(request.user, instance_id))


@router.get("/instances/{instance_id}/events", response=list[EventOut], summary="The hash-chained event record")
def list_events(request: HttpRequest, instance_id: Id):
    instance = services.get_instance_for_user(request.user, instance_id)
    return instance.events.select_related("actor").order_by("seq")


@router.get("/instances/{instance_id}/actions", response=list[DecisionOut],
            summary="What I may do now, and the rule refusing the rest")
def list_actions(request: HttpRequest, instance_id: Id):
    instance = services.get_instance_for_user(request.user, instance_id)
    out = []
    for d in services.decisions(request.user, instance):
        refusal = d.refusal
        out.append({"action": d.action, "step": d.step, "allowed": d.allowed, "due_at": d.due_at,
                     "code": refusal.code if refusal else None, "message": refusal.message if refusal else None,
                     "field": refusal.field if refusal else None})
    return out


@router.post("/instances/{instance_id}/actions", response={201: EventOut}, summary="Act on a job")
def act(request: HttpRequest, instance_id: Id, payload: ActionIn):
    if payload.kind not in core.events.ACTIONS or payload.kind == "start":
        raise Invalid(_("不支持的操作「{action}」").format(action=payload.kind), field="kind", code="unknown_action")
    action = core.Action(
        payload.kind, step=payload.step, values=payload.values, photos=payload.photos, target=payload.target,
        reason=payload.reason, device_time=payload.device_time, location=_location(payload),
        accuracy=payload.accuracy,
        extend_by=timedelta(minutes=payload.extend_minutes) if payload.extend_minutes else None)
    event = services.act(request.user, instance_id, action)  # visibility is checked under the row lock
    return Status(201, event)


class EndorsementIn(Strict):
    area_id: Id
    template_key: Key
    reason: str = Field(min_length=1, max_length=200)
    valid_minutes: int = Field(60, ge=1, le=24 * 60)


class EndorsementOut(Schema):
    id: int
    area_id: int
    template_key: str
    endorsed_by_id: int
    reason: str
    created_at: datetime
    valid_until: datetime
    used_by_id: int | None


@router.post("/endorsements", response={201: EndorsementOut},
             summary="Area owner: allow one more job beside a conflicting one")
def endorse(request: HttpRequest, payload: EndorsementIn):
    area = ref_or_none(Area, request, payload.area_id, "area_id")
    return Status(201, services.endorse(request.user, area, payload.template_key, payload.reason,
                                        payload.valid_minutes))


class TaskOut(Schema):
    instance: InstanceOut
    actions: list[DecisionOut]


@router.get("/my-tasks", response=list[TaskOut], summary="Steps waiting for me")
def my_tasks(request: HttpRequest):
    return [{"instance": instance,
             "actions": [{"action": d.action, "step": d.step, "allowed": True, "due_at": d.due_at, "code": None,
                          "message": None, "field": None} for d in allowed]}
            for instance, allowed in services.my_tasks(request.user)]

