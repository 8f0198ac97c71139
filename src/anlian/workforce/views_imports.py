"""Pages of the Excel import: recent batches, the upload form with its template, and the batch
page (progress while the worker checks or imports, then the preview with per-row errors and the
confirm button). Rules live in `workforce.importing`; batches are fetched only through it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from anlian.core.errors import Forbidden, NotFound
from anlian.core.pages import form_page, is_fragment, paginate
from anlian.orgs import access
from anlian.orgs.forms import UnitChoiceField
from anlian.orgs.models import OrgUnit
from anlian.workforce import importing
from anlian.workforce.models import ImportKind, ImportStatus

ERROR_ROWS_PER_PAGE = 50


class UploadForm(forms.Form):
    org_unit = UnitChoiceField(label=gettext_lazy("导入范围"), queryset=OrgUnit.objects.none(),
                               help_text=gettext_lazy("表中的组织和人员须在此组织及其下级之内"))
    file = forms.FileField(label=gettext_lazy("Excel 文件（.xlsx）"),
                           help_text=gettext_lazy("请用下载的模板填写；最大 20 MB，最多 50000 行"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".xlsx," + importing.XLSX}))

    def __init__(self, *args: Any, units: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units


def _kind(request: HttpRequest) -> str:
    kind = request.GET.get("kind", "")
    if kind not in ImportKind.values:
        raise NotFound(_("未知的导入类型"))
    return kind


def _units(request: HttpRequest, kind: str) -> Any:
    units = importing.units_for(request.user, kind)
    if not units.exists():
        raise Forbidden()
    return units


def _unit_param(request: HttpRequest, kind: str, units: Any) -> OrgUnit:
    """The unit named by ?unit= (must be one where the user may import this kind), else the first."""
    value = request.GET.get("unit", "")
    if not value:
        return units.first()
    unit = access.get_for_user(OrgUnit, request.user, value, perm=importing.permission_for(kind))
    importing.check_scope(request.user, kind, unit)  # e.g. a group: not inside one company
    return unit


def _kinds_allowed(user: Any) -> list[tuple[str, str]]:
    return [(value, label) for value, label in ImportKind.choices if importing.units_for(user, value).exists()]


@login_required
def imports(request: HttpRequest) -> HttpResponse:
    kinds = _kinds_allowed(request.user)
    if not kinds:
        raise Forbidden()
    page = paginate(request, importing.batches_for(request.user).order_by("-created_at", "-pk"))
    return render(request, "workforce/imports/list.html", {"page": page, "kinds": kinds})


@login_required
def import_new(request: HttpRequest) -> HttpResponse:
    kind = _kind(request)
    units = _units(request, kind)
    unit = _unit_param(request, kind, units)
    form = UploadForm(request.POST or None, request.FILES or None, units=units, initial={"org_unit": unit})

    def write(data: dict[str, Any]) -> Any:
        return importing.upload(request.user, kind=kind, org_unit=data["org_unit"], file=data["file"])

    context = {"kind": kind, "kind_label": ImportKind(kind).label, "unit": unit,
               "columns": importing.SHEETS[kind].columns}
    return form_page(request, form, write, template="workforce/imports/new.html", context=context,
                     done=lambda batch: redirect("workforce:import", batch_id=batch.pk))


@login_required
def import_template(request: HttpRequest) -> HttpResponse:
    kind = _kind(request)
    return importing.template_response(kind, _unit_param(request, kind, _units(request, kind)))


def _error_groups(errors: list[dict[str, Any]]) -> list[tuple[int | None, list[dict[str, Any]]]]:
    """Errors grouped by row, in the order stored (file-wide ones, without a row, first)."""
    groups: dict[int | None, list[dict[str, Any]]] = {}
    for error in errors:
        groups.setdefault(error.get("row"), []).append(error)
    return list(groups.items())


@login_required
def batch_detail(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = importing.get_batch(request.user, batch_id)
    groups = Paginator(_error_groups(batch.errors), ERROR_ROWS_PER_PAGE).get_page(request.GET.get("page"))
    columns = importing.SHEETS[batch.kind].columns
    context = {
        "batch": batch, "groups": groups, "columns": columns, "percent": importing.progress_percent(batch),
        "running": batch.status in importing.IN_PROGRESS, "error_rows": groups.paginator.count,
        "can_confirm": batch.status == ImportStatus.READY and access.can(
            request.user, importing.permission_for(batch.kind), batch.org_unit),
    }
    template = "workforce/imports/_batch.html" if is_fragment(request) else "workforce/imports/batch.html"
    return render(request, template, context)


@login_required
@require_POST
def batch_confirm(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = importing.confirm(request.user, importing.get_batch(request.user, batch_id))
    if batch.status == ImportStatus.DONE:
        messages.success(request, _("已导入{n}行").format(n=batch.imported_rows))
    return redirect("workforce:import", batch_id=batch.pk)
