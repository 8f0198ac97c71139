"""Pages: a company's notification routes 通知规则 and message texts 消息模板 (desktop, MANAGE_ORG at
the company), and "my notification settings" 通知设置 on the phone for the logged-in person.

Another company's route, company or text is a 404 like a missing one. Rules live in
`notify.routing` and `notify.texts`; these views only parse and render.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from anlian.core.errors import DomainError, Forbidden
from anlian.core.pages import form_page, run_write
from anlian.notify import escalation, routing, texts
from anlian.notify.models import Channel, MessageTemplate, Route, Severity
from anlian.orgs import access


class RouteForm(forms.Form):
    event = forms.ChoiceField(label=gettext_lazy("事件"), choices=())
    roles = forms.MultipleChoiceField(label=gettext_lazy("通知这些角色"), required=False, choices=(),
                                      widget=forms.CheckboxSelectMultiple,
                                      help_text=gettext_lazy("在事项所属组织或其上级（本公司内）担任该角色的人"))
    people = forms.CharField(label=gettext_lazy("另外通知（工号）"), required=False, max_length=1000,
                             help_text=gettext_lazy("多个工号用逗号分隔"))
    channels = forms.MultipleChoiceField(label=gettext_lazy("渠道"), required=False, choices=(),
                                         widget=forms.CheckboxSelectMultiple,
                                         help_text=gettext_lazy("站内消息总会发送；选短信则同时发给上述人员的手机"))
    min_severity = forms.ChoiceField(label=gettext_lazy("最低级别"), choices=Severity.choices)
    is_active = forms.BooleanField(label=gettext_lazy("启用"), required=False, initial=True)

    def __init__(self, data: Any, *, company: Any, route: Route | None = None) -> None:
        initial = {}
        if route is not None:
            initial = {"event": route.event, "roles": route.roles, "min_severity": route.min_severity,
                       "people": ", ".join(p.employee_no for p in route.people.all()),
                       "channels": [str(c.pk) for c in route.channels.all()], "is_active": route.is_active}
        super().__init__(data, initial=initial)
        self.company = company
        self.fields["event"].choices = list(texts.EVENTS.items())
        self.fields["roles"].choices = routing.role_choices(company)
        self.channel_rows = list(Channel.objects.filter(company=company).order_by("name"))
        self.fields["channels"].choices = [(str(c.pk), f"{c.name}（{c.get_kind_display()}）") for c in self.channel_rows]

    def write(self, actor: Any, route: Route | None) -> Route:
        data = self.cleaned_data
        people = routing.people_by_numbers(self.company, data["people"])
        chosen = [c for c in self.channel_rows if str(c.pk) in data["channels"]]
        return routing.save_route(actor, route, company=self.company, event=data["event"], roles=data["roles"],
                                  people=people, channels=chosen, min_severity=data["min_severity"],
                                  is_active=data["is_active"])


@login_required
@require_GET
def routes(request: HttpRequest) -> HttpResponse:
    companies = list(routing.companies_for(request.user)[:50])
    if not companies:
        raise Forbidden()
    mine = list(routing.routes_for(request.user).order_by("event", "pk"))
    labels = dict(texts.EVENTS)
    role_labels = {code: label for c in companies for code, label in routing.role_choices(c)}
    listed = [{"unit": c, "routes": [(r, labels.get(r.event, r.event), [role_labels.get(x, x) for x in r.roles])
                                     for r in mine if r.company_id == c.pk]} for c in companies]
    return render(request, "notify/routing/routes.html", {"companies": listed})


def _company(request: HttpRequest, company_id: int) -> Any:
    return access.get_for_user(routing.companies_for(request.user), request.user, company_id)


def _route(request: HttpRequest, route_id: int) -> Route:
    return access.get_for_user(routing.routes_for(request.user), request.user, route_id)


def _route_page(request: HttpRequest, company: Any, route: Route | None) -> HttpResponse:
    form = RouteForm(request.POST or None, company=company, route=route)

    def done(saved: Route) -> HttpResponse:
        messages.success(request, _("已保存通知规则"))
        return redirect("notify_routing:routes")

    return form_page(request, form, lambda data: form.write(request.user, route), template="orgs/form.html",
                     done=done, context={"title": _("修改通知规则") if route else _("添加通知规则"), "subject": company,
                                         "back": "notify_routing:routes",
                                         "intro": _("紧急消息不受个人免打扰和关闭短信限制。")})


@login_required
def route_new(request: HttpRequest, company_id: int) -> HttpResponse:
    return _route_page(request, _company(request, company_id), None)


@login_required
def route_edit(request: HttpRequest, route_id: int) -> HttpResponse:
    route = _route(request, route_id)
    return _route_page(request, route.company, route)


@login_required
@require_POST
def route_delete(request: HttpRequest, route_id: int) -> HttpResponse:
    route = _route(request, route_id)
    routing.delete_route(request.user, route)
    messages.success(request, _("已删除通知规则"))
    return redirect("notify_routing:routes")


# --- message texts --------------------------------------------------------------------------------------


class TextForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("标题"), max_length=texts.MAX_TITLE)
    body = forms.CharField(label=gettext_lazy("正文"), required=False, max_length=texts.MAX_BODY,
                           widget=forms.Textarea(attrs={"rows": 5}))


@login_required
@require_GET
def text_list(request: HttpRequest) -> HttpResponse:
    companies = list(texts.companies_for(request.user)[:50])
    if not companies:
        raise Forbidden()
    own = set(MessageTemplate.objects.filter(company__in=companies).values_list("company_id", "event", "language"))
    langs = texts.languages()
    listed = [{"unit": c, "events": [(event, label, [(code, name, (c.pk, event, code) in own)
                                                     for code, name in langs.items()])
                                     for event, label in texts.EVENTS.items()]} for c in companies]
    return render(request, "notify/routing/texts.html", {"companies": listed})


def _text_target(request: HttpRequest, company_id: int, event: str, language: str) -> Any:
    company = access.get_for_user(texts.companies_for(request.user), request.user, company_id)
    if event not in texts.EVENTS or language not in texts.languages():
        raise Http404
    return company


@login_required
def text_edit(request: HttpRequest, company_id: int, event: str, language: str) -> HttpResponse:
    company = _text_target(request, company_id, event, language)
    title, body, custom = texts.effective(company, event, language)
    form = TextForm(request.POST or None, initial={"title": title, "body": body})
    shown, status = None, 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            if "preview" in request.POST:
                shown, status = run_write(form, lambda: texts.preview(event, language, data["title"], data["body"]))
            else:
                _saved, status = run_write(form, lambda: texts.save_text(
                    request.user, company, event, language, title=data["title"], body=data["body"]))
                if status == 200:
                    messages.success(request, _("已保存消息模板"))
                    return redirect("notify_routing:texts")
    else:
        try:
            shown = texts.preview(event, language, title, body)
        except DomainError:  # a text saved before its event's placeholders changed: edit it to see
            shown = None
    return render(request, "notify/routing/text.html", {
        "company": company, "event": event, "event_label": texts.EVENTS[event], "language": language,
        "language_label": texts.languages()[language], "form": form, "custom": custom, "shown": shown,
        "placeholders": texts.placeholders(event)}, status=status)


@login_required
@require_POST
def text_reset(request: HttpRequest, company_id: int, event: str, language: str) -> HttpResponse:
    company = _text_target(request, company_id, event, language)
    texts.reset_text(request.user, company, event, language)
    messages.success(request, _("已恢复为系统默认文字"))
    return redirect("notify_routing:text", company_id=company.pk, event=event, language=language)


# --- my settings (phone) ------------------------------------------------------------------------------


class SettingsForm(forms.Form):
    sms_off = forms.BooleanField(label=gettext_lazy("不接收短信"), required=False)
    quiet = forms.BooleanField(label=gettext_lazy("开启免打扰"), required=False)
    quiet_start = forms.TimeField(label=gettext_lazy("从"), required=False,
                                  widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    quiet_end = forms.TimeField(label=gettext_lazy("到"), required=False,
                                widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))


@login_required
def my_settings(request: HttpRequest) -> HttpResponse:
    pref = routing.preference_of(routing.person_of(request.user))
    form = SettingsForm(request.POST if request.method == "POST" else None, initial={
        "sms_off": bool(pref.muted_kinds), "quiet": pref.quiet_start is not None,
        "quiet_start": pref.quiet_start, "quiet_end": pref.quiet_end})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            on = data["quiet"]
            _saved, status = run_write(form, lambda: routing.save_preference(
                request.user, muted_kinds=list(routing.MUTABLE_KINDS) if data["sms_off"] else [],
                quiet_start=data["quiet_start"] if on else None, quiet_end=data["quiet_end"] if on else None))
            if status == 200:
                messages.success(request, _("已保存通知设置"))
                return redirect("notify_routing:my_settings")
    return render(request, "notify/routing/my_settings.html", {"form": form}, status=status)


# --- escalation policies --------------------------------------------------------------------------------

FORM_TIERS = 5  # rows on the page; the API takes up to escalation.MAX_TIERS


class EscalationForm(forms.Form):
    """Up to five tiers as rows: minutes after the deadline, levels up, extra channels. A row with
    no minutes is unused; the inbox is always part of a tier."""

    is_active = forms.BooleanField(label=gettext_lazy("启用"), required=False, initial=True)

    def __init__(self, *args: Any, policy: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        extra = [(k, label) for k, label in escalation.KIND_LABELS.items() if k != "inbox"]
        tiers = policy["tiers"] or [{"after_minutes": t.after_minutes, "levels_up": t.levels_up, "kinds": list(t.kinds)}
                                    for t in escalation.default_tiers(60, 3)]
        self.fields["is_active"].initial = policy["is_active"]
        for n in range(1, FORM_TIERS + 1):
            tier = tiers[n - 1] if n <= len(tiers) else None
            self.fields[f"after_{n}"] = forms.IntegerField(
                label=_("第{n}级：超期多少分钟后").format(n=n), required=False, min_value=0,
                max_value=escalation.MAX_AFTER_MINUTES, initial=tier["after_minutes"] if tier else None)
            self.fields[f"up_{n}"] = forms.IntegerField(
                label=_("第{n}级：向上几级组织的负责人").format(n=n), required=False, min_value=0,
                max_value=escalation.MAX_LEVELS_UP, initial=tier["levels_up"] if tier else n)
            self.fields[f"kinds_{n}"] = forms.MultipleChoiceField(
                label=_("第{n}级：另经这些渠道（站内消息总会发送）").format(n=n), required=False, choices=extra,
                widget=forms.CheckboxSelectMultiple, initial=[k for k in (tier or {}).get("kinds", []) if k != "inbox"])

    def tiers(self) -> list[dict[str, Any]]:
        data = self.cleaned_data
        return [{"after_minutes": data[f"after_{n}"], "levels_up": data[f"up_{n}"] or 0,
                 "kinds": ["inbox", *data[f"kinds_{n}"]]}
                for n in range(1, FORM_TIERS + 1) if data.get(f"after_{n}") is not None]


@login_required
def escalation_policies(request: HttpRequest) -> HttpResponse:
    companies = list(escalation.companies_for(request.user)[:50])
    if not companies:
        raise Forbidden()
    labels = escalation.KIND_LABELS
    listed = [{"unit": c, "policies": [{**p, "shown": [{**t, "kind_labels": [labels[k] for k in t["kinds"]]}
                                                        for t in p["tiers"]]}
                                       for p in escalation.policies_of(c)]} for c in companies]
    return render(request, "notify/routing/escalation.html", {"companies": listed})


def _policy_of(request: HttpRequest, company_id: int, applies_to: str) -> tuple[Any, dict[str, Any]]:
    company = access.get_for_user(escalation.companies_for(request.user), request.user, company_id)
    policy = next((p for p in escalation.policies_of(company) if p["applies_to"] == applies_to), None)
    if policy is None:
        raise Http404
    return company, policy


@login_required
def escalation_edit(request: HttpRequest, company_id: int, applies_to: str) -> HttpResponse:
    company, policy = _policy_of(request, company_id, applies_to)
    form = EscalationForm(request.POST or None, policy=policy)

    def done(_saved: Any) -> HttpResponse:
        messages.success(request, _("已保存升级策略"))
        return redirect("notify_routing:escalation")

    return form_page(request, form,
                     lambda data: escalation.save_policy(request.user, company, applies_to, form.tiers(),
                                                         data["is_active"]),
                     template="orgs/form.html", done=done,
                     context={"title": _("升级策略：{what}").format(what=policy["label"]), "subject": company,
                              "back": "notify_routing:escalation",
                              "intro": _("事项超过期限后，按层级逐级通知所在组织向上若干级的负责人（经理，没有经理时为安全员）。"
                                         "不填分钟数的层级不使用。")})


@login_required
@require_POST
def escalation_reset(request: HttpRequest, company_id: int, applies_to: str) -> HttpResponse:
    company, _policy = _policy_of(request, company_id, applies_to)
    escalation.reset_policy(request.user, company, applies_to)
    messages.success(request, _("已恢复默认升级策略"))
    return redirect("notify_routing:escalation")
