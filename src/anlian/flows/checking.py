"""Check template source the way the editor shows it: every problem, in Chinese, with its place.

`check(source)` goes further than `core.load_template` on the text a person typed or uploaded:
YAML syntax errors name the line and column, and a key written twice in one mapping (which YAML
itself silently resolves to the last one) is an error instead of a lost value. Each problem the
engine's schema reports (``steps[2] (gas).fields[0] (lel): max must be a number``) is turned into
Chinese (``第3步「gas」› 第1个字段「lel」：max 必须是数字``); the original line is kept in
`Problem.raw` for anyone who wants the exact wording.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import yaml
from django.utils.translation import gettext as _

from anlian.flows import core

log = logging.getLogger(__name__)

# A real template is 2–15 KB; this leaves room for very large ones and keeps a page request small.
MAX_SOURCE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Problem:
    where: str  # a readable place ("第3步「gas」› 第1个字段「lel」"), or "" for the whole document
    text: str  # what is wrong, in the page language
    raw: str = ""  # the engine's own line, when there is one
    line: int | None = None  # a line of the source, for syntax errors and duplicate keys

    def __str__(self) -> str:
        return f"{self.where}：{self.text}" if self.where else self.text


@dataclass(frozen=True)
class Result:
    template: core.Template | None
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return self.template is not None and not self.problems


def check(source: str) -> Result:
    """Parse and validate template source; never raises for bad input."""
    if not source.strip():
        return Result(None, (Problem("", _("模板内容为空")),))
    size = len(source.encode("utf-8", errors="replace"))
    if size > MAX_SOURCE_BYTES:
        return Result(None, (too_large(size),))
    try:
        doc, duplicates = _load(source)
    except yaml.MarkedYAMLError as exc:
        return Result(None, (_syntax(exc),))
    except yaml.reader.ReaderError as exc:
        return Result(None, (Problem("", _("含有不允许的字符（第{position}个字符处），模板须为纯文本")
                                     .format(position=exc.position + 1), raw=str(exc)),))
    except (yaml.YAMLError, RecursionError) as exc:
        return Result(None, (Problem("", _("YAML 格式错误，无法解析"), raw=str(exc)),))
    if duplicates:
        return Result(None, tuple(duplicates))
    try:
        return Result(core.load_template(doc), ())
    except core.TemplateError as exc:
        return Result(None, tuple(explain(line) for line in exc.errors))
    except RecursionError:
        return Result(None, (Problem("", _("模板嵌套层级过深")),))
    except Exception as exc:  # noqa: BLE001 - odd shapes the schema did not foresee must not be a 500
        log.warning("template check failed unexpectedly", exc_info=True)
        return Result(None, (Problem("", _("模板无法解析：{error}").format(error=exc), raw=repr(exc)),))


def too_large(size: int) -> Problem:
    return Problem("", _("模板过大（{size} KB），不能超过 {limit} KB").format(
        size=(size + 1023) // 1024, limit=MAX_SOURCE_BYTES // 1024))


# --- YAML ------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that records keys written twice in one mapping (YAML keeps only the last)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicates: list[Problem] = []


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    seen: dict[object, int] = {}
    for key_node, _value in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
            continue
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        if key in seen:
            loader.duplicates.append(Problem(
                _("第{line}行").format(line=line),
                _("键「{key}」重复（第{first}行已有），请删除或改名其中一个").format(key=key, first=seen[key]),
                line=line))
        else:
            seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _load(source: str) -> tuple[object, list[Problem]]:
    loader = _StrictLoader(source)
    try:
        return loader.get_single_data(), loader.duplicates
    finally:
        loader.dispose()


_YAML_PROBLEMS = [
    (re.compile(r"mapping values are not allowed"), lambda m: _("此处不能出现“键: 值”，请检查缩进和冒号")),
    (re.compile(r"found character '\\t' that cannot start any token"), lambda m: _("不能用 Tab 缩进，请改用空格")),
    (re.compile(r"could not find expected ':'"), lambda m: _("缺少冒号“:”")),
    (re.compile(r"did not find expected key"), lambda m: _("缩进不一致，或列表项缺少“-”")),
    (re.compile(r"expected <block end>"), lambda m: _("缩进不一致")),
    (re.compile(r"did not find expected node content"), lambda m: _("此处缺少内容")),
    (re.compile(r"found unexpected end of stream"), lambda m: _("引号或括号没有闭合")),
    (re.compile(r"found undefined alias"), lambda m: _("引用了未定义的锚点")),
    (re.compile(r"found unhashable key"), lambda m: _("键必须是简单文本")),
    (re.compile(r"expected ',' or '[\]}]'"), lambda m: _("方括号或花括号没有正确闭合，或缺少逗号")),
    (re.compile(r"but found another document"), lambda m: _("只能包含一个文档（不能有“---”分隔的多个文档）")),
]


def _syntax(exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or ""
    text = next((fn(m) for pattern, fn in _YAML_PROBLEMS if (m := pattern.search(problem))), problem)
    if mark is None:
        return Problem("", _("YAML 语法错误：{problem}").format(problem=text), raw=str(exc))
    return Problem(_("第{line}行第{column}列").format(line=mark.line + 1, column=mark.column + 1),
                   _("YAML 语法错误：{problem}").format(problem=text), raw=str(exc), line=mark.line + 1)


# --- the schema's lines ----------------------------------------------------------------------------

_LINE = re.compile(r"^(?P<path>(?:[a-z_]+(?:\[\d+\])?(?: \([^)]*\))?\.?)+): (?P<problem>.*)$", re.S)
_SEGMENT = re.compile(r"(?P<name>[a-z_]+)(?:\[(?P<index>\d+)\])?(?: \((?P<key>[^)]*)\))?(?:\.|$)")


def _place(name: str, index: int | None) -> str:
    numbered = {
        "steps": _("第{n}步"), "fields": _("第{n}个字段"), "photos": _("第{n}个照片项"),
        "guards": _("第{n}条前置条件"), "conflicts": _("第{n}条冲突规则"), "actors": _("第{n}个审批人"),
        "managers": _("第{n}个管理角色"), "cc": _("第{n}个抄送"),
    }
    plain = {
        "template": _("模板"), "steps": _("步骤"), "actor": _("办理人"), "approval": _("审批设置"),
        "window": _("时间窗口"), "after": _("前置步骤"), "valid_for": _("有效期"), "repeat": _("重复"),
        "show_if": _("显示条件"),
    }
    if index is not None and name in numbered:
        return numbered[name].format(n=index + 1)
    return plain.get(name, name)


def where(path: str) -> str:
    """``steps[2] (gas).fields[0] (lel)`` → ``第3步「gas」› 第1个字段「lel」``."""
    parts = []
    for m in _SEGMENT.finditer(path):
        index = int(m["index"]) if m["index"] is not None else None
        text = _place(m["name"], index)
        if m["key"] and m["key"] != "?":
            text += f"「{m['key']}」"
        parts.append(text)
    return " › ".join(parts) or path


def _q(value: str) -> str:
    """A repr'd value from the schema ('gas', 42) shown without Python quotes."""
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" else value


# (pattern on the schema's English problem, Chinese message built from the match)
_PROBLEMS = [
    (r"not valid YAML: (?P<detail>.*)", lambda m: _("YAML 语法错误：{detail}").format(detail=m["detail"])),
    (r"must be a mapping", lambda m: _("必须是“键: 值”形式的映射")),
    (r"steps must be a non-empty list", lambda m: _("steps 必须是非空列表，至少要有一个步骤")),
    (r"version must be a whole number ≥ 1", lambda m: _("version 必须是不小于 1 的整数")),
    (r"key (?P<v>.+) must be lower-case letters, digits, - or _",
     lambda m: _("代码「{value}」只能用小写字母开头，由小写字母、数字、- 或 _ 组成").format(value=_q(m["v"]))),
    (r"key 'presence' is reserved for the approver's presence photo",
     lambda m: _("照片项代码 presence 已保留给审批人在场照片，请换一个")),
    (r"key duplicates (?P<other>.+)", lambda m: _("代码与{other}重复").format(other=where(m["other"]))),
    (r"unknown property (?P<v>.+)", lambda m: _("未知属性「{name}」（检查拼写）").format(name=_q(m["v"]))),
    (r"unknown guard (?P<v>.+) \(known: (?P<known>.*)\)",
     lambda m: _("未知的前置条件「{name}」（可用：{known}）").format(name=_q(m["v"]), known=m["known"])),
    (r"(?P<k>\w+) must be one of (?P<allowed>.*) \(got (?P<v>.*)\)",
     lambda m: _("{key} 必须是 {allowed} 之一（现为「{value}」）").format(
         key=m["k"], allowed=m["allowed"], value=_q(m["v"]))),
    (r"(?P<k>[\w.]+) is required", lambda m: _("缺少 {key}").format(key=m["k"])),
    (r"(?P<k>\w+) must be text", lambda m: _("{key} 必须是文本").format(key=m["k"])),
    (r"(?P<k>\w+) must be a number", lambda m: _("{key} 必须是数字").format(key=m["k"])),
    (r"(?P<k>\w+) must be a whole number ≥ 0", lambda m: _("{key} 必须是不小于 0 的整数").format(key=m["k"])),
    (r"(?P<k>\w+): (?P<v>.+) is not a duration \(use 30m, 2h, 72h, 7d\)",
     lambda m: _("{key} 的值「{value}」不是有效时长（写法如 30m、2h、72h、7d）").format(key=m["k"], value=_q(m["v"]))),
    (r"(?P<k>\w+) must be longer than 0", lambda m: _("{key} 必须大于 0").format(key=m["k"])),
    (r"(?P<k>\w+) must be a list", lambda m: _("{key} 必须是列表").format(key=m["k"])),
    (r"(?P<k>\w+) must be a step key or a list of step keys",
     lambda m: _("{key} 必须是步骤代码或步骤代码列表").format(key=m["k"])),
    (r"must be a role name or \{role: name\}", lambda m: _("必须是角色代码或 {role: 角色代码}")),
    (r"needs at_least or at_most", lambda m: _("至少需要 at_least 或 at_most 之一")),
    (r"at_least must not be longer than at_most", lambda m: _("at_least 不能长于 at_most")),
    (r"must be applicant, .*", lambda m: _("必须是 applicant、{role: 角色, scope: 层级} 或 {person_field: 字段}")),
    (r"approval is only for kind approval or review", lambda m: _("只有 kind 为 approval 或 review 的步骤才能设置 approval")),
    (r"mode single takes one actor; .*", lambda m: _("mode 为 single 时只能有一个审批人；多人请用 all（会签）或 any（或签）")),
    (r"presence must be photo \(got (?P<v>.*)\)",
     lambda m: _("presence 只能是 photo（现为「{value}」）").format(value=_q(m["v"]))),
    (r"presence is only for kind approval or review", lambda m: _("只有审批或复核步骤才能要求在场照片（presence）")),
    (r"min \((?P<lo>[^)]*)\) is greater than max \((?P<hi>[^)]*)\)",
     lambda m: _("min（{lo}）大于 max（{hi}）").format(lo=m["lo"], hi=m["hi"])),
    (r"min/max are only for type number", lambda m: _("只有 number 类型的字段才能设置 min/max")),
    (r"choice needs options or options_from", lambda m: _("choice 字段需要 options 或 options_from")),
    (r"options must be a non-empty list", lambda m: _("options 必须是非空列表")),
    (r"checklist needs items", lambda m: _("checklist 字段需要 items")),
    (r"items entry (?P<v>.*) must be text or \{key, label\}",
     lambda m: _("items 中的「{value}」必须是文本或 {{key, label}}").format(value=_q(m["v"]))),
    (r"items have duplicate keys", lambda m: _("items 中有重复的代码")),
    (r"needs exactly one of equals or in", lambda m: _("须且只须有 equals 或 in 之一")),
    (r"in must be a list", lambda m: _("in 必须是列表")),
    (r"(?P<what>[\w.]+) names unknown step (?P<v>.+)",
     lambda m: _("{what} 引用了不存在的步骤「{step}」").format(what=m["what"], step=_q(m["v"]))),
    (r"(?P<what>[\w.]+) (?P<v>.+) is not a field of an earlier step",
     lambda m: _("{what} 引用的「{field}」不是前面步骤的字段").format(what=m["what"], field=_q(m["v"]))),
    (r"(?P<what>[\w.]+) (?P<v>.+) is a (?P<t>[\w-]+) field, not person",
     lambda m: _("{what} 引用的「{field}」是 {type} 字段，应为 person（人员）字段").format(
         what=m["what"], field=_q(m["v"]), type=m["t"])),
    (r"show_if.field (?P<v>.+) is not an earlier field",
     lambda m: _("show_if.field「{field}」必须是此前出现的字段").format(field=_q(m["v"]))),
    (r"cycle in after: (?P<trail>.*)", lambda m: _("after 形成循环：{trail}").format(trail=m["trail"].replace("->", "→"))),
    (r"window.step (?P<v>.+) must come before this step",
     lambda m: _("window.step「{step}」必须在本步骤之前").format(step=_q(m["v"]))),
    (r"repeat.until (?P<v>.+) must come after this step",
     lambda m: _("repeat.until「{step}」必须在本步骤之后").format(step=_q(m["v"]))),
    (r"approval.return_to (?P<v>.+) must come before this step",
     lambda m: _("approval.return_to「{step}」必须在本步骤之前").format(step=_q(m["v"]))),
    (r"(?P<k>\w+) must be true or false", lambda m: _("{key} 须为 true 或 false").format(key=m["k"])),
    (r"unknown check (?P<v>\S+) \(known: (?P<known>.*)\)",
     lambda m: _("没有照片检查「{check}」（可用：{known}）").format(check=_q(m["v"]), known=m["known"])),
]
_PROBLEMS = [(re.compile(f"^{pattern}$", re.S), fn) for pattern, fn in _PROBLEMS]


def explain(line: str) -> Problem:
    """One line of a TemplateError as a Chinese Problem (unknown wordings pass through unchanged)."""
    m = _LINE.match(line)
    path, problem = (m["path"], m["problem"]) if m else ("", line)
    for pattern, fn in _PROBLEMS:
        found = pattern.match(problem)
        if found:
            return Problem(where(path) if path else "", fn(found), raw=line)
    return Problem(where(path) if path else "", problem, raw=line)
