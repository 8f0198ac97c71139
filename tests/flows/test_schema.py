"""Template validation: every problem reported at once, each naming step, field and what is wrong."""

import pytest
import yaml

from anlian.flows.core import TemplateError, load_template
from anlian.flows.core.schema import dump_template

from .helpers import EXAMPLE, hot_work

BASE = {"key": "t", "name": "测试", "kind": "permit"}


def errors(doc) -> list[str]:
    with pytest.raises(TemplateError) as caught:
        load_template(doc)
    return caught.value.errors


def steps(*items, **top):
    return {**BASE, **top, "steps": list(items)}


def test_example_template_loads():
    tpl = hot_work()
    assert [s.key for s in tpl.steps] == ["apply", "gas", "approve", "patrol", "finish", "recheck", "signoff"]
    assert tpl.by_key["recheck"].after == ("finish",) and tpl.by_key["recheck"].window.at_least.seconds == 600
    assert tpl.ancestors["approve"] == {"apply", "gas"}
    assert load_template(dump_template(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))) == tpl


def test_field_limit_must_be_a_number():
    doc = steps({"key": "apply"}, {"key": "check"},
                {"key": "gas", "fields": [{"key": "lel", "type": "number", "max": "0.5%"}]})
    assert errors(doc) == ["steps[2] (gas).fields[0] (lel): max must be a number"]


def test_several_errors_at_once():
    doc = steps({"key": "apply", "fields": [
        {"key": "n", "type": "number", "min": 5, "max": 1},
        {"key": "c", "type": "choice"},
        {"key": "x", "type": "colour"},
    ], "photos": [{"key": "crew", "min": 3, "max": 1}]}, validity="3x")
    assert errors(doc) == [
        "steps[0] (apply).fields[0] (n): min (5) is greater than max (1)",
        "steps[0] (apply).fields[1] (c): choice needs options or options_from",
        "steps[0] (apply).fields[2] (x): type must be one of text, number, choice, many-choice, person, area, "
        "equipment, datetime, checklist, signature (got 'colour')",
        "steps[0] (apply).photos[0] (crew): min (3) is greater than max (1)",
        "template: validity: '3x' is not a duration (use 30m, 2h, 72h, 7d)",
    ]


def test_unknown_guard():
    assert errors(steps({"key": "a"}, guards=["area_not_frozen", {"sunny": {}}])) == [
        "guards[1]: unknown guard 'sunny' (known: area_not_frozen, weather_allows, qualified)"]


def test_references_to_unknown_steps():
    doc = steps({"key": "apply"}, {"key": "gas", "after": "aply"},
                {"key": "patrol", "repeat": {"every": "2h", "until": "finnish"}},
                {"key": "recheck", "window": {"step": "fin", "at_least": "30m"}},
                resume_requires=["gass"])
    assert errors(doc) == [
        "steps[1] (gas): after names unknown step 'aply'",
        "steps[2] (patrol): repeat.until names unknown step 'finnish'",
        "steps[3] (recheck): window.step names unknown step 'fin'",
        "template: resume_requires names unknown step 'gass'",
    ]


def test_duplicate_keys():
    doc = steps({"key": "apply", "fields": [{"key": "who", "type": "person"}]},
                {"key": "apply", "fields": [{"key": "who", "type": "text"}]})
    assert errors(doc) == [
        "steps[1] (apply): key duplicates steps[0]",
        "steps[1] (apply).fields[0] (who): key duplicates steps[0] (apply).fields[0] (who)",
    ]


def test_cycle_in_after():
    doc = steps({"key": "a", "after": ["c"]}, {"key": "b", "after": ["a"]}, {"key": "c", "after": ["b"]})
    assert errors(doc) == ["steps: cycle in after: a -> c -> b -> a"]


def test_person_field_must_be_an_earlier_person_field():
    doc = steps({"key": "apply", "fields": [{"key": "unit", "type": "text"}]},
                {"key": "patrol", "actor": {"person_field": "unit"}},
                {"key": "finish", "actor": {"person_field": "guardian"}},
                {"key": "late", "fields": [{"key": "guardian", "type": "person"}]})
    assert errors(doc) == [
        "steps[1] (patrol): actor.person_field 'unit' is a text field, not person",
        "steps[2] (finish): actor.person_field 'guardian' is not a field of an earlier step",
    ]


def test_order_sensitive_references():
    doc = steps({"key": "a", "fields": [{"key": "m", "type": "text", "show_if": {"field": "z", "equals": 1}}]},
                {"key": "b", "repeat": {"every": "1h", "until": "a"}},
                {"key": "c", "window": {"step": "d", "at_most": "1h"}}, {"key": "d", "after": ["b"]},
                {"key": "e", "after": "a", "kind": "approval", "approval": {"return_to": ["d"]}})
    assert errors(doc) == [
        "steps[0] (a).fields[0] (m): show_if.field 'z' is not an earlier field",
        "steps[1] (b): repeat.until 'a' must come after this step",
        "steps[2] (c): window.step 'd' must come before this step",
        "steps[4] (e): approval.return_to 'd' must come before this step",
    ]


def test_shapes_of_steps():
    doc = steps({"key": "A b", "kind": "meeting", "actor": {"team": "x"}, "approval": {"mode": "all"},
                 "presence": "photo", "colour": 1},
                {"key": "ok", "kind": "approval", "approval": {"mode": "single", "actors": [
                    {"role": "a"}, {"role": "b", "scope": "planet"}]}})
    assert errors(doc) == [
        "steps[0] (A b): kind must be one of task, approval, review (got 'meeting')",
        "steps[0] (A b): unknown property 'colour'",
        "steps[0] (A b): key 'A b' must be lower-case letters, digits, - or _",
        "steps[0] (A b).actor: must be applicant, system, {role: …, scope: …} or {person_field: …}",
        "steps[0] (A b): approval is only for kind approval or review",
        "steps[0] (A b): presence is only for kind approval or review",
        "steps[1] (ok).approval.actors[1]: scope must be one of team, workshop, plant, company, group "
        "(got 'planet')",
        "steps[1] (ok).approval: mode single takes one actor; use all (会签) or any (或签)",
    ]


def test_not_yaml_and_not_a_mapping():
    assert errors("key: [unclosed")[0].startswith("not valid YAML")
    assert errors("- a list") == ["template: must be a mapping"]
    assert errors({"name": "x"}) == ["template: steps must be a non-empty list", "template: key is required"]
