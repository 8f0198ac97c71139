# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: the audit log, read-only. GET /audit lists entries newest first with the page's filters
(paginated like every list), GET /audit/{id} answers one. MANAGE_ORG at a company is needed
(403 otherwise); another company's entry is a 404 like a missing one, another company's id in
`company_id` too. There is no write: the log is append-only."""

from datetime import date, datetime
from typing import Any, Optional

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from anlian.audit import entries
from anlian.audit.models import Action, AuditEntry
from anlian.core.schemas import Id, Pages
from anlian.orgs import access
from anlian.orgs.api import ref

router = Router(tags=["audit"])


class FieldChange(Schema):
    field: str
    label: str = Field(description="The field's name as people know it (verbose_name)")
    old: str = Field(description="Old value as text; secrets are never shown, only that they changed")
    new: str
    added: list[str] = Field(description="Many-to-many fields: names added")
    removed: list[str]


class EntryOut(Schema):
    id: int
    at: datetime
    company_id: Optional[int]
    company_name: Optional[str]
    actor_id: Optional[int] = Field(description="None: the system, the worker or a CLI command")
    actor_name: str
    ip: Optional[str]
    request_id: str
    action: str = Field(description="create, update or delete")
    model: str = Field(description='App label and model, e.g. "orgs.person"')
    model_name: str
    object_id: str
    object_repr: str
    changes: dict[str, Any] = Field(description="{field: [old, new]} as stored (secrets masked)")
    diff: list[FieldChange]

    @staticmethod
    def resolve_company_name(obj: AuditEntry) -> Optional[str]:
        return obj.company.name if obj.company else None

    @staticmethod
    def resolve_model_name(obj: AuditEntry) -> str:
        return entries.model_name(obj.model)

    @staticmethod
    def resolve_diff(obj: AuditEntry) -> list[dict]:
        return [{"field": c.name, "label": c.label, "old": c.old, "new": c.new, "added": c.added,
                 "removed": c.removed} for c in entries.changes_of(obj)]


class EntryFilter(Schema):
    company_id: Optional[Id] = Query(None)
    who: Optional[str] = Query(None, max_length=entries.MAX_TEXT, description="Actor's name or login contains")
    model: Optional[str] = Query(None, max_length=100, description='Kind of object, e.g. "orgs.person"')
    object: Optional[str] = Query(None, max_length=entries.MAX_TEXT, description="Object's name contains, or its id")
    action: Optional[Action] = Query(None)
    start: Optional[date] = Query(None, description="On or after (local date)")
    end: Optional[date] = Query(None, description="On or before (local date)")
    q: Optional[str] = Query(None, max_length=entries.MAX_TEXT, description="An old or new value contains")


@router.get("/audit", response=list[EntryOut], summary="The audit log, newest first")
@paginate(Pages)
def list_entries(request: HttpRequest, filters: Query[EntryFilter]):
    entries.require_reader(request.user)
    company = None
    if filters.company_id is not None:
        company = ref(entries.companies_for(request.user), request, filters.company_id, "company_id")
    found = entries.Filters(company=company, who=filters.who or "", kind=filters.model or "",
                            object=filters.object or "", action=filters.action or "", start=filters.start,
                            end=filters.end, q=filters.q or "").check()
    return entries.search(entries.entries_for(request.user), found)


@router.get("/audit/{entry_id}", response=EntryOut, summary="One audit entry with its diff")
def get_entry(request: HttpRequest, entry_id: Id):
    entries.require_reader(request.user)
    return access.get_for_user(entries.entries_for(request.user), request.user, entry_id)
