"""Desktop pages of the audit log: the filtered list with readable diffs, one entry, the Excel
export. Read-only: nothing here writes (a write is 405)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from anlian.audit import entries
from anlian.audit.forms import LogFilter
from anlian.audit.models import AuditEntry
from anlian.core.errors import Invalid
from anlian.core.pages import is_fragment, paginate
from anlian.orgs import access


def _form(request: HttpRequest) -> LogFilter:
    entries.require_reader(request.user)
    return LogFilter(request.GET, companies=entries.companies_for(request.user))


@login_required
@require_GET
def entry_list(request: HttpRequest) -> HttpResponse:
    form = _form(request)
    valid = form.is_valid()
    qs = entries.search(entries.entries_for(request.user), form.filters()) if valid else AuditEntry.objects.none()
    page = paginate(request, qs)
    context = {"form": form, "page": page, "rows": [entries.shown(e) for e in page],
               "query": urlencode(form.filters().query()) if valid else ""}
    template = "audit/_rows.html" if is_fragment(request) else "audit/list.html"
    return render(request, template, context, status=200 if valid else 400)


@login_required
@require_GET
def entry_detail(request: HttpRequest, entry_id: int) -> HttpResponse:
    entries.require_reader(request.user)
    entry = access.get_for_user(entries.entries_for(request.user), request.user, entry_id)
    return render(request, "audit/entry.html", {"row": entries.shown(entry)})


@login_required
@require_GET
def entry_export(request: HttpRequest) -> HttpResponse:
    form = _form(request)
    if not form.is_valid():
        raise Invalid(form.first_error(), code="bad_filter")
    return entries.xlsx(entries.search(entries.entries_for(request.user), form.filters()))
