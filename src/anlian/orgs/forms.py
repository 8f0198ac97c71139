"""Page forms. They only parse input; every rule is enforced by `orgs.services`.

Choice fields list only what the user may see (or manage), so a foreign id posted by hand is
refused as an invalid choice before it reaches a service.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from anlian.orgs import access
from anlian.orgs.models import Area, Contractor, OrgKind, OrgUnit, Role
from anlian.orgs.permissions import GRANT_ROLES, MANAGE_ORG, MANAGE_PEOPLE, MANAGE_ROLES, PERMISSIONS


class UnitChoiceField(forms.ModelChoiceField):
    """An org unit picker that shows the tree shape in a flat <select>."""

    def label_from_instance(self, obj: OrgUnit) -> str:
        return f"{'　' * obj.depth}{obj.name}（{obj.get_kind_display()}）"


def units_for(user: Any, perm: str):
    return access.visible(OrgUnit, user, perm).order_by("path")


class AreaChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Area) -> str:
        return f"{obj.name}（{obj.org_unit.name}）"


class UnitForm(forms.Form):
    parent = UnitChoiceField(label=_("上级组织"), queryset=OrgUnit.objects.none(), required=False)
    name = forms.CharField(label=_("名称"), max_length=100)
    kind = forms.ChoiceField(label=_("层级"), choices=OrgKind.choices)
    code = forms.CharField(label=_("编码"), max_length=40, required=False)
    sort_order = forms.IntegerField(label=_("排序"), initial=0, required=False)

    def __init__(self, *args: Any, user: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            # The level and the place in the tree change only through "move" (they shape the tree).
            del self.fields["parent"], self.fields["kind"]
        else:
            self.fields["parent"].queryset = units_for(user, MANAGE_ORG)
            self.fields["parent"].required = not access.scope_of(user).is_superuser


class MoveForm(forms.Form):
    parent = UnitChoiceField(label=_("新的上级组织"), queryset=OrgUnit.objects.none())

    def __init__(self, *args: Any, user: Any, unit: OrgUnit, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Descendants stay in the list on purpose: the service refuses them with the reason.
        self.fields["parent"].queryset = units_for(user, MANAGE_ORG).exclude(pk=unit.pk)


class JSONListField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 4, "placeholder": "[[30.01, 120.01], [30.02, 120.01], [30.02, 120.02]]"})

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if not value:
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise forms.ValidationError(_("不是有效的 JSON")) from None

    def prepare_value(self, value: Any) -> Any:
        return json.dumps(value) if isinstance(value, list) else value


class AreaForm(forms.Form):
    org_unit = UnitChoiceField(label=_("所属组织"), queryset=OrgUnit.objects.none())
    name = forms.CharField(label=_("名称"), max_length=100)
    code = forms.CharField(label=_("编码"), max_length=40, required=False)
    is_outdoor = forms.BooleanField(label=_("室外"), required=False)
    is_explosion_zone = forms.BooleanField(label=_("防爆区"), required=False)
    is_confined_space = forms.BooleanField(label=_("受限空间"), required=False)
    center_lat = forms.FloatField(label=_("中心纬度"), required=False)
    center_lng = forms.FloatField(label=_("中心经度"), required=False)
    radius_m = forms.IntegerField(label=_("半径（米）"), required=False)
    polygon = JSONListField(label=_("多边形"), required=False,
                            help_text=_("可选：至少3个 [纬度, 经度] 点；填写后以多边形为电子围栏"))
    description = forms.CharField(label=_("说明"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units_for(user, MANAGE_ORG)


class EquipmentForm(forms.Form):
    org_unit = UnitChoiceField(label=_("所属组织"), queryset=OrgUnit.objects.none())
    area = AreaChoiceField(label=_("区域"), queryset=Area.objects.none(), required=False)
    code = forms.CharField(label=_("设备编号"), max_length=40)
    name = forms.CharField(label=_("名称"), max_length=100)
    model = forms.CharField(label=_("型号规格"), max_length=100, required=False)
    is_active = forms.BooleanField(label=_("在用"), required=False, initial=True)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units_for(user, MANAGE_ORG)
        self.fields["area"].queryset = access.visible(Area, user).select_related("org_unit")


class ContractorChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Contractor) -> str:
        return f"{obj.name}（{obj.company.name}）"


class PersonForm(forms.Form):
    org_unit = UnitChoiceField(label=_("所属组织"), queryset=OrgUnit.objects.none())
    name = forms.CharField(label=_("姓名"), max_length=50)
    employee_no = forms.CharField(label=_("工号"), max_length=40)
    phone = forms.CharField(label=_("手机号"), max_length=20, required=False)
    # Only contractors the user may see; one of another company than the person's is refused by
    # orgs.services.save_person with the reason.
    contractor = ContractorChoiceField(label=_("承包商"), queryset=Contractor.objects.none(), required=False,
                                       empty_label=_("（本单位员工）"),
                                       help_text=_("承包商人员请选择所属承包商"))
    job_title = forms.CharField(label=_("岗位"), max_length=50, required=False)
    hired_on = forms.DateField(label=_("入职日期"), required=False,
                               widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    id_number = forms.CharField(label=_("身份证号"), max_length=18, required=False,
                                help_text=_("18位，末位校验码会被核对"))
    is_active = forms.BooleanField(label=_("在职"), required=False, initial=True)
    username = forms.CharField(label=_("登录名"), max_length=150, required=False,
                               help_text=_("可选：填写登录名和密码后，此人可以登录安链"))
    password = forms.CharField(label=_("新密码"), required=False, strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                               help_text=_("留空则不修改密码"))
    # A plain file field: the real type is checked by core.images, which names the reason.
    photo = forms.FileField(label=_("照片"), required=False, help_text=_("JPEG、PNG 或 WebP 图片"),
                            widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units_for(user, MANAGE_PEOPLE)
        contractors = access.visible(Contractor, user)
        current = self.initial.get("contractor")
        if current is not None:  # kept even when managed outside the editor's view, so a save keeps it
            contractors = contractors | Contractor.objects.filter(pk=current.pk)
        self.fields["contractor"].queryset = contractors.select_related("company").order_by("company__path", "name")


class GrantForm(forms.Form):
    role = forms.ModelChoiceField(label=_("角色"), queryset=Role.objects.none())
    org_unit = UnitChoiceField(label=_("适用范围"), queryset=OrgUnit.objects.none())

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].queryset = access.visible_roles(user)
        self.fields["org_unit"].queryset = units_for(user, GRANT_ROLES)


class RoleForm(forms.Form):
    owner = UnitChoiceField(label=_("所属组织"), queryset=OrgUnit.objects.none(),
                            help_text=_("角色只能在此组织及其下级授予"))
    code = forms.CharField(label=_("代码"), max_length=40, help_text=_("字母、数字、下划线或连字符"))
    name = forms.CharField(label=_("名称"), max_length=60)
    description = forms.CharField(label=_("说明"), max_length=200, required=False)
    permissions = forms.MultipleChoiceField(label=_("权限"), choices=list(PERMISSIONS.items()),
                                            widget=forms.CheckboxSelectMultiple, required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = units_for(user, MANAGE_ROLES)
