"""Phone pages for permits (/m/permits/): my tasks, start a job, do a step, the job overview.

Every write is `flows.services.start` / `act`; a refusal re-renders the same form with the rule's
reason next to the field it names, records nothing on the job, and is kept as a `Refusal` row.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.template.loader import render_to_string
from django.utils import timezone
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from anlian.core.errors import DomainError, Forbidden, NotFound
from anlian.flows import core
from anlian.flows import services as flows
from anlian.flows.core.schema import Step
from anlian.flows.models import Instance
from anlian.orgs import access
from anlian.orgs.models import Area, OrgKind, Person
from anlian.permits import services

STEP_ACTIONS = {"task": ("complete",), "approval": ("approve", "return", "reject"), "review": ("approve", "return")}


def _person(request: HttpRequest):
    person = getattr(request.user, "person", None)
    if person is None or not person.is_active:
        raise Forbidden(_("只有登记在册的人员可以办理作业"))
    return person


def _company_of(area: Area):
    return area.org_unit if area.org_unit.kind == OrgKind.COMPANY else area.org_unit.company


# --- my tasks ---------------------------------------------------------------------------------------


@login_required
def tasks(request: HttpRequest) -> HttpResponse:
    rows = []
    for instance, allowed in flows.my_tasks(request.user):
        tpl = flows.template_of(instance.version)
        for decision in allowed:
            step = tpl.by_key.get(decision.step)
            rows.append({"instance": instance, "step": step, "action": decision.action, "due_at": decision.due_at,
                         "label": services.ACTION_LABELS.get(decision.action, decision.action)})
    # One row per step (approve/return/reject are one task), soonest deadline first.
    seen, tasks_ = set(), []
    for row in sorted(rows, key=lambda r: (r["due_at"] is None, r["due_at"] or 0, -r["instance"].pk)):
        key = (row["instance"].pk, row["step"].key)
        if key not in seen:
            seen.add(key)
            tasks_.append(row)
    return render(request, "permits/m/tasks.html", {"tasks": tasks_})


# --- start a job --------------------------------------------------------------------------------------


def _first_step(tpl: core.Template) -> Step | None:
    """The step filled in together with the start: the applicant's own first task, if it is one."""
    first = tpl.steps[0]
    return first if first.kind == "task" and first.actor.kind == "applicant" else None


@login_required
def start(request: HttpRequest) -> HttpResponse:
    """Choose a type, then an area, then fill the first step (one page, three stages by query string)."""
    _person(request)
    versions = flows.startable_versions(request.user)
    version_id, area_id = request.GET.get("version", ""), request.GET.get("area", "")
    if not version_id:
        return render(request, "permits/m/start_type.html", {"versions": versions})
    version = versions.filter(pk=version_id).first() if version_id.isdigit() and len(version_id) < 12 else None
    if version is None:
        raise NotFound()
    areas = access.visible(Area, request.user).select_related("org_unit").order_by("org_unit__path", "name")
    if not area_id:
        return render(request, "permits/m/start_area.html", {"version": version, "areas": areas})
    area = areas.filter(pk=area_id).first() if area_id.isdigit() and len(area_id) < 12 else None
    if area is None:
        raise NotFound()
    tpl = flows.template_of(version)
    step = _first_step(tpl)
    company = _company_of(area)
    endorsements = services.usable_endorsements(request.user, area, tpl.key)
    ctx = {"version": version, "area": area, "tpl": tpl, "step": step, "company": company,
           "validity": services.duration_text(tpl.validity), "endorsements": endorsements,
           "endorse_url": f"{reverse('permits:endorse')}?area={area.pk}&template={tpl.key}",
           "post_url": f"{reverse('permits:start')}?version={version.pk}&area={area.pk}"}
    if request.method != "POST":
        return _step_form(request, "permits/m/start_form.html", ctx, step, {}, kinds=("complete",))
    submission = services.read_submission(request.user, company, step, "complete", request.POST, request.FILES, {}) \
        if step else None
    try:
        if submission and submission.error:
            raise submission.error
        device, location = services.device_context(request.POST)
        chosen = request.POST.get("endorsement", "")
        endorsement = endorsements.filter(pk=chosen).first() if chosen.isdigit() and len(chosen) < 12 else None
        instance = flows.start(request.user, version, area, first=submission.action if submission else None,
                               endorsement=endorsement, device_time=device, location=location,
                               accuracy=services.location_accuracy(request.POST))
    except DomainError as exc:
        services.record_refusal(request.user, exc, version=version, area=area, action="start",
                                step=step.key if step else "")
        ctx["needs_endorsement"] = exc.code == "conflict_needs_endorsement"
        return _step_form(request, "permits/m/start_form.html", ctx, step, {}, kinds=("complete",),
                          submission=submission, error=exc)
    messages.success(request, _("已发起作业 {number}").format(number=instance.number))
    return redirect("permits:job", instance_id=instance.pk)


@login_required
def endorse(request: HttpRequest) -> HttpResponse:
    """An area owner allows one more job of a kind beside a conflicting one (simultaneous operations)."""
    person = _person(request)
    areas = services.endorsable_areas(request.user)
    keys = {v.template.key: v.template.name for v in flows.startable_versions(request.user)}
    form = {"area": request.POST.get("area") or request.GET.get("area", ""),
            "template": request.POST.get("template") or request.GET.get("template", ""),
            "reason": request.POST.get("reason", "").strip(), "hours": request.POST.get("hours", "2")}
    error = ""
    if request.method == "POST":
        area = areas.filter(pk=form["area"]).first() if form["area"].isdigit() and len(form["area"]) < 12 else None
        hours = int(form["hours"]) if form["hours"].isdigit() and 0 < int(form["hours"]) <= 24 else 0
        if area is None or form["template"] not in keys or not hours:
            error = _("请选择区域、作业类型和有效时长（1～24小时）")
        else:
            try:
                flows.endorse(request.user, area, form["template"], form["reason"][:200], hours * 60)
            except DomainError as exc:
                error = exc.message()
            else:
                messages.success(request, _("已确认：{area} 可同时进行{kind}").format(area=area.name,
                                                                              kind=keys[form["template"]]))
                return redirect("permits:endorse")
    recent = services.recent_endorsements(person)
    return render(request, "permits/m/endorse.html", {"areas": areas, "kinds": sorted(keys.items()), "form": form,
                                                      "error": error, "recent": recent},
                  status=422 if error else 200)


# --- a step ---------------------------------------------------------------------------------------------


def _step_form(request: HttpRequest, template: str, ctx: dict[str, Any], step: Step | None, known: dict[str, Any],
               *, kinds: tuple[str, ...], submission: services.Submission | None = None,
               error: DomainError | None = None, prefill: dict[str, Any] | None = None,
               presence: bool = False) -> HttpResponse:
    """Render a step's form, refilled from a refused submission with its reason next to the field."""
    errors, top = services.errors_of(error, step)
    action = submission.action if submission else None
    current = dict(action.values) if action else dict(prefill or {})
    photos = dict(action.photos) if action else {}
    choices = services.Choices.for_company(request.user, ctx["company"])
    context = {
        **ctx, "kinds": kinds, "errors": errors, "top_error": top,
        "fields": services.form_fields(step, known, current, choices, errors) if step else [],
        "slots": services.photo_slots(step, photos, errors, presence) if step else [],
        "reason": action.reason if action else "", "target": action.target if action else "",
        "photo_max_edge": photo_max_edge(),
    }
    by_key = {s.key: s for s in (step.photos if step else ())}
    for slot in context["slots"]:
        slot["camera_only"] = bool(getattr(by_key.get(slot["key"]), "camera_only", False))
        slot["video"] = bool(getattr(by_key.get(slot["key"]), "video", False))
    return render(request, template, context, status=error.http_status if error else 200)


def photo_max_edge() -> int:
    """The long edge (px) the phone downscales photos to before uploading them."""
    return int(getattr(settings, "ANLIAN_PHOTO_MAX_EDGE", 2560))


def _offline_meta(request: HttpRequest, instance: Instance, step_: Step) -> dict[str, Any]:
    """What the offline queue needs to send this step's form through the API later (see queue.js)."""
    offset = timezone.localtime().strftime("%z")
    return {
        "user": request.user.get_username(), "instance": instance.pk, "number": instance.number,
        "step": step_.key, "stepName": step_.name, "page": reverse("permits:step", args=[instance.pk, step_.key]),
        "filesUrl": reverse("api:upload_file"), "meUrl": reverse("api:me"),
        "actionsUrl": reverse("api:act", args=[instance.pk]),
        "many": [f.key for f in step_.fields if f.many], "datetime": [f.key for f in step_.fields if f.type == "datetime"],
        "tz": f"{offset[:3]}:{offset[3:]}" if offset else "",
    }


def _step_of(instance: Instance, step_key: str) -> tuple[core.Template, Step]:
    tpl = flows.template_of(instance.version)
    step = tpl.by_key.get(step_key)
    if step is None:
        raise NotFound(_("没有这个步骤"))
    return tpl, step


@login_required
def step(request: HttpRequest, instance_id: int, step_key: str) -> HttpResponse:
    instance = flows.get_instance_for_user(request.user, instance_id)
    tpl, step_ = _step_of(instance, step_key)
    state = flows.state_of(instance)
    mine = [d for d in flows.decisions(request.user, instance) if d.step == step_.key]
    allowed = tuple(d.action for d in mine if d.allowed)
    blocked = next((d.refusal.message for d in mine if not d.allowed), "") if not allowed else ""
    kinds = STEP_ACTIONS[step_.kind]
    returnable = step_.approval.return_to if step_.approval and step_.approval.return_to is not None else \
        tuple(s.key for s in tpl.steps if s.key in tpl.ancestors[step_.key])
    ctx = {
        "instance": instance, "tpl": tpl, "step": step_, "company": instance.company, "allowed": allowed,
        "blocked": blocked, "post_url": reverse("permits:step", args=[instance.pk, step_.key]),
        "evidence": services.timeline(instance, before_step=step_.key) if step_.is_approval else [],
        "return_targets": [(k, tpl.by_key[k].name) for k in returnable if k in tpl.by_key],
        "due_at": next((d.due_at for d in mine if d.due_at), None),
        "offline_meta": json.dumps(_offline_meta(request, instance, step_), ensure_ascii=False),
    }
    # A step returned for changes starts from what was sent last time.
    prefill = {f.key: state.values[f.key] for f in step_.fields if f.key in state.values}
    presence = step_.presence
    if request.method != "POST":
        return _step_form(request, "permits/m/step.html", ctx, step_, state.values, kinds=kinds, prefill=prefill,
                          presence=presence)
    kind = request.POST.get("do", "")
    if kind not in kinds:
        return HttpResponseBadRequest(_("不支持的操作"))
    _person(request)
    submission = services.read_submission(request.user, instance.company, step_, kind, request.POST,
                                          request.FILES, state.values)
    try:
        if submission.error:
            raise submission.error
        flows.act(request.user, instance, submission.action)
    except DomainError as exc:
        services.record_refusal(request.user, exc, version=instance.version, area=instance.area, action=kind,
                                step=step_.key, instance=instance)
        return _step_form(request, "permits/m/step.html", ctx, step_, state.values, kinds=kinds,
                          submission=submission, error=exc, presence=presence)
    done = {"complete": _("已提交「{step}」"), "approve": _("已同意「{step}」"), "return": _("已退回「{step}」"),
            "reject": _("已驳回「{step}」")}[kind]
    messages.success(request, done.format(step=step_.name))
    return redirect("permits:job", instance_id=instance.pk)


# --- the job -----------------------------------------------------------------------------------------------


def _job_page(request: HttpRequest, instance: Instance, error: DomainError | None = None) -> HttpResponse:
    tpl, state = flows.template_of(instance.version), flows.state_of(instance)
    decisions = flows.decisions(request.user, instance)
    mine = {d.step for d in decisions if d.allowed and d.step}
    rows = services.step_rows(instance, tpl, state)
    for row in rows:
        row["mine"] = row["key"] in mine
    job_actions = [(d.action, services.ACTION_LABELS[d.action], d.action in services.JOB_ACTIONS_WITH_REASON)
                   for d in decisions if d.allowed and d.step is None and d.action in services.JOB_ACTIONS]
    successors = Person.objects.filter(company=instance.company, is_active=True).exclude(
        pk=int(state.holder) if str(state.holder or "").isdigit() else None).order_by("name")
    context = {"instance": instance, "tpl": tpl, "state": state, "rows": rows, "job_actions": job_actions,
               "successors": successors if any(a == "hand_over" for a, _l, _r in job_actions) else (),
               "error": error.message() if error else ""}
    return render(request, "permits/m/job.html", context, status=error.http_status if error else 200)


@login_required
def job(request: HttpRequest, instance_id: int) -> HttpResponse:
    return _job_page(request, flows.get_instance_for_user(request.user, instance_id))


@login_required
@require_POST
def job_action(request: HttpRequest, instance_id: int) -> HttpResponse:
    """Suspend, resume, cancel or close the whole job."""
    instance = flows.get_instance_for_user(request.user, instance_id)
    kind = request.POST.get("do", "")
    if kind not in services.JOB_ACTIONS:
        return HttpResponseBadRequest(_("不支持的操作"))
    device, location = services.device_context(request.POST)
    extend_by, target = None, None
    if kind == "extend":
        hours = request.POST.get("hours", "")
        extend_by = timedelta(hours=int(hours)) if hours.isdigit() and 0 < int(hours) <= 720 else timedelta()
    if kind == "hand_over":
        target = request.POST.get("target", "").strip()[:20] or None
    action = core.Action(kind, reason=request.POST.get("reason", "").strip()[:services.MAX_TEXT],
                         device_time=device, location=location, accuracy=services.location_accuracy(request.POST),
                         extend_by=extend_by, target=target)
    try:
        _person(request)
        flows.act(request.user, instance, action)
    except DomainError as exc:
        services.record_refusal(request.user, exc, version=instance.version, area=instance.area, action=kind,
                                instance=instance)
        return _job_page(request, instance, exc)
    messages.success(request, _("已{action}作业").format(action=services.ACTION_LABELS[kind]))
    return redirect("permits:job", instance_id=instance.pk)



# --- the service worker ---------------------------------------------------------------------------------

SW_ASSETS = ("permits/queue.js", "permits/permits.js", "permits/permits.css", "core/anlian.css", "core/htmx.min.js")


@lru_cache(maxsize=1)
def _service_worker() -> str:
    """The worker's script: the same for everyone (no user data), versioned by its assets' contents."""
    digest = hashlib.sha256()
    for name in SW_ASSETS:
        found = finders.find(name)
        if found:
            with open(found, "rb") as f:
                digest.update(f.read())
    assets = [static(name) for name in SW_ASSETS]
    return render_to_string("permits/sw.js", {"version": digest.hexdigest()[:12], "assets": json.dumps(assets)})


@require_GET
@never_cache
def service_worker(request: HttpRequest) -> HttpResponse:
    """/m/sw.js: open to anyone. A login redirect would break the browser's update check, and the
    script holds nothing personal: pages are cached by the browser for the session that saw them."""
    response = HttpResponse(_service_worker(), content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/m/"
    response["X-Content-Type-Options"] = "nosniff"
    return response
