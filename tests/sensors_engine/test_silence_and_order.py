"""Silence (a blocked port is not "all quiet") and the handling of duplicate and late readings."""

from anlian.sensors.engine import parse_batch

from .helpers import Run, at, brief, r

SILENCE = {"key": "gw", "kind": "silence", "points": ["@gw-1"], "interval": "5m", "misses": 2, "level": 2,
           "actions": ["notify"]}


def test_silence_after_the_configured_misses_and_not_before():
    run = Run(SILENCE)
    run.feed(r("@gw-1", 1, 0))
    assert run.tick(300) == []  # one miss
    assert run.tick(599) == []
    (up,) = run.tick(600)  # two misses
    assert (up.kind, up.rule, up.since, up.at, up.value) == ("raised", "gw", at(0), at(600), None)
    assert up.reason == "「@gw-1」已10分钟无有效数据（每5分钟应至少一次，连续2次未收到）"
    assert run.tick(3600) == []  # raised once


def test_each_reading_restarts_the_count():
    run = Run(SILENCE)
    for minute in range(0, 60, 9):
        run.feed(r("@gw-1", 1, minute * 60))
        run.tick(minute * 60 + 540)
    assert run.log == []


def test_a_point_that_never_reports_is_silent_from_the_first_evaluation():
    run = Run(SILENCE, {"key": "t", "kind": "threshold", "point": "TT-1", "above": 100})
    run.feed(r("TT-1", 20, 0))  # other data flows: the engine's clock runs
    assert run.tick(599) == []
    (up,) = run.tick(600)
    assert up.since == at(0)


def test_silence_is_also_evaluated_on_other_readings():
    run = Run(SILENCE, {"key": "t", "kind": "threshold", "point": "TT-1", "above": 100})
    run.feed(r("@gw-1", 1, 0))
    run.series("TT-1", [20.0] * 601)  # no tick at all
    assert brief(run.log) == [("raised", "gw", 600.0)]


def test_a_fresh_reading_clears_silence():
    run = Run(SILENCE)
    run.feed(r("@gw-1", 1, 0))
    run.tick(700)
    (down,) = run.feed(r("@gw-1", 1, 710))
    assert (down.kind, down.since, down.at) == ("cleared", at(710), at(710))
    assert down.reason == "「@gw-1」恢复上报"
    assert run.tick(1309) == []
    assert [t.kind for t in run.tick(1310)] == ["raised"]


def test_an_old_buffered_reading_does_not_end_the_silence():
    """After a blocked port reopens, a reading from before the gap proves nothing about now."""
    run = Run(SILENCE)
    run.feed(r("@gw-1", 1, 0))
    run.tick(1200)
    assert run.feed(r("@gw-1", 1, 100)) == []
    assert [t.kind for t in run.feed(r("@gw-1", 1, 1195))] == ["cleared"]


def test_bad_quality_is_not_data_for_silence():
    run = Run({**SILENCE, "points": ["GD-1"]})
    run.feed(r("GD-1", 0, 0))
    run.feed(*[r("GD-1", 0, s, "bad") for s in range(60, 600, 60)])
    assert [t.kind for t in run.tick(600)] == ["raised"]


def test_any_point_of_a_silence_rule_keeps_it_quiet():
    run = Run({**SILENCE, "points": ["A", "B"]})
    run.feed(r("A", 1, 0))
    run.feed(r("B", 1, 500))
    assert run.tick(1099) == []
    assert brief(run.tick(1100)) == [("raised", "gw", 1100.0)]


def test_gateway_heartbeat_from_a_device_payload():
    run = Run(SILENCE)
    batch = parse_batch('{"device": "gw-1", "ts": "2026-11-23T09:00:00+08:00", "values": {}}', at(1))
    run.feed(*batch)
    assert run.tick(599) == [] and len(run.tick(600)) == 1


# -- order and duplicates -------------------------------------------------------------------------

def test_duplicates_and_late_readings_are_dropped_and_counted():
    run = Run({"key": "t", "kind": "threshold", "point": "A", "above": 10})
    run.feed(r("A", 1, 10))
    run.feed(r("A", 50, 10))  # same time: the first one stands
    run.feed(r("A", 50, 5))  # older than the last accepted
    run.feed(r("B", 50, 1))  # no rule reads B: ignored, not counted
    assert run.log == []
    assert run.state["dropped"] == {"duplicate": 1, "late": 1, "invalid": 0}
    assert len(run.feed(r("A", 50, 11))) == 1


def test_order_within_a_batch_is_the_order_given():
    a = Run({"key": "t", "kind": "threshold", "point": "A", "above": 10})
    b = Run({"key": "t", "kind": "threshold", "point": "A", "above": 10})
    a.feed(r("A", 50, 2), r("A", 1, 1))
    b.feed(r("A", 1, 1), r("A", 50, 2))
    assert brief(a.log) == brief(b.log) == [("raised", "t", 2.0)]
    assert a.state["dropped"]["late"] == 1 and b.state["dropped"]["late"] == 0


def test_a_rule_clock_never_goes_back():
    """A late reading of one point of a combined rule counts at the rule's last evaluation."""
    run = Run({"key": "c", "kind": "combined", "mode": "any", "conditions": [
        {"point": "A", "above": 10}, {"point": "B", "above": 10}]})
    run.feed(r("A", 1, 100))
    (up,) = run.feed(r("B", 50, 40))
    assert up.at == at(100)
    run.feed(r("A", 1, 300))
    (down,) = run.feed(r("B", 1, 150))
    assert down.at == at(300)


def test_unknown_points_do_not_enter_the_state():
    run = Run({"key": "t", "kind": "threshold", "point": "A", "above": 10})
    run.feed(*[r(f"X{i}", 1, i) for i in range(1000)])
    assert set(run.state["pts"]) == {"A"}


# -- readings not made by parse_batch (the OPC UA client) --------------------------------------

def test_make_reading_checks_like_the_parser():
    from anlian.sensors.engine import Reading, Rejected, make_reading

    assert make_reading("TT-1", 5, at(0)) == Reading("TT-1", 5.0, at(0), "good")
    for args, code in [(("TT-1", float("nan"), at(0)), "value_not_finite"), (("TT-1", True, at(0)), "value_not_number"),
                       (("TT-1", 1e20, at(0)), "value_too_large"), (("", 1, at(0)), "point_invalid"),
                       ((None, 1, at(0)), "point_missing"), (("TT-1", 1, at(0), "odd"), "quality_invalid"),
                       (("TT-1", 1, at(0).replace(tzinfo=None)), "ts_no_zone")]:
        got = make_reading(*args)
        assert isinstance(got, Rejected) and got.code == code and got.message


def test_non_finite_values_fed_directly_count_as_bad_and_the_state_still_saves():
    from anlian.sensors.engine import to_json

    run = Run({"key": "t", "kind": "threshold", "point": "A", "above": 10},
              {"key": "q", "kind": "silence", "point": "A", "interval": "10s"})
    run.feed(r("A", 1.0, 0), r("A", float("nan"), 1), r("A", float("inf"), 2))
    assert run.log == [] and "NaN" not in to_json(run.state)
    assert [t.rule for t in run.tick(10)] == ["q"]


def test_naive_times_are_dropped_in_feed_and_refused_by_tick():
    import pytest

    run = Run({"key": "t", "kind": "threshold", "point": "A", "above": 10})
    run.feed(r("A", 50.0, 0)._replace(at=at(0).replace(tzinfo=None)), r("A", 50.0, 1))
    assert brief(run.log) == [("raised", "t", 1.0)]
    assert run.state["dropped"]["invalid"] == 1
    with pytest.raises(ValueError):
        run.engine.tick(run.state, at(0).replace(tzinfo=None))


def test_make_reading_takes_other_real_numbers():
    from decimal import Decimal
    from fractions import Fraction

    from anlian.sensors.engine import Rejected, make_reading

    assert make_reading("A", Decimal("85.25"), at(0)).value == 85.25
    assert make_reading("A", Fraction(1, 4), at(0)).value == 0.25

    class Float64(float):  # numpy's float64 is a float subclass
        pass

    assert type(make_reading("A", Float64(2.5), at(0)).value) is float
    assert make_reading("A", Decimal("NaN"), at(0)).code == "value_not_finite"
    assert isinstance(make_reading("A", "85", at(0)), Rejected)
