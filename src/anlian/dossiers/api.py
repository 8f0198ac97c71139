# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: dossier PDF exports (ask, poll, download link), share links of one job, regulator accounts.

A dossier is readable by whoever may see the job (VIEW or participant); another company's job is a
404 like a missing one. Share links need MANAGE_ORG over the job's unit; regulator accounts need
MANAGE_ORG at each chosen company.
"""

from datetime import datetime
from typing import Optional

from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from anlian.core.errors import Forbidden, NotFound
from anlian.core.schemas import Id, Pages, Strict
from anlian.dossiers import services
from anlian.dossiers.models import DossierExport, ExportStatus, RegulatorAccount, ShareLink
from anlian.flows import services as flows
from anlian.orgs.api import ref, writing

router = Router(tags=["dossiers"])


class ExportIn(Strict):
    instance_id: Id


class ExportOut(Schema):
    id: int
    instance_id: int
    status: str
    done: int
    total: int
    percent: int
    pages: int
    size: int
    sha256: str
    error: str
    created_at: datetime
    finished_at: Optional[datetime]
    status_url: str
    download_url: Optional[str] = Field(None, description="Set when the PDF is done")
    bundle_url: Optional[str] = Field(None, description="The evidence bundle (ZIP) with the PDF as dossier.pdf")

    @staticmethod
    def resolve_status_url(obj: DossierExport) -> str:
        return reverse("dossiers:export", args=[obj.pk])

    @staticmethod
    def resolve_download_url(obj: DossierExport) -> Optional[str]:
        return reverse("dossiers:export_download", args=[obj.pk]) if obj.status == ExportStatus.DONE else None

    @staticmethod
    def resolve_bundle_url(obj: DossierExport) -> Optional[str]:
        return reverse("dossiers:export_bundle", args=[obj.pk]) if obj.status == ExportStatus.DONE else None


def _instance(request: HttpRequest, instance_id: int):
    try:
        return flows.get_instance_for_user(request.user, instance_id)
    except NotFound:
        raise NotFound(field="instance_id") from None


@router.post("/dossiers", response={200: ExportOut, 202: ExportOut},
             summary="Ask for a dossier PDF of a permit or hazard (202 queued; 200: the one already running)")
def create_export(request: HttpRequest, payload: ExportIn):
    instance = _instance(request, payload.instance_id)
    export, created = services.request_export(request.user, instance)
    export.refresh_from_db()
    return Status(202 if created else 200, export)


@router.get("/dossiers/{export_id}", response=ExportOut, summary="A dossier export: status, progress, download")
def get_export(request: HttpRequest, export_id: Id):
    export = services.visible_exports(request.user).filter(pk=export_id).first()
    if export is None:
        raise NotFound()
    return export


# --- share links ------------------------------------------------------------------------------------


class ShareIn(Strict):
    instance_id: Id
    days: int = Field(ge=services.MIN_DAYS, le=services.MAX_DAYS, description="How long the link works (days)")


class ShareOut(Schema):
    id: int
    instance_id: int
    days: int
    expires_at: datetime
    revoked_at: Optional[datetime]
    created_at: datetime
    opened: int
    url: Optional[str] = Field(None, description="The link to send (none once revoked)")

    @staticmethod
    def resolve_url(obj: ShareLink) -> Optional[str]:
        return None if obj.revoked_at else services.share_url(obj)


@router.post("/share-links", response={201: ShareOut}, summary="A read-only, expiring link to one job's dossier")
def create_share_link(request: HttpRequest, payload: ShareIn):
    instance = _instance(request, payload.instance_id)
    with writing():
        link = services.create_share(request.user, instance, payload.days)
    return Status(201, link)


@router.get("/share-links", response=list[ShareOut], summary="Share links of one job (managers of its unit)")
@paginate(Pages)
def list_share_links(request: HttpRequest, instance_id: Id):
    instance = _instance(request, instance_id)
    if not services.can_share(request.user, instance):
        raise Forbidden()
    return instance.share_links.all()


@router.delete("/share-links/{link_id}", response={204: None}, summary="Revoke a share link (at once, for good)")
def revoke_share_link(request: HttpRequest, link_id: Id):
    link = services.visible_links(request.user).filter(pk=link_id).first()
    if link is None:
        raise NotFound()
    with writing():
        services.revoke_share(request.user, link)
    return Status(204, None)


# --- regulator accounts -----------------------------------------------------------------------------------


class RegulatorIn(Strict):
    name: str = Field(max_length=50)
    agency: str = Field(max_length=100)
    username: str = Field(max_length=150)
    password: str = Field(max_length=200)
    company_ids: list[Id] = Field(min_length=1, max_length=100)


class RegulatorOut(Schema):
    id: int
    person_id: int
    name: str = Field(alias="person.name")
    agency: str
    username: Optional[str] = None
    company_ids: list[int] = []
    created_at: datetime
    revoked_at: Optional[datetime]

    @staticmethod
    def resolve_username(obj: RegulatorAccount) -> Optional[str]:
        return obj.person.user.username if obj.person.user_id else None

    @staticmethod
    def resolve_company_ids(obj: RegulatorAccount) -> list[int]:
        return [c.pk for c in services.regulator_companies(obj)]


def _manager(request: HttpRequest) -> None:
    if not services.managed_companies(request.user).exists():
        raise Forbidden()


@router.get("/regulator-accounts", response=list[RegulatorOut], summary="Regulator accounts of the companies I manage")
@paginate(Pages)
def list_regulators(request: HttpRequest):
    _manager(request)
    return services.visible_regulators(request.user)


@router.post("/regulator-accounts", response={201: RegulatorOut},
             summary="A read-only login for a regulator, limited to the chosen companies")
def create_regulator(request: HttpRequest, payload: RegulatorIn):
    _manager(request)
    companies = [ref(services.managed_companies(request.user), request, pk, "company_ids")
                 for pk in dict.fromkeys(payload.company_ids)]
    with writing({"org_unit": "company_ids", "companies": "company_ids"}):
        account = services.create_regulator(request.user, name=payload.name, agency=payload.agency,
                                            username=payload.username, password=payload.password,
                                            companies=companies)
    return Status(201, account)


@router.delete("/regulator-accounts/{account_id}", response={204: None},
               summary="Revoke a regulator account: its login ends and its grants are removed")
def revoke_regulator(request: HttpRequest, account_id: Id):
    account = services.visible_regulators(request.user).filter(pk=account_id).first()
    if account is None:
        raise NotFound()
    with writing():
        services.revoke_regulator(request.user, account)
    return Status(204, None)
