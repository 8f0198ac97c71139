"""The log page's filters. Unlike lists that quietly drop junk, a bad filter here answers 400 with
the reason: an auditor must never read "nothing changed" off a filter that was ignored."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from anlian.audit import registry
from anlian.audit.entries import MAX_TEXT, Filters
from anlian.audit.models import Action


class LogFilter(forms.Form):
    company = forms.ModelChoiceField(label=_("公司"), queryset=None, required=False, empty_label=_("全部"))
    who = forms.CharField(label=_("操作人"), required=False, max_length=MAX_TEXT)
    kind = forms.ChoiceField(label=_("对象类型"), required=False)
    object = forms.CharField(label=_("对象"), required=False, max_length=MAX_TEXT)
    action = forms.ChoiceField(label=_("操作"), required=False, choices=[("", _("全部")), *Action.choices])
    start = forms.DateField(label=_("日期从"), required=False)
    end = forms.DateField(label=_("至"), required=False)
    q = forms.CharField(label=_("内容包含"), required=False, max_length=MAX_TEXT)

    def __init__(self, data: Any, *, companies: Any) -> None:
        super().__init__(data)
        self.fields["company"].queryset = companies
        self.fields["kind"].choices = [("", _("全部")), *registry.kinds()]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("start", _("开始日期不能晚于结束日期"))
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(company=data.get("company"), who=data.get("who") or "", kind=data.get("kind") or "",
                       object=data.get("object") or "", action=data.get("action") or "",
                       start=data.get("start"), end=data.get("end"), q=data.get("q") or "")

    def first_error(self) -> str:
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else ""
            return f"{label}：{errors[0]}" if label else str(errors[0])
        return ""
