"""Reading the hazard pages' forms, and the dispatch rules' writes shared by the rules table and the API.

The report form is read here and judged by `hazards.services.report` (the page never decides).
A dispatch rule is checked here against its company: the area, the responsible unit and every role
it names must belong to that company (or be a built-in role), and its priority stays in range.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from anlian.core.errors import Invalid, NotFound
from anlian.hazards import services
from anlian.hazards.models import DispatchRule, Hazard, HazardCategory, HazardLevel
from anlian.orgs import access
from anlian.orgs.models import Area, Equipment, OrgKind, OrgUnit, Role
from anlian.orgs.permissions import MANAGE_ORG

PRIORITY_MIN, PRIORITY_MAX = 1, 999
MAX_COSIGN = 5
MAX_ID_TEXT = 12  # an id typed in a form: longer than this cannot exist


def id_or_none(raw: Any) -> int | None:
    text = str(raw or "").strip()
    # ASCII digits only: int() would also read "１" (full width) as 1, a different object than typed.
    return int(text) if text.isascii() and text.isdigit() and len(text) < MAX_ID_TEXT else None


# --- the report (随手拍) ---------------------------------------------------------------------------


@dataclass
class Place:
    """Where a report says the hazard is: the area, and the equipment when a QR code named it."""

    area: Area | None
    equipment: Equipment | None


def place_of(user: Any, area_raw: Any, equipment_raw: Any) -> Place:
    """The equipment and area a report names, fetched within what the user may see (another
    company's id is NotFound, exactly like a missing one). The equipment fills its area."""
    equipment = None
    if str(equipment_raw or "").strip():
        equipment = Equipment.objects.select_related("area__org_unit", "org_unit").filter(
            pk__in=access.visible(Equipment, user).values("pk"), pk=id_or_none(equipment_raw) or 0).first()
        if equipment is None:
            raise NotFound(_("没有找到这台设备，请重新扫码"), field="equipment")
    area = None
    if str(area_raw or "").strip():
        area = access.visible(Area, user).select_related("org_unit").filter(pk=id_or_none(area_raw) or 0).first()
        if area is None:
            raise NotFound(_("没有找到这个区域"), field="area")
    elif equipment is not None and equipment.area_id:
        area = equipment.area
    return Place(area, equipment)


def company_of(area: Area) -> OrgUnit:
    unit = area.org_unit
    return unit if unit.kind == OrgKind.COMPANY else unit.company


def report_areas(user: Any) -> QuerySet:
    return access.visible(Area, user).select_related("org_unit").order_by("org_unit__path", "name")


# --- dispatch rules ------------------------------------------------------------------------------------


def rule_companies(user: Any) -> QuerySet:
    """Companies whose dispatch rules this user may edit: MANAGE_ORG at the company itself."""
    return access.visible(OrgUnit, user, MANAGE_ORG).filter(kind=OrgKind.COMPANY).order_by("path")


def _inside(company: OrgUnit) -> Q:
    return Q(path__startswith=company.path)


def role_choices(company: OrgUnit) -> list[tuple[str, str]]:
    """Role codes a rule of `company` may name: the built-in roles and the company's own."""
    roles = Role.objects.filter(Q(owner__isnull=True) | Q(owner__path__startswith=company.path)).order_by(
        "-is_builtin", "code")
    seen: dict[str, str] = {}
    for role in roles:
        seen.setdefault(role.code, str(role))
    return list(seen.items())


def company_areas(company: OrgUnit) -> QuerySet:
    return Area.objects.filter(org_unit__path__startswith=company.path).select_related("org_unit").order_by(
        "org_unit__path", "name")


def company_units(company: OrgUnit) -> QuerySet:
    return OrgUnit.objects.filter(_inside(company)).order_by("path")


def _role(code: Any, roles: dict[str, str], field: str, required: bool = True) -> str:
    code = str(code or "").strip()
    if not code and not required:
        return ""
    if code not in roles:
        raise Invalid(_("请选择本公司或系统内置的角色"), field=field)
    return code


def clean_rule(company: OrgUnit, data: dict[str, Any]) -> dict[str, Any]:
    """A rule's fields, checked against its company; raises with the field at fault.

    `data` holds plain values: ids for area and responsible_unit (or None), role codes, a list of
    co-signing role codes."""
    text = str(data.get("priority", "")).strip()
    priority = int(text) if text.isascii() and text.isdigit() and len(text) < 6 else 0
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise Invalid(_("优先级须为{lo}～{hi}的整数（数字小的先匹配）").format(lo=PRIORITY_MIN, hi=PRIORITY_MAX),
                      field="priority")
    category = str(data.get("category") or "")
    if category and category not in HazardCategory.values:
        raise Invalid(_("没有这个隐患类别"), field="category")
    level = str(data.get("level") or "")
    if level and level not in HazardLevel.values:
        raise Invalid(_("没有这个隐患等级"), field="level")
    area = None
    if data.get("area") not in (None, ""):
        area = company_areas(company).filter(pk=id_or_none(data["area"]) or 0).first()
        if area is None:
            raise NotFound(_("区域不在本公司内"), field="area")
    unit = None
    if data.get("responsible_unit") not in (None, ""):
        unit = company_units(company).filter(pk=id_or_none(data["responsible_unit"]) or 0).first()
        if unit is None:
            raise NotFound(_("责任单位不在本公司内"), field="responsible_unit")
    roles = dict(role_choices(company))
    cosign_raw = data.get("cosign_roles") or []
    if not isinstance(cosign_raw, list):
        raise Invalid(_("会签角色须为角色代码列表"), field="cosign_roles")
    cosign = list(dict.fromkeys(_role(c, roles, "cosign_roles") for c in cosign_raw if str(c or "").strip()))
    if len(cosign) > MAX_COSIGN:
        raise Invalid(_("会签角色最多{n}个").format(n=MAX_COSIGN), field="cosign_roles")
    return {
        "priority": priority, "category": category, "level": level, "area": area, "responsible_unit": unit,
        "responsible_role": _role(data.get("responsible_role"), roles, "responsible_role"),
        "cosign_roles": cosign,
        "verifier_role": _role(data.get("verifier_role"), roles, "verifier_role"),
        "double_blind": bool(data.get("double_blind")), "is_active": bool(data.get("is_active", True)),
    }


def save_rule(user: Any, company: OrgUnit, rule: DispatchRule | None, data: dict[str, Any]) -> DispatchRule:
    """Add (rule None) or change a company's rule; callers wrap it in a transaction."""
    access.require(user, MANAGE_ORG, company)
    if rule is not None and rule.owner_id != company.pk:
        raise NotFound()
    fields = clean_rule(company, data)
    rule = rule or DispatchRule(owner=company)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.save()
    return rule


def rule_values(rule: DispatchRule) -> dict[str, Any]:
    """A stored rule as `clean_rule` input: a partial change is merged over these."""
    return {"priority": rule.priority, "category": rule.category, "level": rule.level, "area": rule.area_id,
            "responsible_unit": rule.responsible_unit_id, "responsible_role": rule.responsible_role,
            "cosign_roles": list(rule.cosign_roles or []), "verifier_role": rule.verifier_role,
            "double_blind": rule.double_blind, "is_active": rule.is_active}


def delete_rule(user: Any, rule: DispatchRule) -> None:
    access.require(user, MANAGE_ORG, rule.owner)
    rule.delete()  # hazards keep their dispatch (their `rule` link is set null)


def rules_of(company: OrgUnit) -> QuerySet:
    return DispatchRule.objects.filter(owner=company).select_related("area", "responsible_unit").order_by(
        "priority", "pk")


def get_rule(user: Any, rule_id: Any) -> DispatchRule:
    """A rule the user may edit; any other (another company's, or missing) is NotFound."""
    companies = rule_companies(user)
    rule = DispatchRule.objects.select_related("owner").filter(owner__in=companies, pk=id_or_none(rule_id) or 0).first()
    if rule is None:
        raise NotFound()
    return rule


# --- "test a hazard" ----------------------------------------------------------------------------------


@dataclass
class Preview:
    category: str
    level: str
    area: Area
    plan: services.Assignment
    pool: int  # how many people a double-blind draw picks from


def preview(company: OrgUnit, *, category: str, level: str, area_id: Any,
            rng: random.Random | None = None) -> Preview:
    """Which rule a hazard would meet and whom it would name, on an unsaved hazard: nothing is
    recorded. The double-blind verifier shown is one possible draw."""
    if category not in HazardCategory.values:
        raise Invalid(_("请选择隐患类别"), field="category")
    if level not in HazardLevel.values:
        raise Invalid(_("请选择隐患等级"), field="level")
    area = company_areas(company).filter(pk=id_or_none(area_id) or 0).first()
    if area is None:
        raise NotFound(_("区域不在本公司内"), field="area")
    hazard = Hazard(company=company, org_unit=area.org_unit, area=area, category=category, level=level)
    plan = services.assign(hazard, rng)
    pool = 0
    if plan.rule is not None and plan.rule.double_blind:
        involved = {p.pk for p in plan.responsible}
        pool = len([p for p in services.holders(plan.rule.verifier_role, company) if p.pk not in involved])
    return Preview(category, level, area, plan, pool)
