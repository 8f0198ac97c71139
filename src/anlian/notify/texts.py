"""What a message says: per event and language, a company's own text, else the shipped one, else a
generic line made from the caller's context.

Texts are templates with {name} placeholders filled from the message's context. Filling never
raises and never evaluates anything: a name the context lacks stays "{name}", and a template with
attribute or index access ("{x.y}", "{x[0]}"), a format spec or conversion ("{x:>99}", "{x!r}")
or unbalanced braces is refused when saved. (A stored text that somehow has one is shown as
written, unfilled.) Only the placeholders an event documents (shipped_texts.yaml `example`) may be
used, so a typo is caught on the admin page instead of reaching every recipient as "{nmuber}".

The shipped texts live in shipped_texts.yaml and are copied into MessageTemplate rows without a
company by `sync_shipped_texts()` on migrate.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anlian.core.errors import Invalid
from anlian.notify.models import MessageTemplate
from anlian.orgs import access
from anlian.orgs.models import OrgKind, OrgUnit
from anlian.orgs.permissions import MANAGE_ORG

SHIPPED_FILE = Path(__file__).with_name("shipped_texts.yaml")
MAX_TITLE = 200  # MessageTemplate.title's length
MAX_BODY = 2000  # an SMS or a robot card cuts it further; longer is a mistake

# The events the system produces, in the order the admin page lists them.
EVENTS = {
    "hazard_dispatched": gettext_lazy("隐患已派发（给整改责任人）"),
    "hazard_undispatched": gettext_lazy("隐患无法自动派发（给安全员）"),
    "hazard_alert": gettext_lazy("重大隐患上报（报警）"),
    "hazard_reminder": gettext_lazy("隐患期限将到（提醒）"),
    "hazard_escalated": gettext_lazy("隐患超期督办"),
    "certificate_expiring": gettext_lazy("人员证书将到期"),
    "document_expiring": gettext_lazy("承包商资质将到期"),
    "permit_withdrawn": gettext_lazy("人员撤出作业"),
    "permit_waiting": gettext_lazy("作业步骤等待处理"),
    "permit_reminder": gettext_lazy("作业步骤期限将到（提醒）"),
    "permit_escalated": gettext_lazy("作业步骤超期督办"),
    "sensor_alarm": gettext_lazy("设备报警（监测读数超限或通讯中断）"),
}


def languages() -> dict[str, str]:
    return dict(settings.LANGUAGES)


def site_language() -> str:
    return settings.LANGUAGE_CODE if settings.LANGUAGE_CODE in languages() else next(iter(languages()))


@lru_cache(maxsize=1)
def shipped() -> dict[str, dict[str, Any]]:
    """The shipped texts by event: {"example": {...}, "zh-hans": {"title", "body"}, "en": {...}}."""
    return yaml.safe_load(SHIPPED_FILE.read_text(encoding="utf-8"))


def placeholders(event: str) -> dict[str, str]:
    """The names an event's texts may use, with the example values the preview fills in."""
    return {k: str(v) for k, v in shipped().get(event, {}).get("example", {}).items()}


def sync_shipped_texts() -> int:
    """Copy the shipped texts into rows without a company (changed ones updated); returns how
    many rows were written. Companies' own texts are never touched."""
    written = 0
    with transaction.atomic():
        for event, entry in shipped().items():
            for language in languages():
                text = entry.get(language)
                if not text:
                    continue
                row = MessageTemplate.objects.filter(company=None, event=event, language=language).first()
                if row is None:
                    row = MessageTemplate(company=None, event=event, language=language)
                elif (row.title, row.body) == (text["title"], text.get("body", "")):
                    continue
                row.title, row.body = text["title"], text.get("body", "")
                row.save()
                written += 1
    return written


# --- filling -----------------------------------------------------------------------------------------


class _Keep(dict):
    """format_map's mapping: an unknown name is put back as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fields(text: str) -> list[str] | None:
    """The placeholder names of a text, or None when it holds anything but plain {name} fields."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:  # a lone "{" or "}"
        return None
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:  # "{}", "{0}", "{x.y}", "{x[0]}", "{x:…}", "{x!r}"
            return None
        names.append(name)
    return names


def fill(text: str, context: dict[str, Any]) -> str:
    if _fields(text) is None:
        return text
    # Values become text first: formatting a string never reaches an object's attributes.
    return text.format_map(_Keep({str(k): "" if v is None else str(v) for k, v in (context or {}).items()}))


def render(company: OrgUnit | None, event: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """(title, body) of an event's message for a company in a language."""
    if language not in languages():
        language = site_language()
    row = (MessageTemplate.objects.filter(Q(company=company) | Q(company=None), event=event, language=language)
           .order_by(F("company").asc(nulls_last=True)).first())  # the company's own first
    if row is not None:
        return fill(row.title, context)[:MAX_TITLE], fill(row.body, context)
    # No text for this event at all (a new event before its texts ship): the caller's own words.
    context = context or {}
    title = str(context.get("title") or EVENTS.get(event) or event)
    return title[:MAX_TITLE], str(context.get("body") or "")


# --- the admin page -----------------------------------------------------------------------------------


def companies_for(user: Any):
    """Companies whose texts the user edits (MANAGE_ORG at the company)."""
    return access.visible(OrgUnit, user, MANAGE_ORG).filter(kind=OrgKind.COMPANY).order_by("path")


def check(event: str, language: str, title: str, body: str) -> tuple[str, str]:
    """Refuse an unusable text; returns (title, body) stripped."""
    if event not in EVENTS:
        raise Invalid(_("未知的事件"), field="event")
    if language not in languages():
        raise Invalid(_("不支持的语言"), field="language")
    title, body = (title or "").strip(), (body or "").strip()
    if not title or len(title) > MAX_TITLE:
        raise Invalid(_("请填写标题（不超过 {n} 字）").format(n=MAX_TITLE), field="title")
    if len(body) > MAX_BODY:
        raise Invalid(_("正文不能超过 {n} 字").format(n=MAX_BODY), field="body")
    known = placeholders(event)
    for field, text in (("title", title), ("body", body)):
        names = _fields(text)
        if names is None:
            raise Invalid(_("占位符只能写成 {名称} 的形式（不能含“.”“[”“:”“!”，花括号须成对；"
                            "要显示花括号本身请写 {{ 或 }}）"), field=field, code="unsafe_template")
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise Invalid(_("未知的占位符：{u}。可用：{k}").format(
                u="、".join("{" + n + "}" for n in unknown)[:200], k="、".join("{" + n + "}" for n in known)),
                field=field, code="unknown_placeholder")
    return title, body


def effective(company: OrgUnit, event: str, language: str) -> tuple[str, str, bool]:
    """(title, body, the company's own?) as the editor shows it: unfilled."""
    own = MessageTemplate.objects.filter(company=company, event=event, language=language).first()
    if own is not None:
        return own.title, own.body, True
    base = MessageTemplate.objects.filter(company=None, event=event, language=language).first()
    if base is None:  # not synced yet: the file is the same text
        text = shipped().get(event, {}).get(language, {})
        return text.get("title", ""), text.get("body", ""), False
    return base.title, base.body, False


def preview(event: str, language: str, title: str, body: str) -> tuple[str, str]:
    """The text filled with the event's example values (refused like a save when unusable)."""
    title, body = check(event, language, title, body)
    example = placeholders(event)
    return fill(title, example), fill(body, example)


def save_text(actor: Any, company: OrgUnit, event: str, language: str, *, title: str, body: str) -> MessageTemplate:
    access.require(actor, MANAGE_ORG, company)
    title, body = check(event, language, title, body)
    row, _created = MessageTemplate.objects.update_or_create(
        company=company, event=event, language=language, defaults={"title": title, "body": body})
    return row


def reset_text(actor: Any, company: OrgUnit, event: str, language: str) -> None:
    """Back to the shipped text: the company's own is deleted."""
    access.require(actor, MANAGE_ORG, company)
    if event not in EVENTS:
        raise Invalid(_("未知的事件"), field="event")
    MessageTemplate.objects.filter(company=company, event=event, language=language).delete()
