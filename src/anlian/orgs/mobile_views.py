"""Phone pages (/m/): few, light, big targets. An equipment QR label opens `mobile:equipment`."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from anlian.core.pages import paginate
from anlian.orgs import access
from anlian.orgs.permissions import MANAGE_ORG
from anlian.orgs.models import Equipment, Person, RoleGrant


@login_required
def home(request: HttpRequest) -> HttpResponse:
    scope = access.scope_of(request.user)
    # Area owners (people who manage a unit) endorse simultaneous operations from their phone.
    owns_areas = scope.is_superuser or any(MANAGE_ORG in perms for _path, perms in scope.grants)
    return render(request, "mobile/home.html", {"owns_areas": owns_areas})


@login_required
def equipment_search(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    qs = access.visible(Equipment, request.user).select_related("org_unit", "area")
    if q:
        qs = qs.filter(Q(code__icontains=q) | Q(name__icontains=q))
    return render(request, "mobile/equipment_search.html", {"page": paginate(request, qs), "q": q})


@login_required
def equipment(request: HttpRequest, equipment_id: int) -> HttpResponse:
    item = access.get_for_user(Equipment.objects.select_related("org_unit", "area"), request.user, equipment_id)
    return render(request, "mobile/equipment.html", {"equipment": item})


@login_required
def people_search(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    qs = access.visible(Person, request.user).filter(is_active=True).select_related("org_unit")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(employee_no__icontains=q))
    return render(request, "mobile/people_search.html", {"page": paginate(request, qs), "q": q})


@login_required
def person(request: HttpRequest, person_id: int) -> HttpResponse:
    who = access.get_for_user(Person.objects.select_related("org_unit"), request.user, person_id)
    grants = access.visible(RoleGrant, request.user).filter(person=who).select_related("role", "org_unit")
    return render(request, "mobile/person.html", {"person": who, "grants": grants})


@login_required
def me(request: HttpRequest) -> HttpResponse:
    mine = getattr(request.user, "person", None)
    grants = mine.grants.select_related("role", "org_unit") if mine else []
    return render(request, "mobile/me.html", {"person": mine, "grants": grants})
