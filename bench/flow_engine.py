"""Benchmark: Anlian's workflow core against SpiffWorkflow on the same 8-step job.

Both sides run one sequential permit of eight steps (apply → gas → measures → approve →
start_work → patrol → finish → signoff), many times, and we report the time per completed job.

* Anlian (``anlian.flows.core``): the template is loaded once. Per job: ``start``, then for each
  step what the product does per action — ``tasks`` for the acting person (the "my tasks"
  question, the counterpart of Spiff's ready-task lookup), then ``apply`` (field validation,
  rules, replay of the job's events), appending the event; finally one ``replay`` confirms that
  all eight steps are done. The breakdown also times the job with the full ``decide`` (every
  refused action explained, as the step page asks) and with no question at all.
* SpiffWorkflow (BPMN 2.0): the XML is parsed once. Per job: a new ``BpmnWorkflow``,
  ``do_engine_steps``, then for each step the ready user task of the actor's lane is looked
  up, its data set, run, and ``do_engine_steps`` again, until ``is_completed()``.

The issue's goal: Anlian at most 0.5× SpiffWorkflow's time per completed job. This script
only reports (exit status 0 whatever the result); run it with ``--help`` for its options.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

try:  # run from a checkout without installing the package
    import anlian  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from anlian.flows.core import Action, ActorFacts, StaticFacts, apply, decide, load_template, replay, tasks

GOAL = 0.5  # ours / spiff, per completed job

# -- the job, as an Anlian template ----------------------------------------------------------

TEMPLATE_YAML = """
key: bench-permit
name: 基准作业票
kind: permit
version: 1
validity: 8h
guards:
  - area_not_frozen
  - weather_allows: {outdoor_only: true}
steps:
  - key: apply
    name: 申请
    actor: applicant
    fields:
      - {key: unit, label: 作业单位, type: text, required: true}
      - {key: content, label: 作业内容, type: text, required: true}
      - {key: method, label: 作业方式, type: choice, options: [电焊, 气割, 切割, 其他], required: true}
      - {key: guardian, label: 监护人, type: person, required: true}
  - key: gas
    name: 气体分析
    actor: {role: analyst}
    valid_for: 30m
    fields:
      - {key: lel, label: 可燃气体, type: number, unit: "%LEL", min: 0, max: 10, required: true}
      - {key: instrument, label: 检测仪, type: equipment, required: true}
  - key: measures
    name: 安全措施
    actor: applicant
    fields:
      - key: checklist
        label: 安全措施确认
        type: checklist
        required: true
        items:
          - {key: cleared, label: 清除周围易燃物}
          - {key: extinguisher, label: 配备灭火器材}
          - {key: isolated, label: 与运行设备隔绝}
  - key: approve
    name: 审批
    kind: approval
    actor: {role: approver, scope: plant}
    approval: {mode: single}
    fields:
      - {key: approver_sign, label: 审批人签名, type: signature, required: true}
  - key: start_work
    name: 开始作业
    actor: applicant
    fields:
      - {key: started, label: 开工时间, type: datetime, required: true}
  - key: patrol
    name: 作业中巡检
    actor: {person_field: guardian}
    fields:
      - {key: patrol_note, label: 巡检记录, type: text, required: true}
  - key: finish
    name: 完工验收
    actor: {person_field: guardian}
    fields:
      - key: cleanup
        label: 完工检查
        type: checklist
        required: true
        items: [{key: fire_out, label: 火种已熄灭}, {key: tidy, label: 现场已清理}]
  - key: signoff
    name: 签字确认
    kind: review
    actor: {role: area_owner}
    approval: {mode: single}
"""

# -- the same job, as BPMN 2.0 for SpiffWorkflow: eight user tasks in sequence, one lane per actor

_STEPS = [("apply", "申请", "applicant"), ("gas", "气体分析", "analyst"),
          ("measures", "安全措施", "applicant"), ("approve", "审批", "approver"),
          ("start_work", "开始作业", "applicant"), ("patrol", "作业中巡检", "guardian"),
          ("finish", "完工验收", "guardian"), ("signoff", "签字确认", "area_owner")]


def _bpmn() -> str:
    lanes = {}
    for key, _, lane in _STEPS:
        lanes.setdefault(lane, []).append(key)
    lane_xml = "".join(
        f'<bpmn:lane id="lane_{lane}" name="{lane}">'
        + "".join(f"<bpmn:flowNodeRef>{k}</bpmn:flowNodeRef>" for k in keys)
        + ("<bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>"
           if lane == "applicant" else "")
        + "</bpmn:lane>" for lane, keys in lanes.items())
    nodes = ['<bpmn:startEvent id="start"/>']
    chain = ["start"] + [key for key, _, _ in _STEPS] + ["end"]
    nodes += [f'<bpmn:userTask id="{key}" name="{name}"/>' for key, name, _ in _STEPS]
    nodes.append('<bpmn:endEvent id="end"/>')
    flows = [f'<bpmn:sequenceFlow id="flow_{i}" sourceRef="{a}" targetRef="{b}"/>'
             for i, (a, b) in enumerate(zip(chain, chain[1:]))]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'id="bench_definitions" targetNamespace="http://bpmn.io/schema/bpmn">'
            '<bpmn:process id="bench_permit" isExecutable="true">'
            f'<bpmn:laneSet id="lanes">{lane_xml}</bpmn:laneSet>'
            + "".join(nodes) + "".join(flows) + "</bpmn:process></bpmn:definitions>")


BPMN_XML = _bpmn()

# -- people, place, and what each step submits (identical data on both sides) ------------------

CST = timezone(timedelta(hours=8))
START = datetime(2025, 5, 19, 8, 55, tzinfo=CST)
AREA = "berth-3"
APPLICANT = ActorFacts.of("zhang", name="张三")
ANALYST = ActorFacts.of("li", "analyst")
APPROVER = ActorFacts.of("wang", "approver", scope="plant")
GUARDIAN = ActorFacts.of("zhao")
OWNER = ActorFacts.of("qian", "area_owner")

# (step, action kind, actor, lane, values, minutes after start)
SCRIPT = [
    ("apply", "complete", APPLICANT, "applicant",
     {"unit": "码头二队", "content": "3号泊位护栏焊接", "method": "电焊", "guardian": "zhao"}, 0),
    ("gas", "complete", ANALYST, "analyst", {"lel": 0.2, "instrument": "GD-07"}, 5),
    ("measures", "complete", APPLICANT, "applicant",
     {"checklist": {"cleared": "done", "extinguisher": "done", "isolated": "not_applicable"}}, 10),
    ("approve", "approve", APPROVER, "approver", {"approver_sign": "sig-wang"}, 15),
    ("start_work", "complete", APPLICANT, "applicant", {"started": "2025-05-19T09:15:00+08:00"}, 20),
    ("patrol", "complete", GUARDIAN, "guardian", {"patrol_note": "现场正常"}, 120),
    ("finish", "complete", GUARDIAN, "guardian", {"cleanup": {"fire_out": "done", "tidy": "done"}}, 240),
    ("signoff", "approve", OWNER, "area_owner", {}, 260),
]
assert [s[0] for s in SCRIPT] == [k for k, _, _ in _STEPS]
assert [s[3] for s in SCRIPT] == [lane for _, _, lane in _STEPS]


def world() -> StaticFacts:
    return StaticFacts(outdoor={AREA}, names={AREA: "3号泊位"})


# -- one completed job per side ------------------------------------------------------------------

def anlian_job(tpl, facts: StaticFacts, plan: list, ask: str = "tasks") -> list:
    """plan: precomputed (actor, Action, now) per action, the start first. Before each action the
    actor asks what they may do: ``ask="tasks"`` is the "my tasks" question (the counterpart of
    Spiff's ready-task lookup), ``"decide"`` also explains every refused action (the step page),
    ``"none"`` skips asking (for the breakdown)."""
    events: list = []
    for actor, action, now in plan:
        if ask == "none":
            found = True
        elif ask == "tasks" and events:
            found = any(d.action == action.kind and d.step == action.step
                        for d in tasks(tpl, events, actor, now, facts))
        else:
            found = any(d.allowed and d.action == action.kind and d.step == action.step
                        for d in decide(tpl, events, actor, now, facts, area=AREA))
        if not found:
            raise AssertionError(f"{actor.id} may not {action.kind} {action.step}")
        events.append(apply(tpl, events, action, actor, now, facts))
    state = replay(tpl, events)
    if not all(state.steps[key].done for key in tpl.by_key):
        raise AssertionError("job not complete")
    return events


def anlian_plan() -> list:
    plan = [(APPLICANT, Action("start", area=AREA), START)]
    for step, kind, actor, _lane, values, minute in SCRIPT:
        plan.append((actor, Action(kind, step=step, values=values), START + timedelta(minutes=minute)))
    return plan


def spiff_job(spec, BpmnWorkflow, READY: int):
    wf = BpmnWorkflow(spec)
    wf.do_engine_steps()
    for step, _kind, _actor, lane, values, _minute in SCRIPT:
        ready = wf.get_tasks(state=READY, manual=True, lane=lane)
        if len(ready) != 1 or ready[0].task_spec.name != step:
            raise AssertionError(f"expected {step} ready in lane {lane}, got {ready}")
        task = ready[0]
        task.set_data(**values)
        task.run()
        wf.do_engine_steps()
    if not wf.is_completed():
        raise AssertionError("spiff workflow not complete")
    return wf


# -- timing --------------------------------------------------------------------------------------

def timed(fn, jobs: int) -> float:
    """Seconds per job over ``jobs`` jobs."""
    t0 = time.perf_counter()
    for _ in range(jobs):
        fn()
    return (time.perf_counter() - t0) / jobs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=300, help="completed jobs per repeat (default 300)")
    ap.add_argument("--repeats", type=int, default=7, help="timed repeats per side (default 7)")
    args = ap.parse_args(argv)

    try:
        from SpiffWorkflow.bpmn import BpmnWorkflow
        from SpiffWorkflow.bpmn.parser import BpmnParser
        from SpiffWorkflow.util.task import TaskState
    except ImportError:
        print("SpiffWorkflow is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2

    print(f"python {platform.python_version()} ({platform.python_implementation()}), "
          f"spiffworkflow {metadata.version('spiffworkflow')}, anlian {metadata.version('anlian')}, "
          f"{platform.machine()}")

    # Loading / parsing happens once, outside the timing, on both sides.
    tpl = load_template(TEMPLATE_YAML)
    facts = world()
    plan = anlian_plan()
    parser = BpmnParser()
    parser.add_bpmn_str(BPMN_XML.encode("utf-8"), filename="bench_permit.bpmn")
    spec = parser.get_spec("bench_permit")
    ready = TaskState.READY

    # Correctness first (and warm-up): both sides complete the job with the same data.
    events = anlian_job(tpl, facts, plan)
    wf = spiff_job(spec, BpmnWorkflow, ready)
    state = replay(tpl, events)
    merged = {k: v for step in SCRIPT for k, v in step[4].items()}
    assert state.values == merged and wf.data == merged, (state.values, wf.data)
    print(f"job: start + {len(SCRIPT)} steps ({', '.join(s[0] for s in SCRIPT)}); "
          f"Anlian {len(events)} events, {len(plan)} ask+apply pairs; "
          f"Spiff {len(SCRIPT)} user tasks")

    ours_fn = lambda: anlian_job(tpl, facts, plan)  # noqa: E731
    spiff_fn = lambda: spiff_job(spec, BpmnWorkflow, ready)  # noqa: E731
    timed(ours_fn, max(1, args.jobs // 10))
    timed(spiff_fn, max(1, args.jobs // 10))

    ours, spiff = [], []
    for _ in range(args.repeats):  # interleaved, so drift in the machine hits both sides alike
        gc.collect()
        ours.append(timed(ours_fn, args.jobs))
        gc.collect()
        spiff.append(timed(spiff_fn, args.jobs))

    ms = lambda s: f"{s * 1e3:.3f} ms"  # noqa: E731
    print(f"{args.jobs} jobs × {args.repeats} repeats, per completed job:")
    print(f"  anlian core     best {ms(min(ours))}   median {ms(statistics.median(ours))}")
    print(f"  spiffworkflow   best {ms(min(spiff))}   median {ms(statistics.median(spiff))}")
    gc.collect()
    explained = min(timed(lambda: anlian_job(tpl, facts, plan, ask="decide"), args.jobs)
                    for _ in range(max(1, args.repeats // 2)))
    apply_only = min(timed(lambda: anlian_job(tpl, facts, plan, ask="none"), args.jobs)
                     for _ in range(max(1, args.repeats // 2)))
    print(f"  (breakdown) anlian apply only: {ms(apply_only)} ({apply_only / min(spiff):.3f}× spiff); "
          f"with full decide (every refusal explained, as the step page asks): {ms(explained)} "
          f"({explained / min(spiff):.3f}× spiff)")
    ratio_best = min(ours) / min(spiff)
    ratio_median = statistics.median(ours) / statistics.median(spiff)
    print(f"  ratio ours/spiff (my-tasks question + apply): best {ratio_best:.3f}, median {ratio_median:.3f}")
    verdict = "PASS" if ratio_best <= GOAL else "FAIL"
    print(f"goal: ours ≤ {GOAL}× spiff per completed job (on best times) — {verdict} ({ratio_best:.3f})")
    print(f"RESULT flow_engine ratio={ratio_best:.3f} goal={GOAL:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
