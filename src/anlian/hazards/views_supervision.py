"""The supervision page 督办: figures per department for a period, with links to the ledger filtered
to each figure's hazards. Rules live in `hazards.supervision`."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET

from anlian.core.errors import DomainError, Forbidden
from anlian.hazards import supervision
from anlian.orgs.models import KIND_RANK, OrgKind


def _date(raw: str):
    try:
        return parse_date(raw) if raw and len(raw) <= 10 else None
    except ValueError:
        return None


@login_required
@require_GET
def supervision_page(request: HttpRequest) -> HttpResponse:
    roots = supervision.roots_for(request.user)
    if not roots.exists():
        raise Forbidden()
    unit = request.GET.get("unit", "")
    root = roots.filter(pk=unit).first() if unit.isdigit() and len(unit) < 12 else None
    root = root or roots.first()
    levels = [(k, label) for k, label in OrgKind.choices if k in supervision.LEVELS and KIND_RANK[k] > KIND_RANK[root.kind]]
    level = request.GET.get("level", "")
    if level not in dict(levels):
        level = levels[0][0] if levels else ""
    first, last = supervision.default_period()
    start, end = _date(request.GET.get("start", "")) or first, _date(request.GET.get("end", "")) or last
    context = {"roots": roots, "root": root, "levels": levels, "level": level, "start": start, "end": end,
               "report": None, "problem": ""}
    status = 200
    try:
        context["report"] = supervision.report(request.user, root, level, start, end)
    except DomainError as exc:
        context["problem"], status = exc.message(), 400
    return render(request, "hazards/supervision/supervision.html", context, status=status)
