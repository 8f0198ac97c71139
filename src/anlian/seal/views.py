"""The checkpoints page 证据封签 (/seal/) and the public key at /.well-known/anlian-seal-key.pem.

The page lists one company's checkpoints (VIEW at the company) and seals on demand (MANAGE_ORG at
the company). The key file is public: anyone verifying a downloaded bundle offline needs it.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from anlian.core.errors import Forbidden, NotFound
from anlian.orgs import access
from anlian.orgs.permissions import MANAGE_ORG
from anlian.seal import keys, services


@require_GET
def public_key_pem(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(keys.public_pem(), content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Seal-Key-Id"] = keys.fingerprint()
    return response


@login_required
@require_GET
def checkpoints(request: HttpRequest) -> HttpResponse:
    companies = list(services.companies_for(request.user)[:50])
    if not companies:
        raise Forbidden()
    chosen = request.GET.get("company")
    if chosen:
        company = next((c for c in companies if str(c.pk) == chosen), None)
        if company is None:
            raise NotFound()
    else:
        company = companies[0]
    rows = list(services.checkpoints_of(company)[:100])
    return render(request, "seal/checkpoints.html", {
        "companies": companies, "company": company, "checkpoints": rows,
        "can_seal": access.can(request.user, MANAGE_ORG, company),
        "key_id": keys.fingerprint()})


@login_required
@require_POST
def seal_now(request: HttpRequest, company_id: int) -> HttpResponse:
    company = services.get_company(request.user, company_id)
    cp = services.seal_now(request.user, company)
    messages.success(request, _("已封签：第{n}个封签，{jobs}个作业、{events}条记录").format(
        n=cp.number, jobs=cp.instances, events=cp.events))
    return redirect(f"{reverse('seal:checkpoints')}?company={company.pk}")
