"""Running jobs on the engine: the only writers of templates, instances and events.

Every action goes through the engine core (`decide` / `apply`) with the facts read from the
database, then appends one hash-chained event under a row lock on the instance, and refreshes the
instance's cached status. A refusal raises `EngineRefusal` (a DomainError) and records nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import yaml
from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from anlian.core.prepared import Prepared, PreparedInsert, PreparedUpdate
from anlian.evidence.models import StoredFile
from anlian.flows import core
from anlian.flows.core.events import Event as CoreEvent
from anlian.flows.core.state import LIVE, persons
from anlian.flows.facts import DbFacts, actor_facts, actor_key
from anlian.flows.models import (
    Endorsement,
    Event,
    EventPhoto,
    FlowTemplate,
    Instance,
    InstanceStatus,
    TemplateStatus,
    TemplateVersion,
)
from anlian.flows.numbering import next_number
from anlian.flows.signals import event_recorded
from anlian.orgs import access
from anlian.orgs.models import Area, Equipment, OrgKind, OrgUnit, Person
from anlian.orgs.permissions import MANAGE_ORG, VIEW

GENESIS = "0" * 64
STATUS_OF_STATE = {
    "active": InstanceStatus.ACTIVE, "suspended": InstanceStatus.SUSPENDED, "closed": InstanceStatus.CLOSED,
    "rejected": InstanceStatus.REJECTED, "cancelled": InstanceStatus.CANCELLED, "expired": InstanceStatus.EXPIRED,
}


# Refusals about what was sent (a missing photo, a reading over its limit) are 422; about who
# sends it, 403; every other rule (order, time, state of the job) is a 409 conflict.
INPUT_RULES = {"area_required", "reason_required", "extension_invalid", "person_required", "field_required",
               "field_unknown", "field_hidden", "field_invalid", "number_invalid", "below_min", "above_max",
               "bad_choice", "checklist_incomplete", "photo_unknown", "photo_min", "photo_max", "presence_photo",
               "bad_return_target", "unknown_step", "unknown_action"}
ACTOR_RULES = {"wrong_actor", "own_permit", "not_permitted", "endorser_not_owner", "not_qualified", "distinct_actor"}
MAX_TEXT = 2000
MAX_TASK_JOBS = 500  # the newest open jobs a person can see, searched for "my tasks"
MAX_ITEMS = 100


class EngineRefusal(DomainError):
    """A rule of the template refused the action; `code` names the rule."""

    def __init__(self, refusal: core.Refusal):
        super().__init__(field=refusal.field, code=refusal.code)
        self.refusal = refusal
        self.http_status = 422 if refusal.code in INPUT_RULES else 403 if refusal.code in ACTOR_RULES else 409

    def message(self) -> str:
        return self.refusal.message


# --- templates -----------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _parse(source: str) -> core.Template:
    return core.load_template(source)


def template_of(version: TemplateVersion) -> core.Template:
    """The parsed template of a version (parsed once per process: versions never change)."""
    return _parse(version.source)


def validate_source(source: str) -> core.Template:
    """Parse a template the way the editor checks it (duplicate YAML keys, size, syntax with line
    numbers, every schema problem in Chinese), or raise Invalid listing every problem."""
    from anlian.flows.checking import check

    result = check(source)
    if not result.ok:
        raise Invalid("\n".join(str(p) for p in result.problems), field="source", code="template_invalid")
    return result.template


def save_version(user: Any, template: FlowTemplate | None, source: str, *, owner=None, publish: bool = False) -> TemplateVersion:
    """Add a new version of a template (creating the template on first save); optionally publish it.

    Shipped templates are never changed in place: a company edits a copy it owns."""
    parsed = validate_source(source)
    if template is None:
        if owner is None:
            raise Invalid(_("请选择模板所属组织"), field="owner")
        access.require(user, MANAGE_ORG, owner)
        template, _created = FlowTemplate.objects.get_or_create(
            owner=owner, key=parsed.key, defaults={"name": parsed.name, "kind": parsed.kind})
    elif template.is_shipped or template.owner is None:
        raise Forbidden(_("内置模板不能直接修改，请先复制为本单位模板"))
    else:
        access.require(user, MANAGE_ORG, template.owner)
        if parsed.key != template.key:
            raise Invalid(_("模板代码不能修改（应为 {key}）").format(key=template.key), field="source")
    with transaction.atomic():
        template = FlowTemplate.objects.select_for_update().get(pk=template.pk)
        number = (template.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        version = TemplateVersion.objects.create(template=template, number=number, source=source,
                                                 created_by=user if getattr(user, "pk", None) else None)
        template.name, template.kind = parsed.name, parsed.kind
        template.save(update_fields=["name", "kind"])
        if publish:
            publish_version(user, version)
    return version


def publish_version(user: Any, version: TemplateVersion) -> TemplateVersion:
    """Make this version the one new jobs start on; running jobs keep theirs."""
    template = version.template
    if template.owner is not None:
        access.require(user, MANAGE_ORG, template.owner)
    elif not access.scope_of(user).is_superuser:
        raise Forbidden(_("内置模板只能由平台管理员发布"))
    validate_source(version.source)
    now = clock.now()
    template.versions.filter(status=TemplateStatus.PUBLISHED).exclude(pk=version.pk).update(
        status=TemplateStatus.RETIRED)
    version.status, version.published_at = TemplateStatus.PUBLISHED, now
    version.save(update_fields=["status", "published_at"])
    return version


def copy_template(user: Any, template: FlowTemplate, owner, key: str) -> TemplateVersion:
    """Copy the current version of a template into a company's own editable template."""
    source = (template.published() or template.versions.order_by("-number").first()).source
    doc = yaml.safe_load(source)
    doc["key"] = key
    if FlowTemplate.objects.filter(owner=owner, key=key).exists():
        raise Conflict(_("已有代码为 {key} 的模板").format(key=key), field="key")
    return save_version(user, None, core.schema.dump_template(doc), owner=owner)


def visible_templates(user: Any):
    """Shipped templates (visible to everyone) and those owned inside the user's subtrees."""
    own = access.visible(FlowTemplate, user).values("pk")
    return FlowTemplate.objects.filter(Q(owner__isnull=True) | Q(pk__in=own))


def get_template_for_user(user: Any, pk: Any) -> FlowTemplate:
    found = visible_templates(user).filter(pk=pk).first() if str(pk).isdigit() else None
    if found is None:
        raise NotFound()
    return found


def get_version_for_user(user: Any, pk: Any) -> TemplateVersion:
    found = TemplateVersion.objects.select_related("template").filter(
        pk=pk, template__in=visible_templates(user)).first() if str(pk).isdigit() else None
    if found is None:
        raise NotFound()
    return found


def startable_versions(user: Any):
    """Published versions of templates the user may see: shipped ones and their company's."""
    visible = visible_templates(user)
    # Hazards are started by a report (anlian.hazards), which also dispatches them.
    return TemplateVersion.objects.filter(template__in=visible, status=TemplateStatus.PUBLISHED).exclude(
        template__kind="hazard").select_related("template").order_by("template__key")


# --- running jobs --------------------------------------------------------------------------------


EVENT_COLUMNS = ("seq", "kind", "actor_key", "server_time", "step", "device_time", "payload", "lat", "lng",
                 "accuracy")


# The reads of a step submission, compiled once (core.prepared): they run on every step.
EVENTS = Prepared(lambda job: Event.objects.filter(instance_id=job).order_by("seq").values_list(*EVENT_COLUMNS))
FILES = Prepared(lambda company, refs: StoredFile.objects.filter(company_id=company, sha256__in=refs)
                 .values_list("sha256", "pk", "content_type"))
USED_BEFORE = Prepared(lambda files: EventPhoto.objects.filter(file_id__in=files).values_list(
    "file_id", "event__instance_id", "event__step"))
# A regulator's read-only account is a person of the company too, but is never named on a job.
PEOPLE = Prepared(lambda company, ids: Person.objects.filter(company_id=company, is_active=True, pk__in=ids,
                                                             regulator_account__isnull=True).values_list("pk"))
# In model order: Model.from_db maps a subset of values onto the concrete fields in that order.
JOB_FIELDS = tuple(f.attname for f in Instance._meta.concrete_fields if f.attname in {
    "id", "version_id", "org_unit_id", "company_id", "area_id", "applicant_id", "number", "status",
    "current_steps", "expires_at", "closed_at", "last_seq", "last_hash", "title", "started_at"})
LOCKED_JOB = Prepared(lambda job: Instance.objects.filter(pk=job).select_for_update(of=("self",)).values_list(
    *JOB_FIELDS, "org_unit__path", "org_unit__kind", "version__source"))


def core_events(instance: Instance) -> list[CoreEvent]:
    return [_core_event(*row) for row in EVENTS.rows(instance.pk)]


def to_core(event: Event) -> CoreEvent:
    return _core_event(*(getattr(event, column) for column in EVENT_COLUMNS))


def _core_event(seq, kind, actor, server_time, step, device_time, payload, lat, lng, accuracy) -> CoreEvent:
    """The engine's event from a stored row's EVENT_COLUMNS."""
    return CoreEvent(seq=seq, kind=kind, actor=actor, server_time=server_time, step=step or None,
                     device_time=device_time, payload=payload,
                     location=(lat, lng) if lat is not None and lng is not None else None, accuracy=accuracy)


def _person_of(user: Any) -> Person:
    person = getattr(user, "person", None)
    if person is None or not person.is_active:
        raise Forbidden(_("只有登记在册的人员可以办理作业"))
    return person


def _check_photos(company, tpl: core.Template, action: core.Action) -> tuple[dict[str, int], set[str]]:
    """Every photo reference must be a stored file of the job's company, and a clip may only go
    where the slot takes video: ({sha256: file id}, the clips' sha256)."""
    refs = {ref for refs in action.photos.values() for ref in refs}
    if not refs:
        return {}, set()
    rows = FILES.rows(company, sorted(refs))
    found = {sha: pk for sha, pk, _type in rows}
    missing = sorted(refs - set(found))
    if missing:
        raise Invalid(_("照片 {ref} 不存在，请重新上传").format(ref=missing[0][:12]), field="photos",
                      code="photo_unknown")
    clips = {sha for sha, _pk, content_type in rows if content_type.startswith("video/")}
    if clips:
        step = tpl.by_key.get(action.step or "")
        takes_video = {s.key for s in (step.photos if step else ()) if s.video}
        for slot, slot_refs in action.photos.items():
            if slot not in takes_video and clips & set(slot_refs):
                raise Invalid(_("此处只接受照片，不接受视频"), field=f"photos.{slot}", code="video_not_allowed")
    return found, clips


def _photo_findings(job: Instance, tpl: core.Template, events: list[CoreEvent], action: core.Action,
                    files: dict[str, int], clips: set[str], now: datetime) -> list[tuple[str, list]]:
    """Run the checks each photo slot of the step asks for (anlian.trust); a hard failure refuses
    the submission with its reason, the rest are kept for the approver: [(slot, findings)]."""
    step = tpl.by_key.get(action.step or "")
    slots = [s for s in (step.photos if step else ()) if s.checks and action.photos.get(s.key)]
    if not slots:
        return []
    from anlian.trust import checks as trust

    # Used before, except by this same step of this job: a step sent back may be resubmitted with its photos.
    used = {pk for pk, job_id, step_key in USED_BEFORE.rows(sorted(files.values()))
            if not (job_id == job.pk and step_key == action.step)}
    base = trust.CheckContext(
        server_time=now, device_time=action.device_time, job_started_at=job.started_at,
        area=DbFacts().area(str(job.area_id)), lat=action.location[0] if action.location else None,
        lng=action.location[1] if action.location else None,
        earlier_refs=frozenset(sha for sha, pk in files.items() if pk in used))
    out = []
    for slot in slots:
        before = next((c.get("before") for c in slot.checks if c.name == "before_after"), None)
        context = base
        if before:
            refs, where = _earlier_photos(events, action, before)
            context = replace(base, before_refs=tuple(refs), before_lat=where[0] if where else None,
                              before_lng=where[1] if where else None)
        pictures = [r for r in action.photos[slot.key] if r not in clips]  # the checks read images
        findings = trust.run_checks(job.company_id, slot.checks, pictures, context)
        refused = trust.refusal(findings)
        if refused is not None:
            raise Invalid(refused.reason, field=f"photos.{slot.key}", code=f"photo_{refused.check}")
        out.append((slot.key, findings))
    return out


def _earlier_photos(events: list[CoreEvent], action: core.Action,
                    slot: str) -> tuple[list[str], tuple[float, float] | None]:
    """The photos of slot `slot` and where the phone was when they were sent: in this submission,
    else the latest earlier event that has them."""
    if action.photos.get(slot):
        return list(action.photos[slot]), action.location
    for event in reversed(events):
        found = (event.payload.get("photos") or {}).get(slot)
        if found:
            return list(found), event.location
    return [], None


def _check_submission(company, tpl: core.Template, action: core.Action) -> None:
    """Bounds and references the pure core cannot check: sizes, and that every person, area and
    piece of equipment named in a form exists in the job's company."""
    for key, value in action.values.items():
        items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        if len(items) > MAX_ITEMS or any(isinstance(v, str) and len(v) > MAX_TEXT for v in items) \
                or any(isinstance(v, (list, dict)) for v in items):
            raise Invalid(_("「{f}」内容过长或格式不正确").format(f=key), field=key, code="field_invalid")
    if action.kind == "hand_over" and action.target is not None:
        target = action.target
        if not (target.isdigit() and len(target) < 19 and PEOPLE.rows(company, [int(target)])):
            raise Invalid(_("接班人不存在"), field="target", code="unknown_reference")
    step = tpl.by_key.get(action.step or "")
    if step is None:
        return
    in_company = Q(org_unit__company=company) | Q(org_unit=company)
    sources = {"person": lambda ids: len(PEOPLE.rows(company, sorted(ids))),
               "area": lambda ids: Area.objects.filter(in_company, pk__in=ids).count(),
               "equipment": lambda ids: Equipment.objects.filter(in_company, pk__in=ids).count()}
    for f in step.fields:
        value = action.values.get(f.key)
        if f.type not in sources or value in (None, "", []):
            continue
        refs = value if isinstance(value, list) else [value]
        ids = {int(r) for r in refs if isinstance(r, str) and r.isdigit() and len(r) < 19}
        if len(ids) != len(set(refs)) or sources[f.type](ids) != len(ids):
            raise Invalid(_("「{label}」所选对象不存在").format(label=f.label), field=f.key, code="unknown_reference")


CACHED_FIELDS = ("status", "expires_at", "current_steps", "last_seq", "last_hash", "closed_at", "title")
# The writes of every action, compiled once (core.prepared); nothing listens to these models' signals.
NEW_EVENT = PreparedInsert(Event)
NEW_PHOTO_USES = PreparedInsert(EventPhoto)
NEW_PARTICIPANTS = PreparedInsert(Instance.participants.through)
SAVE_JOB = PreparedUpdate(Instance, CACHED_FIELDS)


def _append(instance: Instance, tpl: core.Template, history: list[CoreEvent], new: CoreEvent,
            person: Person | None, files: dict[str, int] | None = None) -> Event:
    """Record `new` after `history` (the job's events so far) and refresh the job's cached copies."""
    digest = core.chain_hash(instance.last_hash or GENESIS, new)
    row = NEW_EVENT.create(
        instance=instance, seq=new.seq, kind=new.kind, step=new.step or "", actor=person,
        actor_key=new.actor, payload=new.payload, server_time=new.server_time, device_time=new.device_time,
        lat=new.location[0] if new.location else None, lng=new.location[1] if new.location else None,
        accuracy=new.accuracy, prev_hash=instance.last_hash or GENESIS, hash=digest,
    )
    NEW_PHOTO_USES.create_many([{"event_id": row.pk, "file_id": files[ref], "slot": slot}
                                for slot, refs in (new.payload.get("photos") or {}).items()
                                for ref in dict.fromkeys(refs) if files and ref in files])
    _refresh(instance, tpl, history, new, row)
    if event_recorded.has_listeners(Instance):
        event_recorded.send(sender=Instance, instance=instance, template=tpl, event=new, row=row)
    return row


def _people(tpl: core.Template, state: core.State) -> set[str]:
    """Who acted, and everyone named in the form (guardian, operators…): they must see the job."""
    named = {str(v) for f in tpl.fields.values() if f.type == "person" for v in persons(state.values.get(f.key))}
    return {p for p in state.participants | named if str(p).isdigit() and len(str(p)) < 19}


def _refresh(instance: Instance, tpl: core.Template, history: list[CoreEvent], new: CoreEvent, last: Event) -> None:
    """Rewrite the instance's cached copies of what the events say."""
    before, state = core.replay(tpl, history), core.replay(tpl, [*history, new])
    instance.status = STATUS_OF_STATE.get(state.status, InstanceStatus.ACTIVE)
    instance.expires_at = state.expires_at
    instance.current_steps = open_steps(tpl, state)
    instance.last_seq, instance.last_hash = last.seq, last.hash
    if instance.status in (InstanceStatus.CLOSED, InstanceStatus.REJECTED, InstanceStatus.CANCELLED) \
            and instance.closed_at is None:
        instance.closed_at = last.server_time
    title = state.values.get("content")
    if isinstance(title, str) and title:
        instance.title = title[:200]
    SAVE_JOB.run(instance.pk, {name: getattr(instance, name) for name in CACHED_FIELDS})
    # Participants only grow: someone once named keeps sight of the job they were part of.
    added = _people(tpl, state) - (_people(tpl, before) if history else set())
    if added:
        NEW_PARTICIPANTS.create_many([{"instance_id": instance.pk, "person_id": int(p)} for p in sorted(added)],
                                     ignore_conflicts=True)


def open_steps(tpl: core.Template, state: core.State) -> list[str]:
    if state.status not in ("active", "suspended"):
        return []
    return [s.key for s in tpl.steps if not state.steps[s.key].done]


def endorse(user: Any, area: Area, template_key: str, reason: str, minutes: int) -> Endorsement:
    """The area owner's consent to one more job of `template_key` beside a conflicting one."""
    person = _person_of(user)
    if not DbFacts().can_endorse(actor_key(person), str(area.pk)):
        raise Forbidden(_("只有区域负责人可以确认同时作业"), code="endorser_not_owner")
    if not reason.strip():
        raise Invalid(_("请填写原因"), field="reason")
    now = clock.now()
    return Endorsement.objects.create(area=area, template_key=template_key, endorsed_by=person,
                                      reason=reason.strip(), created_at=now,
                                      valid_until=now + timedelta(minutes=minutes))


def start(user: Any, version: TemplateVersion, area: Area, *, first: core.Action | None = None,
          endorsement: Endorsement | None = None, device_time: datetime | None = None,
          location: tuple[float, float] | None = None, accuracy: float | None = None,
          now: datetime | None = None) -> Instance:
    """Open a job in `area` on a published version, and submit its first step if given.

    Both happen in one transaction: if the first step is refused, no job is left behind."""
    person = _person_of(user)
    now = now or clock.now()
    if version.status != TemplateStatus.PUBLISHED:
        raise Invalid(_("该模板版本未发布，不能发起作业"), field="version")
    if not access.visible(Area, user).filter(pk=area.pk).exists():
        raise NotFound()
    tpl, facts = template_of(version), DbFacts()
    actor = actor_facts(person, area.org_unit)
    endorser = None
    with transaction.atomic():
        if endorsement is not None:
            endorsement = Endorsement.objects.select_for_update().get(pk=endorsement.pk)
            if endorsement.area_id != area.pk or endorsement.template_key != tpl.key \
                    or endorsement.used_by_id is not None or not endorsement.created_at <= now < endorsement.valid_until:
                raise Invalid(_("该同时作业确认不适用于本作业，或已使用、已过期"), field="endorsement_id",
                              code="endorsement_invalid")
            endorser = endorsement.endorsed_by
        action = core.Action("start", area=str(area.pk), endorsed_by=actor_key(endorser) if endorser else None,
                             device_time=device_time, location=location, accuracy=accuracy)
        try:
            new = core.apply(tpl, [], action, actor, now, facts)
        except core.Refusal as refusal:
            raise EngineRefusal(refusal) from None
        company = area.org_unit if area.org_unit.kind == OrgKind.COMPANY else area.org_unit.company
        instance = Instance.objects.create(
            version=version, org_unit=area.org_unit, company=company, area=area, applicant=person,
            number=next_number(company, version.template, now), started_at=now,
            verify_token=secrets.token_urlsafe(16)[:22],
        )
        _append(instance, tpl, [], new, person)
        if endorsement is not None:
            endorsement.used_by = instance
            endorsement.save(update_fields=["used_by"])
        if first is not None:
            act(user, instance, replace(first, kind="complete"), now=now)
    return instance


def act(user: Any, instance: Instance | int, action: core.Action, *, now: datetime | None = None) -> Event:
    """Check one action on a running job with the engine and record it, or raise EngineRefusal.

    `instance` may be a job or the id of one the user must be able to see (checked under the lock)."""
    person = _person_of(user)
    now = now or clock.now()
    with transaction.atomic():
        locked, source = _lock(instance.pk if isinstance(instance, Instance) else instance)
        if not isinstance(instance, Instance) and not _sees(user, person, locked):
            raise NotFound()
        tpl = _parse(source)
        files, clips = _check_photos(locked.company_id, tpl, action)
        _check_submission(locked.company_id, tpl, action)
        events = core_events(locked)
        try:
            new = core.apply(tpl, events, action, actor_facts(person, locked.org_unit), now, DbFacts())
        except core.Refusal as refusal:
            raise EngineRefusal(refusal) from None
        findings = _photo_findings(locked, tpl, events, action, files, clips, now)
        row = _append(locked, tpl, events, new, person, files)
        if findings:
            from anlian.trust.checks import store_findings

            for slot, found in findings:
                store_findings(found, row, locked, slot)
    if isinstance(instance, Instance):
        for name in CACHED_FIELDS:  # the caller's copy now says what the events say
            setattr(instance, name, getattr(locked, name))
    return row


def _lock(pk: int) -> tuple[Instance, str]:
    """The job row, locked until the transaction ends, with its unit (the area's: it serves the
    scope check and the actor's roles) and its template's source."""
    found = LOCKED_JOB.rows(pk)
    if not found:
        raise NotFound()
    *values, path, kind, source = found[0]
    job = Instance.from_db("default", JOB_FIELDS, values)
    known = {"id": job.org_unit_id, "path": path, "kind": kind}
    names = [f.attname for f in OrgUnit._meta.concrete_fields if f.attname in known]  # model order
    unit = OrgUnit.from_db("default", names, [known[n] for n in names])
    job._state.fields_cache["org_unit"] = unit
    return job, source


def _sees(user: Any, person: Person, instance: Instance) -> bool:
    """access.visible(Instance) for one job already in hand: a VIEW grant over its unit, or a
    participant (one indexed look-up instead of a scan of every job)."""
    if access.scope_of(user).allows(VIEW, instance.org_unit.path):
        return True
    return Instance.participants.through.objects.filter(instance_id=instance.pk, person_id=person.pk).exists()


def expire_due(now: datetime | None = None) -> int:
    """Record `expired` for live jobs past their validity, so ledgers and filters show it.

    The rules never wait for this (expiry is derived from time); it only keeps cached status true."""
    now = now or clock.now()
    count = 0
    due = Instance.objects.filter(status__in=[InstanceStatus.ACTIVE, InstanceStatus.SUSPENDED],
                                  expires_at__lte=now).values_list("pk", flat=True)
    for pk in due:
        with transaction.atomic():
            locked = Instance.objects.select_for_update().select_related("version").get(pk=pk)
            tpl, events = template_of(locked.version), core_events(locked)
            try:
                new = core.apply(tpl, events, core.Action("expire"), core.SYSTEM, now, DbFacts())
            except core.Refusal:
                continue  # extended or closed meanwhile
            _append(locked, tpl, events, new, None)
            count += 1
    return count


def act_as_system(instance: Instance, action: core.Action, now: datetime | None = None) -> Event:
    """Record what the server does itself (a `system` step such as automatic dispatch): checked by
    the engine like anyone's action, with the system as actor and nobody as the person."""
    now = now or clock.now()
    with transaction.atomic():
        locked = Instance.objects.select_for_update().select_related("version").get(pk=instance.pk)
        tpl = template_of(locked.version)
        _check_submission(locked.company_id, tpl, action)
        events = core_events(locked)
        try:
            new = core.apply(tpl, events, action, core.SYSTEM, now, DbFacts())
        except core.Refusal as refusal:
            raise EngineRefusal(refusal) from None
        row = _append(locked, tpl, events, new, None)
    for name in CACHED_FIELDS:
        setattr(instance, name, getattr(locked, name))
    return row


LIVE_STATUSES = (InstanceStatus.ACTIVE, InstanceStatus.SUSPENDED)


def withdraw_unqualified(person_ids: set[int] | None = None, now: datetime | None = None) -> int:
    """Take people who no longer pass a job's qualification guards off live jobs.

    Qualifications are checked for every named worker at every step, but a certificate that is
    revoked or runs out while the job runs must not wait for the next step: this sweep (run when a
    qualification changes and every few minutes by the worker) records `withdrawn` for each such
    person, suspends the job when a guard's field is left empty or the holder is the one refused,
    and tells the holder, the guardians and the person. Only people in `person_ids` (all, when
    None) are looked at. Returns the number of people withdrawn or jobs suspended."""
    now = now or clock.now()
    jobs = Instance.objects.filter(status__in=LIVE_STATUSES)
    if person_ids is not None:
        jobs = jobs.filter(participants__in=person_ids)
    count = 0
    for pk in jobs.values_list("pk", flat=True).distinct().order_by("pk"):
        with transaction.atomic():
            locked = Instance.objects.select_for_update().select_related("version").get(pk=pk)
            count += _withdraw_from(locked, person_ids, now)
    return count


def _withdraw_from(job: Instance, person_ids: set[int] | None, now: datetime) -> int:
    tpl = template_of(job.version)
    guards = [g for g in tpl.guards if g.name == "qualified"]
    events = core_events(job)
    state = core.replay(tpl, events)
    if not guards or state.status not in LIVE or state.expired(now):
        return 0
    facts, done = DbFacts(), 0
    for guard in guards:
        named = [state.holder] if guard.who == "applicant" else persons(state.values.get(guard.who))
        for person in named:
            if not person or (person_ids is not None and int(person) not in person_ids):
                continue
            reason = facts.unqualified(person, guard.work_type, state.area, now)
            if not reason:
                continue
            text = _("{p}不再具备「{w}」作业资格：{r}").format(p=facts.person_name(person), w=guard.work_type, r=reason)
            if guard.who != "applicant":
                events, state = _system_act(job, tpl, events, core.Action("withdraw", target=person, reason=text), now)
                done += 1
            if guard.who == "applicant" or not persons(state.values.get(guard.who)):
                if state.status == "active":
                    events, state = _system_act(job, tpl, events, core.Action("suspend", reason=text), now)
                    done += 1
            _tell_job_people(job, tpl, state, person, text, events[-1].seq)
    return done


def _system_act(job: Instance, tpl: core.Template, events: list[CoreEvent], action: core.Action,
                now: datetime) -> tuple[list[CoreEvent], core.State]:
    new = core.apply(tpl, events, action, core.SYSTEM, now, DbFacts())
    _append(job, tpl, events, new, None)
    events = [*events, new]
    return events, core.replay(tpl, events)


def _tell_job_people(job: Instance, tpl: core.Template, state: core.State, person: str, text: str, seq: int) -> None:
    """Tell the holder, every guardian named in the form and the person withdrawn (event
    `permit_withdrawn`: the inbox, and whatever the company's routes add), once per event."""
    from django.urls import reverse

    from anlian.notify.models import Severity
    from anlian.notify.routing import notify_event

    guardians = {p for f in tpl.fields.values() if f.type == "person" and "guardian" in f.key
                 for p in persons(state.values.get(f.key))}
    told = {int(p) for p in guardians | {state.holder, person} if p and str(p).isdigit() and len(str(p)) < 19}
    people = Person.objects.filter(pk__in=told, company_id=job.company_id, is_active=True)
    notify_event(job.company, event="permit_withdrawn", key=f"job:{job.pk}:{seq}", severity=Severity.WARNING,
                 unit=job.org_unit, people=list(people), url=reverse("todos:open_job", args=[job.pk]),
                 context={"number": job.number, "person": DbFacts().person_name(person), "reason": text})


def decisions(user: Any, instance: Instance, now: datetime | None = None) -> list[core.Decision]:
    """What this person may do on the job now, and why not for the rest."""
    person = getattr(user, "person", None)
    if person is None:
        return []
    tpl = template_of(instance.version)
    return core.decide(tpl, core_events(instance), actor_facts(person, instance.area.org_unit),
                       now or clock.now(), DbFacts())


def state_of(instance: Instance) -> core.State:
    return core.replay(template_of(instance.version), core_events(instance))


def get_instance_for_user(user: Any, pk: Any) -> Instance:
    return access.get_for_user(Instance.objects.select_related("version__template", "area", "applicant"), user, pk)


def my_tasks(user: Any, now: datetime | None = None) -> list[tuple[Instance, list[core.Decision]]]:
    """Open jobs with at least one step action this person may take now."""
    now = now or clock.now()
    person, facts, out = getattr(user, "person", None), DbFacts(), []
    if person is None:
        return []
    # Only active jobs can have step work (a suspended one can only be stopped); events come in
    # one query for all the jobs, not one per job.
    live = access.visible(Instance, user, VIEW).filter(status=InstanceStatus.ACTIVE).select_related(
        "version__template", "area__org_unit", "applicant").prefetch_related(
        Prefetch("events", queryset=Event.objects.order_by("seq"), to_attr="ordered_events"))[:MAX_TASK_JOBS]
    for instance in live:
        allowed = core.tasks(template_of(instance.version), [to_core(e) for e in instance.ordered_events],
                             actor_facts(person, instance.area.org_unit), now, facts)
        if allowed:
            out.append((instance, allowed))
    return out


def sync_shipped_templates() -> int:
    """Load the shipped templates (flows/shipped/*.yaml) as published versions; a changed file
    becomes a new version, so jobs already running keep the version they started on."""
    from anlian.flows.shipped import shipped_templates

    added = 0
    for key, path in shipped_templates().items():
        source = path.read_text(encoding="utf-8")
        parsed = core.load_template(source)
        template, _created = FlowTemplate.objects.get_or_create(
            owner=None, key=key, defaults={"name": parsed.name, "kind": parsed.kind, "is_shipped": True})
        latest = template.versions.order_by("-number").first()
        if latest is not None and latest.source == source:
            continue
        with transaction.atomic():
            version = TemplateVersion.objects.create(
                template=template, number=(latest.number if latest else 0) + 1, source=source)
            template.versions.filter(status=TemplateStatus.PUBLISHED).update(status=TemplateStatus.RETIRED)
            version.status, version.published_at = TemplateStatus.PUBLISHED, clock.now()
            version.save(update_fields=["status", "published_at"])
            FlowTemplate.objects.filter(pk=template.pk).update(name=parsed.name, kind=parsed.kind)
        added += 1
    return added
