# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API of the hazard ledger and of the import of an Excel ledger: the filtered ledger with each
hazard's overdue mark and cycle time, its counts, its Excel export, and the import batches
(upload, progress, errors, confirm, template). Another company's area, unit or batch is 404."""

from datetime import date, datetime
from typing import Any, Optional

from django.http import HttpRequest
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from anlian.core import clock
from anlian.core.errors import Forbidden
from anlian.core.schemas import Id, Pages
from anlian.hazards import importing, ledger
from anlian.hazards.models import Hazard
from anlian.orgs.api import ref, ref_or_none, writing
from anlian.orgs.models import Area, OrgUnit
from anlian.workforce.importing import progress_percent
from anlian.workforce.models import ImportBatch

router = Router(tags=["hazards"])


class LedgerFilter(Schema):
    stage: Optional[str] = Query(None, max_length=12)
    level: Optional[str] = Query(None, max_length=10)
    category: Optional[str] = Query(None, max_length=20)
    area_id: Optional[Id] = None
    unit_id: Optional[Id] = Query(None, description="Responsible unit: hazards it or a unit below it answers for")
    overdue: Optional[bool] = None
    open: Optional[bool] = Query(None, description="Only hazards still in the loop")
    recurrence: Optional[bool] = Query(None, description="Only recurrences")
    start: Optional[date] = Query(None, description="Reported on or after")
    end: Optional[date] = Query(None, description="Reported on or before")
    q: Optional[str] = Query(None, max_length=50, description="Number or description contains")


class LedgerRow(Schema):
    id: int
    number: str
    instance_id: int
    reported_at: datetime
    area_id: int
    area_name: str
    equipment_id: Optional[int]
    description: str
    category: str
    level: str
    stage: str
    responsible_unit_id: Optional[int]
    rectify_due: Optional[datetime]
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
    def resolve_overdue(obj: Hazard) -> bool:
        return ledger.is_overdue(obj, clock.now())

    @staticmethod
    def resolve_cycle_minutes(obj: Hazard) -> Optional[int]:
        return ledger.services.cycle_minutes(obj)


class Counts(Schema):
    total: int
    open: int
    overdue: int


def _filtered(request: HttpRequest, f: LedgerFilter):
    params = {"stage": f.stage or "", "level": f.level or "", "category": f.category or "", "q": f.q or "",
              "start": f.start.isoformat() if f.start else "", "end": f.end.isoformat() if f.end else "",
              "open": "1" if f.open else "", "recurrence": "1" if f.recurrence else "",
              "overdue": "" if f.overdue is None else ("1" if f.overdue else "0")}
    if f.area_id is not None:
        params["area"] = str(ref(Area, request, f.area_id, "area_id").pk)
    if f.unit_id is not None:
        params["unit"] = str(ref(OrgUnit, request, f.unit_id, "unit_id").pk)
    return ledger.ledger(request.user, params)[0]


@router.get("/hazard-ledger", response=list[LedgerRow], summary="The hazard ledger 隐患台账, filtered, newest first")
@paginate(Pages)
def hazard_ledger(request: HttpRequest, filters: Query[LedgerFilter]):
    return _filtered(request, filters)


@router.get("/hazard-ledger/counts", response=Counts, summary="How many hazards the filters select: all, open, overdue")
def hazard_ledger_counts(request: HttpRequest, filters: Query[LedgerFilter]):
    return ledger.counts(_filtered(request, filters))


@router.get("/hazard-ledger/export", summary="The filtered ledger as .xlsx in the 隐患排查治理台账 columns")
def hazard_ledger_export(request: HttpRequest, filters: Query[LedgerFilter]) -> Any:
    return ledger.xlsx_response(_filtered(request, filters))


# --- import -------------------------------------------------------------------------------------------


class BatchOut(Schema):
    id: int
    status: str
    status_label: str
    org_unit_id: int
    original_name: str
    created_at: datetime
    finished_at: Optional[datetime]
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
        return progress_percent(batch)

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
        return [str(c.label) for c in importing.HazardSheet.columns]


class ErrorOut(Schema):
    row: Optional[int]
    column: str
    message: str


@router.get("/hazard-imports", response=list[BatchOut], summary="Recent hazard-ledger imports I may see")
@paginate(Pages)
def list_imports(request: HttpRequest):
    return importing.batches_for(request.user).order_by("-created_at", "-pk")


@router.post("/hazard-imports", response={201: BatchDetail},
             summary="Upload an .xlsx hazard ledger; it is checked in the background")
def upload_hazard_ledger(request: HttpRequest, org_unit_id: Form[Id], file: File[UploadedFile]):
    unit = ref(OrgUnit, request, org_unit_id, "org_unit_id")
    with writing():
        batch = importing.upload(request.user, org_unit=unit, file=file)
    batch.refresh_from_db()
    return Status(201, batch)


@router.get("/hazard-imports/{hazard_batch_id}", response=BatchDetail, summary="An import: status, progress and the first rows")
def get_import(request: HttpRequest, hazard_batch_id: Id):
    return importing.get_batch(request.user, hazard_batch_id)


@router.get("/hazard-imports/{hazard_batch_id}/errors", response=list[ErrorOut], summary="An import's errors, by row")
@paginate(Pages)
def import_errors(request: HttpRequest, hazard_batch_id: Id):
    return importing.get_batch(request.user, hazard_batch_id).errors


@router.post("/hazard-imports/{hazard_batch_id}/confirm", response={202: BatchDetail},
             summary="Import a checked ledger (all rows or none); repeating it does not import twice")
def confirm_hazard_import(request: HttpRequest, hazard_batch_id: Id):
    batch = importing.get_batch(request.user, hazard_batch_id)
    with writing():
        batch = importing.confirm(request.user, batch)
    batch.refresh_from_db()
    return Status(202, batch)


@router.get("/hazard-import-template", summary="The .xlsx template of a hazard ledger (values allowed at org_unit_id)")
def hazard_import_template(request: HttpRequest, org_unit_id: Optional[Id] = None) -> Any:
    unit = ref_or_none(OrgUnit, request, org_unit_id, "org_unit_id") or importing.units_for(request.user).first()
    if unit is None:
        raise Forbidden()
    importing.check_scope(request.user, unit)
    return importing.template_response(unit)
