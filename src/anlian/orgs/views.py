"""Desktop pages for the organisation: tree, areas, equipment, people, grants and roles.

Views stay thin: objects come only from `access.get_for_user` / `access.visible` (another
company's object is a 404), and every write goes through `orgs.services` inside a transaction,
whose refusals are shown on the form or, for POST-only actions, by DomainErrorMiddleware.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from anlian.core.errors import DomainError, Forbidden, NotFound
from anlian.core.pages import form_page, paginate, render_list, require_somewhere, run_write
from anlian.orgs import access, exports, forms, services
from anlian.orgs.api import id_number_for
from anlian.orgs.models import Area, Contractor, Equipment, OrgUnit, Person, Role, RoleGrant
from anlian.orgs.permissions import BUILTIN_ROLES, MANAGE_ORG, MANAGE_PEOPLE, MANAGE_ROLES, PERMISSIONS

# --- shared helpers ------------------------------------------------------------------------------


def _unit_param(request: HttpRequest, name: str = "unit") -> OrgUnit | None:
    """A unit named in the query string, only if the user may see it (else the filter is ignored)."""
    value = request.GET.get(name, "")
    if not value.isdigit():
        return None
    return access.visible(OrgUnit, request.user).filter(pk=value).first()


def _in_subtree(qs: QuerySet, unit: OrgUnit | None) -> QuerySet:
    return qs.filter(org_unit__path__startswith=unit.path) if unit else qs


def _search(qs: QuerySet, q: str, *fields: str) -> QuerySet:
    if not q:
        return qs
    cond = Q()
    for field in fields:
        cond |= Q(**{f"{field}__icontains": q})
    return qs.filter(cond)


def _done(request: HttpRequest, message: str, to: Any) -> HttpResponse:
    messages.success(request, message)
    return redirect(to)


def _count(model: type, fk: str = "org_unit") -> Coalesce:
    """A correlated COUNT(*) per unit, so the tree stays one query without join fan-out."""
    rows = model.objects.filter(**{fk: OuterRef("pk")}).order_by().values(fk).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


# --- org tree ------------------------------------------------------------------------------------


@login_required
def tree(request: HttpRequest) -> HttpResponse:
    units = list(
        access.visible(OrgUnit, request.user).order_by("path")
        .annotate(n_people=_count(Person), n_areas=_count(Area), n_equipment=_count(Equipment))
    )
    # Indent relative to the shallowest visible node: a plant admin's tree starts at the left.
    top = min((u.depth for u in units), default=0)
    for unit in units:
        unit.indent = unit.depth - top
    return render(request, "orgs/tree.html", {"units": units})


@login_required
def unit_detail(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = access.get_for_user(OrgUnit.objects.select_related("parent"), request.user, unit_id)
    user = request.user
    context = {
        "unit": unit,
        "children": access.visible(OrgUnit, user).filter(parent=unit),
        "areas": access.visible(Area, user).filter(org_unit=unit),
        "equipment": access.visible(Equipment, user).filter(org_unit=unit).select_related("area"),
        "people": access.visible(Person, user).filter(org_unit=unit).select_related("user"),
    }
    return render(request, "orgs/unit.html", context)


@login_required
def unit_new(request: HttpRequest) -> HttpResponse:
    require_somewhere(request.user, MANAGE_ORG)
    parent = None
    if request.GET.get("parent"):
        parent = access.get_for_user(OrgUnit, request.user, request.GET["parent"], perm=MANAGE_ORG)
    form = forms.UnitForm(request.POST or None, user=request.user, initial={"parent": parent})

    def write(data: dict[str, Any]) -> OrgUnit:
        return services.create_unit(request.user, name=data["name"], kind=data["kind"], parent=data["parent"],
                                    code=data["code"], sort_order=data["sort_order"] or 0)

    return form_page(request, form, write, template="orgs/form.html",
                     context={"title": _("新建组织"), "back": parent or "orgs:tree"},
                     done=lambda u: _done(request, _("已创建组织“{name}”").format(name=u.name), u))


@login_required
def unit_edit(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = access.get_for_user(OrgUnit, request.user, unit_id, perm=MANAGE_ORG)
    initial = {"name": unit.name, "code": unit.code, "sort_order": unit.sort_order}
    form = forms.UnitForm(request.POST or None, user=request.user, editing=True, initial=initial)

    def write(data: dict[str, Any]) -> OrgUnit:
        return services.update_unit(request.user, unit, name=data["name"], code=data["code"],
                                    sort_order=data["sort_order"] or 0)

    return form_page(request, form, write, template="orgs/form.html",
                     context={"title": _("编辑组织"), "back": unit, "subject": unit},
                     done=lambda u: _done(request, _("已保存组织“{name}”").format(name=u.name), u))


@login_required
def unit_move(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = access.get_for_user(OrgUnit, request.user, unit_id, perm=MANAGE_ORG)
    form = forms.MoveForm(request.POST or None, user=request.user, unit=unit, initial={"parent": unit.parent_id})
    return form_page(request, form, lambda data: services.move_unit(request.user, unit, data["parent"]),
                     template="orgs/form.html",
                     context={"title": _("移动组织"), "back": unit, "subject": unit,
                              "intro": _("连同全部下级组织、区域、设备和人员一起移动。")},
                     done=lambda u: _done(request, _("已将“{name}”移到“{parent}”之下").format(
                         name=u.name, parent=u.parent.name), u))


def _confirm_delete(request: HttpRequest, obj: Any, delete: Any, *, back: Any, gone_to: str) -> HttpResponse:
    """GET asks for confirmation; POST deletes through the service or shows its refusal."""
    status, error = 200, None
    if request.method == "POST":
        try:
            with transaction.atomic():
                delete()
            return _done(request, _("已删除“{name}”").format(name=obj), gone_to)
        except DomainError as exc:
            status, error = exc.http_status, exc.message()
    return render(request, "orgs/confirm_delete.html", {"obj": obj, "back": resolve_url(back), "error": error},
                  status=status)


@login_required
def unit_delete(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = access.get_for_user(OrgUnit.objects.select_related("parent"), request.user, unit_id, perm=MANAGE_ORG)
    return _confirm_delete(request, unit, lambda: services.delete_unit(request.user, unit),
                           back=unit, gone_to=unit.parent.get_absolute_url() if unit.parent else "orgs:tree")


# --- areas ---------------------------------------------------------------------------------------

AREA_FLAGS = ("is_outdoor", "is_explosion_zone", "is_confined_space")


@login_required
def areas(request: HttpRequest) -> HttpResponse:
    unit, q = _unit_param(request), request.GET.get("q", "").strip()
    qs = _in_subtree(access.visible(Area, request.user).select_related("org_unit"), unit)
    qs = _search(qs, q, "name", "code")
    flags = [f for f in AREA_FLAGS if request.GET.get(f)]
    qs = qs.filter(**{f: True for f in flags}).annotate(n_equipment=Count("equipment"))
    qs = qs.order_by("org_unit__path", "name")  # GROUP BY drops Meta.ordering; paging needs one
    context = {"page": paginate(request, qs), "units": forms.units_for(request.user, "org.view"),
               "unit": unit, "q": q, "flags": flags}
    return render_list(request, "orgs/areas.html", "orgs/_area_rows.html", context)


@login_required
def area_detail(request: HttpRequest, area_id: int) -> HttpResponse:
    area = access.get_for_user(Area.objects.select_related("org_unit"), request.user, area_id)
    equipment = access.visible(Equipment, request.user).filter(area=area).select_related("org_unit")
    return render(request, "orgs/area.html", {"area": area, "equipment": equipment})


def _area_form_page(request: HttpRequest, area: Area | None, initial: dict[str, Any]) -> HttpResponse:
    form = forms.AreaForm(request.POST or None, user=request.user, initial=initial)

    def write(data: dict[str, Any]) -> Area:
        return services.save_area(request.user, area, **data)

    return form_page(request, form, write, template="orgs/form.html",
                     context={"title": _("编辑区域") if area else _("新建区域"), "back": area or "orgs:areas",
                              "subject": area},
                     done=lambda a: _done(request, _("已保存区域“{name}”").format(name=a.name), a))


@login_required
def area_new(request: HttpRequest) -> HttpResponse:
    require_somewhere(request.user, MANAGE_ORG)
    return _area_form_page(request, None, {"org_unit": _unit_param(request)})


@login_required
def area_edit(request: HttpRequest, area_id: int) -> HttpResponse:
    area = access.get_for_user(Area.objects.select_related("org_unit"), request.user, area_id, perm=MANAGE_ORG)
    initial = {f: getattr(area, f) for f in services.AREA_FIELDS} | {"org_unit": area.org_unit}
    return _area_form_page(request, area, initial)


@login_required
def area_delete(request: HttpRequest, area_id: int) -> HttpResponse:
    area = access.get_for_user(Area.objects.select_related("org_unit"), request.user, area_id, perm=MANAGE_ORG)
    return _confirm_delete(request, area, lambda: services.delete_object(request.user, area),
                           back=area, gone_to="orgs:areas")


# --- equipment -----------------------------------------------------------------------------------


def _equipment_filtered(request: HttpRequest) -> tuple[QuerySet, dict[str, Any]]:
    unit, q, state = _unit_param(request), request.GET.get("q", "").strip(), request.GET.get("active", "")
    qs = _in_subtree(access.visible(Equipment, request.user).select_related("org_unit", "area"), unit)
    area = access.visible(Area, request.user).filter(pk=request.GET["area"]).first() \
        if request.GET.get("area", "").isdigit() else None
    if area:
        qs = qs.filter(area=area)
    if state in ("1", "0"):
        qs = qs.filter(is_active=state == "1")
    return _search(qs, q, "code", "name", "model"), {"unit": unit, "area": area, "q": q, "active": state}


@login_required
def equipment_list(request: HttpRequest) -> HttpResponse:
    qs, filters = _equipment_filtered(request)
    if request.GET.get("format") == "xlsx":
        return exports.xlsx_response(_("设备台账"), [_("设备编号"), _("名称"), _("型号规格"), _("所属组织"),
                                                  _("区域"), _("在用")], (
            (e.code, e.name, e.model, e.org_unit.name, e.area.name if e.area else "", _("是") if e.is_active else _("否"))
            for e in qs))
    context = {"page": paginate(request, qs), "units": forms.units_for(request.user, "org.view"),
               "areas": access.visible(Area, request.user), **filters}
    return render_list(request, "orgs/equipment_list.html", "orgs/_equipment_rows.html", context)


@login_required
def equipment_detail(request: HttpRequest, equipment_id: int) -> HttpResponse:
    equipment = access.get_for_user(Equipment.objects.select_related("org_unit", "area"), request.user, equipment_id)
    return render(request, "orgs/equipment.html", {"equipment": equipment})


@login_required
def equipment_label(request: HttpRequest, equipment_id: int) -> HttpResponse:
    equipment = access.get_for_user(Equipment.objects.select_related("org_unit", "area"), request.user, equipment_id)
    return render(request, "orgs/equipment_label.html", {"equipment": equipment})


@login_required
def equipment_qr(request: HttpRequest, equipment_id: int) -> HttpResponse:
    equipment = access.get_for_user(Equipment, request.user, equipment_id)
    return exports.qr_svg_response(equipment.scan_url())


def _equipment_form_page(request: HttpRequest, equipment: Equipment | None, initial: dict[str, Any]) -> HttpResponse:
    form = forms.EquipmentForm(request.POST or None, user=request.user, initial=initial)

    def write(data: dict[str, Any]) -> Equipment:
        return services.save_equipment(request.user, equipment, **data)

    return form_page(request, form, write, template="orgs/form.html",
                     context={"title": _("编辑设备") if equipment else _("新建设备"),
                              "back": equipment or "orgs:equipment_list", "subject": equipment},
                     done=lambda e: _done(request, _("已保存设备“{name}”").format(name=e), e))


@login_required
def equipment_new(request: HttpRequest) -> HttpResponse:
    require_somewhere(request.user, MANAGE_ORG)
    return _equipment_form_page(request, None, {"org_unit": _unit_param(request), "is_active": True})


@login_required
def equipment_edit(request: HttpRequest, equipment_id: int) -> HttpResponse:
    equipment = access.get_for_user(Equipment, request.user, equipment_id, perm=MANAGE_ORG)
    initial = {f: getattr(equipment, f) for f in ("org_unit", "area", "code", "name", "model", "is_active")}
    return _equipment_form_page(request, equipment, initial)


@login_required
def equipment_delete(request: HttpRequest, equipment_id: int) -> HttpResponse:
    equipment = access.get_for_user(Equipment, request.user, equipment_id, perm=MANAGE_ORG)
    return _confirm_delete(request, equipment, lambda: services.delete_object(request.user, equipment),
                           back=equipment, gone_to="orgs:equipment_list")


# --- people --------------------------------------------------------------------------------------


def _contractor_param(request: HttpRequest) -> tuple[str, Contractor | None]:
    """?contractor=none (our own employees) or ?contractor=<id> of a visible contractor; else no filter."""
    value = request.GET.get("contractor", "")
    if value == "none":
        return value, None
    found = access.visible(Contractor, request.user).filter(pk=value).first() if value.isdigit() else None
    return (value, found) if found else ("", None)


def _people_filtered(request: HttpRequest) -> tuple[QuerySet, dict[str, Any]]:
    unit, q, state = _unit_param(request), request.GET.get("q", "").strip(), request.GET.get("active", "")
    qs = _in_subtree(access.visible(Person, request.user).select_related("org_unit", "user", "contractor"), unit)
    if state in ("1", "0"):
        qs = qs.filter(is_active=state == "1")
    kind, contractor = _contractor_param(request)
    if kind:
        qs = qs.filter(contractor=contractor)  # None: employees only
    filters = {"unit": unit, "q": q, "active": state, "contractor": kind, "contractor_obj": contractor,
               "contractors": access.visible(Contractor, request.user).order_by("name")}
    return _search(qs, q, "name", "employee_no", "phone", "job_title"), filters


@login_required
def people(request: HttpRequest) -> HttpResponse:
    qs, filters = _people_filtered(request)
    if request.GET.get("format") == "xlsx":
        return exports.xlsx_response(_("人员名册"), [_("工号"), _("姓名"), _("手机号"), _("所属组织"), _("承包商"),
                                                  _("岗位"), _("入职日期"), _("在职"), _("登录名")], (
            (p.employee_no, p.name, p.phone, p.org_unit.name, p.contractor.name if p.contractor else "",
             p.job_title, p.hired_on, _("是") if p.is_active else _("否"), p.user.username if p.user else "")
            for p in qs))
    context = {"page": paginate(request, qs), "units": forms.units_for(request.user, "org.view"), **filters}
    return render_list(request, "orgs/people.html", "orgs/_people_rows.html", context)


def _person_page(request: HttpRequest, person: Person, grant_form: forms.GrantForm | None = None,
                 status: int = 200) -> HttpResponse:
    grants = access.visible(RoleGrant, request.user).filter(person=person).select_related("role", "org_unit")
    context = {"person": person, "grants": grants, "id_number": id_number_for(request.user, person),
               "grant_form": grant_form or forms.GrantForm(user=request.user, initial={"org_unit": person.org_unit})}
    return render(request, "orgs/person.html", context, status=status)


@login_required
def person_detail(request: HttpRequest, person_id: int) -> HttpResponse:
    person = access.get_for_user(Person.objects.select_related("org_unit", "user", "contractor"), request.user,
                                 person_id)
    return _person_page(request, person)


@login_required
def person_photo(request: HttpRequest, person_id: int) -> HttpResponse:
    person = access.get_for_user(Person, request.user, person_id)
    return exports.photo_response(person)


def _write_person(request: HttpRequest, person: Person | None, data: dict[str, Any]) -> Person:
    """Person fields, then login and photo: one transaction, so a refused photo saves nothing."""
    person = services.save_person(request.user, person, org_unit=data["org_unit"], name=data["name"],
                                  employee_no=data["employee_no"], phone=data["phone"], is_active=data["is_active"],
                                  contractor=data["contractor"], hired_on=data["hired_on"],
                                  id_number=data["id_number"], job_title=data["job_title"])
    current = person.user.username if person.user_id else ""
    if data["password"] or (data["username"] and data["username"] != current):
        services.set_login(request.user, person, username=data["username"] or current, password=data["password"])
    if data["photo"]:
        services.set_photo(request.user, person, data["photo"])
    return person


def _person_form_page(request: HttpRequest, person: Person | None, initial: dict[str, Any]) -> HttpResponse:
    form = forms.PersonForm(request.POST or None, request.FILES or None, user=request.user, initial=initial)
    return form_page(request, form, lambda data: _write_person(request, person, data), template="orgs/form.html",
                     context={"title": _("编辑人员") if person else _("新建人员"), "back": person or "orgs:people",
                              "subject": person, "multipart": True},
                     done=lambda p: _done(request, _("已保存人员“{name}”").format(name=p.name), p))


@login_required
def person_new(request: HttpRequest) -> HttpResponse:
    require_somewhere(request.user, MANAGE_PEOPLE)
    return _person_form_page(request, None, {"org_unit": _unit_param(request), "is_active": True})


@login_required
def person_edit(request: HttpRequest, person_id: int) -> HttpResponse:
    person = access.get_for_user(Person.objects.select_related("user"), request.user, person_id, perm=MANAGE_PEOPLE)
    fields = ("org_unit", "name", "employee_no", "phone", "is_active", "contractor", "hired_on", "id_number",
              "job_title")
    initial = {f: getattr(person, f) for f in fields}
    initial["username"] = person.user.username if person.user_id else ""
    return _person_form_page(request, person, initial)


@login_required
@require_POST
def grant_add(request: HttpRequest, person_id: int) -> HttpResponse:
    person = access.get_for_user(Person.objects.select_related("org_unit", "user"), request.user, person_id)
    form = forms.GrantForm(request.POST, user=request.user)
    if not form.is_valid():
        return _person_page(request, person, form, status=400)
    grant, status = run_write(form, lambda: services.grant_role(request.user, person, form.cleaned_data["role"],
                                                                form.cleaned_data["org_unit"]))
    if grant is None:
        return _person_page(request, person, form, status=status)
    return _done(request, _("已授予“{role}”（{unit}）").format(role=grant.role.label, unit=grant.org_unit.name), person)


@login_required
@require_POST
def grant_revoke(request: HttpRequest, grant_id: int) -> HttpResponse:
    grant = access.get_for_user(RoleGrant.objects.select_related("person__user", "role", "org_unit"),
                                request.user, grant_id)
    with transaction.atomic():
        services.revoke_grant(request.user, grant)
    return _done(request, _("已撤销“{role}”（{unit}）").format(role=grant.role.label, unit=grant.org_unit.name),
                 grant.person)


# --- roles ---------------------------------------------------------------------------------------


@login_required
def roles(request: HttpRequest) -> HttpResponse:
    rows = list(access.visible_roles(request.user).select_related("owner"))
    for role in rows:
        role.permission_labels = [str(PERMISSIONS.get(code, code)) for code in role.permissions]
        # Built-in texts come from the catalogue so they follow the page language.
        builtin = BUILTIN_ROLES.get(role.code) if role.is_builtin else None
        role.description_label = str(builtin.description) if builtin else role.description
    return render(request, "orgs/roles.html", {"roles": rows})


def _role_form_page(request: HttpRequest, role: Role | None, initial: dict[str, Any]) -> HttpResponse:
    form = forms.RoleForm(request.POST or None, user=request.user, initial=initial)
    return form_page(request, form, lambda data: services.save_role(request.user, role, **data),
                     template="orgs/form.html",
                     context={"title": _("编辑角色") if role else _("新建角色"), "back": "orgs:roles", "subject": role},
                     done=lambda r: _done(request, _("已保存角色“{name}”").format(name=r.name), "orgs:roles"))


@login_required
def role_new(request: HttpRequest) -> HttpResponse:
    require_somewhere(request.user, MANAGE_ROLES)
    return _role_form_page(request, None, {})


@login_required
def role_edit(request: HttpRequest, role_id: int) -> HttpResponse:
    role = access.visible_roles(request.user).select_related("owner").filter(pk=role_id).first()
    if role is None:
        raise NotFound()
    if role.is_builtin:
        raise Forbidden(_("内置角色不能修改"))
    access.require(request.user, MANAGE_ROLES, role.owner)
    initial = {f: getattr(role, f) for f in ("owner", "code", "name", "description", "permissions")}
    return _role_form_page(request, role, initial)
