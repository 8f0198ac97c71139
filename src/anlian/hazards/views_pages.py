"""Hazard pages: the phone report 随手拍, a hazard on the phone and on the desktop, my hazards, the
desktop list, and the dispatch rules table with its "test a hazard" preview.

Views stay thin: the report is judged by `hazards.services.report`, rules by `hazards.forms`, a
hazard's steps are done on the permit step pages (they handle hazard jobs), and every hazard is
fetched through `services.visible`, so another company's id answers 404 like a missing one.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from anlian.core import clock
from anlian.core.errors import DomainError, Forbidden, NotFound
from anlian.core.pages import is_fragment, paginate
from anlian.flows import services as flows
from anlian.hazards import forms, services
from anlian.hazards.models import Hazard, HazardCategory, HazardLevel, HazardStage
from anlian.orgs.models import OrgUnit, Person
from anlian.permits import services as permits
from anlian.permits.mobile_views import photo_max_edge

MAX_DESCRIPTION = services.MAX_DESCRIPTION


def _hazard(request: HttpRequest, hazard_id: int) -> Hazard:
    found = services.visible(request.user).select_related(
        "instance__version__template", "area", "equipment", "org_unit", "reported_by", "responsible_unit", "rule",
        "recurrence_of__instance").filter(pk=hazard_id).first()
    if found is None:
        raise NotFound()
    return found


# --- report (随手拍) --------------------------------------------------------------------------------


def _report_step():
    """The report step of the shipped template: its photo slot (and the engine's checks) are the form's."""
    tpl = flows.template_of(services.template_version(HazardLevel.GENERAL))
    return tpl.by_key["report"]


@login_required
def report(request: HttpRequest) -> HttpResponse:
    """One page, few taps: photos or a clip, what it is, how bad, where (a QR code fills it)."""
    person = getattr(request.user, "person", None)
    if person is None or not person.is_active:
        raise Forbidden(_("只有登记在册的人员可以上报隐患"))
    step = _report_step()
    source = request.POST if request.method == "POST" else request.GET
    form = {"category": source.get("category", "")[:20], "level": source.get("level", "")[:10],
            "description": source.get("description", "").strip()[:permits.MAX_TEXT],  # too long: refused by report()
            "area": source.get("area", "")[:20], "equipment": source.get("equipment", "")[:20]}
    error: DomainError | None = None
    photos: dict[str, list[str]] = {}
    place = forms.Place(None, None)
    try:
        place = forms.place_of(request.user, form["area"], form["equipment"])
    except DomainError as exc:
        error = exc
    if request.method == "POST" and error is None:
        company = forms.company_of(place.area) if place.area else person.company
        photos, error = permits.read_photos(request.user, company, step, request.FILES, request.POST, presence=False)
        if error is None:
            hazard, error = _submit(request, form, place, photos)
            if hazard is not None:
                messages.success(request, _("已上报隐患 {number}").format(number=hazard.instance.number))
                return redirect("hazards:m_detail", hazard_id=hazard.pk)
    elif request.method == "POST":
        # Keep photos taken already, even when the place is refused: the worker need not retake them.
        photos, _refused = permits.read_photos(request.user, person.company, step, request.FILES, request.POST,
                                               presence=False)
    errors, top = _report_errors(error)
    slots = permits.photo_slots(step, photos, errors, presence=False)
    for slot in slots:
        slot["video"] = True
    context = {"form": form, "place": place, "areas": forms.report_areas(request.user),
               "categories": HazardCategory.choices, "levels": HazardLevel.choices, "slots": slots,
               "fields": [], "errors": errors, "top_error": top, "photo_max_edge": photo_max_edge(),
               "max_description": MAX_DESCRIPTION, "queue_meta": json.dumps(_queue_meta(request), ensure_ascii=False)}
    return render(request, "hazards/pages/m/report.html", context, status=error.http_status if error else 200)


REPORT_FIELDS = {"category", "level", "description", "area", "equipment", "photos.scene", "photos"}


def _report_errors(error: DomainError | None) -> tuple[dict[str, str], str]:
    if error is None:
        return {}, ""
    name = "photos.scene" if error.field == "photos" else (error.field or "")
    if name in REPORT_FIELDS:
        return {name: error.message()}, ""
    return {}, error.message()


def _submit(request: HttpRequest, form: dict[str, str], place: forms.Place,
            photos: dict[str, list[str]]) -> tuple[Hazard | None, DomainError | None]:
    if place.area is None:
        return None, NotFound(_("请选择区域，或扫描设备二维码"), field="area")
    device, location = permits.device_context(request.POST)
    try:
        return services.report(request.user, area=place.area, category=form["category"], level=form["level"],
                               description=form["description"], photos=photos.get("scene", []),
                               equipment=place.equipment, location=location,
                               accuracy=permits.location_accuracy(request.POST), device_time=device), None
    except DomainError as exc:
        return None, exc


def _queue_meta(request: HttpRequest) -> dict[str, Any]:
    """What the offline queue (permits/queue.js) needs to send a report through the API later."""
    return {"user": request.user.get_username(), "filesUrl": reverse("api:upload_file"), "meUrl": reverse("api:me"),
            "actionsUrl": reverse("api:report_hazard"), "page": reverse("hazards:report")}


# --- a hazard ----------------------------------------------------------------------------------------


def _deadlines(hazard: Hazard) -> list[dict[str, Any]]:
    """Each deadline, when its stage was reached, and whether it is missed (reached late or not yet)."""
    now = clock.now()
    out = []
    for label, due, done in ((_("接收"), hazard.respond_due, hazard.received_at),
                             (_("到场"), hazard.on_site_due, hazard.on_site_at),
                             (_("整改"), hazard.rectify_due, hazard.rectified_at)):
        if due is None:
            continue
        late = (done or now) > due and hazard.stage != HazardStage.CANCELLED
        out.append({"label": label, "due": due, "done": done, "late": late})
    return out


def _hazard_context(request: HttpRequest, hazard: Hazard) -> dict[str, Any]:
    instance = hazard.instance
    tpl, state = flows.template_of(instance.version), flows.state_of(instance)
    ids = {str(v) for key in ("responsible", "verifiers") for v in state.values.get(key) or []}
    names = {str(p.pk): p for p in Person.objects.filter(pk__in=[int(i) for i in ids if i.isdigit()])}
    mine = []
    for decision in flows.decisions(request.user, instance):
        if decision.allowed and decision.step and decision.step not in {s["key"] for s in mine}:
            mine.append({"key": decision.step, "name": tpl.by_key[decision.step].name, "due_at": decision.due_at})
    visible = services.visible(request.user)
    return {
        "hazard": hazard, "instance": instance, "tpl": tpl,
        "responsible": [names[i] for i in state.values.get("responsible") or [] if i in names],
        "verifiers": [names[i] for i in state.values.get("verifiers") or [] if i in names],
        "deadlines": _deadlines(hazard), "rows": permits.step_rows(instance, tpl, state), "my_steps": mine,
        "recurrence_of": hazard.recurrence_of if hazard.recurrence_of_id and visible.filter(
            pk=hazard.recurrence_of_id).exists() else None,
        "recurrences": visible.filter(recurrence_of=hazard).select_related("instance").order_by("reported_at"),
        "cycle": services.cycle_minutes(hazard),
    }


@login_required
def detail(request: HttpRequest, hazard_id: int) -> HttpResponse:
    hazard = _hazard(request, hazard_id)
    context = _hazard_context(request, hazard)
    context["entries"] = permits.timeline(hazard.instance)
    return render(request, "hazards/pages/detail.html", context)


@login_required
def m_detail(request: HttpRequest, hazard_id: int) -> HttpResponse:
    """The phone page a report lands on: number, whom it went to, deadlines, my next step."""
    return render(request, "hazards/pages/m/detail.html", _hazard_context(request, _hazard(request, hazard_id)))


# --- lists ------------------------------------------------------------------------------------------------


@login_required
def hazard_list(request: HttpRequest) -> HttpResponse:
    qs = services.visible(request.user).select_related("instance", "area", "responsible_unit", "reported_by")
    stage, overdue = request.GET.get("stage", ""), request.GET.get("overdue", "") == "1"
    if stage in HazardStage.values:
        qs = qs.filter(stage=stage)
    else:
        stage = ""
    if overdue:
        qs = qs.filter(overdue=True)
    page = paginate(request, qs.order_by("-reported_at", "-pk"))
    return render(request, "hazards/pages/list.html", {"page": page, "stage": stage, "overdue": overdue,
                                                       "stages": HazardStage.choices})


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    """我的隐患 on the phone: the ones I reported, or the ones given to me (to fix or to verify)."""
    person = getattr(request.user, "person", None)
    tab = "assigned" if request.GET.get("tab") == "assigned" else "reported"
    qs = Hazard.objects.none()
    if person is not None:
        base = services.visible(request.user).select_related("instance", "area")
        qs = base.filter(reported_by=person) if tab == "reported" else base.filter(
            instance__participants=person).exclude(reported_by=person)
    # Open ones first (overdue at the very top), then the closed, newest first.
    rows = sorted(qs.order_by("-reported_at")[:100],
                  key=lambda h: (h.stage in (HazardStage.CLOSED, HazardStage.CANCELLED), not h.overdue))
    return render(request, "hazards/pages/m/mine.html", {"rows": rows, "tab": tab})


# --- dispatch rules ----------------------------------------------------------------------------------------


RULE_FIELDS = ("priority", "category", "level", "area", "responsible_unit", "responsible_role", "cosign_roles",
               "verifier_role", "double_blind", "is_active")


def _company(request: HttpRequest) -> tuple[OrgUnit, Any]:
    companies = forms.rule_companies(request.user)
    chosen = forms.id_or_none(request.GET.get("company"))
    person = getattr(request.user, "person", None)
    company = (companies.filter(pk=chosen).first() if chosen else None) or \
        (companies.filter(pk=person.company_id).first() if person else None) or companies.first()
    if company is None or (chosen and company.pk != chosen):
        raise Forbidden(_("只有公司的安全管理人员可以编辑派发规则")) if company is None else NotFound()
    return company, companies


def _posted_rule(post: Any) -> dict[str, Any]:
    return {"priority": post.get("priority", "")[:10], "category": post.get("category", "")[:20],
            "level": post.get("level", "")[:10], "area": post.get("area", "")[:20],
            "responsible_unit": post.get("responsible_unit", "")[:20],
            "responsible_role": post.get("responsible_role", "")[:40],
            "cosign_roles": [c[:40] for c in post.getlist("cosign_roles")[:20]],
            "verifier_role": post.get("verifier_role", "")[:40], "double_blind": post.get("double_blind") == "on",
            "is_active": post.get("is_active") == "on"}


def _rules_page(request: HttpRequest, company: OrgUnit, companies: Any, *, editing: int | None = None,
                draft: dict[str, Any] | None = None, error: DomainError | None = None) -> HttpResponse:
    rules = list(forms.rules_of(company))
    roles = forms.role_choices(company)
    role_names = dict(roles)
    for rule in rules:
        rule.cosign_names = [role_names.get(c, c) for c in rule.cosign_roles or []]
        rule.responsible_name = role_names.get(rule.responsible_role, rule.responsible_role)
        rule.verifier_name = role_names.get(rule.verifier_role, rule.verifier_role)
    errors = {error.field or "": error.message()} if error else {}
    new = draft if editing is None and draft is not None else {
        "priority": (max((r.priority for r in rules), default=0) // 10 + 1) * 10 if rules else 10,
        "responsible_role": "safety_officer", "verifier_role": "safety_officer", "is_active": True, "cosign_roles": []}
    if editing is not None and draft is None:
        draft = next((forms.rule_values(r) for r in rules if r.pk == editing), None)
    context = {
        "company": company, "companies": companies, "rules": rules, "editing": editing, "draft": draft or {},
        "new": new, "errors": errors, "top_error": error.message() if error and error.field not in RULE_FIELDS else "",
        "categories": HazardCategory.choices, "levels": HazardLevel.choices, "roles": roles,
        "areas": forms.company_areas(company), "units": forms.company_units(company),
        "priority_min": forms.PRIORITY_MIN, "priority_max": forms.PRIORITY_MAX,
        "test": _preview(request, company),
    }
    return render(request, "hazards/pages/rules.html", context, status=error.http_status if error else 200)


def _preview(request: HttpRequest, company: OrgUnit) -> dict[str, Any]:
    """The "test a hazard" box: what was asked, and the answer or the reason there is none."""
    asked = {"category": request.GET.get("t_category", "")[:20], "level": request.GET.get("t_level", "")[:10],
             "area": request.GET.get("t_area", "")[:20]}
    if not any(asked.values()):
        return {"asked": asked}
    try:
        return {"asked": asked, "result": forms.preview(company, category=asked["category"], level=asked["level"],
                                                        area_id=asked["area"])}
    except DomainError as exc:
        return {"asked": asked, "error": exc.message()}


def _back(company: OrgUnit) -> HttpResponse:
    return redirect(f"{reverse('hazards:rules')}?company={company.pk}")


@login_required
def rules(request: HttpRequest) -> HttpResponse:
    """The company's rules in priority order; POST adds one (the empty row at the bottom)."""
    company, companies = _company(request)
    if request.method == "GET" and is_fragment(request) and request.GET.get("t_level") is not None:
        return render(request, "hazards/pages/_preview.html", {"test": _preview(request, company)})
    if request.method == "POST":
        draft = _posted_rule(request.POST)
        try:
            with transaction.atomic():
                forms.save_rule(request.user, company, None, draft)
        except DomainError as exc:
            return _rules_page(request, company, companies, draft=draft, error=exc)
        messages.success(request, _("已添加派发规则"))
        return _back(company)
    return _rules_page(request, company, companies, editing=forms.id_or_none(request.GET.get("edit")))


@login_required
@require_POST
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = forms.get_rule(request.user, rule_id)
    draft = _posted_rule(request.POST)
    try:
        with transaction.atomic():
            forms.save_rule(request.user, rule.owner, rule, draft)
    except DomainError as exc:
        return _rules_page(request, rule.owner, forms.rule_companies(request.user), editing=rule.pk, draft=draft,
                           error=exc)
    messages.success(request, _("已保存派发规则"))
    return _back(rule.owner)


@login_required
@require_POST
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    """Disable a rule (kept, skipped by dispatch) or enable it again."""
    rule = forms.get_rule(request.user, rule_id)
    with transaction.atomic():
        forms.save_rule(request.user, rule.owner, rule, {**forms.rule_values(rule), "is_active": not rule.is_active})
    messages.success(request, _("已启用派发规则") if rule.is_active else _("已停用派发规则"))
    return _back(rule.owner)


@login_required
@require_POST
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = forms.get_rule(request.user, rule_id)
    with transaction.atomic():
        forms.delete_rule(request.user, rule)
    messages.success(request, _("已删除派发规则"))
    return _back(rule.owner)
