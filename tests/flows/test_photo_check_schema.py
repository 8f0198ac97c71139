"""Photo slots choose their checks: known names, right options, `before` naming an earlier slot."""

from datetime import timedelta

import pytest

from anlian.flows.core import TemplateError, load_template
from anlian.flows.core.schema import PhotoCheck, dump_template

BASE = {"key": "t", "name": "测试", "kind": "hazard"}


def errors(doc) -> list[str]:
    with pytest.raises(TemplateError) as caught:
        load_template(doc)
    return caught.value.errors


def steps(*items):
    return {**BASE, "steps": list(items)}


def slot(key, **checks):
    return {"key": key, "min": 1, "checks": checks}


def test_checks_are_parsed_frozen_with_defaults_left_to_the_runner():
    doc = steps(
        {"key": "report", "photos": [slot("site_before", freshness={"max_age": "10m", "hard": True})]},
        {"key": "fix", "photos": [slot("site_after", reuse={"hard": True, "distance": 6}, quality={},
                                       place={"within": 30}, before_after={"before": "site_before", "within": 10})]},
    )
    tpl = load_template(doc)
    before, after = tpl.by_key["report"].photos[0], tpl.by_key["fix"].photos[0]
    assert before.checks == (PhotoCheck("freshness", True, (("max_age", timedelta(minutes=10)),)),)
    assert after.check_map == {
        "reuse": {"distance": 6, "hard": True},
        "quality": {"hard": False},
        "place": {"within": 30, "of": "area", "hard": False},
        "before_after": {"before": "site_before", "within": 10, "hard": False},
    }
    hash(tpl.by_key["fix"])  # still frozen and hashable
    assert load_template(dump_template(doc)) == tpl


def test_slots_without_checks_are_unchanged():
    tpl = load_template(steps({"key": "a", "photos": [{"key": "p"}]}))
    assert tpl.steps[0].photos[0].checks == () and tpl.steps[0].photos[0].check_map == {}


def test_check_null_means_defaults():
    tpl = load_template(steps({"key": "a", "photos": [slot("p", quality=None)]}))
    assert tpl.steps[0].photos[0].check_map == {"quality": {"hard": False}}


def test_unknown_check_and_option_and_bad_values_all_reported():
    doc = steps({"key": "a", "photos": [slot(
        "p", freshness={"max_age": "10x", "hard": "yes"}, fresh={}, reuse={"distance": 20},
        quality={"min_brightness": 300, "blur": 3}, place={"of": "moon"})]})
    assert errors(doc) == [
        "steps[0] (a).photos[0] (p).checks.freshness: hard must be true or false",
        "steps[0] (a).photos[0] (p).checks.freshness: max_age: '10x' is not a duration (use 30m, 2h, 72h, 7d)",
        "steps[0] (a).photos[0] (p).checks: unknown check 'fresh' (known: freshness, reuse, quality, place, "
        "before_after)",
        "steps[0] (a).photos[0] (p).checks.reuse: distance must be a whole number from 0 to 11 (bits of 64)",
        "steps[0] (a).photos[0] (p).checks.quality: unknown option 'blur' (known: min_sharpness, min_brightness, "
        "hard)",
        "steps[0] (a).photos[0] (p).checks.quality: min_brightness must be ≥ 0 and ≤ 255",
        "steps[0] (a).photos[0] (p).checks.place: within is required (metres, e.g. within: 30)",
        "steps[0] (a).photos[0] (p).checks.place: of must be one of area, point (got 'moon')",
    ]


def test_checks_must_be_a_mapping():
    assert errors(steps({"key": "a", "photos": [{"key": "p", "checks": ["reuse"]}]})) == [
        "steps[0] (a).photos[0] (p): checks must be a mapping of check names to options"]
    assert errors(steps({"key": "a", "photos": [{"key": "p", "checks": {"reuse": True}}]})) == [
        "steps[0] (a).photos[0] (p).checks.reuse: must be a mapping of options (or {})"]


def test_within_must_be_a_number():
    assert errors(steps({"key": "a", "photos": [slot("p", place={"within": "30m"})]})) == [
        "steps[0] (a).photos[0] (p).checks.place: within must be a number"]


def test_before_is_required_and_min_distance_checked():
    doc = steps({"key": "a", "photos": [{"key": "pre"}, slot("y", before_after={"within": 5}),
                                        slot("z", before_after={"before": "pre", "min_distance": 0})]})
    assert errors(doc) == [
        "steps[0] (a).photos[1] (y).checks.before_after: before is required: the key of an earlier photo slot",
        "steps[0] (a).photos[2] (z).checks.before_after: min_distance must be a whole number from 1 to 64 "
        "(bits of 64)",
    ]


def test_before_must_name_an_earlier_slot():
    doc = steps(
        {"key": "a", "photos": [slot("first", before_after={"before": "second"}), {"key": "second"}]},
        {"key": "b", "photos": [slot("x", before_after={"before": "nowhere"})]},
        {"key": "c", "after": "a", "photos": [slot("w", before_after={"before": "x"})]},
    )
    assert errors(doc) == [
        "steps[0] (a).photos[0] (first).checks.before_after: before 'second' must be a photo slot of an earlier "
        "step or listed earlier in this step",
        "steps[1] (b).photos[0] (x).checks.before_after: before 'nowhere' is not a photo slot of this template",
        "steps[2] (c).photos[0] (w).checks.before_after: before 'x' must be a photo slot of an earlier step or "
        "listed earlier in this step",
    ]


def test_before_in_the_same_step_listed_earlier_is_fine():
    tpl = load_template(steps({"key": "a", "photos": [{"key": "pre"}, slot("post", before_after={"before": "pre"})]}))
    assert tpl.steps[0].photos[1].check_map["before_after"]["before"] == "pre"


def test_a_slot_may_be_camera_only():
    from anlian.flows.core import TemplateError, load_template

    doc = {"key": "t", "name": "相机", "kind": "loto", "steps": [
        {"key": "a", "name": "拍照", "actor": "applicant",
         "photos": [{"key": "p", "label": "现场", "min": 1, "camera_only": True}, {"key": "q", "label": "其他"}]}]}
    tpl = load_template(doc)
    assert [s.camera_only for s in tpl.steps[0].photos] == [True, False]
    doc["steps"][0]["photos"][0]["camera_only"] = "yes"
    with pytest.raises(TemplateError) as caught:
        load_template(doc)
    assert "camera_only must be true or false" in str(caught.value)


def test_a_slot_may_take_video():
    doc = {"key": "t", "name": "录像", "kind": "inspection", "steps": [
        {"key": "a", "name": "录像", "actor": "applicant", "photos": [{"key": "v", "label": "录像", "video": True}]}]}
    assert load_template(doc).steps[0].photos[0].video is True
    doc["steps"][0]["photos"][0]["video"] = 1
    with pytest.raises(TemplateError) as caught:
        load_template(doc)
    assert "video must be true or false" in str(caught.value)
