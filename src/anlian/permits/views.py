"""Desktop permit pages: the ledger (台账) with its Excel export, a permit's timeline, its QR code, and
the public QR check page that tells anyone on site whether a permit is valid right now."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from anlian.core.pages import paginate, render_list
from anlian.flows import services as flows
from anlian.flows.models import InstanceStatus
from anlian.orgs import access, exports
from anlian.orgs.models import Area
from anlian.permits import services

@login_required
def ledger(request: HttpRequest) -> HttpResponse:
    qs, filters = services.ledger(request.user, request.GET)
    if request.GET.get("format") == "xlsx":
        headers = [_("编号"), _("作业类型"), _("作业内容"), _("区域"), _("所属组织"), _("申请人"), _("参与人员"),
                   _("状态"), _("开始时间"), _("有效期至"), _("关闭时间")]
        return exports.xlsx_response(_("作业票台账"), headers, services.ledger_rows(qs))
    page = paginate(request, qs)
    counts = services.flag_counts([i.pk for i in page])
    for i in page:
        i.flag_count = counts.get(i.pk, 0)
    context = {"page": page, "f": filters, "types": services.ledger_types(request.user),
               "statuses": InstanceStatus.choices, "areas": access.visible(Area, request.user).order_by("name")}
    return render_list(request, "permits/ledger.html", "permits/_ledger_rows.html", context)


@login_required
def detail(request: HttpRequest, instance_id: int) -> HttpResponse:
    instance = flows.get_instance_for_user(request.user, instance_id)
    tpl, state = flows.template_of(instance.version), flows.state_of(instance)
    context = {"instance": instance, "tpl": tpl, "entries": services.timeline(instance),
               "rows": services.step_rows(instance, tpl, state),
               "participants": instance.participants.order_by("name"),
               "verify_url": settings.SITE_URL + reverse("permits:verify", args=[instance.verify_token])}
    return render(request, "permits/detail.html", context)


@login_required
def qr(request: HttpRequest, instance_id: int) -> HttpResponse:
    instance = flows.get_instance_for_user(request.user, instance_id)
    return exports.qr_svg_response(settings.SITE_URL + reverse("permits:verify", args=[instance.verify_token]))


@require_GET
def verify(request: HttpRequest, token: str) -> HttpResponse:
    """Public: the permit's number, type, area, validity and whether it holds now; nothing else."""
    check = services.check_by_token(token)
    if check is None:
        raise Http404()
    response = render(request, "permits/verify.html", {"check": check, "instance": check.instance})
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
