# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API of the Excel import: upload a sheet (multipart), follow the check's progress, read the
errors page by page, confirm, and download the template. Batches are fetched only through
`importing.get_batch` (another company's batch is 404, like a missing one)."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from anlian.core.errors import Forbidden
from anlian.core.schemas import Id, Pages
from anlian.orgs.api import ref, ref_or_none, writing
from anlian.orgs.models import OrgUnit
from anlian.workforce import importing
from anlian.workforce.models import ImportBatch, ImportKind

router = Router(tags=["imports"])


class BatchOut(Schema):
    id: int
    kind: str
    status: str
    status_label: str
    org_unit_id: int
    original_name: str
    created_at: datetime
    finished_at: datetime | None
    total_rows: int
    processed_rows: int
    imported_rows: int
    percent: int
    error_count: int

    @staticmethod
    def resolve_status_label(batch: ImportBatch) -> str:
        return str(batch.get_status_display())

    @staticmethod
    def resolve_percent(batch: ImportBatch) -> int:
        return importing.progress_percent(batch)

    @staticmethod
    def resolve_error_count(batch: ImportBatch) -> int:
        return len(batch.errors)


class PreviewRow(Schema):
    row: int
    cells: list[str]


class BatchDetail(BatchOut):
    columns: list[str]
    preview: list[PreviewRow]

    @staticmethod
    def resolve_columns(batch: ImportBatch) -> list[str]:
        return [str(c.label) for c in importing.SHEETS[batch.kind].columns]


class ErrorOut(Schema):
    row: int | None
    column: str
    message: str


@router.get("/imports", response=list[BatchOut], summary="Recent import batches I may see")
@paginate(Pages)
def list_batches(request: HttpRequest, kind: ImportKind | None = None):
    batches = importing.batches_for(request.user)
    if kind is not None:
        batches = batches.filter(kind=kind)
    return batches.order_by("-created_at", "-pk")


@router.post("/imports", response={201: BatchDetail}, summary="Upload an .xlsx sheet; it is checked in the background")
def upload(request: HttpRequest, kind: Form[ImportKind], org_unit_id: Form[Id], file: File[UploadedFile]):
    unit = ref(OrgUnit, request, org_unit_id, "org_unit_id")
    with writing():
        batch = importing.upload(request.user, kind=kind, org_unit=unit, file=file)
    batch.refresh_from_db()
    return Status(201, batch)


@router.get("/imports/{batch_id}", response=BatchDetail, summary="A batch: status, progress and the first rows")
def get_batch(request: HttpRequest, batch_id: Id):
    return importing.get_batch(request.user, batch_id)


@router.get("/imports/{batch_id}/errors", response=list[ErrorOut], summary="A batch's errors, by row")
@paginate(Pages)
def batch_errors(request: HttpRequest, batch_id: Id):
    return importing.get_batch(request.user, batch_id).errors


@router.post("/imports/{batch_id}/confirm", response={202: BatchDetail},
             summary="Import a checked batch (all rows or none); repeating it does not import twice")
def confirm(request: HttpRequest, batch_id: Id):
    batch = importing.get_batch(request.user, batch_id)
    with writing():
        batch = importing.confirm(request.user, batch)
    batch.refresh_from_db()
    return Status(202, batch)


@router.get("/import-templates/{kind}", summary="The .xlsx template of a kind (values allowed at org_unit_id)")
def template(request: HttpRequest, kind: ImportKind, org_unit_id: Id | None = None) -> Any:
    unit = ref_or_none(OrgUnit, request, org_unit_id, "org_unit_id")
    if unit is None:
        unit = importing.units_for(request.user, kind).first()
    if unit is None:
        raise Forbidden()
    importing.check_scope(request.user, kind, unit)
    return importing.template_response(kind, unit)
