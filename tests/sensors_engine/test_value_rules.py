"""Threshold, sustained, hysteresis, rate and combined rules, to the exact second."""

from datetime import datetime

import pytest

from anlian.sensors.engine import Engine, Transition, load_rules

from .helpers import T0, Run, at, brief, r

BAND = {"key": "r101", "kind": "threshold", "point": "TT-101", "setpoint": 80, "band": 5, "for": "120s",
        "level": 2, "actions": ["notify", {"freeze": {"area": "R-101"}}]}


# -- threshold, immediate ---------------------------------------------------------------------

@pytest.mark.parametrize("limits, value, raised", [
    ({"above": 10}, 10.0, False), ({"above": 10}, 10.001, True),
    ({"below": 2}, 2.0, False), ({"below": 2}, 1.999, True),
    ({"above": 10, "below": 2}, 11.0, True), ({"above": 10, "below": 2}, 1.0, True), ({"above": 10, "below": 2}, 5.0, False),
    ({"setpoint": 80, "band": 5}, 85.0, False), ({"setpoint": 80, "band": 5}, 75.0, False),
    ({"setpoint": 80, "band": 5}, 85.01, True), ({"setpoint": 80, "band": 5}, 74.99, True),
])
def test_limits_are_strict(limits, value, raised):
    run = Run({"key": "t", "kind": "threshold", "point": "A", **limits})
    out = run.feed(r("A", value, 0))
    assert [t.kind for t in out] == (["raised"] if raised else [])


def test_immediate_threshold_raises_and_clears_with_reason():
    run = Run({"key": "gas", "kind": "threshold", "point": "GD-1", "above": 20, "level": 3,
               "actions": ["notify", "freeze"]})
    (up,) = run.feed(r("GD-1", 5, 0), r("GD-1", 25, 1))
    assert isinstance(up, Transition)
    assert (up.kind, up.rule, up.points, up.value, up.level) == ("raised", "gas", ("GD-1",), 25.0, 3)
    assert up.since == up.at == at(1)
    assert up.actions == ({"action": "notify"}, {"action": "freeze"})
    assert up.reason == "「GD-1」为25，高于上限20"
    assert up.level_name == "紧急"
    assert run.feed(r("GD-1", 30, 2)) == []  # raised once, not on every reading
    (down,) = run.feed(r("GD-1", 19.5, 3))
    assert (down.kind, down.since, down.at, down.value) == ("cleared", at(3), at(3), 19.5)
    assert down.reason == "已恢复正常0秒"


# -- sustained ------------------------------------------------------------------------------------

def test_sustained_raises_at_exactly_n_seconds_not_one_before():
    run = Run(BAND)
    assert run.series("TT-101", [86.0] * 120) == []  # t = 0 … 119
    (up,) = run.feed(r("TT-101", 86.0, 120))
    assert (up.since, up.at) == (at(0), at(120))
    assert up.reason == "「TT-101」为86，超出设定值80±5，已持续2分钟"
    assert datetime.fromisoformat(up.as_dict()["since"]) == at(0)


def test_a_short_spike_does_not_raise():
    run = Run(BAND)
    out = run.series("TT-101", [80.0] * 10 + [95.0] * 119 + [80.0] * 300)
    out += run.tick(1000)
    assert out == []


def test_repeated_spikes_each_restart_the_window():
    run = Run(BAND)
    values = ([90.0] * 100 + [84.0]) * 5
    assert run.series("TT-101", values) == []


def test_tick_raises_when_the_next_reading_is_late():
    """A point sampled every 5 minutes: the breach holds between samples, so the tick at 120 s raises."""
    run = Run(BAND)
    run.feed(r("TT-101", 90.0, 0))
    assert run.tick(119.999) == []
    (up,) = run.tick(120)
    assert (up.kind, up.since, up.at) == ("raised", at(0), at(120))
    assert run.tick(200) == []


def test_clear_hysteresis_defaults_to_the_hold_time():
    run = Run(BAND)
    run.series("TT-101", [90.0] * 121)
    assert brief(run.log) == [("raised", "r101", 120.0)]
    assert run.series("TT-101", [80.0] * 120, start=121) == []  # normal 121 … 240: 119 s
    (down,) = run.feed(r("TT-101", 80.0, 241))
    assert (down.kind, down.since, down.at) == ("cleared", at(121), at(241))
    assert down.reason == "已恢复正常2分钟"


def test_clear_after_can_differ_and_a_relapse_restarts_it():
    run = Run({**BAND, "for": "10s", "clear_after": "30s"})
    run.series("TT-101", [90.0] * 11)
    assert brief(run.log) == [("raised", "r101", 10.0)]
    run.series("TT-101", [80.0] * 20 + [90.0] + [80.0] * 29, start=11)  # relapse at 31
    assert len(run.log) == 1
    (down,) = run.feed(r("TT-101", 80.0, 62))
    assert (down.since, down.at) == (at(32), at(62))
    run.tick(100)
    assert [t.kind for t in run.log] == ["raised", "cleared"]


def test_tick_clears_after_the_hysteresis():
    run = Run(BAND)
    run.feed(r("TT-101", 90.0, 0))
    run.tick(130)
    run.feed(r("TT-101", 80.0, 140))
    assert run.tick(259) == []
    (down,) = run.tick(260)
    assert (down.kind, down.since, down.at) == ("cleared", at(140), at(260))


def test_bad_quality_readings_neither_raise_nor_clear():
    run = Run({**BAND, "for": "0s"})
    assert run.feed(r("TT-101", 999.0, 0, "bad")) == []
    run.feed(r("TT-101", 90.0, 1))
    assert run.feed(r("TT-101", 80.0, 2, "bad")) == []
    assert [t.kind for t in run.feed(r("TT-101", 80.0, 3, "uncertain"))] == ["cleared"]


# -- rate -----------------------------------------------------------------------------------------

RATE = {"key": "rise", "kind": "rate", "point": "TT-1", "per_minute": 2, "window": "60s", "direction": "rise"}


def test_rate_needs_a_whole_window_then_compares_per_minute():
    run = Run(RATE)
    # +0.05 per second = 3 per minute, but nothing is decided before 60 s of history.
    assert run.series("TT-1", [20 + 0.05 * i for i in range(60)]) == []
    (up,) = run.feed(r("TT-1", 23.0, 60))
    assert up.at == at(60)
    assert up.reason == "「TT-1」每分钟上升3，超过2"


def test_rate_exactly_at_the_limit_does_not_raise_and_falls_are_ignored_for_rise():
    run = Run(RATE)
    assert run.series("TT-1", [20.0 + i for i in range(20)], step=30) == []  # exactly 2 per minute
    assert run.series("TT-1", [39.0 - i for i in range(100)], start=600) == []


def test_rate_fall_and_either():
    fall = Run({**RATE, "direction": "fall"})
    either = Run({**RATE, "direction": "either", "key": "any"})
    for run in (fall, either):
        run.series("TT-1", [50 - 0.1 * i for i in range(61)])
    assert brief(fall.log) == [("raised", "rise", 60.0)] and brief(either.log) == [("raised", "any", 60.0)]
    assert fall.log[0].reason == "「TT-1」每分钟下降6，超过2"


def test_rate_uses_the_reading_at_the_start_of_the_window():
    """Sparse readings: the anchor is the last reading at or before now − window."""
    run = Run(RATE)
    run.feed(r("TT-1", 10, 0), r("TT-1", 10, 50), r("TT-1", 12.5, 70))
    # anchor t=0 (t=50 is inside the window): 2.5 over 70 s = 2.14 per minute
    assert brief(run.log) == [("raised", "rise", 70.0)]


def test_rate_window_memory_is_bounded():
    run = Run(RATE)
    run.series("TT-1", [20.0] * 5000, step=0.5)
    (w,) = run.state["pts"]["TT-1"][4:]
    assert len(w) // 2 <= 122  # one window of readings plus the anchor


def test_sustained_rate():
    run = Run({**RATE, "for": "30s"})
    run.series("TT-1", [20 + 0.1 * i for i in range(90)])
    assert brief(run.log) == []
    run.feed(r("TT-1", 29.0, 90))
    assert brief(run.log) == [("raised", "rise", 90.0)]
    assert run.log[0].since == at(60)


# -- combined -------------------------------------------------------------------------------------

COMBINED = {"key": "leak", "kind": "combined", "mode": "all", "for": "30s", "level": 3,
            "conditions": [{"point": "GD-1", "above": 20}, {"point": "TT-1", "setpoint": 80, "band": 5}]}


def test_combined_all_needs_every_condition_for_the_whole_time():
    run = Run(COMBINED)
    run.feed(r("GD-1", 25, 0))
    assert run.tick(100) == []  # only one condition
    run.feed(r("TT-1", 90, 100))
    assert run.tick(129) == []
    (up,) = run.tick(130)
    assert (up.since, up.at, up.value, up.values) == (at(100), at(130), None, {"GD-1": 25.0, "TT-1": 90.0})
    assert up.points == ("GD-1", "TT-1")
    assert up.reason == "全部条件成立：「GD-1」为25，高于上限20；「TT-1」为90，超出设定值80±5，已持续30秒"
    run.feed(r("GD-1", 5, 140))
    assert run.tick(169) == []
    assert [t.kind for t in run.tick(170)] == ["cleared"]


def test_combined_any_with_a_rate_condition():
    run = Run({"key": "either", "kind": "combined", "mode": "any",
               "conditions": [{"point": "GD-1", "above": 20},
                              {"point": "TT-1", "rate": {"per_minute": 2, "window": "10s", "direction": "rise"}}]})
    run.feed(r("GD-1", 5, 0))
    run.series("TT-1", [20.0] * 11)
    assert run.log == []
    run.feed(r("TT-1", 21.0, 11))  # 1 in 10 s = 6 per minute
    assert brief(run.log) == [("raised", "either", 11.0)]
    assert run.log[0].reason == "条件成立：「TT-1」每分钟上升6，超过2"
    run.feed(r("TT-1", 21.0, 22))
    assert brief(run.log)[-1] == ("cleared", "either", 22.0)


def test_combined_unknown_point_counts_as_not_holding():
    run = Run({**COMBINED, "for": "0s"})
    run.feed(r("GD-1", 25, 0))
    assert run.log == []


def test_several_rules_on_one_point_each_decide():
    run = Run({**BAND, "for": "0s"}, {"key": "hi", "kind": "threshold", "point": "TT-101", "above": 100, "level": 3},
              RATE | {"point": "TT-101", "window": "10s"})
    run.series("TT-101", [80.0] * 11 + [101.0])
    assert sorted(brief(run.log)) == [("raised", "hi", 11.0), ("raised", "r101", 11.0), ("raised", "rise", 11.0)]


def test_engine_refuses_duplicate_keys():
    rules = load_rules([BAND])
    with pytest.raises(ValueError):
        Engine(rules + rules)


def test_transitions_as_dict_are_json_ready():
    import json

    run = Run(BAND)
    run.series("TT-101", [90.0] * 121)
    doc = run.log[0].as_dict()
    assert json.loads(json.dumps(doc, ensure_ascii=False))["reason"].endswith("已持续2分钟")
    assert doc["actions"] == [{"action": "notify"}, {"action": "freeze", "area": "R-101"}]
    assert T0.isoformat() != doc["at"]
