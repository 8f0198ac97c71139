"""Desktop pages for the deadline policies 整改时限: per company and level, the minutes and hours
that set a hazard's clocks, with the built-in defaults shown where a company has set none.

Reading takes VIEW at the company itself, changing takes MANAGE_ORG there (a company's safety
officers and administrators); another company's id is a 404 like a missing one. The rules live
in `hazards.timers`; the form only parses.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from anlian.core.pages import form_page
from anlian.hazards import timers
from anlian.hazards.models import HazardLevel
from anlian.orgs import access
from anlian.orgs.models import OrgUnit
from anlian.orgs.permissions import MANAGE_ORG


class PolicyForm(forms.Form):
    def __init__(self, *args: Any, company: OrgUnit, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, (label, largest) in timers.POLICY_FIELDS.items():
            self.fields[name] = forms.IntegerField(label=label, min_value=1, max_value=largest)
        roles = [("", _("不通知")), *timers.role_choices(company)]
        self.fields["alert_role"] = forms.ChoiceField(
            label=gettext_lazy("登记即通知角色"), choices=roles, required=False,
            help_text=gettext_lazy("隐患一登记就通知该角色的人员（如重大隐患通知管理层）"))


def _company(request: HttpRequest, company_id: int) -> OrgUnit:
    return access.get_for_user(timers.companies_for(request.user), request.user, company_id)


def _level(level: str) -> str:
    if level not in HazardLevel.values:
        raise Http404
    return level


@login_required
def deadlines(request: HttpRequest) -> HttpResponse:
    companies = [{"unit": c, "policies": timers.policies_of(c), "can_manage": access.can(request.user, MANAGE_ORG, c)}
                 for c in timers.companies_for(request.user)[:50]]
    return render(request, "hazards/timers/deadlines.html", {"companies": companies})


@login_required
def deadline_edit(request: HttpRequest, company_id: int, level: str) -> HttpResponse:
    company = _company(request, company_id)
    level = _level(level)
    access.require(request.user, MANAGE_ORG, company)
    current = next(p for p in timers.policies_of(company) if p["level"] == level)
    form = PolicyForm(request.POST or None, company=company, initial=current)

    def done(_policy: Any) -> HttpResponse:
        messages.success(request, _("已保存{c}的{l}时限").format(c=company.name, l=HazardLevel(level).label))
        return redirect("hazards:deadlines")

    return form_page(request, form, lambda data: timers.save_policy(request.user, company, level, data),
                     template="orgs/form.html", done=done,
                     context={"title": _("整改时限：{l}").format(l=HazardLevel(level).label), "subject": company,
                              "back": "hazards:deadlines",
                              "intro": _("时限从派发时起算；修改后只对此后派发的隐患生效，提醒和逐级上报立即按新值执行。")})


@login_required
@require_POST
def deadline_reset(request: HttpRequest, company_id: int, level: str) -> HttpResponse:
    company = _company(request, company_id)
    level = _level(level)
    with transaction.atomic():
        timers.reset_policy(request.user, company, level)
    messages.success(request, _("{c}的{l}时限已恢复默认").format(c=company.name, l=HazardLevel(level).label))
    return redirect("hazards:deadlines")
