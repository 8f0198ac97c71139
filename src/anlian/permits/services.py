"""The permit pages' business logic: turning a posted step form into an engine action, keeping the
refusals, reading a job back as a timeline, the ledger filters and the QR validity check.

Everything that changes a job goes through `anlian.flows.services` (start / act); this module only
translates between HTML forms and the engine's `Action`, and between events and what people read.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anlian.core import clock
from anlian.core.errors import DomainError
from anlian.evidence.models import StoredFile
from anlian.evidence.services import store_photo, store_upload
from anlian.flows import core
from anlian.flows import services as flows
from anlian.flows.core.fields import shown
from anlian.flows.core.schema import PRESENCE_SLOT, Field, Step
from anlian.flows.models import AreaFreeze, Endorsement, Event, FlowTemplate, Instance, InstanceStatus, TemplateVersion
from anlian.orgs import access
from anlian.orgs.models import Area, Equipment, OrgUnit, Person
from anlian.orgs.permissions import MANAGE_ORG
from anlian.permits.models import Refusal

# Form names: a field's value, one checklist item, a slot's new files, a slot's already stored files,
# a drawn signature (PNG data URL).
VALUE, ITEM, FILES, REFS, DRAWN = "f__", "c__", "photo__", "ref__", "sig__"
SIGNATURE_PREFIX = "sig:"  # a drawn signature is stored as "sig:<sha256>:<typed name>"
MAX_TEXT = 2000  # characters per text value: a field, not a document
MAX_SIGNATURE_BYTES = 400 * 1024
SHA256_LENGTH = 64

EVENT_LABELS = {
    "started": gettext_lazy("发起作业"), "step_completed": gettext_lazy("提交"), "approved": gettext_lazy("同意"),
    "returned": gettext_lazy("退回"), "rejected": gettext_lazy("驳回"), "suspended": gettext_lazy("暂停"),
    "resumed": gettext_lazy("恢复"), "extended": gettext_lazy("延期"), "handed_over": gettext_lazy("交接"),
    "cancelled": gettext_lazy("取消"), "closed": gettext_lazy("关闭"), "expired": gettext_lazy("过期"),
    "withdrawn": gettext_lazy("撤出人员"),
}
ACTION_LABELS = {
    "start": gettext_lazy("发起作业"), "complete": gettext_lazy("提交"), "approve": gettext_lazy("同意"),
    "return": gettext_lazy("退回"), "reject": gettext_lazy("驳回"), "suspend": gettext_lazy("暂停"),
    "resume": gettext_lazy("恢复"), "extend": gettext_lazy("延期"), "hand_over": gettext_lazy("交接"),
    "cancel": gettext_lazy("取消"), "close": gettext_lazy("关闭"), "expire": gettext_lazy("过期"),
    "withdraw": gettext_lazy("撤出人员"),
}
CHECK_LABELS = {"done": gettext_lazy("已落实"), "not_applicable": gettext_lazy("不适用")}
# Job-level actions offered on the phone page (extend and hand-over need their own forms).
JOB_ACTIONS = ("suspend", "resume", "extend", "hand_over", "cancel", "close")
JOB_ACTIONS_WITH_REASON = ("suspend", "cancel")


def duration_text(delta: timedelta | None) -> str:
    if not delta:
        return ""
    minutes = int(delta.total_seconds() // 60)
    if minutes % 60:
        return _("{n}分钟").format(n=minutes)
    return _("{n}小时").format(n=minutes // 60)


def presence_label() -> str:
    return _("现场照片（审批人在场证明）")


# --- reading a posted form ------------------------------------------------------------------------


def _clip(text: str) -> str:
    return text.strip()[:MAX_TEXT]


def _as_datetime(raw: str) -> str:
    """A datetime-local value ("2025-05-19T10:30") in the server's zone, as ISO text; junk passes
    through unchanged so the engine refuses it with the field's name."""
    parsed = parse_datetime(raw) if len(raw) <= 40 else None
    if parsed is None:
        return raw
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed.isoformat()


def read_values(step: Step, post: Any, known: dict[str, Any], drawn: dict[str, str] | None = None) -> dict[str, Any]:
    """The values of a step's fields from a POST, as the engine expects them.

    Fields hidden by `show_if` (given what is already known plus this form) are dropped: the
    browser hides them for convenience, the server decides."""
    values: dict[str, Any] = {}
    for f in step.fields:
        value = _read_field(f, post, (drawn or {}).get(f.key))
        if value not in (None, "", [], {}):
            values[f.key] = value
    merged = {**known, **values}
    return {k: v for k, v in values.items() if shown(step_field(step, k), merged)}


def step_field(step: Step, key: str) -> Field:
    return next(f for f in step.fields if f.key == key)


def _read_field(f: Field, post: Any, drawn: str | None) -> Any:
    name = VALUE + f.key
    if f.type == "checklist":
        answers = {item.key: post.get(f"{ITEM}{f.key}__{item.key}", "") for item in f.items}
        return {k: v[:20] for k, v in answers.items() if v}
    if f.many:
        return [_clip(v) for v in post.getlist(name) if v.strip()]
    raw = _clip(post.get(name, ""))
    if f.type == "datetime" and raw:
        return _as_datetime(raw)
    if f.type == "signature" and drawn:
        return f"{SIGNATURE_PREFIX}{drawn}:{raw}"
    return raw


def read_photos(user: Any, company: OrgUnit, step: Step | None, files: Any, post: Any,
                presence: bool) -> tuple[dict[str, list[str]], DomainError | None]:
    """Store each new photo of each slot, keep the refs of photos stored by an earlier, refused
    attempt, and return {slot: [sha256, …]} plus the first upload refused (the others are kept)."""
    slots = [s.key for s in (step.photos if step else ())] + ([PRESENCE_SLOT] if presence else [])
    photos: dict[str, list[str]] = {}
    error: DomainError | None = None
    for slot in slots:
        refs = [r for r in post.getlist(REFS + slot) if _is_sha(r)]
        for upload in files.getlist(FILES + slot):
            try:
                refs.append(store_upload(user, company, upload).sha256)
            except DomainError as exc:
                exc.field = f"photos.{slot}"
                error = error or exc
        unique = list(dict.fromkeys(refs))
        if unique:
            photos[slot] = unique
    return photos, error


def read_signatures(user: Any, company: OrgUnit, step: Step | None, post: Any) -> tuple[dict[str, str], DomainError | None]:
    """Drawn signatures (PNG data URLs from the canvas pad) stored as evidence files: {field: sha256}."""
    out: dict[str, str] = {}
    for f in (step.fields if step else ()):
        if f.type != "signature":
            continue
        raw = post.get(DRAWN + f.key, "")
        if not raw:
            continue
        if _is_sha(raw):  # kept from an earlier, refused attempt
            out[f.key] = raw
            continue
        head, _sep, body = raw.partition(",")
        try:
            if head != "data:image/png;base64" or len(body) > MAX_SIGNATURE_BYTES * 4 // 3 + 4:
                raise ValueError
            data = base64.b64decode(body, validate=True)
            out[f.key] = store_photo(user, company, ContentFile(data, name="signature.png")).sha256
        except (ValueError, binascii.Error, DomainError):
            return out, DomainError(_("手写签名无法读取，请重新签名"), field=f.key, code="signature_invalid")
    return out, None


def _is_sha(text: str) -> bool:
    return len(text) == SHA256_LENGTH and all(c in "0123456789abcdef" for c in text)


def location_accuracy(post: Any) -> float | None:
    """The phone's stated accuracy of its position, in metres, when sane."""
    try:
        value = float(post.get("accuracy", ""))
    except ValueError:
        return None
    return round(value, 1) if math.isfinite(value) and 0 <= value <= 100_000 else None


def device_context(post: Any) -> tuple[datetime | None, tuple[float, float] | None]:
    """The phone's own clock and position, when it sent sane ones (they are evidence, not trusted)."""
    device = None
    raw = post.get("device_time", "")
    if raw and len(raw) <= 40:
        try:
            device = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            device = None
        if device is not None and timezone.is_naive(device):
            device = None
    location = None
    try:
        lat, lng = float(post.get("lat", "")), float(post.get("lng", ""))
        if math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180:
            location = (round(lat, 7), round(lng, 7))
    except ValueError:
        location = None
    return device, location


@dataclass
class Submission:
    """A posted step form, read and with its photos stored; `error` is the first upload refused."""

    action: core.Action
    error: DomainError | None = None


def read_submission(user: Any, company: OrgUnit, step: Step, kind: str, post: Any, files: Any,
                    known: dict[str, Any]) -> Submission:
    device, location = device_context(post)
    reason = _clip(post.get("reason", ""))
    if kind in ("return", "reject"):
        # Judging needs no data: only the reason (and where to return to).
        target = post.get("target", "")[:60] or None
        return Submission(core.Action(kind, step=step.key, target=target, reason=reason, device_time=device,
                                      location=location, accuracy=location_accuracy(post)))
    drawn, sig_error = read_signatures(user, company, step, post)
    photos, photo_error = read_photos(user, company, step, files, post, presence=kind == "approve" and step.presence)
    values = read_values(step, post, known, drawn)
    action = core.Action(kind, step=step.key, values=values, photos=photos, reason=reason if kind == "approve" else "",
                         device_time=device, location=location, accuracy=location_accuracy(post))
    return Submission(action, photo_error or sig_error)


def record_refusal(user: Any, exc: DomainError, *, version: TemplateVersion, area: Area, action: str,
                   step: str = "", instance: Instance | None = None) -> Refusal:
    """Keep a refused submission for the timeline (written outside the refused transaction)."""
    return Refusal.objects.create(
        instance=instance, version=version, area=area, step=step[:60], action=action[:20],
        actor=getattr(user, "person", None), code=str(exc.code)[:40], field=(exc.field or "")[:100],
        message=exc.message()[:500], at=clock.now())


# --- forms to render ------------------------------------------------------------------------------


@dataclass
class Choices:
    """The people, areas and equipment a job's person/area/equipment fields may name."""

    people: list[tuple[str, str]]
    areas: list[tuple[str, str]]
    equipment: list[tuple[str, str]]

    @classmethod
    def for_company(cls, user: Any, company: OrgUnit) -> Choices:
        people = Person.objects.filter(company=company, is_active=True, regulator_account__isnull=True).order_by("name")
        areas = access.visible(Area, user).filter(Q(org_unit__company=company) | Q(org_unit=company)).order_by("name")
        equipment = access.visible(Equipment, user).filter(
            Q(org_unit__company=company) | Q(org_unit=company), is_active=True).order_by("code")
        return cls([(str(p.pk), f"{p.name}（{p.employee_no}）" if p.employee_no else p.name) for p in people],
                   [(str(a.pk), a.name) for a in areas],
                   [(str(e.pk), f"{e.code} {e.name}") for e in equipment])


def form_fields(step: Step, known: dict[str, Any], current: dict[str, Any], choices: Choices,
                errors: dict[str, str]) -> list[dict[str, Any]]:
    """One dict per field to render: what to show, the value to refill, the error next to it."""
    local = {f.key for f in step.fields}
    merged = {**known, **current}
    out = []
    for f in step.fields:
        controller_here = f.show_if is not None and f.show_if.field in local
        if f.show_if is not None and not controller_here and not shown(f, merged):
            continue  # decided by an earlier step: this job does not need the field
        value = current.get(f.key)
        signature_ref, signature_name = "", value if isinstance(value, str) else ""
        if f.type == "signature" and isinstance(value, str) and value.startswith(SIGNATURE_PREFIX):
            signature_ref, _sep, signature_name = value[len(SIGNATURE_PREFIX):].partition(":")
        options: list[tuple[str, str]] = []
        if f.type == "choice":
            options = [(str(o), str(o)) for o in (f.options or ())]
        elif f.type == "person":
            options = choices.people
        elif f.type == "area":
            options = choices.areas
        elif f.type == "equipment":
            options = choices.equipment
        picked = value if isinstance(value, list) else ([value] if isinstance(value, str) and value else [])
        out.append({
            "key": f.key, "name": VALUE + f.key, "label": f.label, "type": f.type, "required": f.required,
            "unit": f.unit, "min": f.min, "max": f.max, "many": f.many, "options": options, "picked": picked,
            "value": signature_name if f.type == "signature" else ("" if isinstance(value, (list, dict)) else
                                                                   _datetime_local(f, value)),
            "signature_ref": signature_ref,
            "items": [{"key": i.key, "label": i.label, "name": f"{ITEM}{f.key}__{i.key}",
                       "answer": (value or {}).get(i.key, "") if isinstance(value, dict) else ""}
                      for i in f.items],
            "show_if": {"field": VALUE + f.show_if.field,
                        "values": json.dumps([str(v) for v in f.show_if.values], ensure_ascii=False)}
            if controller_here else None,
            "hidden": controller_here and not shown(f, merged),
            "error": errors.get(f.key, ""),
        })
    return out


def _datetime_local(f: Field, value: Any) -> str:
    if f.type != "datetime" or not isinstance(value, str) or not value:
        return value if isinstance(value, str) else ""
    parsed = parse_datetime(value)
    if parsed is None:
        return ""
    if timezone.is_aware(parsed):
        parsed = timezone.localtime(parsed)
    return parsed.strftime("%Y-%m-%dT%H:%M")


def photo_slots(step: Step | None, photos: dict[str, list[str]], errors: dict[str, str],
                presence: bool) -> list[dict[str, Any]]:
    slots = [{"key": s.key, "label": s.label, "hint": s.hint, "min": s.min, "max": s.max}
             for s in (step.photos if step else ())]
    if presence:
        slots.append({"key": PRESENCE_SLOT, "label": presence_label(),
                      "hint": _("在作业现场拍摄，证明本人在场"), "min": 1, "max": 3})
    for slot in slots:
        slot.update(name=FILES + slot["key"], ref_name=REFS + slot["key"], refs=photos.get(slot["key"], []),
                    error=errors.get(f"photos.{slot['key']}", ""))
    return slots


def errors_of(exc: DomainError | None, step: Step | None) -> tuple[dict[str, str], str]:
    """(errors by field, the message for the top of the form when no field shows it)."""
    if exc is None:
        return {}, ""
    name = exc.field or ""
    keys = {f.key for f in (step.fields if step else ())} | {"reason", "target"}
    if step is not None:
        keys |= {f"photos.{s.key}" for s in step.photos} | {f"photos.{PRESENCE_SLOT}"}
    if name in keys:
        return {name: exc.message()}, ""
    return {}, exc.message()


# --- reading a job back -----------------------------------------------------------------------------


@dataclass
class Names:
    """Display names for the ids that values hold (people, areas, equipment), loaded in bulk."""

    people: dict[str, str] = field(default_factory=dict)
    areas: dict[str, str] = field(default_factory=dict)
    equipment: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_values(cls, tpl: core.Template, payloads: list[dict[str, Any]], extra_people: set[str] = frozenset()) -> Names:
        wanted: dict[str, set[int]] = {"person": set(), "area": set(), "equipment": set()}
        for values in payloads:
            for key, value in values.items():
                f = tpl.fields.get(key)
                if f is not None and f.type in wanted:
                    for item in value if isinstance(value, list) else [value]:
                        if str(item).isdigit():
                            wanted[f.type].add(int(item))
        wanted["person"] |= {int(p) for p in extra_people if str(p).isdigit()}
        return cls(
            {str(pk): name for pk, name in Person.objects.filter(pk__in=wanted["person"]).values_list("pk", "name")},
            {str(pk): name for pk, name in Area.objects.filter(pk__in=wanted["area"]).values_list("pk", "name")},
            {str(pk): f"{code} {name}" for pk, code, name in
             Equipment.objects.filter(pk__in=wanted["equipment"]).values_list("pk", "code", "name")},
        )


def display_value(f: Field | None, value: Any, names: Names) -> dict[str, Any]:
    """A value as people read it: names for ids, item labels for a checklist, the unit."""
    if f is None:
        return {"text": str(value)}
    if f.type == "checklist" and isinstance(value, dict):
        labels = {i.key: i.label for i in f.items}
        return {"checks": [(labels.get(k, k), str(CHECK_LABELS.get(v, v)), v) for k, v in value.items()]}
    if f.type == "signature" and isinstance(value, str) and value.startswith(SIGNATURE_PREFIX):
        ref, _sep, name = value[len(SIGNATURE_PREFIX):].partition(":")
        return {"text": name, "signature": ref if _is_sha(ref) else ""}
    lookup = {"person": names.people, "area": names.areas, "equipment": names.equipment}.get(f.type)
    items = value if isinstance(value, list) else [value]
    if lookup is not None:
        items = [lookup.get(str(v), str(v)) for v in items]
    if f.type == "datetime":
        items = [_format_datetime(v) for v in items]
    text = "、".join(str(_plain_number(v)) for v in items)
    return {"text": f"{text} {f.unit}".strip() if f.unit else text}


def _plain_number(value: Any) -> Any:
    return f"{value:g}" if isinstance(value, float) else value


def _format_datetime(value: Any) -> str:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        return str(value)
    if timezone.is_aware(parsed):
        parsed = timezone.localtime(parsed)
    return parsed.strftime("%Y-%m-%d %H:%M")


@dataclass
class Entry:
    """One row of a job's timeline: an event, or a refused attempt (`refused`)."""

    at: datetime
    kind: str
    label: str
    step: str = ""
    step_name: str = ""
    actor: str = ""
    device_time: datetime | None = None
    lat: float | None = None
    lng: float | None = None
    values: list[dict[str, Any]] = field(default_factory=list)
    photos: list[dict[str, Any]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    refused: bool = False
    seq: int = 0
    hash: str = ""
    event_id: int | None = None
    flags: list[str] = field(default_factory=list)  # red reminders: failed photo checks, pre-review concerns


def timeline(instance: Instance, *, refusals: bool = True, before_step: str | None = None) -> list[Entry]:
    """The job's chain in time order, with labels, names and units, and (optionally) its refusals.

    With `before_step`, only what earlier steps recorded: the evidence an approver looks at."""
    tpl = flows.template_of(instance.version)
    events = list(instance.events.select_related("actor").order_by("seq"))
    if before_step is not None:
        earlier = tpl.ancestors.get(before_step, frozenset())
        events = [e for e in events if e.step in earlier and e.kind in ("step_completed", "approved")]
    names = Names.for_values(tpl, [(e.payload or {}).get("values") or {} for e in events])
    entries = [_event_entry(tpl, e, names) for e in events]
    flags = photo_flags(tpl, [e.pk for e in events])
    refs = {r for entry in entries for p in entry.photos for r in p["refs"]}
    clips = set(StoredFile.objects.filter(company_id=instance.company_id, sha256__in=refs,
                                          content_type__startswith="video/").values_list("sha256", flat=True))
    for entry in entries:
        entry.flags = flags.get(entry.event_id, [])
        for p in entry.photos:
            p["videos"] = [r for r in p["refs"] if r in clips]
    if refusals and before_step is None:
        for r in instance.refusals.select_related("actor"):
            step = tpl.by_key.get(r.step)
            entries.append(Entry(at=r.at, kind="refused", label=str(ACTION_LABELS.get(r.action, r.action)),
                                 step=r.step, step_name=step.name if step else r.step,
                                 actor=r.actor.name if r.actor else "", notes=[(_("拒绝原因"), r.message)],
                                 refused=True))
        entries.sort(key=lambda e: (e.at, e.refused, e.seq))
    return entries


def _event_entry(tpl: core.Template, event: Event, names: Names) -> Entry:
    step = tpl.by_key.get(event.step) if event.step else None
    payload = event.payload or {}
    values = []
    for key, value in (payload.get("values") or {}).items():
        f = tpl.fields.get(key)
        values.append({"label": f.label if f else key, **display_value(f, value, names)})
    slot_labels = {s.key: s.label for s in (step.photos if step else ())} | {PRESENCE_SLOT: presence_label()}
    photos = [{"label": slot_labels.get(slot, slot), "refs": refs} for slot, refs in (payload.get("photos") or {}).items()]
    notes = []
    if payload.get("opinion"):
        notes.append((_("意见"), payload["opinion"]))
    if payload.get("to") and event.kind == "returned":
        target = tpl.by_key.get(payload["to"])
        notes.append((_("退回至"), target.name if target else payload["to"]))
    if event.kind == "withdrawn" and payload.get("person"):
        notes.append((_("撤出"), names.people.get(str(payload["person"]), payload["person"])))
    if payload.get("reason"):
        notes.append((_("原因"), payload["reason"]))
    if event.kind == "extended" and payload.get("minutes"):
        notes.append((_("延期"), _("{n}分钟").format(n=payload["minutes"])))
    if event.kind == "started":
        area = names.areas.get(str(payload.get("area"))) or ""
        if area:
            notes.append((_("区域"), area))
    return Entry(at=event.server_time, kind=event.kind, label=str(EVENT_LABELS.get(event.kind, event.kind)),
                 step=event.step, step_name=step.name if step else "", actor=event.actor.name if event.actor else
                 str(_("系统")) if event.actor_key == "system" else event.actor_key, device_time=event.device_time, lat=event.lat, lng=event.lng, values=values,
                 photos=photos, notes=notes, seq=event.seq, hash=event.hash, event_id=event.pk)


def photo_flags(tpl: core.Template, event_ids: list[int]) -> dict[int, list[str]]:
    """Red reminders per event: photo checks that did not pass, and pre-review concerns."""
    from anlian.trust.models import PhotoFinding, PhotoReview

    labels = {p.key: p.label for s in tpl.steps for p in s.photos}
    out: dict[int, list[str]] = {}
    for event_id, slot, reason in PhotoFinding.objects.filter(event_id__in=event_ids).exclude(level="ok").values_list(
            "event_id", "slot", "reason").order_by("pk"):
        out.setdefault(event_id, []).append(f"{labels.get(slot, slot)}：{reason}")
    for event_id, slot, reason in PhotoReview.objects.filter(event_id__in=event_ids, status="concern").values_list(
            "event_id", "slot", "reason").order_by("pk"):
        out.setdefault(event_id, []).append(_("预审提示 · {slot}：{reason}").format(slot=labels.get(slot, slot),
                                                                              reason=reason))
    return out


def flag_counts(instance_ids: list[int]) -> dict[int, int]:
    """How many red reminders each job carries, for the ledger."""
    from django.db.models import Count

    from anlian.trust.models import PhotoFinding, PhotoReview

    counts: dict[int, int] = {}
    for model, q in ((PhotoFinding, ~Q(level="ok")), (PhotoReview, Q(status="concern"))):
        for instance_id, n in model.objects.filter(q, instance_id__in=instance_ids).values_list(
                "instance_id").annotate(n=Count("pk")).values_list("instance_id", "n"):
            counts[instance_id] = counts.get(instance_id, 0) + n
    return counts


def step_rows(instance: Instance, tpl: core.Template, state: core.State) -> list[dict[str, Any]]:
    """Each step of the job with its state, for the phone overview."""
    rows = []
    for step in tpl.steps:
        s = state.steps[step.key]
        status = "done" if s.done else ("returned" if s.returned is not None else
                                        ("open" if step.key in instance.current_steps else "waiting"))
        rows.append({"key": step.key, "name": step.name, "status": status, "returned": s.returned,
                     "repeat": bool(step.repeat), "times": len(s.completions)})
    return rows


# --- QR check ----------------------------------------------------------------------------------------


@dataclass
class Check:
    instance: Instance
    valid: bool
    reason: str


def check_by_token(token: str) -> Check | None:
    """The public QR check: is this permit valid right now? None for an unknown token."""
    if not token or len(token) > 32:
        return None
    instance = Instance.objects.select_related("version__template", "area").filter(verify_token=token).first()
    if instance is None:
        return None
    now = clock.now()
    frozen = AreaFreeze.objects.filter(area=instance.area, started_at__lte=now).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=now)).exists()
    if instance.status != InstanceStatus.ACTIVE:
        reason = instance.get_status_display()
    elif instance.expires_at is not None and now >= instance.expires_at:
        reason = _("已过期")
    elif frozen:
        reason = _("作业区域已冻结")
    else:
        return Check(instance, True, "")
    return Check(instance, False, str(reason))


# --- ledger -------------------------------------------------------------------------------------------


@dataclass
class LedgerFilters:
    type: str = ""
    status: str = ""
    area: Area | None = None
    start: date | None = None
    end: date | None = None
    person: str = ""
    q: str = ""


def ledger(user: Any, params: Any) -> tuple[QuerySet, LedgerFilters]:
    """The instances a user may see, filtered by the ledger's query string (junk filters are ignored)."""
    qs = access.visible(Instance, user).exclude(version__template__kind="hazard").select_related(
        "version__template", "area", "applicant", "org_unit")
    f = LedgerFilters()
    f.type = params.get("type", "")[:60]
    if f.type:
        qs = qs.filter(version__template__key=f.type)
    f.status = params.get("status", "")
    if f.status in InstanceStatus.values:
        qs = qs.filter(status=f.status)
    else:
        f.status = ""
    area = params.get("area", "")
    if area.isdigit() and len(area) < 12:
        f.area = access.visible(Area, user).filter(pk=area).first()
        if f.area:
            qs = qs.filter(area=f.area)
    f.start, f.end = _date(params.get("start", "")), _date(params.get("end", ""))
    if f.start:
        qs = qs.filter(started_at__gte=_day_start(f.start))
    if f.end:
        qs = qs.filter(started_at__lt=_day_start(f.end) + timedelta(days=1))
    f.person = params.get("person", "").strip()[:50]
    if f.person:
        people = Person.objects.filter(name__icontains=f.person).values("pk")
        qs = qs.filter(Q(applicant__in=people) | Q(participants__in=people)).distinct()
    f.q = params.get("q", "").strip()[:50]
    if f.q:
        qs = qs.filter(Q(number__icontains=f.q) | Q(title__icontains=f.q))
    return qs.order_by("-started_at", "-pk"), f


def _date(raw: str) -> date | None:
    try:
        return parse_date(raw) if raw and len(raw) <= 10 else None
    except ValueError:
        return None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def ledger_types(user: Any) -> list[tuple[str, str]]:
    """Template keys and names for the ledger's type filter: shipped ones and the user's own."""
    visible = FlowTemplate.objects.filter(owner__isnull=True) | access.visible(FlowTemplate, user)
    return list(visible.order_by("key").values_list("key", "name").distinct())


def ledger_rows(qs: QuerySet) -> list[list[Any]]:
    """The filtered ledger as rows for the Excel export."""
    rows = []
    for i in qs.prefetch_related("participants"):
        rows.append([
            i.number, i.version.template.name, i.title, i.area.name, i.org_unit.name, i.applicant.name,
            "、".join(p.name for p in i.participants.all() if p.pk != i.applicant_id),
            i.get_status_display(), _local(i.started_at), _local(i.expires_at), _local(i.closed_at),
        ])
    return rows


def _local(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


# --- simultaneous operations ----------------------------------------------------------------------------


def usable_endorsements(user: Any, area: Area, template_key: str):
    """Area owners' endorsements that a new job of `template_key` in `area` may use now."""
    now = clock.now()
    return access.visible(Endorsement, user).filter(
        area=area, template_key=template_key, used_by__isnull=True, created_at__lte=now, valid_until__gt=now,
    ).select_related("endorsed_by").order_by("-created_at")


def endorsable_areas(user: Any):
    """Areas whose owner this user is: those of units they manage."""
    return access.visible(Area, user, MANAGE_ORG).select_related("org_unit").order_by("org_unit__path", "name")


def recent_endorsements(person: Person):
    return Endorsement.objects.filter(endorsed_by=person).select_related("area", "used_by").order_by(
        "-created_at")[:20]
