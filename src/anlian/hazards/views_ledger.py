"""Pages of the hazard ledger 隐患台账: the filtered list, its Excel export, the printable page, and
the import of an existing Excel ledger (upload, template, batch page with progress, preview and
errors, confirm). Rules live in `hazards.ledger` and `hazards.importing`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from anlian.core import clock
from anlian.core.errors import Forbidden
from anlian.core.pages import form_page, is_fragment, paginate, render_list
from anlian.hazards import importing, ledger
from anlian.hazards.models import HazardCategory, HazardLevel, HazardStage
from anlian.orgs import access
from anlian.orgs.forms import UnitChoiceField
from anlian.orgs.models import Area, OrgKind, OrgUnit
from anlian.workforce.importing import IN_PROGRESS, progress_percent
from anlian.workforce.models import ImportStatus

ERROR_ROWS_PER_PAGE = 50


def _choices(request: HttpRequest) -> dict[str, Any]:
    return {"stages": HazardStage.choices, "levels": HazardLevel.choices, "categories": HazardCategory.choices,
            "areas": access.visible(Area, request.user).order_by("name"),
            "units": access.visible(OrgUnit, request.user).exclude(kind=OrgKind.GROUP).order_by("path")}


@login_required
@require_GET
def ledger_page(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    qs, filters = ledger.ledger(request.user, request.GET, now)
    page = paginate(request, qs)
    page.object_list = ledger.mark(page.object_list, now)
    context = {"page": page, "f": filters, "counts": ledger.counts(qs, now), "query": urlencode(filters.query()),
               "can_import": importing.units_for(request.user).exists(), **_choices(request)}
    return render_list(request, "hazards/ledger/ledger.html", "hazards/ledger/_rows.html", context)


@login_required
@require_GET
def ledger_export(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    qs, _filters = ledger.ledger(request.user, request.GET, now)
    return ledger.xlsx_response(qs, now)


@login_required
@require_GET
def ledger_print(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    qs, filters = ledger.ledger(request.user, request.GET, now)
    total = qs.count()
    rows = list(ledger.export_rows(qs[:ledger.PRINT_LIMIT], now))
    return render(request, "hazards/ledger/print.html", {
        "rows": rows, "columns": ledger.COLUMNS, "total": total, "limited": total > ledger.PRINT_LIMIT,
        "limit": ledger.PRINT_LIMIT, "f": filters, "now": now, "yes": _("是")})


# --- import ----------------------------------------------------------------------------------------------


class UploadForm(forms.Form):
    org_unit = UnitChoiceField(label=gettext_lazy("导入范围"), queryset=OrgUnit.objects.none(),
                               help_text=gettext_lazy("表中的区域、设备和责任单位须在此组织及其下级之内"))
    file = forms.FileField(label=gettext_lazy("Excel 文件（.xlsx）"),
                           help_text=gettext_lazy("请用下载的模板填写；最大 20 MB，最多 5000 行"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".xlsx," + importing.XLSX}))

    def __init__(self, *args: Any, units: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units


def _units(request: HttpRequest) -> Any:
    units = importing.units_for(request.user)
    if not units.exists():
        raise Forbidden()
    return units


def _unit_param(request: HttpRequest, units: Any) -> OrgUnit:
    value = request.GET.get("unit", "")
    if not value:
        return units.first()
    unit = access.get_for_user(OrgUnit, request.user, value, perm=importing.PERMISSION)
    importing.check_scope(request.user, unit)
    return unit


@login_required
def imports(request: HttpRequest) -> HttpResponse:
    _units(request)
    page = paginate(request, importing.batches_for(request.user).order_by("-created_at", "-pk"))
    return render(request, "hazards/ledger/imports.html", {"page": page})


@login_required
def import_new(request: HttpRequest) -> HttpResponse:
    units = _units(request)
    unit = _unit_param(request, units)
    form = UploadForm(request.POST or None, request.FILES or None, units=units, initial={"org_unit": unit})

    def write(data: dict[str, Any]) -> Any:
        return importing.upload(request.user, org_unit=data["org_unit"], file=data["file"])

    context = {"unit": unit, "columns": importing.HazardSheet.columns}
    return form_page(request, form, write, template="hazards/ledger/import_new.html", context=context,
                     done=lambda batch: redirect("hazards:ledger_import", hazard_batch_id=batch.pk))


@login_required
@require_GET
def import_template(request: HttpRequest) -> HttpResponse:
    return importing.template_response(_unit_param(request, _units(request)))


def _error_groups(errors: list[dict[str, Any]]) -> list[tuple[int | None, list[dict[str, Any]]]]:
    groups: dict[int | None, list[dict[str, Any]]] = {}
    for error in errors:
        groups.setdefault(error.get("row"), []).append(error)
    return list(groups.items())


@login_required
@require_GET
def batch_detail(request: HttpRequest, hazard_batch_id: int) -> HttpResponse:
    batch = importing.get_batch(request.user, hazard_batch_id)
    groups = Paginator(_error_groups(batch.errors), ERROR_ROWS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "batch": batch, "groups": groups, "columns": importing.HazardSheet.columns,
        "percent": progress_percent(batch), "running": batch.status in IN_PROGRESS,
        "error_rows": groups.paginator.count,
        "can_confirm": batch.status == ImportStatus.READY and access.can(
            request.user, importing.PERMISSION, batch.org_unit),
    }
    template = "hazards/ledger/_batch.html" if is_fragment(request) else "hazards/ledger/batch.html"
    return render(request, template, context)


@login_required
@require_POST
def batch_confirm(request: HttpRequest, hazard_batch_id: int) -> HttpResponse:
    batch = importing.confirm(request.user, importing.get_batch(request.user, hazard_batch_id))
    if batch.status == ImportStatus.DONE:
        messages.success(request, _("已导入{n}条隐患").format(n=batch.imported_rows))
    return redirect("hazards:ledger_import", hazard_batch_id=batch.pk)
