# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: contractor companies, their qualification documents and authorised areas, and the monthly
red/black list.

Like orgs.api: every object comes through `access` (another company's id is a 404, like a missing
one), ids in bodies too, and every write goes through `workforce.contractors` in one transaction.
A document's scan is first uploaded with POST /files, then named here by its SHA-256.
"""

from datetime import date, datetime
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from anlian.core.errors import NotFound
from anlian.core.schemas import Id, Pages, Strict
from anlian.evidence.models import StoredFile
from anlian.orgs import access
from anlian.orgs.api import ref, search, unit_from, writing
from anlian.orgs.models import Area, Contractor, ContractorStatus, OrgUnit
from anlian.workforce import contractors as services
from anlian.workforce import redlist
from anlian.workforce.models import ContractorArea, ContractorDocument, DocumentKind

router = Router(tags=["contractors"])

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Phone = Field("", max_length=20)


def writing_here():
    return writing({"scan": "scan_sha256"})  # a scan is sent as scan_sha256


# --- contractors ---------------------------------------------------------------------------------


class ContractorOut(Schema):
    id: int
    org_unit_id: int
    company_id: int
    name: str
    credit_code: str
    contact_name: str
    contact_phone: str
    contract_start: date | None
    contract_end: date | None
    status: str
    status_reason: str
    workers: int = Field(0, description="Active workers")
    open_violations: int = 0
    documents_expired: int = 0
    documents_expiring: int = Field(0, description="Expiring within 30 days")

    @staticmethod
    def resolve_workers(obj: Contractor) -> int:
        return getattr(obj, "n_workers", 0)

    @staticmethod
    def resolve_open_violations(obj: Contractor) -> int:
        return getattr(obj, "n_open_violations", 0)

    @staticmethod
    def resolve_documents_expired(obj: Contractor) -> int:
        return getattr(obj, "n_docs_expired", 0)

    @staticmethod
    def resolve_documents_expiring(obj: Contractor) -> int:
        return getattr(obj, "n_docs_expiring", 0)


class ContractorIn(Strict):
    org_unit_id: Id
    name: str = Field(min_length=1, max_length=100)
    credit_code: str = Field("", max_length=18)
    contact_name: str = Field("", max_length=50)
    contact_phone: str = Phone
    contract_start: date | None = None
    contract_end: date | None = None


class ContractorPatch(Strict):
    org_unit_id: Id = None
    name: str = Field(None, min_length=1, max_length=100)
    credit_code: str = Field(None, max_length=18)
    contact_name: str = Field(None, max_length=50)
    contact_phone: str = Field(None, max_length=20)
    contract_start: date | None = None
    contract_end: date | None = None


class StatusIn(Strict):
    status: ContractorStatus
    reason: str = Field(min_length=1, max_length=200)


def _one(request: HttpRequest, contractor_id: int) -> Contractor:
    return access.get_for_user(services.with_figures(Contractor.objects.all()), request.user, contractor_id)


def _fresh(request: HttpRequest, contractor: Contractor) -> Contractor:
    return _one(request, contractor.pk)  # with the figures the list shows


@router.get("/contractors", response=list[ContractorOut], summary="Contractors I may see")
@paginate(Pages)
def list_contractors(request: HttpRequest, status: ContractorStatus | None = None, org_unit_id: Id | None = None,
                     q: str | None = Query(None, max_length=100, description="Search in name, credit code, contact")):
    items = access.visible(Contractor, request.user)
    if status is not None:
        items = items.filter(status=status)
    if org_unit_id is not None:
        items = items.filter(org_unit__path__startswith=ref(OrgUnit, request, org_unit_id, "org_unit_id").path)
    items = search(items, q, "name", "credit_code", "contact_name")
    return services.with_figures(items).order_by("name", "pk")


@router.post("/contractors", response={201: ContractorOut}, summary="Add a contractor")
def create_contractor(request: HttpRequest, payload: ContractorIn):
    unit = ref(OrgUnit, request, payload.org_unit_id, "org_unit_id")
    with writing():
        contractor = services.save_contractor(request.user, None, org_unit=unit,
                                              **payload.model_dump(exclude={"org_unit_id"}))
    return Status(201, _fresh(request, contractor))


@router.get("/contractors/{contractor_id}", response=ContractorOut, summary="One contractor")
def get_contractor(request: HttpRequest, contractor_id: Id):
    return _one(request, contractor_id)


@router.patch("/contractors/{contractor_id}", response=ContractorOut, summary="Change a contractor")
def update_contractor(request: HttpRequest, contractor_id: Id, payload: ContractorPatch):
    contractor = access.get_for_user(Contractor, request.user, contractor_id)
    changes = payload.model_dump(exclude_unset=True)
    unit = unit_from(request, changes, contractor.org_unit)
    fields = ("name", "credit_code", "contact_name", "contact_phone", "contract_start", "contract_end")
    data = {name: getattr(contractor, name) for name in fields} | changes
    with writing():
        services.save_contractor(request.user, contractor, org_unit=unit, **data)
    return _fresh(request, contractor)


@router.delete("/contractors/{contractor_id}", response={204: None},
               summary="Delete a contractor without workers or violations")
def delete_contractor(request: HttpRequest, contractor_id: Id):
    contractor = access.get_for_user(Contractor, request.user, contractor_id)
    with writing():
        services.delete_contractor(request.user, contractor)
    return Status(204, None)


@router.post("/contractors/{contractor_id}/status", response=ContractorOut,
             summary="Make a contractor active, suspended or blacklisted, with a reason")
def set_status(request: HttpRequest, contractor_id: Id, payload: StatusIn):
    contractor = access.get_for_user(Contractor, request.user, contractor_id)
    with writing():
        services.set_status(request.user, contractor, payload.status, payload.reason)
    return _fresh(request, contractor)


# --- documents -----------------------------------------------------------------------------------


class DocumentOut(Schema):
    id: int
    contractor_id: int
    kind: str
    number: str
    expires_on: date | None
    expiry: str = Field("", description='"expired", "expiring" (within 30 days) or ""')
    scan_sha256: str | None = None
    created_at: datetime

    @staticmethod
    def resolve_expiry(obj: ContractorDocument) -> str:
        return services.expiry_state(obj.expires_on)

    @staticmethod
    def resolve_scan_sha256(obj: ContractorDocument) -> str | None:
        return obj.file.sha256 if obj.file_id else None


class DocumentIn(Strict):
    kind: DocumentKind
    number: str = Field("", max_length=60)
    expires_on: date | None = None
    scan_sha256: Sha256 | None = Field(None, description="A file uploaded with POST /files")


class DocumentPatch(Strict):
    kind: DocumentKind = None
    number: str = Field(None, max_length=60)
    expires_on: date | None = None
    scan_sha256: Sha256 = Field(None, description="Replace the scan")


def _scan(request: HttpRequest, contractor: Contractor, sha256: str | None) -> StoredFile | None:
    if sha256 is None:
        return None
    found = access.visible(StoredFile, request.user).filter(sha256=sha256, company=contractor.company_id).first()
    if found is None:
        raise NotFound(field="scan_sha256")
    return found


@router.get("/contractors/{contractor_id}/documents", response=list[DocumentOut],
            summary="A contractor's qualification documents")
def list_documents(request: HttpRequest, contractor_id: Id):
    contractor = access.get_for_user(Contractor, request.user, contractor_id)
    return contractor.documents.select_related("file").order_by("expires_on", "pk")


@router.post("/contractors/{contractor_id}/documents", response={201: DocumentOut},
             summary="Add a qualification document")
def create_document(request: HttpRequest, contractor_id: Id, payload: DocumentIn):
    contractor = access.get_for_user(Contractor, request.user, contractor_id)
    scan = _scan(request, contractor, payload.scan_sha256)
    with writing_here():
        document = services.save_document(request.user, contractor, None, kind=payload.kind, number=payload.number,
                                          expires_on=payload.expires_on, file=scan)
    return Status(201, document)


@router.patch("/contractor-documents/{document_id}", response=DocumentOut, summary="Change a qualification document")
def update_document(request: HttpRequest, document_id: Id, payload: DocumentPatch):
    document = access.get_for_user(ContractorDocument.objects.select_related("contractor"), request.user,
                                   document_id)
    changes = payload.model_dump(exclude_unset=True)
    scan = _scan(request, document.contractor, changes.pop("scan_sha256", None))
    data = {"kind": document.kind, "number": document.number, "expires_on": document.expires_on} | changes
    with writing_here():
        return services.save_document(request.user, document.contractor, document, file=scan, **data)


@router.delete("/contractor-documents/{document_id}", response={204: None}, summary="Delete a qualification document")
def delete_document(request: HttpRequest, document_id: Id):
    document = access.get_for_user(ContractorDocument.objects.select_related("contractor"), request.user,
                                   document_id)
    with writing():
        services.delete_document(request.user, document)
    return Status(204, None)


# --- authorised areas ----------------------------------------------------------------------------


class AreaLinkOut(Schema):
    id: int
    contractor_id: int
    area_id: int
    area_name: str
    valid_from: date
    valid_until: date

    @staticmethod
    def resolve_area_name(obj: ContractorArea) -> str:
        return obj.area.name


class AreaLinkIn(Strict):
    area_id: Id
    valid_from: date
    valid_until: date


class AreaLinkPatch(Strict):
    valid_from: date = None
    valid_until: date = None


@router.get("/contractors/{contractor_id}/areas", response=list[AreaLinkOut],
            summary="The areas a contractor may work in, with validity")
def list_contractor_areas(request: HttpRequest, contractor_id: Id):
    contractor = access.get_for_user(Contractor, request.user, contractor_id)
    return contractor.areas.select_related("area").order_by("area__name", "pk")


@router.post("/contractors/{contractor_id}/areas", response={201: AreaLinkOut}, summary="Authorise an area")
def create_contractor_area(request: HttpRequest, contractor_id: Id, payload: AreaLinkIn):
    contractor = access.get_for_user(Contractor, request.user, contractor_id)
    area = ref(Area, request, payload.area_id, "area_id")
    with writing():
        link = services.save_area(request.user, contractor, None, area=area, valid_from=payload.valid_from,
                                  valid_until=payload.valid_until)
    return Status(201, link)


@router.patch("/contractor-areas/{contractor_area_id}", response=AreaLinkOut,
              summary="Change an area authorisation's dates")
def update_contractor_area(request: HttpRequest, contractor_area_id: Id, payload: AreaLinkPatch):
    link = access.get_for_user(ContractorArea.objects.select_related("contractor", "area__org_unit"), request.user,
                               contractor_area_id)
    data = {"valid_from": link.valid_from, "valid_until": link.valid_until} | payload.model_dump(exclude_unset=True)
    with writing():
        return services.save_area(request.user, link.contractor, link, area=link.area, **data)


@router.delete("/contractor-areas/{contractor_area_id}", response={204: None}, summary="Withdraw an area authorisation")
def delete_contractor_area(request: HttpRequest, contractor_area_id: Id):
    link = access.get_for_user(ContractorArea.objects.select_related("contractor", "area"), request.user,
                               contractor_area_id)
    with writing():
        services.delete_area(request.user, link)
    return Status(204, None)


# --- monthly red/black list ----------------------------------------------------------------------


class RedlistRow(Schema):
    contractor_id: int
    contractor_name: str
    contractor_status: str
    workers: int
    violations: int
    serious_violations: int
    violation_rate: float | None = Field(description="Violations per 100 workers; null: violations but no workers")
    rectify_due: int
    rectified_in_time: int
    timeliness: float | None = Field(description="Percent; null when nothing was due")
    training_due: int
    training_done: int
    training_completion: float | None = Field(description="Percent; null when nothing was due")
    verdict: str = Field(description="red | normal | black")
    reasons: list[str]


class RedlistOut(Schema):
    month: str
    black_rate: float
    black_timeliness: float
    black_training: float
    rows: list[RedlistRow]


@router.get("/contractor-redlist", response=RedlistOut, summary="The monthly contractor red/black list")
def get_redlist(request: HttpRequest,
                month: str = Query(None, max_length=7, description="YYYY-MM; default: the previous month")):
    report = redlist.compute(request.user, redlist.parse_month(month, services.today()))
    rows = [{"contractor_id": r.contractor.pk, "contractor_name": r.contractor.name,
             "contractor_status": r.contractor.status, "workers": r.workers, "violations": r.violations,
             "serious_violations": r.serious, "violation_rate": r.rate, "rectify_due": r.rectify_due,
             "rectified_in_time": r.rectified_in_time, "timeliness": r.timeliness, "training_due": r.training_due,
             "training_done": r.training_done, "training_completion": r.training, "verdict": r.verdict,
             "reasons": r.reasons} for r in report.rows]
    limits = report.limits
    return {"month": str(report.month), "black_rate": limits.black_rate, "black_timeliness": limits.black_timeliness,
            "black_training": limits.black_training, "rows": rows}
