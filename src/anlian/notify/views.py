"""Desktop pages: the delivery log 投递记录 (search, one delivery, resend) and the channels 通知渠道
of each company (list, add, edit or disable, send a test message).

Both take MANAGE_ORG at the company (its administrators, and safety officers granted at the
company); another company's delivery or channel is a 404 like a missing one. Rules live in
`notify.delivery`; these views only parse and render.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from anlian.core.errors import DomainError, Forbidden
from anlian.core.pages import form_page, paginate, render_list
from anlian.notify import delivery
from anlian.notify.forms import ChannelForm, LogFilter
from anlian.notify.models import ChannelKind, Delivery, DeliveryStatus
from anlian.orgs import access


def _manager(request: HttpRequest) -> None:
    if not delivery.companies_for(request.user).exists():
        raise Forbidden()


@login_required
@require_GET
def deliveries(request: HttpRequest) -> HttpResponse:
    _manager(request)
    channels = delivery.channels_for(request.user).order_by("company__path", "name")
    form = LogFilter(request.GET, channels=channels)
    filters = form.filters()
    page = paginate(request, delivery.search(delivery.deliveries_for(request.user), **filters))
    context = {"page": page, "form": form, "f": filters, "channels": channels, "statuses": DeliveryStatus.choices,
               "query": urlencode({k: v for k, v in request.GET.items() if k != "page"}),
               "resendable": delivery.RESENDABLE}
    return render_list(request, "notify/deliveries.html", "notify/_delivery_rows.html", context)


def _delivery(request: HttpRequest, delivery_id: int) -> Delivery:
    return access.get_for_user(delivery.deliveries_for(request.user), request.user, delivery_id)


@login_required
@require_GET
def delivery_detail(request: HttpRequest, delivery_id: int) -> HttpResponse:
    row = _delivery(request, delivery_id)
    return render(request, "notify/delivery.html", {"d": row, "resendable": delivery.RESENDABLE})


@login_required
@require_POST
def delivery_resend(request: HttpRequest, delivery_id: int) -> HttpResponse:
    row = _delivery(request, delivery_id)
    try:
        with transaction.atomic():
            delivery.resend(request.user, row)
    except DomainError as exc:
        messages.error(request, exc.message())
        return render(request, "notify/delivery.html", {"d": row, "resendable": delivery.RESENDABLE},
                      status=exc.http_status)
    messages.success(request, _("已重新排队发送，结果见本页"))
    return redirect("notify:delivery", delivery_id=row.pk)


# --- channels ----------------------------------------------------------------------------------------------


@login_required
@require_GET
def channels(request: HttpRequest) -> HttpResponse:
    _manager(request)
    mine = delivery.channels_for(request.user).order_by("name")
    companies = [{"unit": c, "channels": [(ch, delivery.masked(ch)) for ch in mine if ch.company_id == c.pk]}
                 for c in delivery.companies_for(request.user)[:50]]
    kinds = [(k, label) for k, label in ChannelKind.choices if k != ChannelKind.INBOX]
    return render(request, "notify/channels.html", {"companies": companies, "kinds": kinds})


def _kind(kind: str) -> str:
    if kind not in ChannelKind.values or kind == ChannelKind.INBOX:
        raise Http404
    return kind


@login_required
def channel_new(request: HttpRequest, company_id: int, channel_kind: str) -> HttpResponse:
    company = access.get_for_user(delivery.companies_for(request.user), request.user, company_id)
    kind = _kind(channel_kind)
    form = ChannelForm(request.POST or None, kind=kind)

    def write(data: dict[str, Any]) -> Any:
        return delivery.save_channel(request.user, None, company=company, kind=kind, name=data["name"],
                                     is_active=data["is_active"], config=form.config())

    return form_page(request, form, write, template="orgs/form.html", done=lambda ch: _saved(request, ch),
                     context={"title": _("添加{k}").format(k=ChannelKind(kind).label), "subject": company,
                              "back": "notify:channels", "intro": _intro(kind)})


@login_required
def channel_edit(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = access.get_for_user(delivery.channels_for(request.user), request.user, channel_id)
    form = ChannelForm(request.POST or None, kind=channel.kind, channel=channel)

    def write(data: dict[str, Any]) -> Any:
        return delivery.save_channel(request.user, channel, name=data["name"], is_active=data["is_active"],
                                     config=form.config())

    return form_page(request, form, write, template="orgs/form.html", done=lambda ch: _saved(request, ch),
                     context={"title": _("修改通知渠道"), "subject": channel.name, "back": "notify:channels",
                              "intro": _intro(channel.kind)})


def _intro(kind: str) -> str:
    return _("{k}：密钥保存后不再显示；修改其他设置时密钥留空即保持不变。").format(k=ChannelKind(kind).label)


def _saved(request: HttpRequest, channel: Any) -> HttpResponse:
    messages.success(request, _("已保存渠道“{n}”。可点“发送测试消息”检查配置。").format(n=channel.name))
    return redirect("notify:channels")


@login_required
@require_POST
def channel_test(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = access.get_for_user(delivery.channels_for(request.user), request.user, channel_id)
    try:
        with transaction.atomic():
            row = delivery.try_channel(request.user, channel)
    except DomainError as exc:
        messages.error(request, exc.message())
        return redirect("notify:channels")
    if row.status == DeliveryStatus.SENT:
        messages.success(request, _("测试消息已送达“{n}”").format(n=channel.name))
    else:
        messages.error(request, _("测试消息未送达“{n}”：{e}").format(n=channel.name, e=row.last_error or row.get_status_display()))
    return redirect("notify:delivery", delivery_id=row.pk)
