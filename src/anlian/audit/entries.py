"""Reading the audit log: who may see which entries, the filters, each entry as a readable diff,
and the Excel export. Pages and API call these; neither writes to the log.

Visible: the entries of the companies where the user holds MANAGE_ORG at the company itself
(company administrators, safety officers granted at the company); a platform superuser sees all,
including entries that belong to no company (shipped templates, built-in roles, the group).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anlian.audit import registry
from anlian.audit.models import Action, AuditEntry
from anlian.core.errors import Forbidden, Invalid
from anlian.orgs import access
from anlian.orgs.models import OrgKind, OrgUnit
from anlian.orgs.permissions import MANAGE_ORG

MAX_TEXT = 50
EXPORT_LIMIT = 10_000
LONG = 80  # characters: longer text (or text with line breaks) is shown as a line diff
CELL_LIMIT = 32_000  # Excel refuses cells longer than 32,767 characters


# --- who sees what --------------------------------------------------------------------------------


def companies_for(user: Any) -> QuerySet[OrgUnit]:
    """Companies whose log the user reads: MANAGE_ORG held at the company (or above it)."""
    return access.visible(OrgUnit, user, MANAGE_ORG).filter(kind=OrgKind.COMPANY).order_by("path")


def require_reader(user: Any) -> None:
    if not (access.scope_of(user).is_superuser or companies_for(user).exists()):
        raise Forbidden()


def entries_for(user: Any) -> QuerySet[AuditEntry]:
    qs = AuditEntry.objects.select_related("company")
    if access.scope_of(user).is_superuser:
        return qs
    # Both: inside a subtree where MANAGE_ORG is held, and of a company managed as a whole.
    return access.visible(qs, user, MANAGE_ORG).filter(company__in=companies_for(user))


# --- filters --------------------------------------------------------------------------------------


@dataclass
class Filters:
    company: OrgUnit | None = None
    who: str = ""
    kind: str = ""
    object: str = ""
    action: str = ""
    start: date | None = None
    end: date | None = None
    q: str = ""

    def check(self) -> Filters:
        for name in ("who", "object", "q"):
            value = (getattr(self, name) or "").strip()
            if len(value) > MAX_TEXT:
                raise Invalid(_("筛选文字不能超过{n}个字符").format(n=MAX_TEXT), field=name)
            setattr(self, name, value)
        if self.kind and registry.model_for(self.kind) is None:
            raise Invalid(_("没有这种对象类型：{k}").format(k=self.kind[:40]), field="kind")
        if self.action and self.action not in Action.values:
            raise Invalid(_("没有这种操作：{a}").format(a=self.action[:20]), field="action")
        if self.start and self.end and self.start > self.end:
            raise Invalid(_("开始日期不能晚于结束日期"), field="start")
        return self

    def query(self) -> dict[str, str]:
        """The filters as query-string parameters (the export link repeats them)."""
        out = {"company": str(self.company.pk) if self.company else "", "who": self.who, "kind": self.kind,
               "object": self.object, "action": self.action, "q": self.q,
               "start": self.start.isoformat() if self.start else "", "end": self.end.isoformat() if self.end else ""}
        return {k: v for k, v in out.items() if v}


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(0)))


def search(qs: QuerySet[AuditEntry], f: Filters) -> QuerySet[AuditEntry]:
    if f.company is not None:
        qs = qs.filter(company=f.company)
    if f.who:
        qs = qs.filter(actor_name__icontains=f.who)
    if f.kind:
        qs = qs.filter(model=f.kind)
    if f.object:
        cond = Q(object_repr__icontains=f.object)
        if f.object.isdigit():
            cond |= Q(object_id=f.object)
        qs = qs.filter(cond)
    if f.action:
        qs = qs.filter(action=f.action)
    if f.start:
        qs = qs.filter(at__gte=_day_start(f.start))
    if f.end:
        qs = qs.filter(at__lt=_day_start(f.end) + timedelta(days=1))
    if f.q:
        qs = qs.filter(Q(changes__icontains=f.q) | Q(object_repr__icontains=f.q))
    return qs.order_by("-at", "-pk")


# --- readable diffs -------------------------------------------------------------------------------


@dataclass
class Change:
    """One field's change as shown: `old`/`new` for short values, `lines` for a line diff of long
    text or JSON, `added`/`removed` for many-to-many lists."""

    name: str
    label: str
    old: str = ""
    new: str = ""
    lines: list[tuple[str, str]] = field(default_factory=list)  # ("+"|"-"|" "|"@", text)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    secret: bool = False

    @property
    def changed_lines(self) -> int:
        return sum(1 for mark, _text in self.lines if mark in "+-")

    @property
    def kind(self) -> str:
        return "lines" if self.lines else "set" if (self.added or self.removed) else "text"

    def as_text(self) -> tuple[str, str]:
        """Old and new as plain text (Excel)."""
        if self.added or self.removed:
            return "、".join(self.removed), "、".join(self.added)
        return self.old, self.new


def _field(model: type[models.Model] | None, name: str) -> Any:
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except Exception:  # noqa: BLE001 - a field removed since the entry was written
        return None


def _secret_text(value: str) -> str:
    return value.replace(registry.CHANGED, _("（已修改，内容隐藏）")).replace(registry.MASK, _("（已设置，内容隐藏）"))


def display(f: Any, value: Any) -> str:
    """A stored value as text: choice labels, 是/否, pretty JSON, secrets as words."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, (dict, list)):
        compact = json.dumps(value, ensure_ascii=False, sort_keys=True)
        if len(compact) <= LONG:
            return _secret_text(compact)
        return _secret_text(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))
    text = str(value)
    if text in (registry.MASK, registry.CHANGED):
        return _secret_text(text)
    choices = getattr(f, "flatchoices", None) if f is not None else None
    if choices:
        return str(dict(choices).get(value, text))
    return text


def _line_diff(old: str, new: str) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), n=2, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        mark = "@" if line.startswith("@@") else line[:1] or " "
        lines.append((mark, "…" if mark == "@" else line[1:]))
    return lines


def changes_of(entry: AuditEntry) -> list[Change]:
    model = registry.model_for(entry.model)
    out: list[Change] = []
    for name, pair in (entry.changes or {}).items():
        old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
        f = _field(model, name)
        label = registry.field_label(f, name)
        if isinstance(old, dict) and isinstance(new, dict):
            # Settings (a channel's config): one line per key that changed, not two whole documents.
            for key in list(old) + [k for k in new if k not in old]:
                if old.get(key) != new.get(key):
                    change = Change(f"{name}.{key}", f"{label} · {key}", secret=registry.is_secret_name(key))
                    change.old, change.new = display(None, old.get(key)), display(None, new.get(key))
                    out.append(change)
            continue
        change = Change(name, label, secret=registry.is_secret_name(name))
        if isinstance(f, models.ManyToManyField):
            old_set, new_set = set(old or []), set(new or [])
            change.added, change.removed = sorted(new_set - old_set), sorted(old_set - new_set)
            change.old, change.new = "、".join(old or []), "、".join(new or [])
        else:
            change.old, change.new = display(f, old), display(f, new)
            long = max(len(change.old), len(change.new)) > LONG or "\n" in change.old + change.new
            if long and change.old and change.new:
                change.lines = _line_diff(change.old, change.new)
        out.append(change)
    return out


def model_name(label: str) -> str:
    return registry.model_label(label)


def actor_display(entry: AuditEntry) -> str:
    return entry.actor_name or _("系统")


@dataclass
class Shown:
    """An entry with what the page needs beside it."""

    entry: AuditEntry
    kind: str
    changes: list[Change]
    url: str | None


def shown(entry: AuditEntry) -> Shown:
    url = registry.object_url(entry.model, entry.object_id) if entry.action != Action.DELETE else None
    return Shown(entry, model_name(entry.model), changes_of(entry), url)


# --- Excel ----------------------------------------------------------------------------------------


def export_rows(qs: QuerySet[AuditEntry]) -> Iterator[list[Any]]:
    """One row per changed field (a row for an entry without fields), newest first."""
    for entry in qs[:EXPORT_LIMIT].iterator(chunk_size=500):
        base = [timezone.localtime(entry.at).strftime("%Y-%m-%d %H:%M:%S"),
                entry.company.name if entry.company else "", actor_display(entry), entry.ip or "",
                entry.get_action_display(), model_name(entry.model), entry.object_id, entry.object_repr]
        changes = changes_of(entry)
        if not changes:
            yield [*base, "", "", ""]
        for change in changes:
            old, new = change.as_text()
            yield [*base, change.label, old[:CELL_LIMIT], new[:CELL_LIMIT]]


EXPORT_HEADERS = (gettext_lazy("时间"), gettext_lazy("公司"), gettext_lazy("操作人"), gettext_lazy("IP 地址"),
                  gettext_lazy("操作"), gettext_lazy("对象类型"), gettext_lazy("对象编号"), gettext_lazy("对象"),
                  gettext_lazy("字段"), gettext_lazy("原值"), gettext_lazy("新值"))


def xlsx(qs: QuerySet[AuditEntry]) -> HttpResponse:
    from anlian.orgs.exports import xlsx_response

    return xlsx_response(_("审计日志"), [str(h) for h in EXPORT_HEADERS], export_rows(qs))
