"""Badge pages: the phone page a badge's QR code opens (GO / NO-GO with everything behind it), the
gate's entry-check page and its result, the desktop entry-check log, and a person's badge section
(the printable card, issue and revoke).

Thin like orgs.views: people are read through `badges.readable_people` (a badge of anyone else
reads as forged, the same page with no data), other objects through `access`, and every write goes
through `workforce.badges` inside a transaction.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from anlian.core.errors import Forbidden, NotFound
from anlian.core.pages import paginate, render_list, run_write
from anlian.orgs import access, exports
from anlian.orgs.models import Area, Person
from anlian.workforce import badges
from anlian.workforce.models import Badge, EntryCheck, WorkRequirement

# --- forms ---------------------------------------------------------------------------------------


def work_type_choices(user: Any) -> list[tuple[str, str]]:
    """Work types with a requirement the user may see: the shipped ones and their companies' own."""
    own = access.visible(WorkRequirement, user).values("pk")
    names = (WorkRequirement.objects.filter(Q(owner__isnull=True) | Q(pk__in=own))
             .order_by("work_type").values_list("work_type", flat=True).distinct())
    return [("", _("不限（只核验人员和证件）"))] + [(n, n) for n in names]


class EntryForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("工号或胸卡地址"), max_length=2000,
                           help_text=gettext_lazy("扫码打不开时，输入人员工号，或粘贴二维码中的地址"))
    area = forms.ModelChoiceField(label=gettext_lazy("核验区域"), queryset=Area.objects.none(), required=False,
                                  empty_label=gettext_lazy("不限区域"))
    # Any text is accepted (a work type without a requirement is answered "no_requirement"); the
    # list offers the configured ones.
    work_type = forms.CharField(label=gettext_lazy("作业类别"), required=False, max_length=badges.MAX_WORK_TYPE,
                                widget=forms.Select)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["area"].queryset = gate_areas(user)
        self.fields["work_type"].widget.choices = work_type_choices(user)


class IssueForm(forms.Form):
    valid_days = forms.IntegerField(label=gettext_lazy("有效天数"), min_value=1, max_value=badges.MAX_VALID_DAYS,
                                    initial=badges.DEFAULT_VALID_DAYS,
                                    help_text=gettext_lazy("承包商人员不超过其合同结束日期；发放新卡后旧卡立即作废"))


class RevokeForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("作废原因"), max_length=badges.MAX_REASON)


def gate_areas(user: Any) -> QuerySet[Area]:
    return access.visible(Area, user).select_related("org_unit").order_by("org_unit__path", "name")


# --- the gate's choice of area and work type -----------------------------------------------------


def _gate(request: HttpRequest, person: Person | None = None) -> tuple[Area | None, str]:
    """The area and work type to check against: from the query string when given (and then kept
    in the session, so a gate sets them once), else the ones kept. An area the user may not see,
    or of another company than the person's, is dropped."""
    kept = request.session.get("badge_gate", {})
    if "area" in request.GET or "work_type" in request.GET:
        kept = {"area": request.GET.get("area", ""),
                "work_type": request.GET.get("work_type", "")[:badges.MAX_WORK_TYPE]}
        request.session["badge_gate"] = kept
    area_id, work_type = str(kept.get("area", "")), str(kept.get("work_type", "")).strip()
    area = gate_areas(request.user).filter(pk=area_id).first() if area_id.isdigit() else None
    if area is not None and person is not None and area.org_unit.company_id != person.company_id:
        area = None
    return area, work_type


def _no_store(response: HttpResponse) -> HttpResponse:
    # The address holds the badge's token: keep it out of caches and out of Referer headers.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


# --- the phone pages -----------------------------------------------------------------------------


@login_required
@require_GET
def badge_page(request: HttpRequest, token: str) -> HttpResponse:
    """What a badge's QR code opens: GO / NO-GO for the holder with its reasons and everything
    behind them; an unreadable, expired or revoked badge gets the red "胸卡无效" page (and is logged)."""
    result = badges.read(request.user, token)
    area, work_type = _gate(request, result.person)
    badges.judge(result, area=area, work_type=work_type)
    if result.state != badges.OK:
        with transaction.atomic():
            badges.log_invalid_view(request.user, result)
        # An unreadable badge is "not found" (404), whoever's it may be; an expired or revoked one
        # is a real badge of someone the reader may see, and the page is the answer.
        return _no_store(render(request, "workforce/badges/invalid.html",
                                {"result": result, "can_check": badges.may_check_somewhere(request.user)},
                                status=404 if result.state == badges.FORGED else 200))
    person = Person.objects.select_related("org_unit", "company", "contractor").get(pk=result.person.pk)
    context = {
        "result": result, "badge": result.badge, "person": person, "token": token,
        "area": area, "work_type": work_type, **badges.profile(request.user, person),
        "areas": gate_areas(request.user).filter(org_unit__company_id=person.company_id),
        "work_types": _with(work_type_choices(request.user), work_type),
        "can_check": badges.checkable_people(request.user).filter(pk=person.pk).exists()
                     and getattr(request.user, "person", None) is not None,
    }
    return _no_store(render(request, "workforce/badges/badge.html", context))


def _with(choices: list[tuple[str, str]], value: str) -> list[tuple[str, str]]:
    """The choices, plus `value` when it is not among them (so the page shows what was checked)."""
    return choices if value in dict(choices) else [*choices, (value, value)]


@login_required
def badge_photo(request: HttpRequest, person_id: int) -> HttpResponse:
    """The holder's photo for the badge page: readable wherever their badge is (a gate guard may
    not see the person's org unit otherwise)."""
    person = badges.readable_people(request.user).filter(pk=person_id).first()
    if person is None:
        raise NotFound()
    return exports.photo_response(person)


@login_required
def entry(request: HttpRequest) -> HttpResponse:
    """The gate's page: type or paste a badge code (or an employee number) and log the check.

    Scanning is done by the phone's own camera app: the QR code holds the badge page's address,
    whose "登记入场" button posts here with the token."""
    if not badges.may_check_somewhere(request.user):
        raise Forbidden(_("你没有扫码核验入场的权限"))
    area, work_type = _gate(request)
    form = EntryForm(request.POST or None, user=request.user, initial={"area": area, "work_type": work_type})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            request.session["badge_gate"] = {"area": str(data["area"].pk) if data["area"] else "",
                                             "work_type": data["work_type"]}
            check, status = run_write(form, lambda: _record(request, data))
            if check is not None:
                return redirect("workforce:entry_check", check_id=check.pk)
    recent = badges.visible_checks(request.user).filter(checked_by__user=request.user).select_related(
        "person", "area")[:5]
    return render(request, "workforce/badges/entry.html", {"form": form, "recent": recent}, status=status)


def _record(request: HttpRequest, data: dict[str, Any]) -> EntryCheck:
    code = data["code"].strip()
    token = badges.token_from_input(code)
    if token is None:  # an employee number stands for that person's badge
        token = badges.token_for(badges.badge_for_employee_no(request.user, code))
    return badges.record(request.user, token, area=data["area"], work_type=data["work_type"])


@login_required
def entry_check(request: HttpRequest, check_id: int) -> HttpResponse:
    """The recorded result of one check, big enough to read at the gate."""
    check = badges.visible_checks(request.user).select_related(
        "person__org_unit", "person__contractor", "area", "badge", "checked_by").filter(pk=check_id).first()
    if check is None:
        raise NotFound()
    return render(request, "workforce/badges/check.html", {"check": check})


# --- the desktop log -----------------------------------------------------------------------------

RESULTS = (("go", gettext_lazy("准许")), ("nogo", gettext_lazy("禁止")))
STATES = ((badges.OK, gettext_lazy("有效")), (badges.FORGED, gettext_lazy("无法识别")),
          (badges.EXPIRED, gettext_lazy("已过期")), (badges.REVOKED, gettext_lazy("已作废")))


def _log_filtered(request: HttpRequest) -> tuple[QuerySet[EntryCheck], dict[str, Any]]:
    qs = badges.visible_checks(request.user).select_related("person__contractor", "area", "checked_by")
    g = request.GET
    area = gate_areas(request.user).filter(pk=g["area"]).first() if g.get("area", "").isdigit() else None
    if area is not None:
        qs = qs.filter(area=area)
    start, end = parse_date_or_none(g.get("start")), parse_date_or_none(g.get("end"))
    if start:
        qs = qs.filter(checked_at__date__gte=start)
    if end:
        qs = qs.filter(checked_at__date__lte=end)
    result = g.get("result", "")
    if result in dict(RESULTS):
        qs = qs.filter(go=result == "go")
    state = g.get("state", "")
    if state in dict(STATES):
        qs = qs.filter(token_state=state)
    q = g.get("q", "").strip()[:100]
    if q:
        qs = qs.filter(Q(person__name__icontains=q) | Q(person__employee_no__icontains=q))
    return qs.order_by("-checked_at", "-pk"), {"area": area, "start": start, "end": end, "result": result,
                                               "state": state, "q": q}


def parse_date_or_none(value: str | None) -> date | None:
    try:
        return parse_date(value or "")
    except ValueError:  # a well-formed but impossible date such as 2026-02-30
        return None


def _reason_texts(check: EntryCheck) -> str:
    return "；".join(str(r.get("text", "")) for r in check.reasons if isinstance(r, dict))


@login_required
def entry_log(request: HttpRequest) -> HttpResponse:
    qs, filters = _log_filtered(request)
    labels = dict(STATES)
    if request.GET.get("format") == "xlsx":
        headers = [_("核验时间"), _("结果"), _("胸卡状态"), _("姓名"), _("工号"), _("承包商"), _("区域"), _("作业类别"),
                   _("原因"), _("核验人")]
        return exports.xlsx_response(_("入场核验记录"), headers, (
            (timezone.localtime(c.checked_at).strftime("%Y-%m-%d %H:%M:%S"), _("准许") if c.go else _("禁止"),
             str(labels.get(c.token_state, c.token_state)), c.person.name if c.person else "",
             c.person.employee_no if c.person else "",
             c.person.contractor.name if c.person and c.person.contractor else "",
             c.area.name if c.area else "", c.work_type, _reason_texts(c), c.checked_by.name)
            for c in qs.iterator(chunk_size=500)))
    page = paginate(request, qs)
    for c in page:
        c.state_label = labels.get(c.token_state, c.token_state)
    context = {"page": page, "f": filters, "areas": gate_areas(request.user), "results": RESULTS, "states": STATES}
    return render_list(request, "workforce/badges/log.html", "workforce/badges/_log_rows.html", context)


# --- a person's badge (desktop) ------------------------------------------------------------------


def _person_badge_page(request: HttpRequest, person: Person, *, issue_form: IssueForm | None = None,
                       revoke_form: RevokeForm | None = None, status: int = 200) -> HttpResponse:
    current = badges.current_badge(person)
    history = list(person.badges.order_by("-issued_at", "-pk"))
    for b in history:
        b.state = badges.state_of(b)
    checks = badges.visible_checks(request.user).filter(person=person).select_related("area", "checked_by")[:50]
    may_issue = badges.may_issue(request.user, person)
    context = {
        "person": person, "current": current, "history": history, "checks": checks, "may_issue": may_issue,
        "scan_url": badges.scan_url(current) if current and may_issue else "",
        "issue_form": issue_form or IssueForm(), "revoke_form": revoke_form or RevokeForm(),
    }
    return render(request, "workforce/badges/person.html", context, status=status)


def _person(request: HttpRequest, person_id: int) -> Person:
    return access.get_for_user(Person.objects.select_related("org_unit", "company", "contractor"), request.user,
                               person_id)


@login_required
def person_badge(request: HttpRequest, person_id: int) -> HttpResponse:
    return _person_badge_page(request, _person(request, person_id))


@login_required
@require_POST
def badge_issue(request: HttpRequest, person_id: int) -> HttpResponse:
    person = _person(request, person_id)
    form = IssueForm(request.POST)
    if not form.is_valid():
        return _person_badge_page(request, person, issue_form=form, status=400)
    badge, status = run_write(form, lambda: badges.issue_badge(request.user, person, form.cleaned_data["valid_days"]))
    if badge is None:
        return _person_badge_page(request, person, issue_form=form, status=status)
    messages.success(request, _("已为{p}发放新胸卡，有效期至{t}").format(
        p=person.name, t=timezone.localtime(badge.expires_at).strftime("%Y-%m-%d")))
    return redirect("workforce:person_badge", person_id=person.pk)


@login_required
@require_POST
def badge_revoke(request: HttpRequest, badge_id: int) -> HttpResponse:
    badge = access.get_for_user(Badge.objects.select_related("person"), request.user, badge_id)
    form = RevokeForm(request.POST)
    person = _person(request, badge.person_id)
    if not form.is_valid():
        return _person_badge_page(request, person, revoke_form=form, status=400)
    done, status = run_write(form, lambda: badges.revoke_badge(request.user, badge, form.cleaned_data["reason"]))
    if done is None:
        return _person_badge_page(request, person, revoke_form=form, status=status)
    messages.success(request, _("已作废{p}的胸卡").format(p=person.name))
    return redirect("workforce:person_badge", person_id=person.pk)


@login_required
def badge_qr(request: HttpRequest, badge_id: int) -> HttpResponse:
    """The badge's QR code as SVG, for the printable card: only for those who issue badges
    (whoever holds the code can show it at a gate)."""
    badge = access.get_for_user(Badge.objects.select_related("person__org_unit"), request.user, badge_id)
    if not badges.may_issue(request.user, badge.person):
        raise NotFound()
    return exports.qr_svg_response(badges.scan_url(badge))
