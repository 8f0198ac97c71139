# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: the delivery log (list with filters, one delivery, resend) and a company's channels
(list, add, change, delete while unused, send a test message).

Everything takes MANAGE_ORG at the delivery's or channel's company; another company's id is a
404 like a missing one. A channel's secrets are write-only: answers show "••••••" for a saved one,
and a PATCH that leaves a secret out (or sends it empty or as "••••••") keeps it.
"""

from datetime import date, datetime
from typing import Any, Optional

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from anlian.core.errors import Forbidden
from anlian.core.schemas import Id, Pages, Strict
from anlian.notify import delivery
from anlian.notify.models import Channel, ChannelKind, Delivery, DeliveryStatus
from anlian.orgs import access
from anlian.orgs.api import ref, writing

router = Router(tags=["notifications"])


class DeliveryOut(Schema):
    id: int
    message_id: int
    company_id: int = Field(alias="message.company_id")
    event: str = Field(alias="message.event")
    severity: str = Field(alias="message.severity")
    title: str = Field(alias="message.title")
    person_id: Optional[int]
    person_name: Optional[str] = Field(None, alias="person.name")
    channel_id: Optional[int] = Field(description="None: the in-app inbox")
    kind: str
    address: str
    status: str
    attempts: int
    next_attempt_at: Optional[datetime]
    sent_at: Optional[datetime]
    last_error: str
    created_at: datetime


class DeliveryDetail(DeliveryOut):
    body: str = Field(alias="message.body")
    url: str = Field(alias="message.url")
    idempotency_key: str
    response: str = Field(description="The service's answer to the last attempt (truncated)")


class DeliveryFilter(Schema):
    person: Optional[str] = Query(None, max_length=50, description="Recipient's name, employee number or address contains")
    q: Optional[str] = Query(None, max_length=50, description="Message title, text or event contains")
    channel_id: Optional[Id] = Query(None)
    inbox: Optional[bool] = Query(None, description="Only the in-app inbox")
    status: Optional[DeliveryStatus] = Query(None)
    start: Optional[date] = Query(None, description="Created on or after (local date)")
    end: Optional[date] = Query(None, description="Created on or before (local date)")


def _manager(request: HttpRequest) -> None:
    if not delivery.companies_for(request.user).exists():
        raise Forbidden()


@router.get("/notification-deliveries", response=list[DeliveryOut], summary="The delivery log, newest first")
@paginate(Pages)
def list_deliveries(request: HttpRequest, filters: Query[DeliveryFilter]):
    _manager(request)
    channel = ""
    if filters.channel_id is not None:
        channel = str(ref(delivery.channels_for(request.user), request, filters.channel_id, "channel_id").pk)
    elif filters.inbox:
        channel = "inbox"
    return delivery.search(delivery.deliveries_for(request.user), person=(filters.person or "").strip(),
                           q=(filters.q or "").strip(), channel=channel, status=filters.status or "",
                           start=filters.start, end=filters.end)


def _delivery(request: HttpRequest, delivery_id: int) -> Delivery:
    return access.get_for_user(delivery.deliveries_for(request.user), request.user, delivery_id)


@router.get("/notification-deliveries/{delivery_id}", response=DeliveryDetail, summary="One delivery with the service's answer")
def get_delivery(request: HttpRequest, delivery_id: Id):
    return _delivery(request, delivery_id)


@router.post("/notification-deliveries/{delivery_id}/resend", response=DeliveryDetail,
             summary="Send a dead or uncertain delivery once more, with the same idempotency key")
def resend_delivery(request: HttpRequest, delivery_id: Id):
    row = _delivery(request, delivery_id)
    with writing():
        delivery.resend(request.user, row)
    return _delivery(request, delivery_id)


# --- channels --------------------------------------------------------------------------------------------


class ChannelOut(Schema):
    id: int
    company_id: int
    kind: str
    name: str
    is_active: bool
    config: dict = Field(description="Settings; a saved secret shows as ••••••")

    @staticmethod
    def resolve_config(obj: Channel) -> dict:
        return delivery.masked(obj)


class ChannelIn(Strict):
    company_id: Id
    kind: ChannelKind
    name: str = Field(max_length=60)
    is_active: bool = True
    config: dict[str, Any] = Field(default_factory=dict)


class ChannelPatch(Strict):
    name: Optional[str] = Field(None, max_length=60)
    is_active: Optional[bool] = None
    config: Optional[dict[str, Any]] = Field(None, description="Replaces the settings; secrets left out are kept")


@router.get("/notification-channels", response=list[ChannelOut], summary="Channels of the companies I manage")
@paginate(Pages)
def list_channels(request: HttpRequest):
    _manager(request)
    return delivery.channels_for(request.user).order_by("company__path", "name")


def _channel(request: HttpRequest, channel_id: int) -> Channel:
    return access.get_for_user(delivery.channels_for(request.user), request.user, channel_id)


@router.get("/notification-channels/{channel_id}", response=ChannelOut, summary="One channel (secrets masked)")
def get_channel(request: HttpRequest, channel_id: Id):
    return _channel(request, channel_id)


@router.post("/notification-channels", response={201: ChannelOut}, summary="Add a channel to a company")
def create_channel(request: HttpRequest, payload: ChannelIn):
    company = ref(delivery.companies_for(request.user), request, payload.company_id, "company_id")
    with writing({"company": "company_id"}):
        channel = delivery.save_channel(request.user, None, company=company, kind=payload.kind, name=payload.name,
                                        is_active=payload.is_active, config=payload.config)
    return Status(201, channel)


@router.patch("/notification-channels/{channel_id}", response=ChannelOut, summary="Change a channel's name, state or settings")
def update_channel(request: HttpRequest, channel_id: Id, payload: ChannelPatch):
    channel = _channel(request, channel_id)
    shown = delivery.masked(channel)  # secrets as ••••••: a PATCH echoing them back keeps them
    config = payload.config if payload.config is not None else {k: v for k, v in channel.config.items() if k in shown}
    with writing():
        return delivery.save_channel(
            request.user, channel, name=payload.name if payload.name is not None else channel.name,
            is_active=payload.is_active if payload.is_active is not None else channel.is_active, config=config)


@router.delete("/notification-channels/{channel_id}", response={204: None}, summary="Delete a channel never used")
def delete_channel(request: HttpRequest, channel_id: Id):
    channel = _channel(request, channel_id)
    with writing():
        delivery.delete_channel(request.user, channel)
    return Status(204, None)


@router.post("/notification-channels/{channel_id}/test", response=DeliveryDetail,
             summary="Send a test message through the channel now; the answer is the delivery")
def send_channel_test(request: HttpRequest, channel_id: Id):
    channel = _channel(request, channel_id)
    with writing():
        return delivery.try_channel(request.user, channel)
