# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: a company's escalation policies (shared by hazards and permits), read, set and reset.

`company_id` names a company the caller manages (MANAGE_ORG) — another company's is a 404 like a
missing one; `applies_to` is hazard or permit.
"""

from typing import Any

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status

from anlian.core.schemas import Id, Strict
from anlian.notify import escalation
from anlian.orgs import access
from anlian.orgs.api import writing
from anlian.orgs.models import OrgUnit

router = Router(tags=["notifications"])
AppliesTo = Path(max_length=10, description="hazard | permit")


class TierOut(Schema):
    after_minutes: int
    levels_up: int
    kinds: list[str]


class PolicyOut(Schema):
    applies_to: str
    own: bool = Field(description="False: the default tiers apply (see docs/notifications.md)")
    is_active: bool
    tiers: list[TierOut]


class PolicyIn(Strict):
    # Each tier: {"after_minutes": 0.., "levels_up": 0..10, "kinds": ["inbox", "robot", "sms", "email", "webhook"]};
    # the service checks them and names the tier in a translated message.
    tiers: list[Any] = Field(max_length=50)
    is_active: bool = True


def _company(request: HttpRequest, company_id: int) -> OrgUnit:
    return access.get_for_user(escalation.companies_for(request.user), request.user, company_id)


def _one(company: OrgUnit, applies_to: str) -> dict:
    return next(p for p in escalation.policies_of(company) if p["applies_to"] == applies_to)


@router.get("/companies/{company_id}/escalation-policies", response=list[PolicyOut],
            summary="A company's escalation policies for hazards and permits (default where it has none)")
def list_escalation_policies(request: HttpRequest, company_id: Id):
    return escalation.policies_of(_company(request, company_id))


@router.put("/companies/{company_id}/escalation-policies/{applies_to}", response=PolicyOut,
            summary="Set the escalation tiers for hazards or permits")
def set_escalation_policy(request: HttpRequest, company_id: Id, payload: PolicyIn, applies_to: str = AppliesTo):
    company = _company(request, company_id)
    with writing():
        escalation.save_policy(request.user, company, applies_to, payload.tiers, payload.is_active)
    return _one(company, applies_to)


@router.delete("/companies/{company_id}/escalation-policies/{applies_to}", response={204: None},
               summary="Back to the default tiers")
def reset_escalation_policy(request: HttpRequest, company_id: Id, applies_to: str = AppliesTo):
    company = _company(request, company_id)
    with writing():
        escalation.reset_policy(request.user, company, applies_to)
    return Status(204, None)
