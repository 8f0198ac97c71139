"""Page forms for workflow templates. They parse and check input; `flows.services` writes.

A template's source is checked here with `checking.check` so the page can list every problem in
Chinese with its place; the services check it again (with the engine) before anything is stored.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from anlian.flows import checking
from anlian.flows.checking import MAX_SOURCE_BYTES, Problem
from anlian.orgs.forms import UnitChoiceField, units_for
from anlian.orgs.models import OrgUnit
from anlian.orgs.permissions import MANAGE_ORG

KEY = re.compile(r"^[a-z][a-z0-9_-]*$")


def source_widget(**attrs: Any) -> forms.Textarea:
    return forms.Textarea(attrs={"class": "yaml", "spellcheck": "false", "autocomplete": "off",
                                 "autocapitalize": "off", "wrap": "off", "rows": 30, **attrs})


class SourceChecked(forms.Form):
    """A form holding template source: after `is_valid()`, `problems` lists what is wrong with it,
    `template` is the parsed template, and `status` is the HTTP status for a refusal."""

    problems: tuple[Problem, ...] = ()
    template = None
    status = 400

    def check_source(self, source: str) -> str:
        result = checking.check(source)
        if not result.ok:
            self.problems = result.problems
            self.status = 413 if len(source.encode("utf-8", errors="replace")) > MAX_SOURCE_BYTES else 422
            raise forms.ValidationError(gettext("模板有 {n} 处错误，请修改后再保存").format(n=len(result.problems)),
                                        code="template_invalid")
        self.template = result.template
        return source


class EditForm(SourceChecked):
    source = forms.CharField(label=_("模板内容（YAML）"), strip=False, widget=source_widget())

    def clean_source(self) -> str:
        return self.check_source(self.cleaned_data["source"])


def decode_upload(upload: UploadedFile) -> str:
    """The text of an uploaded template file, or a ValidationError that says why it is not one."""
    if upload.size > MAX_SOURCE_BYTES:
        raise forms.ValidationError(str(checking.too_large(upload.size)), code="too_large")
    data = upload.read(MAX_SOURCE_BYTES + 1)
    if b"\x00" in data:
        raise forms.ValidationError(gettext("这不是文本文件，请上传 UTF-8 编码的 .yaml 模板文件"), code="binary")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise forms.ValidationError(gettext("文件不是 UTF-8 编码（第 {offset} 字节无法识别），请用 UTF-8 另存后再导入")
                                    .format(offset=exc.start + 1), code="encoding") from None


class ImportForm(SourceChecked):
    owner = UnitChoiceField(label=_("所属组织"), queryset=OrgUnit.objects.none(),
                            help_text=_("模板在此组织及其下级可用；若已有相同代码的模板，导入为其新版本"))
    file = forms.FileField(label=_("模板文件"), required=False, help_text=_("UTF-8 编码的 .yaml 文件"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".yaml,.yml,application/x-yaml,text/yaml"}))
    source = forms.CharField(label=_("或粘贴模板内容（YAML）"), required=False, strip=False,
                             widget=source_widget(rows=18))
    publish = forms.BooleanField(label=_("导入后立即发布"), required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = units_for(user, MANAGE_ORG)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload, pasted = data.get("file"), data.get("source") or ""
        if "file" in self.errors:
            return data
        if upload and pasted.strip():
            raise forms.ValidationError(gettext("请只选择文件或只粘贴内容，不要同时提供"), code="both")
        if upload:
            try:
                text = decode_upload(upload)
            except forms.ValidationError as exc:
                self.status = 413 if exc.code == "too_large" else 400
                self.add_error("file", exc)
                return data
        elif pasted.strip():
            text = pasted
        else:
            raise forms.ValidationError(gettext("请选择模板文件或粘贴模板内容"), code="empty")
        try:
            data["text"] = self.check_source(text)
        except forms.ValidationError as exc:
            self.add_error("file" if upload else "source", exc)
        return data


class CopyForm(forms.Form):
    owner = UnitChoiceField(label=_("复制到组织"), queryset=OrgUnit.objects.none())
    key = forms.CharField(label=_("新模板代码"), max_length=60,
                          help_text=_("小写字母开头，由小写字母、数字、- 或 _ 组成，例如 hot-work-2-a"))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = units_for(user, MANAGE_ORG)

    def clean_key(self) -> str:
        key = self.cleaned_data["key"].strip()
        if not KEY.match(key):
            raise forms.ValidationError(gettext("代码只能用小写字母开头，由小写字母、数字、- 或 _ 组成"))
        return key
