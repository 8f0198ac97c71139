"""Rules as data: the documented examples load; every mistake is named, in Chinese, all at once."""

import pytest

from anlian.sensors.engine import RuleError, load_rule, load_rules, parse_seconds

EXAMPLES = """
rules:
  - key: r101-temp
    name: R-101 反应釜温度偏离设定值
    kind: threshold
    point: TT-101
    setpoint: 80
    band: 5
    for: 120s
    level: 2
    actions:
      - notify: {roles: [shift_leader, safety_officer]}
      - freeze: {area: reactor-r101}
  - key: gw-silent
    name: 罐区网关通讯中断
    kind: silence
    points: ["@gw-tank"]
    interval: 5m
    misses: 2
    level: 2
    actions: [notify]
  - key: tank-rise
    kind: rate
    point: LT-3
    per_minute: 0.5
    direction: rise
    window: 2m
  - key: leak-hot
    kind: combined
    mode: all
    for: 30s
    clear_after: 2m
    level: 3
    conditions:
      - {point: GD-1, above: 20}
      - {point: TT-101, rate: {per_minute: 2, window: 60s}}
    actions: [notify, freeze, {hazard: {title: 可燃气体泄漏}}]
"""


def issues(source) -> list[tuple[str, str]]:
    with pytest.raises(RuleError) as caught:
        load_rules(source)
    return [(i.path, i.code) for i in caught.value.issues]


def test_documented_examples_load():
    temp, silent, rise, leak = load_rules(EXAMPLES)
    assert (temp.kind, temp.hold, temp.clear_after, temp.level) == ("threshold", 120.0, 120.0, 2)
    assert (temp.conditions[0].low, temp.conditions[0].high) == (75.0, 85.0)
    assert temp.actions == ({"action": "notify", "roles": ["shift_leader", "safety_officer"]},
                            {"action": "freeze", "area": "reactor-r101"})
    assert (silent.points, silent.interval, silent.misses, silent.silence_after) == (("@gw-tank",), 300.0, 2, 600.0)
    assert rise.conditions[0].rate.window == 120.0 and rise.conditions[0].rate.direction == "rise"
    assert leak.points == ("GD-1", "TT-101") and leak.hold == 30.0 and leak.clear_after == 120.0
    assert [a["action"] for a in leak.actions] == ["notify", "freeze", "hazard"]
    assert temp.level_name == "报警" and leak.level_name == "紧急"


def test_a_list_of_dicts_and_one_rule():
    rule = load_rule({"key": "low", "kind": "threshold", "point": "PT-1", "below": 0.2})
    assert rule.conditions[0].low == 0.2 and rule.conditions[0].high is None and rule.level == 2
    assert rule.name == "low" and rule.hold == 0.0


@pytest.mark.parametrize("text, seconds", [(90, 90.0), ("90", 90.0), ("120s", 120.0), ("5m", 300.0),
                                           ("2h", 7200.0), ("1h30m", 5400.0), (0.5, 0.5)])
def test_durations(text, seconds):
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["2x", "-5", "5 min", "", True, None, [], -1, float("nan")])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_seconds(text)


def test_every_problem_of_a_file_at_once_with_its_place():
    found = issues([
        {"key": "Bad Key", "kind": "threshold", "point": "A", "above": 1},
        {"key": "no-limits", "kind": "threshold", "point": "A"},
        {"key": "mixed", "kind": "threshold", "point": "A", "above": 1, "setpoint": 0, "band": 1},
        {"key": "half", "kind": "threshold", "point": "A", "setpoint": 80},
        {"key": "upside", "kind": "threshold", "point": "A", "above": 1, "below": 5},
        {"key": "zero-band", "kind": "threshold", "point": "A", "setpoint": 80, "band": 0},
        {"key": "bool", "kind": "threshold", "point": "A", "above": True},
        {"key": "huge", "kind": "threshold", "point": "A", "above": 1e13},
        {"key": "for", "kind": "threshold", "point": "A", "above": 1, "for": "2 minutes"},
        {"key": "long", "kind": "threshold", "point": "A", "above": 1, "for": "25h"},
        {"key": "level", "kind": "threshold", "point": "A", "above": 1, "level": 4},
        {"key": "act", "kind": "threshold", "point": "A", "above": 1, "actions": ["explode", {"freeze": 3}, {"a": 1, "b": 2}]},
        {"key": "typo", "kind": "threshold", "point": "A", "above": 1, "setpiont": 80},
        {"key": "nopoint", "kind": "threshold", "above": 1},
        {"key": "kind", "kind": "magic"},
        {"kind": "threshold", "point": "A", "above": 1},
        "not a rule",
    ])
    assert found == [
        ("rules[0]（Bad Key）", "bad_key"),
        ("rules[1]（no-limits）", "limits_missing"),
        ("rules[2]（mixed）", "limits_mixed"),
        ("rules[3]（half）", "setpoint_band"),
        ("rules[4]（upside）", "below_above"),
        ("rules[5]（zero-band）", "not_positive"),
        ("rules[6]（bool）", "not_number"),
        ("rules[7]（huge）", "too_large"),
        ("rules[8]（for）", "bad_duration"),
        ("rules[9]（long）", "duration_range"),
        ("rules[10]（level）", "bad_choice"),
        ("rules[11]（act）.actions[0]", "bad_action"),
        ("rules[11]（act）.actions[1]", "action_params"),
        ("rules[11]（act）.actions[2]", "bad_action"),
        ("rules[12]（typo）", "unknown_key"),
        ("rules[13]（nopoint）", "required"),
        ("rules[14]（kind）", "bad_choice"),
        ("rules[15]", "required"),
        ("rules[16]", "rule_shape"),
    ]


def test_messages_are_clear_chinese_sentences():
    with pytest.raises(RuleError) as caught:
        load_rules([{"key": "r1", "kind": "threshold", "point": "TT-101", "setpoint": 80, "band": 5, "for": "2 分钟",
                     "setpiont": 1}])
    assert caught.value.errors == [
        "rules[0]（r1）：未知属性「setpiont」",
        "rules[0]（r1）：「for」不是有效时长：'2 分钟'（如 30s、5m、2h、1h30m 或秒数）",
    ]
    assert str(caught.value) == "\n".join(caught.value.errors)


def test_silence_rule_problems():
    assert issues([{"key": "s", "kind": "silence"}]) == [("rules[0]（s）", "required"), ("rules[0]（s）", "required")]
    assert issues([{"key": "s", "kind": "silence", "points": [], "interval": "5m"}]) == [("rules[0]（s）", "list_empty")]
    assert issues([{"key": "s", "kind": "silence", "points": ["A", 3], "interval": "5m", "misses": 0}]) == [
        ("rules[0]（s）.points[1]", "bad_point"), ("rules[0]（s）", "not_count")]
    assert issues([{"key": "s", "kind": "silence", "point": "A", "interval": "0s"}]) == [("rules[0]（s）", "duration_range")]
    assert issues([{"key": "s", "kind": "silence", "point": "A", "interval": "5m", "for": "1m"}]) == [
        ("rules[0]（s）", "unknown_key")]


def test_rate_and_combined_problems():
    assert issues([{"key": "r", "kind": "rate", "point": "A"}]) == [("rules[0]（r）", "required")]
    assert issues([{"key": "r", "kind": "rate", "point": "A", "per_minute": -1, "window": "2h", "direction": "up"}]) == [
        ("rules[0]（r）", "not_positive"), ("rules[0]（r）", "bad_choice"), ("rules[0]（r）", "duration_range")]
    assert issues([{"key": "c", "kind": "combined"}]) == [("rules[0]（c）", "required")]
    assert issues([{"key": "c", "kind": "combined", "conditions": []}]) == [("rules[0]（c）", "list_empty")]
    assert issues([{"key": "c", "kind": "combined", "mode": "most", "conditions": [
        {"point": "A", "above": 1, "rate": {"per_minute": 1}}, {"above": 2}, {"point": "B", "rate": 5},
        {"point": "C", "rate": {"per_minute": 1, "speed": 2}}, 7]}]) == [
        ("rules[0]（c）", "bad_choice"),
        ("rules[0]（c）.conditions[0]", "condition_kind"),
        ("rules[0]（c）.conditions[1]", "required"),
        ("rules[0]（c）.conditions[2].rate", "rule_shape"),
        ("rules[0]（c）.conditions[3].rate", "unknown_key"),
        ("rules[0]（c）.conditions[4]", "rule_shape"),
    ]


def test_document_shape_problems():
    assert issues("key: [unclosed") == [("", "not_yaml")]
    assert issues("just text") == [("", "rules_shape")]
    assert issues({"rules": 5}) == [("", "rules_shape")]
    assert issues([{"key": "a", "kind": "threshold", "point": "A", "above": 1}] * 2) == [("rules[1]", "duplicate_key")]


def test_translator_hook_applies_when_read():
    from anlian.sensors.engine import set_translator

    with pytest.raises(RuleError) as caught:
        load_rules([{"key": "a", "kind": "threshold", "point": "A"}])
    set_translator(lambda msgid: "EN: " + msgid)
    try:
        assert caught.value.errors[0].startswith("rules[0]（a）：EN: ")
    finally:
        set_translator(None)
    assert caught.value.errors[0] == "rules[0]（a）：须给出 above、below，或 setpoint 加 band"
