"""Restart equivalence: cutting a stream anywhere, saving the state as JSON and resuming with a
new engine gives exactly the transitions of one uninterrupted run (no alarm lost, none twice)."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anlian.sensors.engine import Engine, from_json, load_rules, to_json

from .helpers import Run, at, brief, r

RULES = [
    {"key": "band", "kind": "threshold", "point": "A", "setpoint": 50, "band": 5, "for": "20s", "clear_after": "10s"},
    {"key": "high", "kind": "threshold", "point": "B", "above": 60},
    {"key": "rise", "kind": "rate", "point": "A", "per_minute": 30, "window": "10s", "for": "5s"},
    {"key": "both", "kind": "combined", "mode": "all", "for": "8s", "conditions": [
        {"point": "A", "above": 52}, {"point": "B", "rate": {"per_minute": 20, "window": "6s", "direction": "either"}}]},
    {"key": "any", "kind": "combined", "mode": "any", "conditions": [{"point": "B", "below": 40}, {"point": "C", "above": 1}]},
    {"key": "quiet", "kind": "silence", "points": ["A", "@gw"], "interval": "10s", "misses": 2},
    {"key": "quiet-c", "kind": "silence", "point": "C", "interval": "7s", "misses": 3},
]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def streams(draw):
    """Readings (sometimes late, duplicated, bad, for unknown points) and ticks, in arrival order."""
    ops, clock = [], 0.0
    for _ in range(draw(st.integers(1, 80))):
        clock += draw(st.sampled_from([0, 0, 0.5, 1, 1, 2, 3, 7, 15, 25]))
        if draw(st.integers(0, 6)) == 0:
            ops.append(("tick", clock + draw(st.sampled_from([0, 1, 9]))))
        else:
            point = draw(st.sampled_from(["A", "A", "B", "B", "C", "@gw", "X"]))
            value = draw(st.sampled_from([30.0, 45.0, 50.0, 54.0, 55.0, 56.0, 61.0, 70.0, 0.0, 2.0]))
            lag = draw(st.sampled_from([0, 0, 0, 0, 1, 4]))
            quality = draw(st.sampled_from(["good"] * 8 + ["bad", "uncertain"]))
            ops.append(("read", r(point, value, clock - lag, quality)))
    cuts = draw(st.sets(st.integers(0, len(ops)), max_size=6))
    return ops, cuts


def run(ops, cuts=frozenset()):
    """Feeds maximal runs of readings as one batch; at every cut, saves and resumes with a new engine."""
    rules = load_rules(RULES)
    engine = Engine(rules)
    state = engine.new_state()
    out, batch = [], []

    def flush():
        nonlocal state
        if batch:
            state, got = engine.feed(state, batch)
            out.extend(got)
            batch.clear()

    for i, (kind, arg) in enumerate(ops):
        if i in cuts:
            flush()
            engine = Engine(load_rules(RULES))
            state = from_json(to_json(state))
        if kind == "read":
            batch.append(arg)
        else:
            flush()
            state, got = engine.tick(state, at(arg))
            out.extend(got)
    flush()
    return out, to_json(state)


@SETTINGS
@given(streams())
def test_cutting_and_restoring_anywhere_changes_nothing(stream):
    ops, cuts = stream
    whole, whole_state = run(ops)
    split, split_state = run(ops, cuts)
    assert split == whole
    assert json.loads(split_state) == json.loads(whole_state)


@SETTINGS
@given(streams())
def test_one_reading_per_batch_changes_nothing(stream):
    ops, _ = stream
    assert run(ops) == run(ops, set(range(len(ops) + 1)))


@SETTINGS
@given(streams())
def test_alarms_alternate_per_rule(stream):
    """Per rule: raised, cleared, raised, … never raised twice in a row, never cleared first."""
    out, _ = run(stream[0])
    last = {}
    for t in out:
        assert last.get(t.rule, "cleared") != t.kind, (t.rule, t.kind)
        last[t.rule] = t.kind
        assert t.since <= t.at


def test_a_running_window_keeps_its_start_across_a_restart():
    rules = load_rules([RULES[0]])
    engine = Engine(rules)
    state = engine.new_state()
    state, _ = engine.feed(state, [r("A", 60.0, s) for s in range(12)])
    saved = to_json(state)
    engine = Engine(load_rules([RULES[0]]))  # the ingest process restarts
    state = from_json(saved)
    state, out = engine.feed(state, [r("A", 60.0, 19)])
    assert out == []
    state, (up,) = engine.feed(state, [r("A", 60.0, 20)])
    assert (up.since, up.at) == (at(0), at(20))


def test_a_raised_alarm_is_not_raised_again_after_a_restart():
    rules = load_rules([RULES[1]])
    engine = Engine(rules)
    state, out = engine.feed(engine.new_state(), [r("B", 70.0, 0)])
    assert len(out) == 1
    state = from_json(to_json(state))
    state, out = Engine(rules).feed(state, [r("B", 75.0, 1)])
    assert out == []
    state, out = Engine(rules).feed(from_json(to_json(state)), [r("B", 5.0, 2)])
    assert [t.kind for t in out] == ["cleared"]


def test_changed_rules_keep_raised_alarms_and_drop_removed_ones():
    first = Engine(load_rules(RULES[:2]))
    state, out = first.feed(first.new_state(), [r("A", 70.0, s) for s in range(21)] + [r("B", 70.0, 21)])
    assert sorted(t.rule for t in out) == ["band", "high"]
    changed = [dict(RULES[0], band=30), RULES[4]]  # "band" widened, "high" removed, "any" added
    second = Engine(load_rules(changed))
    state, out = second.feed(from_json(to_json(state)), [r("A", 70.0, 22)])
    assert out == []  # still raised: not raised twice
    assert set(state["rules"]) == {"band", "any"}
    state, out = second.feed(state, [r("A", 70.0, s) for s in range(23, 40)])
    assert brief(out) == [("cleared", "band", 32.0)]  # 70 is inside 50 ± 30: normal since 22


def test_state_is_plain_json_and_refuses_foreign_documents():
    run_ = Run(*RULES)
    run_.feed(r("A", 1.0, 0), r("B", 2.0, 0))
    text = to_json(run_.state)
    assert json.loads(text) == run_.state
    import pytest

    for bad in ('{"v": 2}', "[]", '{"v": 1}'):
        with pytest.raises(ValueError):
            from_json(bad)
