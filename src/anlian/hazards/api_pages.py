# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: a company's hazard dispatch rules (the table a safety officer edits) and the "test a hazard"
preview. Writes take MANAGE_ORG at the company; another company's rule or area is 404, like a
missing one. The checks are the rules table's (`hazards.forms.clean_rule`).
"""

from typing import Optional

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from anlian.core.errors import NotFound
from anlian.core.schemas import Id, Strict
from anlian.hazards import forms
from anlian.hazards.models import DispatchRule
from anlian.orgs.api import writing
from anlian.orgs.models import OrgUnit

router = Router(tags=["hazards"])

Role = Field(max_length=40)
# Body names of the services' fields, for a refusal's "field".
RENAMES = {"area": "area_id", "responsible_unit": "responsible_unit_id"}


class RuleOut(Schema):
    id: int
    company_id: int
    priority: int
    category: str
    level: str
    area_id: Optional[int]
    responsible_unit_id: Optional[int]
    responsible_role: str
    cosign_roles: list[str]
    verifier_role: str
    double_blind: bool
    is_active: bool

    @staticmethod
    def resolve_company_id(obj: DispatchRule) -> int:
        return obj.owner_id


class RuleIn(Strict):
    company_id: Optional[Id] = Field(None, description="The company the rule belongs to; default: my company")
    priority: int = Field(100, ge=forms.PRIORITY_MIN, le=forms.PRIORITY_MAX, description="Lower matches first")
    category: str = Field("", max_length=20, description="Empty: any category")
    level: str = Field("", max_length=10, description="Empty: any level")
    area_id: Optional[Id] = Field(None, description="Empty: any area")
    responsible_unit_id: Optional[Id] = Field(None, description="Empty: the hazard area's unit")
    responsible_role: str = Role
    cosign_roles: list[str] = Field(default_factory=list, max_length=forms.MAX_COSIGN)
    verifier_role: str = Field("safety_officer", max_length=40)
    double_blind: bool = False
    is_active: bool = True


class RulePatch(Strict):
    # A missing field stays as it is.
    priority: int = Field(None, ge=forms.PRIORITY_MIN, le=forms.PRIORITY_MAX)
    category: str = Field(None, max_length=20)
    level: str = Field(None, max_length=10)
    area_id: Optional[Id] = None
    responsible_unit_id: Optional[Id] = None
    responsible_role: str = Field(None, max_length=40)
    cosign_roles: list[str] = Field(None, max_length=forms.MAX_COSIGN)
    verifier_role: str = Field(None, max_length=40)
    double_blind: bool = None
    is_active: bool = None


class PreviewIn(Strict):
    company_id: Optional[Id] = None
    category: str = Field(max_length=20)
    level: str = Field(max_length=10)
    area_id: Id


class Named(Schema):
    id: int
    name: str


class PreviewOut(Schema):
    rule_id: Optional[int]
    unit: Named
    responsible: list[Named]
    verifiers: list[Named]
    double_blind_pool: int = Field(description="How many people a double-blind draw picks from (0: no draw)")


def _company(request: HttpRequest, company_id: Optional[int]) -> OrgUnit:
    """A company whose rules the user may edit: the one asked for, else their own (404 otherwise)."""
    companies = forms.rule_companies(request.user)
    person = getattr(request.user, "person", None)
    wanted = company_id if company_id is not None else (person.company_id if person else None)
    company = companies.filter(pk=wanted).first() if wanted else None
    if company is None:
        raise NotFound(field="company_id")
    return company


def _plain(body: dict) -> dict:
    """Body names to the names `forms.clean_rule` reads."""
    out = dict(body)
    for name, service in (("area_id", "area"), ("responsible_unit_id", "responsible_unit")):
        if name in out:
            out[service] = out.pop(name)
    out.pop("company_id", None)
    return out


def _write(company: OrgUnit, rule: Optional[DispatchRule], request: HttpRequest, values: dict) -> DispatchRule:
    with writing(RENAMES):
        return forms.save_rule(request.user, company, rule, values)


@router.get("/hazard-rules", response=list[RuleOut], summary="A company's dispatch rules in priority order")
def list_hazard_rules(request: HttpRequest, company_id: Optional[Id] = None):
    return list(forms.rules_of(_company(request, company_id)))


@router.post("/hazard-rules", response={201: RuleOut}, summary="Add a dispatch rule")
def create_hazard_rule(request: HttpRequest, payload: RuleIn):
    company = _company(request, payload.company_id)
    return Status(201, _write(company, None, request, _plain(payload.model_dump())))


# Before the /hazard-rules/{rule_id} routes: "preview" must not be read as a rule's id.
@router.post("/hazard-rules/preview", response=PreviewOut,
             summary="Which rule a hazard would meet and whom it would name (nothing is recorded)")
def preview_hazard_dispatch(request: HttpRequest, payload: PreviewIn):
    company = _company(request, payload.company_id)
    with writing(RENAMES):  # (a transaction that records nothing: the names a refusal gives)
        result = forms.preview(company, category=payload.category, level=payload.level, area_id=payload.area_id)
    plan = result.plan
    return {"rule_id": plan.rule.pk if plan.rule else None, "unit": plan.unit,
            "responsible": plan.responsible, "verifiers": plan.verifiers, "double_blind_pool": result.pool}


@router.get("/hazard-rules/{rule_id}", response=RuleOut, summary="One dispatch rule")
def get_hazard_rule(request: HttpRequest, rule_id: Id):
    return forms.get_rule(request.user, rule_id)


@router.patch("/hazard-rules/{rule_id}", response=RuleOut, summary="Change a dispatch rule (or disable it)")
def update_hazard_rule(request: HttpRequest, rule_id: Id, payload: RulePatch):
    rule = forms.get_rule(request.user, rule_id)
    values = {**forms.rule_values(rule), **_plain(payload.model_dump(exclude_unset=True))}
    return _write(rule.owner, rule, request, values)


@router.delete("/hazard-rules/{rule_id}", response={204: None}, summary="Delete a dispatch rule")
def delete_hazard_rule(request: HttpRequest, rule_id: Id):
    rule = forms.get_rule(request.user, rule_id)
    with writing():
        forms.delete_rule(request.user, rule)
    return Status(204, None)
