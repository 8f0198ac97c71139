"""The port hot-work job of issue 3, end to end with the timing of a real job."""

from datetime import timedelta, timezone

from anlian.flows.core import chain_hash, replay
from anlian.flows.core.events import Event

from .helpers import APPLICANT, APPROVER, ANALYST, GUARDIAN, OWNER, SUPERVISOR, Job, at


def test_port_hot_work_runs_end_to_end():
    job = Job().rechecked()  # apply 08:55, gas, approve 08:56, patrol 15:24, acceptance 16:14, 16:28
    assert job.decisions(OWNER)[("approve", "signoff")].allowed
    job.do(OWNER, "approve", at(18, 16), step="signoff")
    assert not job.state.done("signoff")  # 会签: still waits for the supervisor
    job.do(SUPERVISOR, "approve", at(18, 18), step="signoff", reason="规范二次巡检时间")
    job.do(APPLICANT, "close", at(18, 20))

    state = job.state
    assert state.status == "closed"
    assert [(e.kind, e.step, e.server_time.strftime("%H:%M")) for e in job.events] == [
        ("started", None, "08:55"), ("step_completed", "apply", "08:55"), ("step_completed", "gas", "08:55"),
        ("approved", "approve", "08:56"), ("step_completed", "patrol", "15:24"),
        ("step_completed", "finish", "16:14"), ("step_completed", "recheck", "16:28"),
        ("approved", "signoff", "18:16"), ("approved", "signoff", "18:18"), ("closed", None, "18:20"),
    ]
    assert [e.actor for e in job.events] == ["zhang", "zhang", "li", "wang", "zhao", "zhao", "zhao",
                                             "qian", "sun", "zhang"]
    assert job.events[8].payload["opinion"] == "规范二次巡检时间"
    assert state.steps["signoff"].approvals == {"0": "qian", "1": "sun"}
    assert state.values["lel"] == 0 and state.values["operators"] == ["wu", "zheng"]


def test_events_round_trip_and_hash_chain():
    job = Job().rechecked()
    docs = [e.to_dict() for e in job.events]
    assert replay(job.tpl, [Event.from_dict(d) for d in docs]) == job.state
    hashes, prev = [], ""
    for event in job.events:
        prev = chain_hash(prev, event)
        hashes.append(prev)
    tampered = Event.from_dict({**docs[2], "payload": {**docs[2]["payload"], "values": {"lel": 0.1}}})
    assert chain_hash(hashes[1], tampered) != hashes[2]


def test_my_tasks_at_each_moment():
    job = Job().applied()
    allowed = lambda actor: sorted(k for k, d in job.decisions(actor).items() if d.allowed)  # noqa: E731
    assert ("complete", "gas") in allowed(ANALYST)
    assert ("approve", "approve") not in allowed(APPROVER)
    decision = job.decisions(APPROVER)[("approve", "approve")]
    assert decision.refusal.code == "predecessor_pending"
    assert decision.refusal.message == "请先完成「气体分析」"
    job.do(ANALYST, "complete", step="gas", values={"lel": 0.2, "instrument": "GD-07"}, photos={"meter": ["m"]})
    assert ("approve", "approve") in allowed(APPROVER)
    assert allowed(GUARDIAN) == [("suspend", None)]  # named guardian may always stop the work


def test_my_tasks_shortcut_agrees_with_decide_through_the_whole_job():
    from anlian.flows.core import decide, tasks

    from .helpers import ANALYST, APPROVER, GUARDIAN, OWNER, SUPERVISOR, world

    job = Job()
    stages = [job.start, job.applied, job.gassed, job.approved, job.patrolled, job.finished, job.rechecked]
    for stage in stages:
        fresh = Job()
        getattr(fresh, stage.__name__)()
        for actor in (APPLICANT, ANALYST, APPROVER, GUARDIAN, OWNER, SUPERVISOR):
            for hours in (0, 3, 80):
                now = fresh.clock.now + timedelta(hours=hours)
                for facts in (fresh.facts, world(frozen={"berth-3"})):
                    full = [d for d in decide(fresh.tpl, fresh.events, actor, now, facts) if d.allowed and d.step]
                    assert tasks(fresh.tpl, fresh.events, actor, now, facts) == full


def test_the_canonical_event_form_is_the_dataclass_fields():
    """Hashes of stored chains depend on to_dict: it must stay the dataclass's fields, times as ISO."""
    from dataclasses import asdict

    for event in Job().rechecked().events:
        reference = asdict(event)
        reference.update(server_time=event.server_time.astimezone(timezone.utc).isoformat(),
                         device_time=event.device_time.astimezone(timezone.utc).isoformat() if event.device_time else None,
                         location=list(event.location) if event.location else None)
        if reference["accuracy"] is None:  # left out when unknown: older chains hash as they did
            del reference["accuracy"]
        assert event.to_dict() == reference
