"""我的待办 pages: the same list on the phone (big rows) and on the desktop (a table)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from anlian.notify.todos import todos


@login_required
@require_GET
def phone(request: HttpRequest) -> HttpResponse:
    return render(request, "notify/todos/phone.html", {"items": todos(request.user)})


@login_required
@require_GET
def desktop(request: HttpRequest) -> HttpResponse:
    return render(request, "notify/todos/desktop.html", {"items": todos(request.user)})
