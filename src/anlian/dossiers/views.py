"""Dossier pages: the desktop dossier (printable), its PDF export and bundle, share links, the public
read-only page a share link opens on a phone, the public verify page of the QR code, and a company
administrator's regulator accounts."""

from __future__ import annotations

import re

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from anlian.core.errors import DomainError, Forbidden, NotFound
from anlian.dossiers import services
from anlian.dossiers.models import DossierExport, ExportStatus
from anlian.flows import services as flows
from anlian.flows.models import Instance

SHA = re.compile(r"^[0-9a-f]{64}$")


def _public(response: HttpResponse) -> HttpResponse:
    """Token pages: never cached, never indexed, the token never leaks in a Referer."""
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _refused(request: HttpRequest, exc: services.LinkRefused) -> HttpResponse:
    return _public(render(request, "dossiers/refused.html", {"reason": exc.reason, "status": exc.status},
                          status=exc.status))


def _qr(url: str) -> str:
    return segno.make(url, error="m", micro=False).svg_data_uri(scale=5, border=2)


# --- desktop -----------------------------------------------------------------------------------------


@login_required
@require_GET
def dossier(request: HttpRequest, instance_id: int) -> HttpResponse:
    instance = flows.get_instance_for_user(request.user, instance_id)
    d = services.collect(instance)
    can_share = services.can_share(request.user, instance)
    links = [(link, services.share_url(link)) for link in instance.share_links.select_related("created_by")[:20]] \
        if can_share else []
    context = {"d": d, "instance": d.instance, "qr": _qr(d.verify_url), "can_share": can_share, "links": links,
               "exports": instance.dossier_exports.all()[:5], "min_days": services.MIN_DAYS,
               "max_days": services.MAX_DAYS}
    return render(request, "dossiers/dossier.html", context)


@login_required
@require_POST
def export_start(request: HttpRequest, instance_id: int) -> HttpResponse:
    instance = flows.get_instance_for_user(request.user, instance_id)
    export, _created = services.request_export(request.user, instance)
    return redirect("dossiers:export", export_id=export.pk)


def _export(request: HttpRequest, export_id: int) -> DossierExport:
    export = services.visible_exports(request.user).filter(pk=export_id).first()
    if export is None:
        raise NotFound()
    return export


@login_required
@require_GET
def export_status(request: HttpRequest, export_id: int) -> HttpResponse:
    export = _export(request, export_id)
    pending = export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)
    return render(request, "dossiers/export.html", {"export": export, "instance": export.instance,
                                                    "pending": pending})


def _filename(export: DossierExport, suffix: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", export.instance.number)[:60] or str(export.instance_id)
    return f"{safe}-dossier{suffix}"


@login_required
@require_GET
def export_download(request: HttpRequest, export_id: int) -> HttpResponse:
    export = _export(request, export_id)
    data = services.pdf_bytes(export)
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_filename(export, ".pdf")}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Content-SHA256"] = export.sha256
    return response


@login_required
@require_GET
def export_bundle(request: HttpRequest, export_id: int) -> HttpResponse:
    export = _export(request, export_id)
    data = services.bundle_bytes(export)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{_filename(export, ".zip")}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def share_create(request: HttpRequest, instance_id: int) -> HttpResponse:
    instance = flows.get_instance_for_user(request.user, instance_id)
    link = services.create_share(request.user, instance, request.POST.get("days", ""))
    messages.success(request, _("已生成分享链接，有效期至 {t}：{url}").format(
        t=services.local(link.expires_at), url=services.share_url(link)))
    return redirect("dossiers:dossier", instance_id=instance.pk)


@login_required
@require_POST
def share_revoke(request: HttpRequest, link_id: int) -> HttpResponse:
    link = services.visible_links(request.user).filter(pk=link_id).first()
    if link is None:
        raise NotFound()
    services.revoke_share(request.user, link)
    messages.success(request, _("分享链接已撤销"))
    return redirect("dossiers:dossier", instance_id=link.instance_id)


# --- public: share link and verify page ----------------------------------------------------------------


@require_GET
def shared(request: HttpRequest, token: str) -> HttpResponse:
    """Read-only, phone layout, this one job and nothing else."""
    try:
        link = services.open_share(token)
    except services.LinkRefused as exc:
        return _refused(request, exc)
    d = services.collect(link.instance)
    return _public(render(request, "dossiers/shared.html", {"d": d, "instance": d.instance, "token": token,
                                                            "link": link}))


@require_GET
def shared_photo(request: HttpRequest, token: str, event_id: int, sha256: str) -> HttpResponse:
    """A photo (watermarked display copy) or drawn signature of the shared job's own events only."""
    try:
        link = services.open_share(token, count=False)
    except services.LinkRefused as exc:
        return _refused(request, exc)
    if not SHA.match(sha256):
        services.log.warning("share link %s asked for a malformed file name", link.pk)
        raise Http404()
    data = services.display_copy(link.instance, event_id, sha256)
    kind = "image/jpeg"
    if data is None:
        data, kind = services.signature_image(link.instance, event_id, sha256), "image/png"
    if data is None:
        services.log.warning("share link %s asked for a file outside its job: event %s, %s…", link.pk, event_id,
                             sha256[:12])
        raise Http404()
    response = HttpResponse(data, content_type=kind)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def verify(request: HttpRequest, token: str) -> HttpResponse:
    try:
        instance, link = services.instance_for_token(token)
    except services.LinkRefused as exc:
        return _refused(request, exc)
    from axes.helpers import get_client_ip_address  # the login limiter's view of the client behind proxies

    if not services.verify_allowed(get_client_ip_address(request) or ""):
        response = render(request, "dossiers/refused.html", {"reason": _("校验请求过于频繁，请稍后再试")}, status=429)
        response["Retry-After"] = "60"
        return _public(response)
    instance = Instance.objects.select_related("version__template", "company", "area").get(pk=instance.pk)
    report = services.integrity(instance)
    return _public(render(request, "dossiers/verify.html", {"instance": instance, "report": report, "link": link,
                                                            "token": token}))


# --- regulator accounts -----------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def regulators(request: HttpRequest) -> HttpResponse:
    companies = list(services.managed_companies(request.user))
    if not companies:
        raise Forbidden()
    error, form = "", {}
    if request.method == "POST":
        form = {k: request.POST.get(k, "").strip()[:200] for k in ("name", "agency", "username")}
        picked = [c for c in companies if str(c.pk) in request.POST.getlist("companies")]
        if len(picked) != len(set(request.POST.getlist("companies"))):
            raise NotFound()
        try:
            account = services.create_regulator(request.user, name=form["name"], agency=form["agency"],
                                                username=form["username"],
                                                password=request.POST.get("password", "")[:200], companies=picked)
        except DomainError as exc:
            error = exc.message()
        else:
            messages.success(request, _("已创建监管账号“{u}”").format(u=account.person.user.username))
            return redirect("dossiers:regulators")
    accounts = [(a, services.regulator_companies(a)) for a in services.visible_regulators(request.user)]
    return render(request, "dossiers/regulators.html", {"companies": companies, "accounts": accounts,
                                                        "error": error, "form": form,
                                                        "picked": request.POST.getlist("companies")},
                  status=422 if error else 200)


@login_required
@require_POST
def regulator_revoke(request: HttpRequest, account_id: int) -> HttpResponse:
    account = services.visible_regulators(request.user).filter(pk=account_id).first()
    if account is None:
        raise NotFound()
    services.revoke_regulator(request.user, account)
    messages.success(request, _("监管账号已撤销"))
    return redirect("dossiers:regulators")

