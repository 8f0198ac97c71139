"""The only writers of the organisation data. Pages, API, demo loader and tests all call these.

Each function checks the actor's permission at the org node concerned, validates the rule it
enforces, and raises a DomainError (Forbidden, Invalid, Conflict) with a translated reason.
Callers run them inside `transaction.atomic()`.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr
from django.dispatch import Signal
from django.utils.translation import gettext as _

from anlian import audit
from anlian.core.codes import id18_problem
from anlian.core.errors import Conflict, Forbidden, Invalid
from anlian.orgs import access, geo
from anlian.orgs.models import KIND_RANK, Area, Contractor, Equipment, OrgKind, OrgUnit, Person, Role, RoleGrant
from anlian.orgs.permissions import (
    GRANT_ROLES,
    MANAGE_ORG,
    MANAGE_PEOPLE,
    MANAGE_ROLES,
    PERMISSIONS,
    validate_permissions,
)

User = get_user_model()


# --- org tree ------------------------------------------------------------------------------------


def _check_kind_under(kind: str, parent: OrgUnit | None, field: str = "kind") -> None:
    if kind not in KIND_RANK:
        raise Invalid(_("未知的组织层级"), field="kind")
    if parent is None:
        return
    if KIND_RANK[OrgKind(kind)] <= KIND_RANK[OrgKind(parent.kind)]:
        raise Invalid(
            _("“{child}”不能设在“{parent}”之下：下级的层级必须低于上级").format(
                child=OrgKind(kind).label, parent=OrgKind(parent.kind).label
            ),
            field=field,
        )


def _company_for(kind: str, parent: OrgUnit | None) -> OrgUnit | None:
    if parent is None:
        return None
    return parent if parent.kind == OrgKind.COMPANY else parent.company


def _check_name(name: str, field: str = "name", limit: int = 100) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid(_("名称不能为空"), field=field)
    if len(name) > limit:
        raise Invalid(_("名称不能超过{n}个字符").format(n=limit), field=field)
    return name


def create_unit(actor: Any, *, name: str, kind: str, parent: OrgUnit | None, code: str = "", sort_order: int = 0) -> OrgUnit:
    """Add a node under `parent` (a root needs a superuser). Sets `path`, `depth` and `company`."""
    if parent is None:
        if not access.scope_of(actor).is_superuser:
            raise Forbidden(_("只有平台管理员可以创建顶级组织"))
    else:
        access.require(actor, MANAGE_ORG, parent)
    name = _check_name(name)
    _check_kind_under(kind, parent)
    if OrgUnit.objects.filter(parent=parent, name=name).exists():
        raise Conflict(_("同一上级下已有名为“{name}”的组织").format(name=name), field="name")
    unit = OrgUnit.objects.create(
        name=name, kind=kind, parent=parent, code=code.strip(), sort_order=sort_order,
        company=_company_for(kind, parent),
    )
    unit.path = f"{parent.path if parent else '/'}{unit.pk}/"
    unit.depth = parent.depth + 1 if parent else 0
    if kind == OrgKind.COMPANY:
        unit.company = unit
    unit.save(update_fields=["path", "depth", "company"])
    return unit


def update_unit(actor: Any, unit: OrgUnit, *, name: str | None = None, code: str | None = None,
                sort_order: int | None = None) -> OrgUnit:
    """Rename or re-code a node. Its level changes only through a move (it shapes the tree)."""
    access.require(actor, MANAGE_ORG, unit)
    if name is not None:
        name = _check_name(name)
        if OrgUnit.objects.filter(parent=unit.parent, name=name).exclude(pk=unit.pk).exists():
            raise Conflict(_("同一上级下已有名为“{name}”的组织").format(name=name), field="name")
        unit.name = name
    if code is not None:
        unit.code = code.strip()
    if sort_order is not None:
        unit.sort_order = sort_order
    unit.save()
    return unit


def move_unit(actor: Any, unit: OrgUnit, new_parent: OrgUnit) -> OrgUnit:
    """Move a node with its whole subtree under another node, in one UPDATE for the subtree.

    Refuses a move under the node itself or one of its descendants (it would cut the tree into a
    loop), a move that breaks the level order, and a move across companies (people, permits and
    numbering belong to a company).
    """
    access.require(actor, MANAGE_ORG, unit)
    access.require(actor, MANAGE_ORG, new_parent)
    if unit.parent_id is None:
        raise Invalid(_("顶级组织不能移动"), field="parent")
    if new_parent.path.startswith(unit.path):
        raise Invalid(_("不能把组织移到它自己或它的下级之下"), field="parent")
    _check_kind_under(unit.kind, new_parent, field="parent")  # a move changes the parent, not the kind
    deepest = OrgUnit.objects.filter(path__startswith=unit.path).exclude(pk=unit.pk)
    for child_kind in deepest.values_list("kind", flat=True).distinct():
        if KIND_RANK[OrgKind(child_kind)] <= KIND_RANK[OrgKind(new_parent.kind)]:
            raise Invalid(_("移动后下级组织的层级顺序将被打乱"), field="parent")
    new_company = unit if unit.kind == OrgKind.COMPANY else _company_for(unit.kind, new_parent)
    if unit.kind != OrgKind.COMPANY and new_company != unit.company:
        raise Invalid(_("不能把组织移到另一家公司"), field="parent")
    if OrgUnit.objects.filter(parent=new_parent, name=unit.name).exists():
        raise Conflict(_("目标上级下已有同名组织"), field="parent")
    old_path, new_path = unit.path, f"{new_parent.path}{unit.pk}/"
    depth_shift = new_parent.depth + 1 - unit.depth
    old_parent = unit.parent_id
    with transaction.atomic():
        OrgUnit.objects.filter(pk=unit.pk).update(parent=new_parent)
        OrgUnit.objects.filter(path__startswith=old_path).update(
            path=Concat(Value(new_path), Substr("path", len(old_path) + 1)),
            depth=F("depth") + depth_shift,
        )
        unit.refresh_from_db()
        audit.record_changed(unit, {"parent_id": old_parent})  # UPDATE sends no signals
    return unit


def delete_unit(actor: Any, unit: OrgUnit) -> None:
    """Delete an empty node. Nodes with children, people, areas or equipment are kept."""
    access.require(actor, MANAGE_ORG, unit.parent or unit)
    if unit.parent_id is None and not access.scope_of(actor).is_superuser:
        raise Forbidden(_("只有平台管理员可以删除顶级组织"))
    blockers = [
        (unit.children.exists(), _("下级组织")),
        (unit.people.exists(), _("人员")),
        (unit.areas.exists(), _("区域")),
        (unit.equipment.exists(), _("设备")),
        (unit.grants.exists() or Role.objects.filter(owner=unit).exists(), _("角色授权")),
    ]
    found = [str(label) for present, label in blockers if present]
    if found:
        raise Conflict(_("该组织下还有{what}，不能删除").format(what="、".join(found)))
    unit.delete()


def subtree(unit: OrgUnit):
    """The unit and everything below it, as one prefix query."""
    return OrgUnit.objects.filter(path__startswith=unit.path)


# --- areas and equipment -------------------------------------------------------------------------

AREA_FIELDS = ("name", "code", "is_outdoor", "is_explosion_zone", "is_confined_space",
               "center_lat", "center_lng", "radius_m", "polygon", "description")


def _clean_geofence(data: dict[str, Any]) -> None:
    lat, lng = data.get("center_lat"), data.get("center_lng")
    if (lat is None) != (lng is None):
        raise Invalid(_("中心点需要同时填写纬度和经度"), field="center_lat" if lat is None else "center_lng")
    if lat is not None:
        try:
            geo.validate_lat_lng(float(lat), float(lng))
        except (TypeError, ValueError):
            raise Invalid(_("纬度须在 ±90 之间，经度须在 ±180 之间"), field="center_lat") from None
    radius = data.get("radius_m")
    if radius is not None and not (0 < int(radius) <= 50_000):
        raise Invalid(_("半径须在 1 到 50000 米之间"), field="radius_m")
    if data.get("polygon") not in (None, [], ""):
        try:
            data["polygon"] = geo.validate_polygon(data["polygon"])
        except ValueError:
            raise Invalid(_("多边形须为至少3个 [纬度, 经度] 点的列表"), field="polygon") from None
    else:
        data["polygon"] = None


def save_area(actor: Any, area: Area | None, *, org_unit: OrgUnit, **data: Any) -> Area:
    """Create (area=None) or update an area; moving it to another unit needs rights at both."""
    access.require(actor, MANAGE_ORG, org_unit)
    if area is not None:
        access.require(actor, MANAGE_ORG, area)
        if area.org_unit.company_id != org_unit.company_id:
            raise Invalid(_("区域不能移到另一家公司"), field="org_unit")
    unknown = set(data) - set(AREA_FIELDS)
    if unknown:
        raise Invalid(_("未知字段：{f}").format(f=", ".join(sorted(unknown))), field=sorted(unknown)[0])
    data["name"] = _check_name(data.get("name", area.name if area else ""))
    _clean_geofence(data)
    duplicate = Area.objects.filter(org_unit=org_unit, name=data["name"])
    if area is not None:
        duplicate = duplicate.exclude(pk=area.pk)
    if duplicate.exists():
        raise Conflict(_("该组织下已有名为“{name}”的区域").format(name=data["name"]), field="name")
    area = area or Area()
    area.org_unit = org_unit
    for key, value in data.items():
        setattr(area, key, value)
    area.save()
    return area


def save_equipment(actor: Any, equipment: Equipment | None, *, org_unit: OrgUnit, area: Area | None,
                   code: str, name: str, model: str = "", is_active: bool = True) -> Equipment:
    """Create or update equipment; its area must belong to the same company."""
    access.require(actor, MANAGE_ORG, org_unit)
    if equipment is not None:
        access.require(actor, MANAGE_ORG, equipment)
        if equipment.org_unit.company_id != org_unit.company_id:
            raise Invalid(_("设备不能移到另一家公司"), field="org_unit")
    if area is not None and area.org_unit.company_id != org_unit.company_id:
        raise Invalid(_("设备所在区域必须属于同一家公司"), field="area")
    code = (code or "").strip()
    if not code:
        raise Invalid(_("设备编号不能为空"), field="code")
    clash = Equipment.objects.filter(org_unit__company=org_unit.company, code=code)
    if equipment is not None:
        clash = clash.exclude(pk=equipment.pk)
    if clash.exists():
        raise Conflict(_("本公司已有编号为“{code}”的设备").format(code=code), field="code")
    equipment = equipment or Equipment()
    equipment.org_unit, equipment.area = org_unit, area
    equipment.code, equipment.name = code, _check_name(name)
    equipment.model, equipment.is_active = model.strip(), is_active
    equipment.save()
    return equipment


def delete_object(actor: Any, obj: Area | Equipment) -> None:
    access.require(actor, MANAGE_ORG, obj)
    if isinstance(obj, Area) and obj.equipment.exists():
        raise Conflict(_("该区域下还有设备，不能删除"))
    obj.delete()


# --- people and accounts -------------------------------------------------------------------------


KEEP = object()  # "leave this field as it is" for save_person's optional fields
person_hired = Signal()  # sent with `person` when a person is created (training assigns education)


def save_person(actor: Any, person: Person | None, *, org_unit: OrgUnit, name: str, employee_no: str,
                phone: str = "", is_active: bool = True, contractor: Contractor | None | object = KEEP,
                hired_on: date | None | object = KEEP, id_number: str | object = KEEP,
                job_title: str | object = KEEP) -> Person:
    """Create or update a person; employee numbers are unique within the company.

    `contractor`, `hired_on`, `id_number` and `job_title` left out keep their stored values (empty
    for a new person). A contractor's worker names the contractor, which must belong to the same company. A new
    person is announced with `person_hired` (after the transaction commits nothing is left out:
    receivers run inside it, so a refusal there undoes the whole creation).
    """
    access.require(actor, MANAGE_PEOPLE, org_unit)
    if person is not None:
        access.require(actor, MANAGE_PEOPLE, person)
    employee_no = (employee_no or "").strip()
    if not employee_no:
        raise Invalid(_("工号不能为空"), field="employee_no")
    if len(employee_no) > 40:
        raise Invalid(_("工号不能超过40个字符"), field="employee_no")
    phone = (phone or "").strip()
    if phone and not (phone.isdigit() and 5 <= len(phone) <= 20):
        raise Invalid(_("手机号只能包含5到20位数字"), field="phone")
    contractor, hired_on, id_number, job_title = (
        (getattr(person, name, None) or default) if value is KEEP else value
        for name, value, default in (("contractor", contractor, None), ("hired_on", hired_on, None),
                                     ("id_number", id_number, ""), ("job_title", job_title, "")))
    id_number = (id_number or "").strip().upper()
    if id_number and id18_problem(id_number):
        raise Invalid(_("身份证号“{n}”无效（18位，末位校验码须正确）").format(n=id_number[:18]), field="id_number")
    job_title = (job_title or "").strip()
    if len(job_title) > 50:
        raise Invalid(_("岗位不能超过50个字符"), field="job_title")
    company = org_unit if org_unit.kind == OrgKind.COMPANY else org_unit.company
    if contractor is not None and contractor.company_id != getattr(company, "pk", None):
        raise Invalid(_("承包商不属于该人员所在公司"), field="contractor")
    clash = Person.objects.filter(company=company, employee_no=employee_no)
    if person is not None:
        clash = clash.exclude(pk=person.pk)
    if company is not None and clash.exists():
        raise Conflict(_("本公司已有工号为“{no}”的人员").format(no=employee_no), field="employee_no")
    created = person is None
    person = person or Person()
    person.org_unit, person.company = org_unit, company
    person.name = _check_name(name, limit=Person._meta.get_field("name").max_length)
    person.employee_no, person.phone, person.is_active = employee_no, phone, is_active
    person.contractor, person.hired_on, person.id_number, person.job_title = contractor, hired_on, id_number, job_title
    person.save()
    if person.user_id and person.user.is_active != is_active:
        person.user.is_active = is_active  # leaving the company ends the login too
        person.user.save(update_fields=["is_active"])
    if created:
        person_hired.send(sender=Person, person=person)
    return person


def set_login(actor: Any, person: Person, *, username: str, password: str) -> Any:
    """Give a person a login account, or change its name and password."""
    access.require(actor, MANAGE_PEOPLE, person)
    username = (username or "").strip()
    if not username or len(username) > 150:
        raise Invalid(_("登录名不能为空且不超过150个字符"), field="username")
    clash = User.objects.filter(username__iexact=username)
    if person.user_id:
        clash = clash.exclude(pk=person.user_id)
    if clash.exists():
        raise Conflict(_("登录名“{u}”已被使用").format(u=username), field="username")
    user = person.user or User(username=username)
    user.username = username
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise Invalid(" ".join(str(m) for m in exc.messages), field="password") from None
    user.set_password(password)
    user.is_active = person.is_active
    user.save()
    if person.user_id != user.pk:
        person.user = user
        person.save(update_fields=["user"])
    return user


def set_photo(actor: Any, person: Person, upload: Any) -> Person:
    """Store a person's photo, re-encoded as JPEG so nothing uploaded is ever served as-is."""
    from anlian.core.images import ImageRejected, reencode_jpeg

    access.require(actor, MANAGE_PEOPLE, person)
    try:
        content = reencode_jpeg(upload, max_edge=1024)
    except ImageRejected as exc:
        raise Invalid(exc.reason, field="photo") from None
    old = person.photo.name if person.photo else None
    person.photo_token = secrets.token_hex(16)
    person.photo.save("photo.jpg", content, save=True)
    if old:
        transaction.on_commit(lambda: person.photo.storage.delete(old))
    return person


# --- roles and grants ----------------------------------------------------------------------------


def save_role(actor: Any, role: Role | None, *, owner: OrgUnit, code: str, name: str, permissions: list[str],
              description: str = "") -> Role:
    """Define or edit a custom role for a subtree; built-in roles are fixed."""
    if role is not None and role.is_builtin:  # checked first: a built-in role has no owner to check at
        raise Forbidden(_("内置角色不能修改"))
    access.require(actor, MANAGE_ROLES, owner)
    try:
        permissions = validate_permissions(permissions)
    except ValueError:
        raise Invalid(_("包含未知的权限"), field="permissions") from None
    missing = set(permissions) - access.scope_of(actor).permissions_at(owner.path)
    if missing:
        raise Forbidden(_("不能定义超出自己权限的角色"), field="permissions")
    code = (code or "").strip().lower()
    if not code or not code.replace("_", "").replace("-", "").isalnum() or not code.isascii():
        raise Invalid(_("角色代码只能包含字母、数字、下划线和连字符"), field="code")
    clash = Role.objects.filter(code=code, owner__isnull=True) | Role.objects.filter(code=code, owner=owner)
    if role is not None:
        clash = clash.exclude(pk=role.pk)
    if clash.exists():
        raise Conflict(_("角色代码“{c}”已存在").format(c=code), field="code")
    role = role or Role()
    role.owner, role.code, role.name = owner, code, _check_name(name)
    role.permissions, role.description = permissions, description.strip()
    role.save()
    return role


def grant_role(actor: Any, person: Person, role: Role, org_unit: OrgUnit) -> RoleGrant:
    """Grant `role` to `person` for `org_unit`'s subtree.

    The actor needs roles.grant there, must see the person, and may only hand out permissions
    they hold there themselves (nobody can make someone more powerful than themselves).
    """
    access.require(actor, GRANT_ROLES, org_unit)
    if not access.visible(Person, actor).filter(pk=person.pk).exists():
        raise Forbidden()
    if role.owner_id and not access.visible_roles(actor).filter(pk=role.pk).exists():
        raise Forbidden(field="role")  # another company's role: do not even name its owner
    if role.owner_id and not org_unit.path.startswith(role.owner.path):
        raise Invalid(_("该角色只能在“{o}”及其下级使用").format(o=role.owner), field="role")
    beyond = set(role.permissions) - access.scope_of(actor).permissions_at(org_unit.path)
    if beyond:
        labels = "、".join(str(PERMISSIONS.get(p, p)) for p in sorted(beyond))
        raise Forbidden(_("不能授予超出自己权限的角色（{p}）").format(p=labels), field="role")
    try:
        with transaction.atomic():
            grant = RoleGrant.objects.create(
                person=person, role=role, org_unit=org_unit, granted_by=getattr(actor, "person", None)
            )
    except IntegrityError:
        raise Conflict(_("该人员已在此范围拥有此角色"), field="role") from None
    access.forget_scope(person.user)
    return grant


def revoke_grant(actor: Any, grant: RoleGrant) -> None:
    access.require(actor, GRANT_ROLES, grant.org_unit)
    actor_person = getattr(actor, "person", None)
    if actor_person is not None and grant.person_id == actor_person.pk and GRANT_ROLES in grant.role.permissions:
        # Revoking one's own granting right could leave a company with no administrator.
        raise Conflict(_("不能撤销自己的授权管理角色，请由其他管理员操作"))
    grant.delete()
    access.forget_scope(grant.person.user)



def sync_builtin_roles(**_kwargs: Any) -> None:
    """Create or update the built-in roles from the catalogue (runs after every migrate)."""
    from anlian.orgs.permissions import BUILTIN_ROLES

    for code, spec in BUILTIN_ROLES.items():
        Role.objects.update_or_create(
            code=code, owner=None,
            defaults={"name": str(spec.name), "description": str(spec.description),
                      "permissions": sorted(spec.permissions), "is_builtin": True},
        )
