"""我的待办 pages: the same list on the phone (big rows) and on the desktop (a table); and the links
messages carry, which open an item in the phone or desktop layout."""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from anlian.flows import services as flows
from anlian.hazards.models import Hazard
from anlian.notify.todos import todos
from anlian.orgs import access


@login_required
@require_GET
def phone(request: HttpRequest) -> HttpResponse:
    return render(request, "notify/todos/phone.html", {"items": todos(request.user)})


@login_required
@require_GET
def desktop(request: HttpRequest) -> HttpResponse:
    return render(request, "notify/todos/desktop.html", {"items": todos(request.user)})


# Links in messages open the item in the layout of the device they are tapped on: DingTalk or an SMS
# on a phone gets the phone page, the same message read on a desktop gets the desktop page.
PHONE_AGENT = re.compile(r"Mobi|Android|iPhone|iPad|iPod|HarmonyOS|Windows Phone", re.IGNORECASE)


def on_phone(request: HttpRequest) -> bool:
    return bool(PHONE_AGENT.search(request.headers.get("User-Agent", "")))


@login_required
@require_GET
def open_job(request: HttpRequest, instance_id: int) -> HttpResponse:
    job = flows.get_instance_for_user(request.user, instance_id)
    return redirect("permits:job" if on_phone(request) else "permits:detail", job.pk)


@login_required
@require_GET
def open_hazard(request: HttpRequest, hazard_id: int) -> HttpResponse:
    hazard = access.get_for_user(Hazard.objects.all(), request.user, hazard_id)
    return redirect("hazards:m_detail" if on_phone(request) else "hazards:detail", hazard.pk)
