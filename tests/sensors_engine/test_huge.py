"""Big inputs: a 100,000-reading batch goes through parse and feed, and the state stays bounded."""

import json

from anlian.sensors.engine import (
    Engine,
    load_rules,
    parse_batch,
    set_translator,
    to_json,
)

from .helpers import T0, Run, at, r


def test_a_batch_of_100000_readings_through_parse_and_feed():
    points = [f"P{i:04d}" for i in range(1000)]
    rules = load_rules([{"key": f"t{i}", "kind": "threshold", "point": p, "above": 90, "for": "30s"}
                        for i, p in enumerate(points)]
                       + [{"key": f"s{i}", "kind": "silence", "point": p, "interval": "10s", "misses": 2}
                          for i, p in enumerate(points)])
    engine = Engine(rules)
    items = [{"point": p, "value": 95.0 if p == "P0007" else 20.0, "ts": at(s).isoformat()}
             for s in range(100) for p in points]
    batch = parse_batch(json.dumps(items), at(100))
    assert len(batch) == 100_000 and batch.rejected == []
    state, out = engine.feed(engine.new_state(), batch)
    assert [(t.kind, t.rule, t.since, t.at) for t in out] == [("raised", "t7", T0, at(30))]
    state, out = engine.tick(state, at(118.9))
    assert out == []
    state, out = engine.tick(state, at(119))  # 20 s after the last readings (99 s): every point is silent
    assert len(out) == 1000 and {t.kind for t in out} == {"raised"}
    assert len(to_json(state)) < 1000 * 400  # a few hundred bytes per point and its two rules


def test_rate_windows_stay_bounded_however_long_the_stream():
    run = Run({"key": "rise", "kind": "rate", "point": "A", "per_minute": 5, "window": "60s"})
    for start in range(0, 3600, 600):
        run.feed(*[r("A", 20.0, start + s / 4) for s in range(2400)])  # 4 readings a second
    window = run.state["pts"]["A"][4]
    assert len(window) // 2 <= 60 * 4 + 1


def test_reasons_go_through_the_translator_when_read():
    run = Run({"key": "t", "kind": "threshold", "point": "A", "above": 10})
    (up,) = run.feed(r("A", 11, 0))
    set_translator(lambda msgid: msgid.replace("高于上限", " above "))
    try:
        assert up.reason == "「A」为11， above 10"
    finally:
        set_translator(None)
    assert up.reason == "「A」为11，高于上限10"


def test_a_fast_point_over_a_long_window_is_thinned_to_the_bound():
    run = Run({"key": "rise", "kind": "rate", "point": "A", "per_minute": 5, "window": "1h"})
    run.feed(*[r("A", 20.0, s / 5) for s in range(5 * 3000)])  # 5 a second for 50 minutes
    window = run.state["pts"]["A"][4]
    assert len(window) // 2 == 4 * 3600 + 1
    assert window[0] == round(T0.timestamp() * 1e6)  # the oldest reading stays: the window is not yet covered
