# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: a company's deadline policies 整改时限 (per level), read, set and reset to the defaults.

`company_id` names a company (an org unit of kind company) the caller can see — another
company's is a 404 like a missing one; setting or resetting takes MANAGE_ORG there.
"""

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status

from anlian.core.schemas import Id, Strict
from anlian.hazards import timers
from anlian.orgs import access
from anlian.orgs.api import writing
from anlian.orgs.models import OrgUnit

router = Router(tags=["hazards"])
Level = Path(max_length=10, description="general | major")


class PolicyOut(Schema):
    level: str
    own: bool = Field(description="False: the built-in defaults apply")
    respond_minutes: int
    on_site_minutes: int
    rectify_hours: int
    remind_before_minutes: int
    escalate_every_minutes: int
    alert_role: str


class PolicyIn(Strict):
    # Bounds are checked by the service, which names the field in a translated message.
    respond_minutes: int
    on_site_minutes: int
    rectify_hours: int
    remind_before_minutes: int
    escalate_every_minutes: int
    alert_role: str = Field("", max_length=40, description="Told as soon as a hazard is reported; empty: nobody")


def _company(request: HttpRequest, company_id: int) -> OrgUnit:
    return access.get_for_user(timers.companies_for(request.user), request.user, company_id)


def _one(company: OrgUnit, level: str) -> dict:
    return next(p for p in timers.policies_of(company) if p["level"] == level)


@router.get("/companies/{company_id}/hazard-deadlines", response=list[PolicyOut],
            summary="A company's deadline policy per hazard level (defaults where it has none)")
def list_policies(request: HttpRequest, company_id: Id):
    return timers.policies_of(_company(request, company_id))


@router.put("/companies/{company_id}/hazard-deadlines/{level}", response=PolicyOut,
            summary="Set a level's deadlines; new deadlines apply to hazards dispatched from now on")
def set_policy(request: HttpRequest, company_id: Id, payload: PolicyIn, level: str = Level):
    company = _company(request, company_id)
    with writing():
        timers.save_policy(request.user, company, level, payload.model_dump())
    return _one(company, level)


@router.delete("/companies/{company_id}/hazard-deadlines/{level}", response={204: None},
               summary="Back to the built-in defaults for a level")
def reset_policy(request: HttpRequest, company_id: Id, level: str = Level):
    company = _company(request, company_id)
    with writing():
        timers.reset_policy(request.user, company, level)
    return Status(204, None)
