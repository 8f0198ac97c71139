# No `from __future__ import annotations`: ninja must see the real parameter types (e.g. Id).
"""API: the organisation tree, areas, equipment, people, roles and role grants.

Every object is fetched through `access` (another company's id is 404, like a missing one), ids
named in a body too, and every write goes through `orgs.services` inside one transaction. Lists
are paginated with `?page=&page_size=` (core.schemas.Pages) and answer {"items", "count"}.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from anlian.core.errors import DomainError, Invalid, NotFound
from anlian.core.schemas import Id, Pages, Strict
from anlian.orgs import access, services
from anlian.orgs.models import Area, Contractor, Equipment, OrgKind, OrgUnit, Person, Role, RoleGrant
from anlian.orgs.permissions import MANAGE_PEOPLE

router = Router(tags=["organisation"])

Text = Query(None, max_length=100, description="Case-insensitive search in names and codes")


# --- helpers -------------------------------------------------------------------------------------

# Services name the model field ("parent"); API clients sent the body field ("parent_id").
ID_FIELDS = {"parent", "org_unit", "area", "person", "role", "owner", "contractor"}


@contextmanager
def writing(renames: dict[str, str] | None = None) -> Iterator[None]:
    """One transaction per write, so a refusal leaves nothing half-done. A refusal names the body's
    field: model fields get "_id", and `renames` maps other service names to body names."""
    try:
        with transaction.atomic():
            yield
    except DomainError as exc:
        if renames and exc.field in renames:
            exc.field = renames[exc.field]
        elif exc.field in ID_FIELDS:
            exc.field = f"{exc.field}_id"
        raise


def ref(source: Any, request: HttpRequest, pk: int, field: str) -> Any:
    """Resolve an id named in a body or filter; invisible and missing look the same (404)."""
    try:
        return access.get_for_user(source, request.user, pk)
    except NotFound:
        raise NotFound(field=field) from None


def ref_or_none(source: Any, request: HttpRequest, pk: int | None, field: str) -> Any:
    return None if pk is None else ref(source, request, pk, field)


def unit_from(request: HttpRequest, changes: dict[str, Any], current: OrgUnit) -> OrgUnit:
    """The org unit a PATCH moves the object to (resolved in scope), else its current one."""
    if "org_unit_id" not in changes:
        return current
    return ref(OrgUnit, request, changes.pop("org_unit_id"), "org_unit_id")


def search(qs: QuerySet, q: str | None, *fields: str) -> QuerySet:
    if not q or not q.strip():
        return qs
    cond = Q()
    for name in fields:
        cond |= Q(**{f"{name}__icontains": q.strip()})
    return qs.filter(cond)


def url_or_none(name: str, **kwargs: Any) -> str | None:
    # The pages are owned by the UI; until a route exists the API says "no link" instead of failing.
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return None


# --- org tree ------------------------------------------------------------------------------------


class UnitOut(Schema):
    id: int
    name: str
    code: str
    kind: str
    parent_id: int | None
    company_id: int | None
    path: str
    depth: int
    sort_order: int


class UnitIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    kind: OrgKind
    parent_id: Id | None = None
    code: str = Field("", max_length=40)
    sort_order: int = Field(0, ge=-1_000_000, le=1_000_000)


class UnitPatch(Strict):
    # A missing field stays as it is; an explicit null is refused (these fields cannot be empty).
    name: str = Field(None, min_length=1, max_length=100)
    code: str = Field(None, max_length=40)
    sort_order: int = Field(None, ge=-1_000_000, le=1_000_000)


class MoveIn(Strict):
    parent_id: Id


@router.get("/org-units", response=list[UnitOut], summary="Org units I may see")
@paginate(Pages)
def list_units(request: HttpRequest, parent_id: Id | None = None, kind: OrgKind | None = None, q: str | None = Text):
    units = access.visible(OrgUnit, request.user)
    if parent_id is not None:
        units = units.filter(parent=ref(OrgUnit, request, parent_id, "parent_id"))
    if kind is not None:
        units = units.filter(kind=kind)
    return search(units, q, "name", "code").order_by("path")


@router.post("/org-units", response={201: UnitOut}, summary="Add an org unit under a parent")
def create_unit(request: HttpRequest, payload: UnitIn):
    parent = ref_or_none(OrgUnit, request, payload.parent_id, "parent_id")
    with writing():
        unit = services.create_unit(request.user, name=payload.name, kind=payload.kind, parent=parent,
                                    code=payload.code, sort_order=payload.sort_order)
    return Status(201, unit)


@router.get("/org-units/{unit_id}", response=UnitOut, summary="One org unit")
def get_unit(request: HttpRequest, unit_id: Id):
    return access.get_for_user(OrgUnit, request.user, unit_id)


@router.patch("/org-units/{unit_id}", response=UnitOut, summary="Rename or re-code an org unit")
def update_unit(request: HttpRequest, unit_id: Id, payload: UnitPatch):
    unit = access.get_for_user(OrgUnit, request.user, unit_id)
    with writing():
        return services.update_unit(request.user, unit, **payload.model_dump(exclude_unset=True))


@router.delete("/org-units/{unit_id}", response={204: None}, summary="Delete an empty org unit")
def delete_unit(request: HttpRequest, unit_id: Id):
    unit = access.get_for_user(OrgUnit, request.user, unit_id)
    with writing():
        services.delete_unit(request.user, unit)
    return Status(204, None)


@router.post("/org-units/{unit_id}/move", response=UnitOut, summary="Move a unit and its subtree under another parent")
def move_unit(request: HttpRequest, unit_id: Id, payload: MoveIn):
    unit = access.get_for_user(OrgUnit, request.user, unit_id)
    parent = ref(OrgUnit, request, payload.parent_id, "parent_id")
    with writing():
        return services.move_unit(request.user, unit, parent)


@router.get("/org-units/{unit_id}/subtree", response=list[UnitOut], summary="A unit and everything below it")
def unit_subtree(request: HttpRequest, unit_id: Id):
    # Visibility is by subtree, so everything below a visible unit is visible too.
    return services.subtree(access.get_for_user(OrgUnit, request.user, unit_id)).order_by("path")


# --- areas ---------------------------------------------------------------------------------------

Lat = Field(None, ge=-90, le=90)
Lng = Field(None, ge=-180, le=180)


class AreaOut(Schema):
    id: int
    org_unit_id: int
    name: str
    code: str
    is_outdoor: bool
    is_explosion_zone: bool
    is_confined_space: bool
    center_lat: float | None
    center_lng: float | None
    radius_m: int | None
    polygon: list[list[float]] | None
    description: str


class AreaIn(Strict):
    org_unit_id: Id
    name: str = Field(min_length=1, max_length=100)
    code: str = Field("", max_length=40)
    is_outdoor: bool = False
    is_explosion_zone: bool = False
    is_confined_space: bool = False
    center_lat: float | None = Lat
    center_lng: float | None = Lng
    radius_m: int | None = Field(None, ge=1, le=50_000)
    polygon: list[tuple[float, float]] | None = Field(None, max_length=500, description="[[lat, lng], ...]")
    description: str = Field("", max_length=2000)


class AreaPatch(Strict):
    org_unit_id: Id = None
    name: str = Field(None, min_length=1, max_length=100)
    code: str = Field(None, max_length=40)
    is_outdoor: bool = None
    is_explosion_zone: bool = None
    is_confined_space: bool = None
    center_lat: float | None = Lat
    center_lng: float | None = Lng
    radius_m: int | None = Field(None, ge=1, le=50_000)
    polygon: list[tuple[float, float]] | None = Field(None, max_length=500)
    description: str = Field(None, max_length=2000)


class ContainsOut(Schema):
    area_id: int
    has_fence: bool
    inside: bool | None


@router.get("/areas", response=list[AreaOut], summary="Areas I may see")
@paginate(Pages)
def list_areas(request: HttpRequest, org_unit_id: Id | None = None, is_outdoor: bool | None = None,
               is_explosion_zone: bool | None = None, is_confined_space: bool | None = None,
               q: str | None = Text):
    areas = access.visible(Area, request.user)
    if org_unit_id is not None:  # the unit and its whole subtree
        areas = areas.filter(org_unit__path__startswith=ref(OrgUnit, request, org_unit_id, "org_unit_id").path)
    flags = {"is_outdoor": is_outdoor, "is_explosion_zone": is_explosion_zone, "is_confined_space": is_confined_space}
    areas = areas.filter(**{k: v for k, v in flags.items() if v is not None})
    return search(areas, q, "name", "code").order_by("org_unit__path", "name", "pk")


@router.post("/areas", response={201: AreaOut}, summary="Add an area")
def create_area(request: HttpRequest, payload: AreaIn):
    data = payload.model_dump(exclude={"org_unit_id"})
    unit = ref(OrgUnit, request, payload.org_unit_id, "org_unit_id")
    with writing():
        return Status(201, services.save_area(request.user, None, org_unit=unit, **data))


@router.get("/areas/{area_id}", response=AreaOut, summary="One area")
def get_area(request: HttpRequest, area_id: Id):
    return access.get_for_user(Area, request.user, area_id)


@router.patch("/areas/{area_id}", response=AreaOut, summary="Change an area")
def update_area(request: HttpRequest, area_id: Id, payload: AreaPatch):
    area = access.get_for_user(Area, request.user, area_id)
    changes = payload.model_dump(exclude_unset=True)
    unit = unit_from(request, changes, area.org_unit)
    # The service validates the geofence as a whole, so it gets every field, changed or not.
    data = {name: getattr(area, name) for name in services.AREA_FIELDS} | changes
    with writing():
        return services.save_area(request.user, area, org_unit=unit, **data)


@router.delete("/areas/{area_id}", response={204: None}, summary="Delete an area without equipment")
def delete_area(request: HttpRequest, area_id: Id):
    area = access.get_for_user(Area, request.user, area_id)
    with writing():
        services.delete_object(request.user, area)
    return Status(204, None)


@router.get("/areas/{area_id}/contains", response=ContainsOut, summary="Is a position inside the area's geofence?")
def area_contains(request: HttpRequest, area_id: Id, lat: float = Query(..., ge=-90, le=90),
                  lng: float = Query(..., ge=-180, le=180), tolerance_m: float = Query(0, ge=0, le=10_000)):
    area = access.get_for_user(Area, request.user, area_id)
    inside = area.contains(lat, lng, tolerance_m)
    return {"area_id": area.pk, "has_fence": inside is not None, "inside": inside}


# --- equipment -----------------------------------------------------------------------------------


class EquipmentOut(Schema):
    id: int
    org_unit_id: int
    area_id: int | None
    code: str
    name: str
    model: str
    is_active: bool
    scan_url: str | None = Field(None, description="What the QR label encodes: the phone page")
    qr_svg_url: str | None = Field(None, description="The QR label as SVG")

    @staticmethod
    def resolve_scan_url(obj: Equipment) -> str | None:
        try:
            return obj.scan_url()
        except NoReverseMatch:
            return None

    @staticmethod
    def resolve_qr_svg_url(obj: Equipment) -> str | None:
        path = url_or_none("orgs:equipment_qr", equipment_id=obj.pk)
        return settings.SITE_URL + path if path else None


class EquipmentIn(Strict):
    org_unit_id: Id
    area_id: Id | None = None
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=100)
    model: str = Field("", max_length=100)
    is_active: bool = True


class EquipmentPatch(Strict):
    org_unit_id: Id = None
    area_id: Id | None = None
    code: str = Field(None, min_length=1, max_length=40)
    name: str = Field(None, min_length=1, max_length=100)
    model: str = Field(None, max_length=100)
    is_active: bool = None


@router.get("/equipment", response=list[EquipmentOut], summary="Equipment I may see")
@paginate(Pages)
def list_equipment(request: HttpRequest, org_unit_id: Id | None = None, area_id: Id | None = None,
                   q: str | None = Text):
    items = access.visible(Equipment, request.user)
    if org_unit_id is not None:
        items = items.filter(org_unit__path__startswith=ref(OrgUnit, request, org_unit_id, "org_unit_id").path)
    if area_id is not None:
        items = items.filter(area=ref(Area, request, area_id, "area_id"))
    return search(items, q, "name", "code", "model").order_by("code", "pk")


@router.post("/equipment", response={201: EquipmentOut}, summary="Add equipment")
def create_equipment(request: HttpRequest, payload: EquipmentIn):
    unit = ref(OrgUnit, request, payload.org_unit_id, "org_unit_id")
    area = ref_or_none(Area, request, payload.area_id, "area_id")
    data = payload.model_dump(exclude={"org_unit_id", "area_id"})
    with writing():
        return Status(201, services.save_equipment(request.user, None, org_unit=unit, area=area, **data))


@router.get("/equipment/{equipment_id}", response=EquipmentOut, summary="One piece of equipment")
def get_equipment(request: HttpRequest, equipment_id: Id):
    return access.get_for_user(Equipment, request.user, equipment_id)


@router.patch("/equipment/{equipment_id}", response=EquipmentOut, summary="Change equipment")
def update_equipment(request: HttpRequest, equipment_id: Id, payload: EquipmentPatch):
    item = access.get_for_user(Equipment, request.user, equipment_id)
    changes = payload.model_dump(exclude_unset=True)
    unit = unit_from(request, changes, item.org_unit)
    area = ref_or_none(Area, request, changes.pop("area_id"), "area_id") if "area_id" in changes else item.area
    data = {"code": item.code, "name": item.name, "model": item.model, "is_active": item.is_active} | changes
    with writing():
        return services.save_equipment(request.user, item, org_unit=unit, area=area, **data)


@router.delete("/equipment/{equipment_id}", response={204: None}, summary="Delete equipment")
def delete_equipment(request: HttpRequest, equipment_id: Id):
    item = access.get_for_user(Equipment, request.user, equipment_id)
    with writing():
        services.delete_object(request.user, item)
    return Status(204, None)


# --- people --------------------------------------------------------------------------------------


def id_number_for(user: Any, person: Person) -> str:
    """A person's ID number as `user` may see it: whole for those who manage the person, else only
    the region and the last four characters (an ID number is sensitive personal information)."""
    number = person.id_number
    if not number or access.can(user, MANAGE_PEOPLE, person):
        return number
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}"


class PersonOut(Schema):
    id: int
    org_unit_id: int
    company_id: int | None
    name: str
    employee_no: str
    phone: str
    is_active: bool
    username: str | None = None
    contractor_id: int | None = Field(None, description="Empty for our own employees")
    hired_on: date | None = None
    id_number: str = Field("", description="Masked unless you manage the person")
    job_title: str = ""

    @staticmethod
    def resolve_username(obj: Person) -> str | None:
        return obj.user.username if obj.user_id else None

    @staticmethod
    def resolve_id_number(obj: Person, context: dict[str, Any]) -> str:
        return id_number_for(context["request"].user, obj)


class PersonIn(Strict):
    org_unit_id: Id
    name: str = Field(min_length=1, max_length=50)
    employee_no: str = Field(min_length=1, max_length=40)
    phone: str = Field("", max_length=20)
    is_active: bool = True
    contractor_id: Id | None = Field(None, description="A contractor of the same company: its worker")
    hired_on: date | None = None
    id_number: str = Field("", max_length=18, description="18 digits, check digit verified")
    job_title: str = Field("", max_length=50)
    username: str | None = Field(None, min_length=1, max_length=150, description="With password: create a login")
    password: str | None = Field(None, min_length=1, max_length=128)


class PersonPatch(Strict):
    org_unit_id: Id = None
    name: str = Field(None, min_length=1, max_length=50)
    employee_no: str = Field(None, min_length=1, max_length=40)
    phone: str = Field(None, max_length=20)
    is_active: bool = None
    contractor_id: Id | None = Field(None, description="null: our own employee")
    hired_on: date | None = None
    id_number: str = Field(None, max_length=18)
    job_title: str = Field(None, max_length=50)
    username: str = Field(None, min_length=1, max_length=150)
    password: str = Field(None, min_length=1, max_length=128)


class GrantOut(Schema):
    id: int
    person_id: int
    person_name: str
    role_id: int
    role_code: str
    role_name: str
    org_unit_id: int
    org_unit_name: str
    granted_by_id: int | None
    created_at: datetime

    @staticmethod
    def resolve_person_name(obj: RoleGrant) -> str:
        return obj.person.name

    @staticmethod
    def resolve_role_code(obj: RoleGrant) -> str:
        return obj.role.code

    @staticmethod
    def resolve_role_name(obj: RoleGrant) -> str:
        return obj.role.label

    @staticmethod
    def resolve_org_unit_name(obj: RoleGrant) -> str:
        return obj.org_unit.name


def set_login_from(request: HttpRequest, person: Person, login: dict[str, Any]) -> None:
    """Create or change the person's login when the body names one (both fields, or neither)."""
    if not login:
        return
    username = login.get("username") or (person.user.username if person.user_id else None)
    if username is None or not login.get("password"):
        missing = "username" if username is None else "password"
        raise Invalid(_("设置登录账号需要同时提供登录名和密码"), field=missing, code="missing_field")
    services.set_login(request.user, person, username=username, password=login["password"])


@router.get("/people", response=list[PersonOut], summary="People I may see")
@paginate(Pages)
def list_people(request: HttpRequest, org_unit_id: Id | None = None, is_active: bool | None = None,
                contractor_id: Id | None = None,
                employees_only: bool = Query(False, description="Only our own employees (no contractor)"),
                q: str | None = Text):
    people = access.visible(Person, request.user).select_related("user")
    if org_unit_id is not None:
        people = people.filter(org_unit__path__startswith=ref(OrgUnit, request, org_unit_id, "org_unit_id").path)
    if is_active is not None:
        people = people.filter(is_active=is_active)
    if contractor_id is not None:
        people = people.filter(contractor=ref(Contractor, request, contractor_id, "contractor_id"))
    if employees_only:
        people = people.filter(contractor=None)
    return search(people, q, "name", "employee_no", "phone").order_by("org_unit__path", "employee_no", "pk")


@router.post("/people", response={201: PersonOut}, summary="Add a person, optionally with a login")
def create_person(request: HttpRequest, payload: PersonIn):
    unit = ref(OrgUnit, request, payload.org_unit_id, "org_unit_id")
    data = payload.model_dump(exclude={"org_unit_id", "contractor_id", "username", "password"})
    data["contractor"] = ref_or_none(Contractor, request, payload.contractor_id, "contractor_id")
    login = payload.model_dump(include={"username", "password"}, exclude_none=True)
    with writing():
        person = services.save_person(request.user, None, org_unit=unit, **data)
        set_login_from(request, person, login)
    return Status(201, person)


@router.get("/people/{person_id}", response=PersonOut, summary="One person")
def get_person(request: HttpRequest, person_id: Id):
    return access.get_for_user(Person.objects.select_related("user"), request.user, person_id)


@router.patch("/people/{person_id}", response=PersonOut, summary="Change a person or their login")
def update_person(request: HttpRequest, person_id: Id, payload: PersonPatch):
    person = access.get_for_user(Person.objects.select_related("user"), request.user, person_id)
    changes = payload.model_dump(exclude_unset=True)
    login = {k: changes.pop(k) for k in ("username", "password") if k in changes}
    unit = unit_from(request, changes, person.org_unit)
    if "contractor_id" in changes:  # left out: kept (save_person's KEEP)
        changes["contractor"] = ref_or_none(Contractor, request, changes.pop("contractor_id"), "contractor_id")
    fields = ("name", "employee_no", "phone", "is_active")
    data = {name: getattr(person, name) for name in fields} | changes
    with writing():
        person = services.save_person(request.user, person, org_unit=unit, **data)
        set_login_from(request, person, login)
    return person


@router.get("/people/{person_id}/grants", response=list[GrantOut], summary="A person's role grants")
def person_grants(request: HttpRequest, person_id: Id):
    person = access.get_for_user(Person, request.user, person_id)
    return access.visible(RoleGrant, request.user).filter(person=person).select_related("person", "role", "org_unit")


# --- roles and grants ----------------------------------------------------------------------------


class RoleOut(Schema):
    id: int
    code: str
    name: str
    description: str
    permissions: list[str]
    owner_id: int | None
    is_builtin: bool

    @staticmethod
    def resolve_name(obj: Role) -> str:
        return obj.label


class RoleIn(Strict):
    owner_id: Id
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=60)
    permissions: list[str] = Field(max_length=100)
    description: str = Field("", max_length=200)


class RolePatch(Strict):
    code: str = Field(None, min_length=1, max_length=40)
    name: str = Field(None, min_length=1, max_length=60)
    permissions: list[str] = Field(None, max_length=100)
    description: str = Field(None, max_length=200)


class GrantIn(Strict):
    person_id: Id
    role_id: Id
    org_unit_id: Id


def get_role(request: HttpRequest, role_id: int, field: str | None = None) -> Role:
    role = access.visible_roles(request.user).filter(pk=role_id).select_related("owner").first()
    if role is None:
        raise NotFound(field=field)
    return role


@router.get("/roles", response=list[RoleOut], summary="Built-in roles and the custom roles I may see")
@paginate(Pages)
def list_roles(request: HttpRequest, q: str | None = Text):
    return search(access.visible_roles(request.user), q, "code", "name").order_by("-is_builtin", "code", "pk")


@router.post("/roles", response={201: RoleOut}, summary="Define a custom role for a subtree")
def create_role(request: HttpRequest, payload: RoleIn):
    owner = ref(OrgUnit, request, payload.owner_id, "owner_id")
    data = payload.model_dump(exclude={"owner_id"})
    with writing():
        return Status(201, services.save_role(request.user, None, owner=owner, **data))


@router.get("/roles/{role_id}", response=RoleOut, summary="One role")
def read_role(request: HttpRequest, role_id: Id):
    return get_role(request, role_id)


@router.patch("/roles/{role_id}", response=RoleOut, summary="Change a custom role")
def update_role(request: HttpRequest, role_id: Id, payload: RolePatch):
    role = get_role(request, role_id)
    data = {"code": role.code, "name": role.name, "permissions": role.permissions,
            "description": role.description} | payload.model_dump(exclude_unset=True)
    with writing():
        return services.save_role(request.user, role, owner=role.owner, **data)


@router.get("/role-grants", response=list[GrantOut], summary="Role grants I may see")
@paginate(Pages)
def list_grants(request: HttpRequest, person_id: Id | None = None, org_unit_id: Id | None = None):
    grants = access.visible(RoleGrant, request.user).select_related("person", "role", "org_unit")
    if person_id is not None:
        grants = grants.filter(person=ref(Person, request, person_id, "person_id"))
    if org_unit_id is not None:  # grants at the unit or anywhere below it
        grants = grants.filter(org_unit__path__startswith=ref(OrgUnit, request, org_unit_id, "org_unit_id").path)
    return grants.order_by("org_unit__path", "role__code", "pk")


@router.post("/role-grants", response={201: GrantOut}, summary="Grant a role to a person for a subtree")
def create_grant(request: HttpRequest, payload: GrantIn):
    person = ref(Person, request, payload.person_id, "person_id")
    role = get_role(request, payload.role_id, "role_id")
    unit = ref(OrgUnit, request, payload.org_unit_id, "org_unit_id")
    with writing():
        return Status(201, services.grant_role(request.user, person, role, unit))


@router.delete("/role-grants/{grant_id}", response={204: None}, summary="Revoke a role grant")
def delete_grant(request: HttpRequest, grant_id: Id):
    grant = access.get_for_user(RoleGrant.objects.select_related("person__user", "role", "org_unit"),
                                request.user, grant_id)
    with writing():
        services.revoke_grant(request.user, grant)
    return Status(204, None)
