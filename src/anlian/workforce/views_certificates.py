"""Pages: a certificate and its actions, what expires this month, violations (phone record page,
desktop list with Excel export, detail with actions).

Thin views: objects come only through `access` (another company's id is a 404) and every write
goes through `certificates`, `verifier` or `violations` inside a transaction; refusals are shown on
the form, or by DomainErrorMiddleware for POST-only actions.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from anlian.core.errors import DomainError, NotFound
from anlian.core.pages import form_page, paginate, render_list, require_somewhere, run_write
from anlian.orgs import access, exports
from anlian.orgs.models import Area, Contractor, Person
from anlian.orgs.permissions import MANAGE_CERTIFICATES, RECORD_VIOLATIONS
from anlian.workforce import certificates, verifier, violations
from anlian.workforce.models import Certificate, ContractorDocument, Violation, ViolationSeverity, ViolationStatus

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


# --- certificates --------------------------------------------------------------------------------


class CertificateForm(forms.Form):
    kind = forms.ModelChoiceField(label=gettext_lazy("证书类型"), queryset=Certificate.objects.none())
    number = forms.CharField(label=gettext_lazy("证书编号"), max_length=certificates.MAX_NUMBER,
                             help_text=gettext_lazy("特种作业操作证的编号即持证人的18位身份证号"))
    issuer = forms.CharField(label=gettext_lazy("发证机关"), max_length=certificates.MAX_ISSUER, required=False)
    issued_on = forms.DateField(label=gettext_lazy("发证日期"), widget=DATE)
    expires_on = forms.DateField(label=gettext_lazy("有效期至"), widget=DATE)
    review_due_on = forms.DateField(label=gettext_lazy("复审日期"), widget=DATE, required=False,
                                    help_text=gettext_lazy("留空：按证书类型的复审周期自动计算"))
    scan = forms.ImageField(label=gettext_lazy("扫描件"), required=False)

    def __init__(self, *args: Any, person: Person, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].queryset = certificates.kinds_for_person(person)


class RenewForm(forms.Form):
    issued_on = forms.DateField(label=gettext_lazy("新证发证日期"), widget=DATE)
    expires_on = forms.DateField(label=gettext_lazy("新证有效期至"), widget=DATE)
    review_due_on = forms.DateField(label=gettext_lazy("复审日期"), widget=DATE, required=False,
                                    help_text=gettext_lazy("留空：按证书类型的复审周期自动计算"))
    issuer = forms.CharField(label=gettext_lazy("发证机关"), max_length=certificates.MAX_ISSUER, required=False)
    scan = forms.ImageField(label=gettext_lazy("新证扫描件"), required=False)


class ReviewForm(forms.Form):
    on = forms.DateField(label=gettext_lazy("复审通过日期"), widget=DATE)
    next_due = forms.DateField(label=gettext_lazy("下次复审日期"), widget=DATE, required=False,
                               help_text=gettext_lazy("留空：按证书类型的复审周期自动计算"))


class RevokeForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("吊销/注销原因"), max_length=certificates.MAX_REASON)


def _certificate(request: HttpRequest, certificate_id: int, perm: str | None = None) -> Certificate:
    qs = Certificate.objects.select_related("person__org_unit", "kind").prefetch_related("scans")
    certificate = access.get_for_user(qs, request.user, certificate_id)
    if perm:
        access.require(request.user, perm, certificate.person)
    return certificate


def _scans(data: dict[str, Any]) -> list[Any]:
    return [data["scan"]] if data.get("scan") else []


def _done(request: HttpRequest, message: str, to: Any) -> HttpResponse:
    messages.success(request, message)
    return redirect(to)


@login_required
def certificate_new(request: HttpRequest) -> HttpResponse:
    require_somewhere(request.user, MANAGE_CERTIFICATES)
    person = access.get_for_user(Person.objects.select_related("org_unit"), request.user,
                                 request.GET.get("person", ""), perm=MANAGE_CERTIFICATES)
    form = CertificateForm(request.POST or None, request.FILES or None, person=person)

    def write(data: dict[str, Any]) -> Certificate:
        return certificates.add_certificate(
            request.user, person, kind=data["kind"], number=data["number"], issuer=data["issuer"],
            issued_on=data["issued_on"], expires_on=data["expires_on"], review_due_on=data["review_due_on"],
            scans=_scans(data))

    return form_page(request, form, write, template="orgs/form.html",
                     context={"title": _("登记证书"), "subject": person, "back": person, "multipart": True},
                     done=lambda c: _done(request, _("已登记证书“{c}”").format(c=c), c.person))


@login_required
def certificate_detail(request: HttpRequest, certificate_id: int) -> HttpResponse:
    return _certificate_page(request, _certificate(request, certificate_id), RevokeForm())


def _certificate_page(request: HttpRequest, certificate: Certificate, revoke_form: RevokeForm,
                      status: int = 200) -> HttpResponse:
    state = certificates.state_of(certificate)
    may_manage = access.can(request.user, MANAGE_CERTIFICATES, certificate.person)
    context = {
        "certificate": certificate, "number": certificates.shown_number(certificate, may_manage), "state": state, "state_label": certificates.STATE_LABELS[state],
        "colour": certificates.STATE_COLOURS[state], "check": verifier.last_result(certificate),
        "renewals": certificates.renewals(certificate),
        "may_manage": may_manage, "revoke_form": revoke_form,
    }
    return render(request, "workforce/certificates/detail.html", context, status=status)


@login_required
def certificate_edit(request: HttpRequest, certificate_id: int) -> HttpResponse:
    certificate = _certificate(request, certificate_id, MANAGE_CERTIFICATES)
    fields = ("kind", "number", "issuer", "issued_on", "expires_on", "review_due_on")
    form = CertificateForm(request.POST or None, request.FILES or None, person=certificate.person,
                           initial={f: getattr(certificate, f) for f in fields})

    def write(data: dict[str, Any]) -> Certificate:
        return certificates.update_certificate(
            request.user, certificate, kind=data["kind"], number=data["number"], issuer=data["issuer"],
            issued_on=data["issued_on"], expires_on=data["expires_on"], review_due_on=data["review_due_on"],
            scans=_scans(data))

    return form_page(request, form, write, template="orgs/form.html",
                     context={"title": _("更正证书"), "subject": certificate, "back": _url(certificate),
                              "multipart": True},
                     done=lambda c: _done(request, _("已保存证书“{c}”").format(c=c), _url(c)))


@login_required
def certificate_renew(request: HttpRequest, certificate_id: int) -> HttpResponse:
    certificate = _certificate(request, certificate_id, MANAGE_CERTIFICATES)
    form = RenewForm(request.POST or None, request.FILES or None, initial={"issuer": certificate.issuer})

    def write(data: dict[str, Any]) -> Certificate:
        return certificates.renew_certificate(
            request.user, certificate, issued_on=data["issued_on"], expires_on=data["expires_on"],
            review_due_on=data["review_due_on"], issuer=data["issuer"] or None, scans=_scans(data))

    return form_page(request, form, write, template="orgs/form.html",
                     context={"title": _("换证"), "subject": certificate, "back": _url(certificate), "multipart": True,
                              "intro": _("原证的日期会保留在换证记录中。")},
                     done=lambda c: _done(request, _("已换证：有效期至{d}").format(d=c.expires_on), _url(c)))


@login_required
def certificate_review(request: HttpRequest, certificate_id: int) -> HttpResponse:
    certificate = _certificate(request, certificate_id, MANAGE_CERTIFICATES)
    form = ReviewForm(request.POST or None, initial={"on": certificates.today()})

    def write(data: dict[str, Any]) -> Certificate:
        return certificates.mark_reviewed(request.user, certificate, data["on"], next_due=data["next_due"])

    return form_page(request, form, write, template="orgs/form.html",
                     context={"title": _("登记复审"), "subject": certificate, "back": _url(certificate)},
                     done=lambda c: _done(request, _("已登记复审"), _url(c)))


@login_required
@require_POST
def certificate_revoke(request: HttpRequest, certificate_id: int) -> HttpResponse:
    certificate = _certificate(request, certificate_id, MANAGE_CERTIFICATES)
    form = RevokeForm(request.POST)
    if form.is_valid():
        done, status = run_write(form, lambda: certificates.revoke_certificate(
            request.user, certificate, reason=form.cleaned_data["reason"]))
        if done is not None:
            return _done(request, _("证书已吊销/注销"), _url(certificate))
    else:
        status = 400
    return _certificate_page(request, certificate, form, status)


@login_required
@require_POST
def certificate_verify(request: HttpRequest, certificate_id: int) -> HttpResponse:
    certificate = _certificate(request, certificate_id, MANAGE_CERTIFICATES)
    result = verifier.verify_certificate(request.user, certificate)  # outside a transaction: it calls out
    level = messages.SUCCESS if result.status == verifier.VALID else messages.WARNING
    messages.add_message(request, level, result.detail)
    return redirect(_url(certificate))


def _url(certificate: Certificate) -> str:
    return reverse("workforce:certificate", args=[certificate.pk])


# --- expiring this month -------------------------------------------------------------------------


def _horizon(today: date) -> date:
    """The end of this month or 30 days ahead, whichever is later."""
    month_end = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    return max(month_end, today + timedelta(days=certificates.EXPIRING_DAYS))


def _expiring_certificates(user: Any, today: date, horizon: date) -> QuerySet:
    # An expired certificate stays on the list until the holder has a later one of the same kind.
    newer = Certificate.objects.filter(person=OuterRef("person"), kind=OuterRef("kind"), revoked_at=None,
                                       expires_on__gt=OuterRef("expires_on"))
    reviewed = Q(reviewed_on__isnull=False, reviewed_on__gte=F("review_due_on"))
    due = Q(expires_on__lte=horizon) | (Q(review_due_on__lte=horizon) & ~reviewed)
    return (access.visible(Certificate, user).filter(due, revoked_at=None, person__is_active=True)
            .exclude(Exists(newer)).select_related("person__org_unit", "kind").order_by("expires_on", "pk"))


def _days_left(on: date, today: date) -> str:
    days = (on - today).days
    if days < 0:
        return _("逾期{n}天").format(n=-days)
    return _("今天") if days == 0 else _("{n}天").format(n=days)


@login_required
def expiring(request: HttpRequest) -> HttpResponse:
    today = certificates.today()
    horizon = _horizon(today)
    rows = []

    def manages(person: Person) -> bool:
        return access.can(request.user, MANAGE_CERTIFICATES, person)

    for cert in _expiring_certificates(request.user, today, horizon):
        state = certificates.state_of(cert, today)
        on = cert.expires_on if state in ("expired", "expiring", "valid") else cert.review_due_on
        rows.append({"on": on, "colour": certificates.STATE_COLOURS[state], "label": certificates.STATE_LABELS[state],
                     "what": f"{cert.kind.name} {certificates.shown_number(cert, manages(cert.person))}",
                     "who": cert.person.name, "unit": cert.person.org_unit.name, "url": _url(cert), "kind": _("证书"),
                     "days": _days_left(on, today)})
    docs = (access.visible(ContractorDocument, request.user).filter(expires_on__lte=horizon)
            .select_related("contractor__org_unit"))
    for doc in docs:
        days = (doc.expires_on - today).days
        rows.append({"on": doc.expires_on, "colour": "red" if days < 0 else "orange",
                     "label": _("已过期") if days < 0 else _("即将到期"), "what": f"{doc.get_kind_display()} {doc.number}",
                     "who": doc.contractor.name, "unit": doc.contractor.org_unit.name, "url": "",
                     "kind": _("承包商资质"), "days": _days_left(doc.expires_on, today)})
    rows.sort(key=lambda r: (r["on"], r["who"]))
    return render(request, "workforce/certificates/expiring.html",
                  {"rows": rows, "today": today, "horizon": horizon})


# --- violations ----------------------------------------------------------------------------------

PRESETS = (gettext_lazy("未正确佩戴安全帽"), gettext_lazy("高处作业未系安全带"), gettext_lazy("无证上岗作业"),
           gettext_lazy("动火作业无监护"), gettext_lazy("未办理作业票擅自作业"), gettext_lazy("吸烟或违规用火"),
           gettext_lazy("未按规定佩戴劳动防护用品"), gettext_lazy("违章指挥或强令冒险作业"))


class ViolationForm(forms.Form):
    person = forms.ModelChoiceField(label=gettext_lazy("违章人"), queryset=Person.objects.none(),
                                    widget=forms.HiddenInput)
    what = forms.CharField(label=gettext_lazy("违章内容"), max_length=violations.MAX_WHAT, required=False)
    preset = forms.ChoiceField(label=gettext_lazy("常见违章"), required=False,
                               choices=[("", "")] + [(str(p), p) for p in PRESETS])
    severity = forms.ChoiceField(label=gettext_lazy("严重程度"), choices=ViolationSeverity.choices,
                                 initial=ViolationSeverity.GENERAL)
    area = forms.ModelChoiceField(label=gettext_lazy("地点"), queryset=Area.objects.none(), required=False)
    photo = forms.ImageField(label=gettext_lazy("现场照片"), required=False)
    rectify_due = forms.DateField(label=gettext_lazy("整改期限"), widget=DATE, required=False)

    def __init__(self, *args: Any, user: Any, person: Person | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = access.visible(Person, user).filter(is_active=True)
        areas = access.visible(Area, user).select_related("org_unit").order_by("name")
        self.fields["area"].queryset = areas.filter(org_unit__company=person.company_id) if person else areas

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["what"] = (data.get("what") or "").strip() or data.get("preset") or ""
        if not data["what"]:
            self.add_error("what", _("请选择或填写违章内容"))
        return data


def _pick_person(request: HttpRequest) -> tuple[Person | None, QuerySet | None, str]:
    """The person chosen (?person=id, e.g. from a badge scan), or people matching ?q= (name or number)."""
    raw = request.POST.get("person") or request.GET.get("person", "")
    if raw:
        try:
            return access.get_for_user(Person.objects.select_related("org_unit", "contractor"), request.user, raw), None, ""
        except NotFound:
            return None, None, ""
    q = request.GET.get("q", "").strip()[:50]
    if not q:
        return None, None, q
    found = access.visible(Person, request.user).filter(is_active=True).filter(
        Q(employee_no__iexact=q) | Q(name__icontains=q) | Q(employee_no__icontains=q)).select_related("org_unit")
    return None, found.order_by("name", "pk")[:20], q


@login_required
def violation_record(request: HttpRequest) -> HttpResponse:
    """The phone page: find the person (scan or type), tap what happened, take a photo, send."""
    require_somewhere(request.user, RECORD_VIOLATIONS)
    person, found, q = _pick_person(request)
    form = ViolationForm(request.POST or None, request.FILES or None, user=request.user, person=person,
                         initial={"person": person, "severity": ViolationSeverity.GENERAL})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            item, status = run_write(form, lambda: violations.record_violation(
                request.user, person=data["person"], what=data["what"], area=data["area"], severity=data["severity"],
                photo=data["photo"], rectify_due=data["rectify_due"]))
            if item is not None:
                messages.success(request, _("已登记{name}的违章").format(name=item.person.name))
                return redirect("workforce:violation_record")
    context = {"form": form, "person": person, "found": found, "q": q, "presets": PRESETS}
    return render(request, "workforce/violations/record.html", context, status=status)


def _month_range(month: str) -> tuple[datetime, datetime] | None:
    try:
        year, number = (int(p) for p in month.split("-"))
        start = date(year, number, 1)
    except ValueError:
        return None
    end = (start + timedelta(days=32)).replace(day=1)
    tz = timezone.get_current_timezone()
    return datetime.combine(start, time.min, tz), datetime.combine(end, time.min, tz)


def _violations_filtered(request: HttpRequest) -> tuple[QuerySet, dict[str, Any]]:
    qs = access.visible(Violation, request.user).select_related("person__org_unit", "contractor", "area")
    status, month = request.GET.get("status", ""), request.GET.get("month", "")[:7]
    if status in ViolationStatus.values:
        qs = qs.filter(status=status)
    contractor = None
    if request.GET.get("contractor", "").isdigit():
        contractor = access.visible(Contractor, request.user).filter(pk=request.GET["contractor"]).first()
        qs = qs.filter(contractor=contractor) if contractor else qs.none()
    span = _month_range(month) if month else None
    if span:
        qs = qs.filter(occurred_at__gte=span[0], occurred_at__lt=span[1])
    return qs.order_by("-occurred_at", "-pk"), {"status": status, "contractor": contractor, "month": month if span else ""}


@login_required
def violation_list(request: HttpRequest) -> HttpResponse:
    qs, filters = _violations_filtered(request)
    if request.GET.get("format") == "xlsx":
        return exports.xlsx_response(_("违章台账"), [
            _("发生时间"), _("违章人"), _("工号"), _("所属组织"), _("承包商"), _("地点"), _("违章内容"), _("严重程度"),
            _("状态"), _("整改期限"), _("处理说明")], (
            (timezone.localtime(v.occurred_at).strftime("%Y-%m-%d %H:%M"), v.person.name, v.person.employee_no,
             v.person.org_unit.name, v.contractor.name if v.contractor else "", v.area.name if v.area else "", v.what,
             v.get_severity_display(), v.get_status_display(), v.rectify_due.isoformat() if v.rectify_due else "",
             v.note) for v in qs))
    context = {"page": paginate(request, qs), "statuses": ViolationStatus.choices,
               "contractors": access.visible(Contractor, request.user).order_by("name"),
               "may_record": access.scope_of(request.user).is_superuser
               or bool(access.scope_of(request.user).paths(RECORD_VIOLATIONS)), **filters}
    return render_list(request, "workforce/violations/list.html", "workforce/violations/_rows.html", context)


def _violation(request: HttpRequest, violation_id: int) -> Violation:
    qs = Violation.objects.select_related("person__org_unit", "contractor", "area", "photo", "reported_by")
    return access.get_for_user(qs, request.user, violation_id)


@login_required
def violation_detail(request: HttpRequest, violation_id: int) -> HttpResponse:
    item = _violation(request, violation_id)
    return _violation_page(request, item)


def _violation_page(request: HttpRequest, item: Violation, error: str = "", status: int = 200) -> HttpResponse:
    actions = [(a, violations.ACTION_LABELS[a]) for a in violations.actions_for(request.user, item)]
    return render(request, "workforce/violations/detail.html",
                  {"violation": item, "actions": actions, "error": error}, status=status)


@login_required
@require_POST
def violation_act(request: HttpRequest, violation_id: int) -> HttpResponse:
    item = _violation(request, violation_id)
    try:
        with transaction.atomic():
            locked = Violation.objects.select_for_update(of=("self",)).select_related("person", "area").get(pk=item.pk)
            violations.transition(request.user, locked, request.POST.get("action", ""),
                                  note=request.POST.get("note", ""))
    except DomainError as exc:
        return _violation_page(request, item, exc.message(), exc.http_status)
    return _done(request, _("已更新违章状态"), reverse("workforce:violation", args=[item.pk]))
