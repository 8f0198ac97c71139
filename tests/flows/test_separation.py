"""Steps done by the system (automatic dispatch) and separation of duties (`distinct_from`): the
person who rectified may not verify, whoever else may."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from anlian.flows.core import SYSTEM, Action, ActorFacts, Refusal, StaticFacts, apply, decide, tasks
from anlian.flows.core.schema import TemplateError, load_template

TPL = load_template("""
key: fix
name: 整改
kind: hazard
steps:
  - key: report
    name: 上报
  - key: dispatch
    name: 派发
    actor: system
    fields:
      - {key: fixer, label: 整改人, type: person, required: true}
  - key: rectify
    name: 整改
    actor: {person_field: fixer}
  - key: verify
    name: 验收
    actor: {role: safety_officer}
    distinct_from: [rectify]
""")
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
REPORTER = ActorFacts.of("zhang")
FIXER = ActorFacts.of("li", "safety_officer")  # holds the verifier's role too
VERIFIER = ActorFacts.of("wang", "safety_officer")
FACTS = StaticFacts()


def run(events, actor, action):
    return [*events, apply(TPL, events, action, actor, NOW, FACTS)]


def dispatched():
    events = run([], REPORTER, Action("start", area="a1"))
    events = run(events, REPORTER, Action("complete", step="report"))
    return run(events, SYSTEM, Action("complete", step="dispatch", values={"fixer": "li"}))


def test_only_the_system_does_a_system_step():
    events = run(run([], REPORTER, Action("start", area="a1")), REPORTER, Action("complete", step="report"))
    with pytest.raises(Refusal) as refused:
        apply(TPL, events, Action("complete", step="dispatch", values={"fixer": "li"}), VERIFIER, NOW, FACTS)
    assert refused.value.code == "wrong_actor"
    assert not any(t.step == "dispatch" for t in tasks(TPL, events, VERIFIER, NOW, FACTS))
    assert dispatched()[-1].actor == "system"


def test_the_rectifier_cannot_verify_their_own_fix_and_another_officer_can():
    events = run(dispatched(), FIXER, Action("complete", step="rectify"))
    with pytest.raises(Refusal) as refused:
        apply(TPL, events, Action("complete", step="verify"), FIXER, NOW, FACTS)
    assert refused.value.code == "distinct_actor"
    assert refused.value.message == "做过「整改」的人不能再做「验收」"
    allowed = {d.action: d.allowed for d in decide(TPL, events, FIXER, NOW, FACTS) if d.step == "verify"}
    assert allowed == {"complete": False}
    run(events, VERIFIER, Action("complete", step="verify"))


@pytest.mark.parametrize(("step", "error"), [
    ("{key: b, name: b, distinct_from: [nowhere]}", "distinct_from names unknown step 'nowhere'"),
    ("{key: b, name: b, kind: approval, actor: system}", "an approval is signed by people, not by the system"),
])
def test_schema_checks_the_new_keys(step, error):
    with pytest.raises(TemplateError) as bad:
        load_template(f"key: x\nname: x\nsteps:\n  - {{key: a, name: a}}\n  - {step}\n")
    assert error in str(bad.value)
