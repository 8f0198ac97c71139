"""Desktop pages for contractor companies and the monthly red/black list.

Thin like orgs.views: objects come only through `access` (another company's contractor is a
404), every write goes through `workforce.contractors` inside a transaction, and refusals land on
the form with the service's status. The forms here only parse input; their choice fields list
only what the user may see, so a foreign id posted by hand is refused as an invalid choice.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anlian.core.errors import DomainError
from anlian.core.pages import form_page, paginate, render_list, require_somewhere
from anlian.orgs import access, exports
from anlian.orgs.forms import UnitChoiceField, units_for
from anlian.orgs.models import Area, Contractor, ContractorStatus, OrgUnit, Person
from anlian.orgs.permissions import MANAGE_CONTRACTORS
from anlian.workforce import contractors as services
from anlian.workforce import redlist
from anlian.workforce.models import ContractorArea, ContractorDocument, DocumentKind, Violation

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

# --- forms ---------------------------------------------------------------------------------------


class ContractorForm(forms.Form):
    org_unit = UnitChoiceField(label=gettext_lazy("管理单位"), queryset=OrgUnit.objects.none())
    name = forms.CharField(label=gettext_lazy("承包商名称"), max_length=100)
    credit_code = forms.CharField(label=gettext_lazy("统一社会信用代码"), max_length=18, required=False)
    contact_name = forms.CharField(label=gettext_lazy("联系人"), max_length=50, required=False)
    contact_phone = forms.CharField(label=gettext_lazy("联系电话"), max_length=20, required=False)
    contract_start = forms.DateField(label=gettext_lazy("合同开始"), required=False, widget=DATE)
    contract_end = forms.DateField(label=gettext_lazy("合同结束"), required=False, widget=DATE)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units_for(user, MANAGE_CONTRACTORS)


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=gettext_lazy("新状态"), choices=ContractorStatus.choices)
    reason = forms.CharField(label=gettext_lazy("原因"), max_length=200,
                             help_text=gettext_lazy("暂停或列入黑名单后，该承包商全部人员不得进场和作业"))


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("类型"), choices=DocumentKind.choices)
    number = forms.CharField(label=gettext_lazy("编号"), max_length=60, required=False)
    expires_on = forms.DateField(label=gettext_lazy("有效期至"), required=False, widget=DATE,
                                 help_text=gettext_lazy("长期有效可留空"))
    # A plain file field: the real type is checked by the evidence intake, which names the reason.
    scan = forms.FileField(label=gettext_lazy("扫描件"), required=False,
                           help_text=gettext_lazy("JPEG、PNG 或 WebP 图片；修改时留空则保留原扫描件"),
                           widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}))


class AreaChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Area) -> str:
        return f"{obj.name}（{obj.org_unit.name}）"


class AreaForm(forms.Form):
    area = AreaChoice(label=gettext_lazy("区域"), queryset=Area.objects.none())
    valid_from = forms.DateField(label=gettext_lazy("起始日期"), widget=DATE)
    valid_until = forms.DateField(label=gettext_lazy("截止日期"), widget=DATE)

    def __init__(self, *args: Any, user: Any, contractor: Contractor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the contractor's company: another company's area is refused as an invalid choice.
        self.fields["area"].queryset = (access.visible(Area, user).filter(org_unit__company=contractor.company_id)
                                        .select_related("org_unit").order_by("org_unit__path", "name"))


# --- helpers -------------------------------------------------------------------------------------


def _done(request: HttpRequest, message: str, to: Any) -> HttpResponse:
    messages.success(request, message)
    return redirect(to)


def _contractor(request: HttpRequest, contractor_id: int, perm: str | None = None) -> Contractor:
    return access.get_for_user(Contractor.objects.select_related("org_unit", "company"), request.user,
                               contractor_id, perm=perm)


def _confirm_delete(request: HttpRequest, obj: Any, delete: Any, *, back: Any, gone_to: Any) -> HttpResponse:
    """GET asks for confirmation; POST deletes through the service or shows its refusal."""
    status, error = 200, None
    if request.method == "POST":
        try:
            with transaction.atomic():
                delete()
            return _done(request, _("已删除“{name}”").format(name=obj), gone_to)
        except DomainError as exc:
            status, error = exc.http_status, exc.message()
    return render(request, "orgs/confirm_delete.html", {"obj": obj, "back": resolve_url(back), "error": error},
                  status=status)


# --- list and export -----------------------------------------------------------------------------


def _filtered(request: HttpRequest) -> tuple[QuerySet, dict[str, Any]]:
    status, q = request.GET.get("status", ""), request.GET.get("q", "").strip()[:100]
    qs = access.visible(Contractor, request.user).select_related("org_unit")
    if status in ContractorStatus.values:
        qs = qs.filter(status=status)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(credit_code__icontains=q) | Q(contact_name__icontains=q))
    return services.with_figures(qs).order_by("name", "pk"), {"status": status, "q": q}


@login_required
def contractors(request: HttpRequest) -> HttpResponse:
    qs, filters = _filtered(request)
    if request.GET.get("format") == "xlsx":
        return _export(qs)
    scope = access.scope_of(request.user)
    context = {"page": paginate(request, qs), "statuses": ContractorStatus.choices,
               "can_manage": scope.is_superuser or bool(scope.paths(MANAGE_CONTRACTORS)), "today": services.today(),
               **filters}
    return render_list(request, "workforce/contractors/list.html", "workforce/contractors/_rows.html", context)


def _export(qs: QuerySet) -> HttpResponse:
    heads = [_("承包商名称"), _("统一社会信用代码"), _("管理单位"), _("状态"), _("状态说明"), _("在册人数"),
             _("资质文件已过期"), _("资质文件30天内到期"), _("合同开始"), _("合同结束"), _("未整改违章"),
             _("联系人"), _("联系电话")]
    return exports.xlsx_response(_("承包商名录"), heads, (
        (c.name, c.credit_code, c.org_unit.name, c.get_status_display(), c.status_reason, c.n_workers,
         c.n_docs_expired, c.n_docs_expiring, c.contract_start, c.contract_end, c.n_open_violations,
         c.contact_name, c.contact_phone) for c in qs))


# --- one contractor ------------------------------------------------------------------------------


@login_required
def contractor_detail(request: HttpRequest, contractor_id: int) -> HttpResponse:
    contractor = _contractor(request, contractor_id)
    today = services.today()
    documents = list(contractor.documents.select_related("file")
                     .order_by(F("expires_on").asc(nulls_last=True), "pk"))
    for document in documents:
        document.state = services.expiry_state(document.expires_on, today)
    links = list(contractor.areas.select_related("area", "area__org_unit").order_by("area__name", "pk"))
    for link in links:
        link.state = "future" if link.valid_from > today else "expired" if link.valid_until < today else "valid"
    context = {
        "contractor": contractor, "documents": documents, "links": links, "today": today,
        "workers": access.visible(Person, request.user).filter(contractor=contractor)
        .select_related("org_unit").order_by("-is_active", "employee_no"),
        "violations": access.visible(Violation, request.user).filter(contractor=contractor)
        .select_related("person", "area").order_by("-occurred_at")[:100],
        "can_manage": access.can(request.user, MANAGE_CONTRACTORS, contractor),
    }
    return render(request, "workforce/contractors/detail.html", context)


def _contractor_form_page(request: HttpRequest, contractor: Contractor | None, initial: dict[str, Any]) -> HttpResponse:
    form = ContractorForm(request.POST or None, user=request.user, initial=initial)

    def write(data: dict[str, Any]) -> Contractor:
        return services.save_contractor(request.user, contractor, **data)

    return form_page(request, form, write, template="orgs/form.html",
                     context={"title": _("编辑承包商") if contractor else _("新建承包商"),
                              "back": contractor_url(contractor) if contractor else "workforce:contractors",
                              "subject": contractor},
                     done=lambda c: _done(request, _("已保存承包商“{name}”").format(name=c.name), contractor_url(c)))


def contractor_url(contractor: Contractor) -> str:
    return resolve_url("workforce:contractor", contractor_id=contractor.pk)


@login_required
def contractor_new(request: HttpRequest) -> HttpResponse:
    require_somewhere(request.user, MANAGE_CONTRACTORS)
    return _contractor_form_page(request, None, {})


@login_required
def contractor_edit(request: HttpRequest, contractor_id: int) -> HttpResponse:
    contractor = _contractor(request, contractor_id, MANAGE_CONTRACTORS)
    fields = ("org_unit", "name", "credit_code", "contact_name", "contact_phone", "contract_start", "contract_end")
    return _contractor_form_page(request, contractor, {f: getattr(contractor, f) for f in fields})


@login_required
def contractor_delete(request: HttpRequest, contractor_id: int) -> HttpResponse:
    contractor = _contractor(request, contractor_id, MANAGE_CONTRACTORS)
    return _confirm_delete(request, contractor, lambda: services.delete_contractor(request.user, contractor),
                           back=contractor_url(contractor), gone_to="workforce:contractors")


@login_required
def contractor_status(request: HttpRequest, contractor_id: int) -> HttpResponse:
    contractor = _contractor(request, contractor_id, MANAGE_CONTRACTORS)
    form = StatusForm(request.POST or None)
    return form_page(
        request, form, lambda data: services.set_status(request.user, contractor, data["status"], data["reason"]),
        template="orgs/form.html",
        context={"title": _("变更承包商状态"), "subject": contractor, "back": contractor_url(contractor),
                 "intro": _("当前状态：{s}").format(s=contractor.get_status_display())},
        done=lambda c: _done(request, _("承包商“{name}”已改为{s}").format(name=c.name, s=c.get_status_display()),
                             contractor_url(c)))


# --- documents and areas -------------------------------------------------------------------------


def _document_form_page(request: HttpRequest, contractor: Contractor, document: ContractorDocument | None,
                        initial: dict[str, Any]) -> HttpResponse:
    form = DocumentForm(request.POST or None, request.FILES or None, initial=initial)

    def write(data: dict[str, Any]) -> ContractorDocument:
        return services.save_document(request.user, contractor, document, kind=data["kind"], number=data["number"],
                                      expires_on=data["expires_on"], scan=data["scan"] or None)

    return form_page(request, form, write, template="orgs/form.html",
                     context={"title": _("编辑资质文件") if document else _("添加资质文件"), "subject": contractor,
                              "back": contractor_url(contractor), "multipart": True},
                     done=lambda d: _done(request, _("已保存资质文件“{kind}”").format(kind=d.get_kind_display()),
                                          contractor_url(contractor)))


@login_required
def document_new(request: HttpRequest, contractor_id: int) -> HttpResponse:
    contractor = _contractor(request, contractor_id, MANAGE_CONTRACTORS)
    return _document_form_page(request, contractor, None, {})


def _document(request: HttpRequest, document_id: int) -> ContractorDocument:
    document = access.get_for_user(ContractorDocument.objects.select_related("contractor__org_unit"), request.user,
                                   document_id)
    access.require(request.user, MANAGE_CONTRACTORS, document.contractor)  # scoped by its contractor's unit
    return document


@login_required
def document_edit(request: HttpRequest, document_id: int) -> HttpResponse:
    document = _document(request, document_id)
    initial = {"kind": document.kind, "number": document.number, "expires_on": document.expires_on}
    return _document_form_page(request, document.contractor, document, initial)


@login_required
def document_delete(request: HttpRequest, document_id: int) -> HttpResponse:
    document = _document(request, document_id)
    back = contractor_url(document.contractor)
    return _confirm_delete(request, document.get_kind_display(),
                           lambda: services.delete_document(request.user, document), back=back, gone_to=back)


def _area_form_page(request: HttpRequest, contractor: Contractor, link: ContractorArea | None,
                    initial: dict[str, Any]) -> HttpResponse:
    form = AreaForm(request.POST or None, user=request.user, contractor=contractor, initial=initial)
    return form_page(request, form, lambda data: services.save_area(request.user, contractor, link, **data),
                     template="orgs/form.html",
                     context={"title": _("修改授权区域") if link else _("添加授权区域"), "subject": contractor,
                              "back": contractor_url(contractor)},
                     done=lambda a: _done(request, _("已授权在“{area}”作业").format(area=a.area.name),
                                          contractor_url(contractor)))


@login_required
def area_new(request: HttpRequest, contractor_id: int) -> HttpResponse:
    contractor = _contractor(request, contractor_id, MANAGE_CONTRACTORS)
    return _area_form_page(request, contractor, None, {})


def _link(request: HttpRequest, contractor_area_id: int) -> ContractorArea:
    link = access.get_for_user(ContractorArea.objects.select_related("contractor__org_unit", "area"), request.user,
                               contractor_area_id)
    access.require(request.user, MANAGE_CONTRACTORS, link.contractor)
    return link


@login_required
def area_edit(request: HttpRequest, contractor_area_id: int) -> HttpResponse:
    link = _link(request, contractor_area_id)
    initial = {"area": link.area, "valid_from": link.valid_from, "valid_until": link.valid_until}
    return _area_form_page(request, link.contractor, link, initial)


@login_required
def area_delete(request: HttpRequest, contractor_area_id: int) -> HttpResponse:
    link = _link(request, contractor_area_id)
    back = contractor_url(link.contractor)
    return _confirm_delete(request, link.area.name, lambda: services.delete_area(request.user, link),
                           back=back, gone_to=back)


# --- monthly red/black list ----------------------------------------------------------------------


@login_required
def redlist_page(request: HttpRequest) -> HttpResponse:
    today = services.today()
    month = redlist.parse_month(request.GET.get("month", "").strip(), today)
    report = redlist.compute(request.user, month)
    title = _("承包商红黑榜 {month}").format(month=month)
    kind = request.GET.get("format")
    if kind == "xlsx":
        return exports.xlsx_response(title, redlist.headers(), redlist.table(report))
    if kind == "pdf":
        response = HttpResponse(redlist.pdf_bytes(report, title), content_type="application/pdf")
        response["Content-Disposition"] = content_disposition_header(True, f"{title}.pdf")
        response["X-Content-Type-Options"] = "nosniff"
        return response
    return render(request, "workforce/contractors/redlist.html",
                  {"report": report, "month": month, "months": redlist.recent_months(today, month),
                   "counts": report.counts(), "limits": report.limits})
