"""Refusals with stable codes and translatable Chinese messages, without importing Django.

Messages are msgids with named parameters; they are translated when read (not when raised)
so the Django layer can plug in ``gettext`` once and switch language per request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _identity(text: str) -> str:
    return text


_translate: Callable[[str], str] = _identity


def set_translator(fn: Callable[[str], str] | None) -> None:
    """Install a translator, e.g. ``django.utils.translation.gettext``; None restores identity."""
    global _translate
    _translate = fn or _identity


def gettext(msgid: str) -> str:
    return _translate(msgid)


def gettext_noop(msgid: str) -> str:
    """Marks msgids for ``makemessages`` (it knows this keyword) without translating them."""
    return msgid



MESSAGES: dict[str, str] = {
    "not_started": gettext_noop("作业尚未开始"),
    "already_started": gettext_noop("作业已开始，不能重复申请"),
    "area_required": gettext_noop("请选择作业区域"),
    "area_frozen": gettext_noop("作业区域「{area}」已冻结，禁止作业"),
    "weather": gettext_noop("天气条件不允许室外作业：{reason}"),
    "not_qualified": gettext_noop("{person}不具备「{work_type}」作业资格：{reason}"),
    "not_named": gettext_noop("{person}未登记在本作业中"),
    "distinct_actor": gettext_noop("做过「{other}」的人不能再做「{step}」"),
    "crew_withdrawn": gettext_noop("「{label}」已全部因资格失效撤出，不能恢复；请取消本作业并重新申请"),
    "conflict_refused": gettext_noop("该区域正在进行冲突作业「{other}」，不能同时作业"),
    "conflict_needs_endorsement": gettext_noop("该区域正在进行冲突作业「{other}」，需区域负责人确认"),
    "endorser_not_owner": gettext_noop("{person}不是该区域负责人，不能确认同时作业"),
    "unknown_step": gettext_noop("没有步骤「{step}」"),
    "unknown_action": gettext_noop("不支持的操作「{action}」"),
    "predecessor_pending": gettext_noop("请先完成「{step}」"),
    "returned_pending": gettext_noop("已退回至「{step}」（{reason}），请先重新提交"),
    "already_done": gettext_noop("「{step}」已完成"),
    "wrong_actor": gettext_noop("您不是「{step}」的办理人"),
    "own_permit": gettext_noop("申请人不能审批自己的作业票"),
    "already_approved": gettext_noop("您已签署过「{step}」"),
    "not_approval": gettext_noop("「{step}」不是审批步骤"),
    "not_task": gettext_noop("「{step}」是审批步骤，请使用同意、退回或驳回"),
    "reject_not_allowed": gettext_noop("「{step}」不能驳回，只能同意或退回"),
    "bad_return_target": gettext_noop("「{step}」不能退回到「{target}」"),
    "reason_required": gettext_noop("请填写原因"),
    "reading_expired": gettext_noop("{step}已超过{minutes}分钟，请重新分析"),
    "too_early": gettext_noop("「{after}」完成后须间隔{minutes}分钟，请于{at}后办理「{step}」"),
    "too_late": gettext_noop("「{step}」须在「{after}」完成后{minutes}分钟内办理，已超时"),
    "repeat_too_early": gettext_noop("两次「{step}」间隔不足{minutes}分钟，下次可在{at}后办理"),
    "repeat_ended": gettext_noop("「{until}」已完成，不再办理「{step}」"),
    "expired": gettext_noop("作业票已于{at}过期，只能关闭"),
    "not_expired": gettext_noop("作业票尚未过期"),
    "no_extension": gettext_noop("该作业票不允许延期"),
    "extension_too_long": gettext_noop("累计延期不能超过{minutes}分钟"),
    "extension_invalid": gettext_noop("请填写延期时长"),
    "cancelled": gettext_noop("作业已取消，只能查看"),
    "closed": gettext_noop("作业已关闭，只能查看"),
    "rejected": gettext_noop("作业已被驳回，只能查看"),
    "suspended": gettext_noop("作业已暂停，只能停止或关闭"),
    "not_suspended": gettext_noop("作业未暂停"),
    "resume_redo": gettext_noop("恢复或交接后须先重新完成「{step}」"),
    "not_permitted": gettext_noop("您无权执行此操作"),
    "person_required": gettext_noop("请指定接班人"),
    "steps_pending": gettext_noop("尚有步骤未完成：「{step}」"),
    "field_required": gettext_noop("请填写「{label}」"),
    "field_unknown": gettext_noop("没有字段「{label}」"),
    "field_hidden": gettext_noop("「{label}」不适用于当前选择，请勿填写"),
    "field_invalid": gettext_noop("「{label}」格式不正确"),
    "number_invalid": gettext_noop("「{label}」必须是数字"),
    "below_min": gettext_noop("「{label}」不能小于{min}{unit}"),
    "above_max": gettext_noop("「{label}」不能大于{max}{unit}"),
    "bad_choice": gettext_noop("「{label}」的选项「{value}」无效"),
    "checklist_incomplete": gettext_noop("安全措施「{item}」须确认为已落实或不适用"),
    "photo_unknown": gettext_noop("没有照片项「{slot}」"),
    "photo_min": gettext_noop("「{slot}」至少需要{min}张照片"),
    "photo_max": gettext_noop("「{slot}」最多{max}张照片"),
    "presence_photo": gettext_noop("审批人须上传现场照片以证明在场"),
}


class Refusal(Exception):
    """An action the rules refuse: stable ``code``, msgid, params and the offending field."""

    def __init__(self, code: str, params: dict[str, Any] | None = None, field: str | None = None):
        self.code = code
        self.msgid = MESSAGES[code]
        self.params = dict(params or {})
        self.field = field
        super().__init__(code)

    @property
    def message(self) -> str:
        return gettext(self.msgid).format(**self.params)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Refusal) and self.as_tuple() == other.as_tuple()

    __hash__ = Exception.__hash__

    def as_tuple(self) -> tuple:
        return (self.code, tuple(sorted(self.params.items())), self.field)

    def as_dict(self) -> dict[str, Any]:
        """The API error shape of DESIGN §6, plus params for clients that format themselves."""
        return {"code": self.code, "message": self.message, "field": self.field, "params": self.params}


def refuse(code: str, field: str | None = None, **params: Any) -> Refusal:
    return Refusal(code, params, field)
