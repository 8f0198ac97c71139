"""Helpers that keep page views thin: paging, htmx fragments and service calls behind forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url

from anlian.core.errors import DomainError, Forbidden
from anlian.orgs import access

PER_PAGE = 50


def paginate(request: HttpRequest, queryset: QuerySet) -> Page:
    # get_page() clamps junk such as ?page=abc or ?page=999 instead of raising.
    return Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))


def is_fragment(request: HttpRequest) -> bool:
    """An htmx request that wants only the swapped part (a boosted link wants the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def render_list(request: HttpRequest, template: str, fragment: str, context: dict[str, Any]) -> HttpResponse:
    """The same view answers the full page or, for htmx filters, only the results fragment."""
    return render(request, fragment if is_fragment(request) else template, context)


def run_write(form: forms.Form, write: Callable[[], Any]) -> tuple[Any, int]:
    """Run a service write atomically; a refusal lands on the form with the service's status.

    Returns (result, 200) or (None, status). The refusal is attached to the field it names when
    the form has that field, else shown above the form.
    """
    try:
        with transaction.atomic():
            return write(), 200
    except DomainError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message())
        return None, exc.http_status


def require_somewhere(user: Any, perm: str) -> None:
    """Refuse a 'new …' page to someone who holds `perm` nowhere (403 instead of an empty form)."""
    scope = access.scope_of(user)
    if not (scope.is_superuser or scope.paths(perm)):
        raise Forbidden()


def form_page(request: HttpRequest, form: forms.Form, write: Callable[[dict[str, Any]], Any], *,
              template: str, context: dict[str, Any], done: Callable[[Any], HttpResponse]) -> HttpResponse:
    """GET shows the form; POST parses it, writes through a service and calls `done` on success.

    Bad input answers 400 with the form and its errors; a refusal answers the refusal's status.
    """
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            result, status = run_write(form, lambda: write(form.cleaned_data))
            if status == 200:
                return done(result)
    if "back" in context:  # a model or a URL name: where "cancel" leads
        context = {**context, "back": resolve_url(context["back"])}
    return render(request, template, {**context, "form": form}, status=status)
