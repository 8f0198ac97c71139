"""Devices, their ingest tokens, points and rules: saved only when valid, by people allowed to."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from anlian.core.errors import Invalid, NotFound
from anlian.orgs import access
from anlian.orgs.models import Area, OrgKind, OrgUnit
from anlian.orgs.permissions import MANAGE_ORG
from anlian.sensors.engine import RuleError, load_rule
from anlian.sensors.models import Device, Point, PointKind, Rule

TOKEN_PREFIX = "anls_"  # not "anl_": a device token is never taken for a person's API token


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def company_of(unit: OrgUnit) -> OrgUnit:
    return unit if unit.kind == OrgKind.COMPANY else unit.company


def create_device(user: Any, *, org_unit: OrgUnit, code: str, name: str, area: Area | None = None,
                  kind: str = "") -> Device:
    access.require(user, MANAGE_ORG, org_unit)
    company = company_of(org_unit)
    if area is not None and not area.org_unit.path.startswith(company.path):
        raise NotFound(field="area")
    code, name = (code or "").strip(), (name or "").strip()
    if not code or len(code) > 64 or not code.isprintable():
        raise Invalid(_("设备编号不能为空且不超过64个字符"), field="code")
    if not name:
        raise Invalid(_("名称不能为空"), field="name")
    if Device.objects.filter(company=company, code=code).exists():
        raise Invalid(_("本公司已有编号为「{code}」的设备").format(code=code), field="code", code="duplicate")
    return Device.objects.create(company=company, org_unit=org_unit, area=area, code=code, name=name[:100],
                                 kind=kind[:40])


def issue_ingest_token(user: Any, device: Device) -> str:
    """A new ingest token for the device (the old one stops working); returns the secret, shown once."""
    access.require(user, MANAGE_ORG, device)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    device.token_prefix = secret[: len(TOKEN_PREFIX) + 6]
    device.token_hash = digest(secret)
    device.save(update_fields=["token_prefix", "token_hash"])
    return secret


def device_for_secret(secret: str) -> Device | None:
    """The active device behind an ingest token, or None."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    return Device.objects.select_related("company").filter(token_hash=digest(secret), is_active=True).first()


def add_point(user: Any, device: Device, *, code: str, name: str = "", unit: str = "", kind: str = PointKind.OTHER,
              set_point: float | None = None) -> Point:
    access.require(user, MANAGE_ORG, device)
    code = (code or "").strip()
    if not code or len(code) > 128 or not code.isprintable() or code.startswith("@"):
        raise Invalid(_("位号不能为空、不超过128个字符，且不能以 @ 开头"), field="code")
    if kind not in PointKind.values:
        raise Invalid(_("未知的测点类型"), field="kind")
    if Point.objects.filter(company=device.company, code=code).exists():
        raise Invalid(_("本公司已有位号为「{code}」的测点").format(code=code), field="code", code="duplicate")
    return Point.objects.create(company=device.company, device=device, code=code, name=name[:100], unit=unit[:20],
                                kind=kind, set_point=set_point)


def validate_rule(definition: Any) -> dict:
    """The rule as the engine reads it, or Invalid with every problem in the engine's words."""
    if not isinstance(definition, dict):
        raise Invalid(_("规则须为一个映射（键值对）"), field="definition")
    try:
        load_rule(definition)
    except RuleError as exc:
        raise Invalid("；".join(exc.errors), field="definition", code="rule_invalid") from None
    return definition


def save_rule(user: Any, rule: Rule | None, *, company: OrgUnit, definition: Any, area: Area | None = None,
              is_active: bool = True) -> Rule:
    """Create or change a rule; its code and name come from the definition's key and name."""
    access.require(user, MANAGE_ORG, company)
    definition = validate_rule(definition)
    if area is not None and not area.org_unit.path.startswith(company.path):
        raise NotFound(field="area")
    actions = {a if isinstance(a, str) else next(iter(a), "") for a in definition.get("actions") or ()}
    if "freeze" in actions and area is None:
        raise Invalid(_("规则含“冻结”动作，须指定冻结区域"), field="area", code="freeze_needs_area")
    code = definition["key"]
    name = str(definition.get("name") or code)[:200]
    try:
        with transaction.atomic():
            if rule is None:
                return Rule.objects.create(company=company, code=code, name=name, definition=definition, area=area,
                                           is_active=is_active)
            if rule.company_id != company.pk:
                raise NotFound()
            rule.code, rule.name, rule.definition, rule.area, rule.is_active = code, name, definition, area, is_active
            rule.save()
            return rule
    except IntegrityError:
        raise Invalid(_("本公司已有编号为「{code}」的规则").format(code=code), field="definition",
                      code="duplicate") from None
