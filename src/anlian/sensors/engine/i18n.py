"""Translatable Chinese texts of the sensor rule engine, without importing Django.

As in ``anlian.flows.core.i18n``: texts are msgids with named parameters, translated when read
(not when produced), so the Django side installs ``gettext`` once with :func:`set_translator`
and a transition or a refused reading can be shown in the reader's language.
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
    """Marks msgids for ``makemessages`` without translating them."""
    return msgid


MESSAGES: dict[str, str] = {
    # -- readings refused by the parser -----------------------------------------------------
    "batch_too_large": gettext_noop("数据包过大（{size}字节，上限{limit}字节）"),
    "batch_too_many": gettext_noop("数据包条目过多（{count}条，上限{limit}条）"),
    "batch_not_json": gettext_noop("数据包不是有效的JSON：{detail}"),
    "batch_not_text": gettext_noop("数据包不是UTF-8文本"),
    "batch_shape": gettext_noop("数据包应为读数对象、读数对象列表或设备对象"),
    "item_shape": gettext_noop("条目应为对象"),
    "item_unknown": gettext_noop("条目含未知字段「{key}」"),
    "point_missing": gettext_noop("缺少测点编号（point）"),
    "point_invalid": gettext_noop("测点编号须为1～{limit}个字符的文本，且不含控制字符"),
    "device_invalid": gettext_noop("设备编号须为1～{limit}个字符的文本，且不含控制字符"),
    "values_shape": gettext_noop("values 应为「测点编号: 数值」的对象"),
    "value_missing": gettext_noop("缺少数值（value）"),
    "value_not_number": gettext_noop("数值须为数字（收到{got}）"),
    "value_not_finite": gettext_noop("数值不能是NaN或无穷大"),
    "value_too_large": gettext_noop("数值绝对值超过{limit}"),
    "ts_invalid": gettext_noop("时间格式无效：{got}（应为带时区的ISO 8601时间或Unix秒）"),
    "ts_no_zone": gettext_noop("时间缺少时区：{got}"),
    "ts_future": gettext_noop("时间比接收时间晚{seconds}秒，设备时钟可能不准"),
    "quality_invalid": gettext_noop("质量标记须为 good、uncertain 或 bad（收到{got}）"),
    # -- reasons of transitions -------------------------------------------------------------
    "above": gettext_noop("「{point}」为{value}，高于上限{limit}"),
    "below": gettext_noop("「{point}」为{value}，低于下限{limit}"),
    "band": gettext_noop("「{point}」为{value}，超出设定值{setpoint}±{band}"),
    "rise": gettext_noop("「{point}」每分钟上升{rate}，超过{limit}"),
    "fall": gettext_noop("「{point}」每分钟下降{rate}，超过{limit}"),
    "all": gettext_noop("全部条件成立：{parts}"),
    "any": gettext_noop("条件成立：{parts}"),
    "held": gettext_noop("{what}，已持续{duration}"),
    "normal": gettext_noop("已恢复正常{duration}"),
    "silence": gettext_noop("「{points}」已{duration}无有效数据（每{interval}应至少一次，连续{misses}次未收到）"),
    "silence_over": gettext_noop("「{point}」恢复上报"),
    "never": gettext_noop("从未收到数据"),
    # -- durations -------------------------------------------------------------------------
    "seconds": gettext_noop("{n}秒"),
    "minutes": gettext_noop("{n}分钟"),
    "minutes_seconds": gettext_noop("{m}分{s}秒"),
    "hours": gettext_noop("{n}小时"),
    "hours_minutes": gettext_noop("{h}小时{m}分钟"),
    "and": gettext_noop("；"),
    "list_sep": gettext_noop("、"),
    # -- levels ----------------------------------------------------------------------------
    "level_1": gettext_noop("预警"),
    "level_2": gettext_noop("报警"),
    "level_3": gettext_noop("紧急"),
    # -- rule loading ----------------------------------------------------------------------
    "not_yaml": gettext_noop("不是有效的YAML：{detail}"),
    "rules_shape": gettext_noop("规则应为列表，或含 rules 列表的对象"),
    "rule_shape": gettext_noop("应为对象"),
    "required": gettext_noop("缺少「{key}」"),
    "unknown_key": gettext_noop("未知属性「{key}」"),
    "bad_key": gettext_noop("编号「{value}」只能含小写字母、数字、- 和 _，且以字母开头"),
    "duplicate_key": gettext_noop("编号「{value}」重复"),
    "not_text": gettext_noop("「{key}」须为文本"),
    "not_number": gettext_noop("「{key}」须为数字"),
    "not_positive": gettext_noop("「{key}」须大于0"),
    "too_large": gettext_noop("「{key}」不能超过{limit}"),
    "not_count": gettext_noop("「{key}」须为1～{limit}的整数"),
    "bad_choice": gettext_noop("「{key}」须为{allowed}之一（收到{got}）"),
    "bad_duration": gettext_noop("「{key}」不是有效时长：{got}（如 30s、5m、2h、1h30m 或秒数）"),
    "duration_range": gettext_noop("「{key}」须在{low}～{high}之间"),
    "limits_missing": gettext_noop("须给出 above、below，或 setpoint 加 band"),
    "limits_mixed": gettext_noop("setpoint/band 不能与 above/below 同时使用"),
    "setpoint_band": gettext_noop("setpoint 和 band 须同时给出"),
    "below_above": gettext_noop("below（{below}）须小于 above（{above}）"),
    "not_list": gettext_noop("「{key}」须为列表"),
    "list_empty": gettext_noop("「{key}」不能为空"),
    "list_too_long": gettext_noop("「{key}」最多{limit}项"),
    "bad_point": gettext_noop("测点编号须为1～{limit}个字符的文本"),
    "bad_action": gettext_noop("动作须为 notify、freeze、hazard 之一，写作「freeze」或「freeze: {{…}}」"),
    "action_params": gettext_noop("动作「{name}」的参数须为对象"),
    "condition_kind": gettext_noop("条件须为限值（above/below/setpoint+band）或 rate，不能两者兼有"),
}


def text(code: str, params: dict[str, Any] | None = None) -> str:
    """The translated message of ``code`` with its parameters filled in."""
    return gettext(MESSAGES[code]).format(**(params or {}))


def duration(seconds: float) -> str:
    """A duration the way a control-room operator says it: 120 → 2分钟, 90 → 1分30秒."""
    s = round(seconds)
    if s < 60:
        return text("seconds", {"n": s})
    if s < 3600:
        return text("minutes", {"n": s // 60}) if s % 60 == 0 else text("minutes_seconds", {"m": s // 60, "s": s % 60})
    h, m = divmod(s // 60, 60)
    return text("hours", {"n": h}) if m == 0 else text("hours_minutes", {"h": h, "m": m})


def number(value: float) -> str:
    """Readable numbers in reasons: 85.0 → 85, 85.25 → 85.25, no float noise."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"
