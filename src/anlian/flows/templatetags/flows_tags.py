"""Chinese wording for the structured template preview (`flows.preview`): durations, roles,
org levels, field types and template kinds."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anlian.orgs.models import OrgKind
from anlian.orgs.permissions import BUILTIN_ROLES

register = template.Library()

KINDS = {"permit": gettext_lazy("作业票"), "hazard": gettext_lazy("隐患"), "loto": gettext_lazy("上锁挂牌"),
         "inspection": gettext_lazy("检查"), "general": gettext_lazy("通用")}
FIELD_TYPES = {"text": gettext_lazy("文本"), "number": gettext_lazy("数字"), "choice": gettext_lazy("单选"),
               "person": gettext_lazy("人员"), "area": gettext_lazy("区域"), "equipment": gettext_lazy("设备"),
               "datetime": gettext_lazy("日期时间"), "checklist": gettext_lazy("检查清单"),
               "signature": gettext_lazy("签名")}


@register.filter
def duration(minutes: int | None) -> str:
    """4320 → 72小时, 90 → 1小时30分钟, 10080 → 7天."""
    if minutes is None:
        return ""
    minutes = int(minutes)
    if minutes and minutes % (24 * 60) == 0 and minutes >= 7 * 24 * 60:
        return _("{n}天").format(n=minutes // (24 * 60))
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return _("{h}小时{m}分钟").format(h=hours, m=rest)
    if hours:
        return _("{n}小时").format(n=hours)
    return _("{n}分钟").format(n=rest)


@register.filter
def role_label(code: str) -> str:
    builtin = BUILTIN_ROLES.get(code)
    return str(builtin.name) if builtin else code


@register.filter
def scope_label(scope: str | None) -> str:
    try:
        return str(OrgKind(scope).label)
    except ValueError:
        return scope or ""


@register.filter
def kind_label(kind: str) -> str:
    return str(KINDS.get(kind, kind))


@register.filter
def field_type_label(field: dict) -> str:
    if field.get("type") == "choice" and field.get("many"):
        return _("多选")
    if field.get("type") == "person" and field.get("many"):
        return _("人员（多人）")
    return str(FIELD_TYPES.get(field.get("type"), field.get("type")))


@register.filter
def number(value: float | None) -> str:
    """0.5 → 0.5, 1.0 → 1 (YAML gives ints and floats; the page shows what safety staff wrote)."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
