# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: a company's notification routes (list, add, change, delete) and my own notification
settings (muted SMS, quiet hours).

Routes take MANAGE_ORG at the route's company; another company's route, person, channel or
company id is a 404 like a missing one. My settings are always the logged-in person's own.
"""

from datetime import time
from typing import Optional

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from anlian.core.errors import Forbidden
from anlian.core.schemas import Id, Pages, Strict
from anlian.notify import routing
from anlian.notify.models import Route, Severity
from anlian.orgs import access
from anlian.orgs.api import ref, writing
from anlian.orgs.models import Person

router = Router(tags=["notifications"])


class RouteOut(Schema):
    id: int
    company_id: int
    event: str
    roles: list[str]
    person_ids: list[int]
    channel_ids: list[int]
    min_severity: str
    is_active: bool

    @staticmethod
    def resolve_person_ids(obj: Route) -> list[int]:
        return sorted(p.pk for p in obj.people.all())

    @staticmethod
    def resolve_channel_ids(obj: Route) -> list[int]:
        return sorted(c.pk for c in obj.channels.all())


class RouteIn(Strict):
    company_id: Id
    event: str = Field(max_length=60)
    roles: list[str] = Field(default_factory=list, max_length=routing.MAX_ROUTE_ROLES)
    person_ids: list[Id] = Field(default_factory=list, max_length=routing.MAX_ROUTE_PEOPLE)
    channel_ids: list[Id] = Field(default_factory=list, max_length=50)
    min_severity: Severity = Severity.INFO
    is_active: bool = True


class RoutePatch(Strict):
    event: Optional[str] = Field(None, max_length=60)
    roles: Optional[list[str]] = Field(None, max_length=routing.MAX_ROUTE_ROLES)
    person_ids: Optional[list[Id]] = Field(None, max_length=routing.MAX_ROUTE_PEOPLE)
    channel_ids: Optional[list[Id]] = Field(None, max_length=50)
    min_severity: Optional[Severity] = None
    is_active: Optional[bool] = None


def _manager(request: HttpRequest) -> None:
    if not routing.companies_for(request.user).exists():
        raise Forbidden()


def _route(request: HttpRequest, route_id: int) -> Route:
    return access.get_for_user(routing.routes_for(request.user), request.user, route_id)


def _people(request: HttpRequest, ids: list[int]) -> list[Person]:
    return [ref(Person, request, pk, "person_ids") for pk in dict.fromkeys(ids)]


def _channels(request: HttpRequest, ids: list[int]) -> list:
    from anlian.notify import delivery

    return [ref(delivery.channels_for(request.user), request, pk, "channel_ids") for pk in dict.fromkeys(ids)]


@router.get("/notification-routes", response=list[RouteOut], summary="Routes of the companies I manage")
@paginate(Pages)
def list_routes(request: HttpRequest):
    _manager(request)
    return routing.routes_for(request.user).order_by("company__path", "event", "pk")


@router.get("/notification-routes/{route_id}", response=RouteOut, summary="One route")
def get_route(request: HttpRequest, route_id: Id):
    return _route(request, route_id)


@router.post("/notification-routes", response={201: RouteOut}, summary="Add a route to a company")
def create_route(request: HttpRequest, payload: RouteIn):
    company = ref(routing.companies_for(request.user), request, payload.company_id, "company_id")
    people, channels = _people(request, payload.person_ids), _channels(request, payload.channel_ids)
    with writing({"company": "company_id", "people": "person_ids", "channels": "channel_ids"}):
        made = routing.save_route(request.user, None, company=company, event=payload.event, roles=payload.roles,
                                  people=people, channels=channels, min_severity=payload.min_severity,
                                  is_active=payload.is_active)
    return Status(201, _route(request, made.pk))


@router.patch("/notification-routes/{route_id}", response=RouteOut, summary="Change a route")
def update_route(request: HttpRequest, route_id: Id, payload: RoutePatch):
    row = _route(request, route_id)
    people = list(row.people.all()) if payload.person_ids is None else _people(request, payload.person_ids)
    channels = list(row.channels.all()) if payload.channel_ids is None else _channels(request, payload.channel_ids)
    with writing({"people": "person_ids", "channels": "channel_ids"}):
        routing.save_route(
            request.user, row, event=payload.event if payload.event is not None else row.event,
            roles=payload.roles if payload.roles is not None else row.roles, people=people, channels=channels,
            min_severity=payload.min_severity or row.min_severity,
            is_active=payload.is_active if payload.is_active is not None else row.is_active)
    return _route(request, route_id)


@router.delete("/notification-routes/{route_id}", response={204: None}, summary="Delete a route")
def delete_route(request: HttpRequest, route_id: Id):
    row = _route(request, route_id)
    with writing():
        routing.delete_route(request.user, row)
    return Status(204, None)


# --- my settings -------------------------------------------------------------------------------------


class PreferenceOut(Schema):
    muted_kinds: list[str] = Field(description="Channel kinds I do not want (SMS only; the inbox always arrives)")
    quiet_start: Optional[time] = Field(description="Local time; with quiet_end, SMS waits until it ends")
    quiet_end: Optional[time]
    critical_ignores: bool = Field(True, description="Critical messages ignore both")


class PreferenceIn(Strict):
    muted_kinds: list[str] = Field(default_factory=list, max_length=10)
    quiet_start: Optional[time] = None
    quiet_end: Optional[time] = None


@router.get("/me/notification-settings", response=PreferenceOut, summary="My notification settings")
def my_settings(request: HttpRequest):
    return routing.preference_of(routing.person_of(request.user))


@router.put("/me/notification-settings", response=PreferenceOut, summary="Change my notification settings")
def save_my_settings(request: HttpRequest, payload: PreferenceIn):
    with writing():
        return routing.save_preference(request.user, muted_kinds=payload.muted_kinds,
                                       quiet_start=payload.quiet_start, quiet_end=payload.quiet_end)
