"""Forms of the notification pages: the delivery log's filters and a channel's settings.

A channel form is built from its kind's settings (`delivery.settings_of`). Secrets start empty
and say whether one is saved: the page never holds a secret, and leaving it empty keeps it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from anlian.notify import delivery
from anlian.notify.models import Channel, DeliveryStatus

MAX_TEXT = 50


class LogFilter(forms.Form):
    """The log's query string; a bad value is dropped, never an error page."""

    person = forms.CharField(label=_("收件人"), required=False, max_length=MAX_TEXT)
    q = forms.CharField(label=_("消息内容"), required=False, max_length=MAX_TEXT)
    channel = forms.CharField(label=_("渠道"), required=False, max_length=20)
    status = forms.ChoiceField(label=_("状态"), required=False, choices=[("", _("全部")), *DeliveryStatus.choices])
    start = forms.DateField(label=_("日期从"), required=False)
    end = forms.DateField(label=_("至"), required=False)

    def __init__(self, data: Any, *, channels: Any) -> None:
        super().__init__(data)
        self.channels = channels

    def filters(self) -> dict[str, Any]:
        self.is_valid()
        values = {name: self.cleaned_data.get(name) for name in self.fields if name not in self.errors}
        channel = values.get("channel") or ""
        if channel != "inbox" and not (channel.isdigit() and self.channels.filter(pk=int(channel)).exists()):
            values["channel"] = ""  # another company's channel is ignored like a missing one
        return {k: v for k, v in values.items() if v not in (None, "")}


class ChannelForm(forms.Form):
    name = forms.CharField(label=_("名称"), max_length=60)
    is_active = forms.BooleanField(label=_("启用"), required=False, initial=True)

    def __init__(self, *args: Any, kind: str, channel: Channel | None = None, **kwargs: Any) -> None:
        if channel is not None:
            shown = {k: ", ".join(v) if isinstance(v, list) else v for k, v in delivery.masked(channel).items()}
            kwargs.setdefault("initial", {"name": channel.name, "is_active": channel.is_active, **shown})
        super().__init__(*args, **kwargs)
        self.kind = kind
        stored = channel.config if channel else {}
        for s in delivery.settings_of(kind):
            self.fields[s.key] = self._field(s, saved=bool(stored.get(s.key)))

    @staticmethod
    def _field(s: delivery.Setting, saved: bool) -> forms.Field:
        help_text = s.help
        if s.kind == "bool":
            return forms.BooleanField(label=s.label, required=False, help_text=help_text)
        if s.kind == "choice":
            return forms.ChoiceField(label=s.label, required=False, choices=[("", "—"), *s.choices], help_text=help_text)
        if s.secret:
            # Never rendered with a value: a saved secret shows only as "saved", empty keeps it.
            help_text = _("已保存；留空则不修改") if saved else help_text
            return forms.CharField(label=s.label, required=False, max_length=500, help_text=help_text,
                                   widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}))
        return forms.CharField(label=s.label, required=False, max_length=500, help_text=help_text)

    def config(self) -> dict[str, Any]:
        return {s.key: self.cleaned_data.get(s.key) for s in delivery.settings_of(self.kind)}
