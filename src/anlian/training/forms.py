"""Page forms. They only parse input; every rule is enforced by `training.services`.

Org-unit choices list only units where the user manages training, so a foreign id posted by
hand is refused as an invalid choice before it reaches a service.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from anlian.orgs.forms import UnitChoiceField, units_for
from anlian.orgs.models import OrgUnit
from anlian.orgs.permissions import MANAGE_TRAINING
from anlian.training.models import CourseLevel

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class CourseForm(forms.Form):
    org_unit = UnitChoiceField(label=_("所属组织"), queryset=OrgUnit.objects.none())
    code = forms.CharField(label=_("课程编号"), max_length=40)
    name = forms.CharField(label=_("课程名称"), max_length=100)
    level = forms.ChoiceField(label=_("类别"), choices=CourseLevel.choices,
                              help_text=_("公司级、车间级、班组级和年度再培训的学时计入人员的培训任务"))
    topic = forms.SlugField(label=_("专题"), max_length=40, required=False,
                            help_text=_("可选：如 confined_space，作业资格要求按专题核对培训"))
    hours = forms.DecimalField(label=_("学时"), max_digits=4, decimal_places=1, min_value=0.1, max_value=200)
    pass_score = forms.IntegerField(label=_("合格分数"), min_value=0, max_value=100, required=False,
                                    help_text=_("留空表示不考试，出勤即合格"))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units_for(user, MANAGE_TRAINING)


class SessionForm(forms.Form):
    starts_at = forms.DateTimeField(label=_("开始时间"), widget=DATETIME)
    ends_at = forms.DateTimeField(label=_("结束时间"), widget=DATETIME)
    place = forms.CharField(label=_("地点"), max_length=100, required=False)
    trainer = forms.CharField(label=_("授课人"), max_length=50, required=False)


class PolicyForm(forms.Form):
    high_risk = forms.BooleanField(label=_("高危行业（矿山、危险化学品、烟花爆竹、金属冶炼）"), required=False,
                                   help_text=_("三级安全教育每级24学时，共72学时；否则每级8学时，共24学时"))
    deadline_days = forms.IntegerField(label=_("三级教育完成期限（入职后天数）"), min_value=1, max_value=365)
    refresher_hours = forms.DecimalField(label=_("年度再培训学时"), max_digits=4, decimal_places=1,
                                         min_value=0.1, max_value=200)


class RefresherForm(forms.Form):
    org_unit = UnitChoiceField(label=_("范围"), queryset=OrgUnit.objects.none(),
                               help_text=_("为该组织及其下级的全部在职人员安排；已安排的人不重复"))
    year = forms.TypedChoiceField(label=_("年度"), coerce=int)

    def __init__(self, *args: Any, user: Any, years: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units_for(user, MANAGE_TRAINING)
        self.fields["year"].choices = [(y, str(y)) for y in years]
