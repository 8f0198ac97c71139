"""Property tests: random step graphs and random action sequences never break the core rules."""

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anlian.flows.core import Action, ActorFacts, Event, Refusal, StaticFacts, apply, decide, load_template, replay

T0 = datetime(2025, 5, 19, 8, 0, tzinfo=timezone.utc)
WORKER = ActorFacts("worker")
BOSS = ActorFacts.of("boss", "approver")
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def templates(draw):
    """A random DAG of 2-8 steps: each step after a random non-empty set of earlier steps."""
    n = draw(st.integers(2, 8))
    docs = [{"key": "s0"}]
    for i in range(1, n):
        after = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=3, unique=True))
        doc = {"key": f"s{i}", "after": [f"s{j}" for j in after]}
        if draw(st.booleans()):
            doc.update(kind="approval", actor={"role": "approver"})
        docs.append(doc)
    return {"key": "random", "name": "随机", "kind": "permit", "guards": ["area_not_frozen"], "steps": docs}


ops = st.lists(st.tuples(st.integers(0, 7), st.sampled_from(["ready", "ready", "do", "return"]),
                         st.integers(0, 30), st.sampled_from([False] * 4 + [True]), st.integers(0, 7)),
               min_size=3, max_size=30)


def descendants(doc: dict, key: str) -> set[str]:
    """Independent of the engine: walk `after` edges forward."""
    found, todo = set(), [key]
    while todo:
        cur = todo.pop()
        for s in doc["steps"]:
            if cur in s.get("after", []) and s["key"] not in found:
                found.add(s["key"])
                todo.append(s["key"])
    return found


def ready_steps(tpl, events, now) -> list[str]:
    """Steps the engine would accept now (ignoring freezes), to push random runs forward."""
    return [d.step for actor in (WORKER, BOSS) for d in decide(tpl, events, actor, now, StaticFacts())
            if d.allowed and d.action in ("complete", "approve")]


def action_for(doc: dict, tpl, index: int, what: str, target: int, ready: list[str]) -> tuple[Action, ActorFacts]:
    keys = ready if what == "ready" and ready else [s["key"] for s in doc["steps"]]
    step = tpl.by_key[keys[index % len(keys)]]
    step = next(s for s in doc["steps"] if s["key"] == step.key)
    if step.get("kind") != "approval":
        return Action("complete", step=step["key"]), WORKER
    if what == "return":
        earlier = sorted(tpl.ancestors[step["key"]])
        return Action("return", step=step["key"], target=earlier[target % len(earlier)], reason="重做"), BOSS
    return Action("approve", step=step["key"]), BOSS


def run(doc: dict, operations) -> tuple[object, list[Event], list[bool]]:
    tpl = load_template(doc)
    facts = StaticFacts()
    now = T0
    events = [apply(tpl, [], Action("start", area="A"), WORKER, now, facts)]
    frozen_when = [False]
    for index, what, minutes, frozen, target in operations:
        now += timedelta(minutes=minutes)
        facts.frozen = {"A"} if frozen else set()
        ready = ready_steps(tpl, events, now) if what == "ready" else []
        action, actor = action_for(doc, tpl, index, what, target, ready)
        allowed = _allowed(tpl, events, action, actor, now, facts)
        try:
            events.append(apply(tpl, events, action, actor, now, facts))
            frozen_when.append(frozen)
            assert allowed is not False, "decide refused what apply accepted"
        except Refusal as refusal:
            assert allowed is not True, f"decide allowed what apply refused: {refusal}"
            if frozen and action.kind != "return":
                assert refusal.code == "area_frozen"
    return tpl, events, frozen_when


def _allowed(tpl, events, action, actor, now, facts) -> bool | None:
    if action.kind == "return":
        return None  # its payload (target, reason) is only checked by apply
    for d in decide(tpl, events, actor, now, facts):
        if (d.action, d.step) == (action.kind, action.step):
            return d.allowed
    return None


@SETTINGS
@given(templates(), ops)
def test_no_step_before_its_predecessors(doc, operations):
    tpl, events, _ = run(doc, operations)
    after = {s["key"]: set(s.get("after", [])) for s in doc["steps"]}
    done: set[str] = set()
    for event in events:
        if event.kind in ("step_completed", "approved"):
            assert after[event.step] <= done, f"{event.step} before {after[event.step] - done}"
            done.add(event.step)
        if event.kind == "returned":
            done -= {event.payload["to"]} | descendants(doc, event.payload["to"])


@SETTINGS
@given(templates(), ops)
def test_no_guard_is_bypassed(doc, operations):
    tpl, events, frozen_when = run(doc, operations)
    for event, frozen in zip(events, frozen_when):
        if event.kind in ("step_completed", "approved"):
            assert not frozen
    tpl = load_template(doc)
    blocked = StaticFacts(frozen={"A"})
    for d in decide(tpl, events, WORKER, T0 + timedelta(days=1), blocked):
        if d.action in ("complete", "approve"):
            assert not d.allowed


@SETTINGS
@given(templates(), ops)
def test_replay_is_deterministic(doc, operations):
    tpl, events, _ = run(doc, operations)
    state = replay(tpl, events)
    assert replay(tpl, events) == state
    assert replay(load_template(doc), [Event.from_dict(e.to_dict()) for e in events]) == state
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


@SETTINGS
@given(templates(), ops, st.integers(0, 3000))
def test_my_tasks_shortcut_agrees_with_decide(doc, operations, minutes):
    from anlian.flows.core import tasks

    tpl, events, _ = run(doc, operations)
    now = T0 + timedelta(minutes=minutes)
    for facts in (StaticFacts(), StaticFacts(frozen={"A"})):
        for actor in (WORKER, BOSS):
            full = [d for d in decide(tpl, events, actor, now, facts) if d.allowed and d.step]
            assert tasks(tpl, events, actor, now, facts) == full
