"""Home, health and error pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from anlian.core.health import run_checks
from anlian.orgs import access
from anlian.orgs.models import Area, Equipment, OrgUnit, Person


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    report = run_checks()
    return JsonResponse(report, status=200 if report["ok"] else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    counts = {
        "units": access.visible(OrgUnit, user).count(),
        "areas": access.visible(Area, user).count(),
        "equipment": access.visible(Equipment, user).count(),
        "people": access.visible(Person, user).count(),
    }
    grants = user.person.grants.select_related("role", "org_unit") if hasattr(user, "person") else []
    return render(request, "core/home.html", {"counts": counts, "my_grants": grants})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "csrf_failed", "message": _("CSRF 校验失败，请刷新页面后重试"), "field": None},
                            status=403, json_dumps_params={"ensure_ascii": False})
    return render(request, "core/error.html", {"title": _("请求已过期"),
                  "message": _("页面已过期或来源无法验证，请刷新页面后重试。")}, status=403)


@login_required
def notices(request: HttpRequest) -> HttpResponse:
    """The person's in-app inbox (reminders, people taken off jobs). POST marks everything read."""
    from django.shortcuts import redirect

    from anlian.core import clock
    from anlian.core.models import Notice

    person = getattr(request.user, "person", None)
    mine = Notice.objects.filter(person=person) if person is not None else Notice.objects.none()
    if request.method == "POST":
        mine.filter(read_at__isnull=True).update(read_at=clock.now())
        return redirect("notices")
    items = list(mine[:100])
    return render(request, "core/notices.html", {"items": items, "unread": sum(1 for n in items if n.read_at is None)})
