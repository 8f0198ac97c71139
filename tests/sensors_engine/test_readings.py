"""The reading parser: the three payload shapes, and every bad item refused with a reason."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anlian.sensors.engine import Reading, parse_batch
from anlian.sensors.engine.readings import MAX_ITEMS

from .helpers import CST, T0

RECEIVED = T0 + timedelta(seconds=2)


def codes(batch) -> list[tuple[str, str]]:
    return [(x.where, x.code) for x in batch.rejected]


def test_one_reading_object():
    b = parse_batch('{"point": "T-101", "value": 85.2, "ts": "2026-11-23T09:00:00+08:00"}', RECEIVED)
    assert list(b) == [Reading("T-101", 85.2, T0, "good")]
    assert b.rejected == []
    assert b[0].at.utcoffset() == timedelta(hours=8)


def test_list_of_readings_with_quality_and_bytes():
    raw = json.dumps([{"point": "T-101", "value": 85, "ts": "2026-11-23T01:00:00Z"},
                      {"point": "PT-7", "value": -0.5, "ts": "2026-11-23T09:00:01+08:00", "quality": "bad"}]).encode()
    b = parse_batch(raw, RECEIVED)
    assert b == [Reading("T-101", 85.0, T0, "good"), Reading("PT-7", -0.5, T0 + timedelta(seconds=1), "bad")]
    assert isinstance(b[0].value, float)


def test_device_object_gives_one_ts_for_all_values_and_a_heartbeat():
    raw = {"device": "gw-1", "ts": "2026-11-23T09:00:00+08:00",
           "values": {"T-101": 85.2, "LT-3": 2, "GD-1": {"value": 0.4, "quality": "uncertain"}}}
    b = parse_batch(json.dumps(raw), RECEIVED)
    assert b == [Reading("T-101", 85.2, T0), Reading("LT-3", 2.0, T0), Reading("GD-1", 0.4, T0, "uncertain"),
                 Reading("@gw-1", 3.0, T0)]


def test_device_heartbeat_without_values():
    b = parse_batch('{"device": "gw-1", "ts": "2026-11-23T09:00:00+08:00"}', RECEIVED)
    assert b == [Reading("@gw-1", 0.0, T0)]


def test_missing_ts_is_the_receive_time():
    b = parse_batch('[{"point": "T-101", "value": 1}, {"device": "gw", "values": {"A": 2}}]', RECEIVED)
    assert [x.at for x in b] == [RECEIVED] * 3


def test_missing_ts_without_receive_time_reads_the_wall_clock_once():
    before = datetime.now(UTC)
    b = parse_batch('[{"point": "A", "value": 1}, {"point": "B", "value": 2}]')
    assert b[0].at == b[1].at == b.received_at
    assert before <= b[0].at <= datetime.now(UTC)


def test_unix_seconds_and_milliseconds():
    epoch = T0.timestamp()
    b = parse_batch(json.dumps([{"point": "A", "value": 1, "ts": epoch},
                                {"point": "B", "value": 1, "ts": int(epoch * 1000)}]), RECEIVED)
    assert [x.at for x in b] == [T0, T0]


@pytest.mark.parametrize("item, code", [
    ({"point": "A", "value": True}, "value_not_number"),
    ({"point": "A", "value": False}, "value_not_number"),
    ({"point": "A", "value": "85.2"}, "value_not_number"),
    ({"point": "A", "value": [1]}, "value_not_number"),
    ({"point": "A", "value": None}, "value_missing"),
    ({"point": "A"}, "value_missing"),
    ({"point": "A", "value": 1e13}, "value_too_large"),
    ({"point": "A", "value": -10 ** 40}, "value_too_large"),
    ({"value": 1}, "point_missing"),
    ({"point": "", "value": 1}, "point_invalid"),
    ({"point": 7, "value": 1}, "point_invalid"),
    ({"point": "x" * 129, "value": 1}, "point_invalid"),
    ({"point": "A\nB", "value": 1}, "point_invalid"),
    ({"point": "A", "value": 1, "ts": "2026-11-23T09:00:00"}, "ts_no_zone"),
    ({"point": "A", "value": 1, "ts": "yesterday"}, "ts_invalid"),
    ({"point": "A", "value": 1, "ts": True}, "ts_invalid"),
    ({"point": "A", "value": 1, "ts": 1e30}, "ts_invalid"),
    ({"point": "A", "value": 1, "ts": "2026-11-23T09:10:00+08:00"}, "ts_future"),
    ({"point": "A", "value": 1, "quality": "excellent"}, "quality_invalid"),
    ({"point": "A", "value": 1, "unit": "°C"}, "item_unknown"),
    ({"point": "A", "value": 1, "ts": "2026-11-23T09:00:00+08:00", "unit": "°C"}, "item_unknown"),
])
def test_bad_items_are_reported_and_the_good_ones_kept(item, code):
    good = {"point": "OK", "value": 1.5, "ts": "2026-11-23T09:00:00+08:00"}
    b = parse_batch(json.dumps([good, item, good]), RECEIVED)
    assert b == [Reading("OK", 1.5, T0)] * 2
    assert codes(b) == [("[1]", code)]
    assert b.rejected[0].message  # a Chinese sentence, not a code
    assert "[1]" in str(b.rejected[0])


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_nan_and_infinity_refused(literal):
    b = parse_batch('[{"point": "A", "value": ' + literal + '}, {"point": "B", "value": 2}]', RECEIVED)
    assert [x.point for x in b] == ["B"]
    assert codes(b) == [("[0]", "value_not_finite")]


def test_bad_values_inside_a_device_object_name_their_tag():
    raw = {"device": "gw-1", "ts": "2026-11-23T09:00:00+08:00",
           "values": {"T-1": 1, "T-2": "hot", "T-3": float("nan"), "T-4": True, "": 1, "T-5": {"value": 2, "quality": "?"}}}
    b = parse_batch(json.dumps(raw), RECEIVED)
    assert [x.point for x in b] == ["T-1", "@gw-1"]
    assert codes(b) == [("values.T-2", "value_not_number"), ("values.T-3", "value_not_finite"),
                        ("values.T-4", "value_not_number"), ("values.", "point_invalid"),
                        ("values.T-5", "quality_invalid")]


@pytest.mark.parametrize("raw, code", [
    ({"device": "gw-1", "values": [1, 2]}, "values_shape"),
    ({"device": "", "values": {}}, "device_invalid"),
    ({"device": "gw-1", "values": {}, "extra": 1}, "item_unknown"),
    ({"device": "gw-1", "values": {}, "ts": "soon"}, "ts_invalid"),
    ({"values": {"A": 1}}, "device_invalid"),
])
def test_bad_device_objects(raw, code):
    b = parse_batch(json.dumps([raw]), RECEIVED)
    assert list(b) == [] and codes(b) == [("[0]", code)]


@pytest.mark.parametrize("raw, code", [
    (b"\xff\xfe not utf-8", "batch_not_text"),
    ("{not json", "batch_not_json"),
    ("", "batch_not_json"),
    ("42", "batch_shape"),
    ('"text"', "batch_shape"),
    ("null", "batch_shape"),
    ("[" * 100_000 + "]" * 100_000, "batch_not_json"),
    ('[{"point": "A", "value": 1%s}]' % ("0" * 5000), "batch_not_json"),
    (12, "batch_shape"),
    (None, "batch_shape"),
])
def test_whole_batch_refused_without_exception(raw, code):
    b = parse_batch(raw, RECEIVED)
    assert list(b) == []
    assert codes(b) == [("", code)]


def test_too_many_items_and_too_many_bytes():
    raw = json.dumps([{"point": "A", "value": 1}] * (MAX_ITEMS + 1))
    b = parse_batch(raw, RECEIVED)
    assert list(b) == [] and codes(b) == [("", "batch_too_many")]
    b = parse_batch(json.dumps({"device": "gw", "values": {f"P{i}": 1 for i in range(MAX_ITEMS + 1)}}), RECEIVED)
    assert codes(b) == [("", "batch_too_many")]
    b = parse_batch(b"[" + b" " * 100 + b"]", RECEIVED, max_bytes=50)
    assert codes(b) == [("", "batch_too_large")]
    b = parse_batch("[" + " " * 100 + "]", RECEIVED, max_bytes=50)
    assert codes(b) == [("", "batch_too_large")]


def test_a_huge_valid_batch_parses_completely():
    raw = json.dumps([{"point": f"P{i}", "value": i * 0.5, "ts": "2026-11-23T09:00:00+08:00"} for i in range(100_000)])
    b = parse_batch(raw, RECEIVED)
    assert len(b) == 100_000 and b.rejected == []
    assert b[99_999] == Reading("P99999", 49999.5, T0)


def test_future_limit_is_relative_to_the_receive_time():
    ahead = (RECEIVED + timedelta(minutes=4, seconds=59)).isoformat()
    too_far = (RECEIVED + timedelta(minutes=5, seconds=1)).isoformat()
    b = parse_batch(json.dumps([{"point": "A", "value": 1, "ts": ahead}, {"point": "A", "value": 1, "ts": too_far}]),
                    RECEIVED)
    assert len(b) == 1 and codes(b) == [("[1]", "ts_future")]


def test_other_zones_are_kept_exactly():
    b = parse_batch('{"point": "A", "value": 1, "ts": "2026-11-23T01:00:00.250+00:00"}', RECEIVED)
    assert b[0].at == T0 + timedelta(milliseconds=250)
    assert b[0].at.tzinfo is not None and b[0].at.astimezone(CST).hour == 9


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["point", "value", "ts", "quality", "device", "values", "x"]) | st.text(max_size=4),
        inner, max_size=5),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_never_raises_on_any_json(doc):
    b = parse_batch(json.dumps(doc), RECEIVED)
    for x in b:
        assert isinstance(x.point, str) and x.point
        assert isinstance(x.value, float) and abs(x.value) <= 1e12
        assert x.at.tzinfo is not None and x.quality in ("good", "uncertain", "bad")
    for x in b.rejected:
        assert x.message


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_never_raises_on_any_bytes(raw):
    b = parse_batch(raw, RECEIVED)
    assert all(x.message for x in b.rejected)
