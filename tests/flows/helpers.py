"""Shared pieces for the flow-core tests: the example template, people, places and a job driver."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import anlian.flows.core as core
from anlian.flows.core import Action, ActiveJob, ActorFacts, FixedClock, Refusal, StaticFacts, apply, replay

EXAMPLE = Path(core.__file__).parent / "examples" / "hot-work-2.yaml"
CST = timezone(timedelta(hours=8))
AREA = "berth-3"  # an outdoor berth
WELD = "焊接与热切割作业"

APPLICANT = ActorFacts.of("zhang", name="张三")
ANALYST = ActorFacts.of("li", "analyst")
APPROVER = ActorFacts.of("wang", "hot_work_approver", scope="plant")
GUARDIAN = ActorFacts.of("zhao")
OWNER = ActorFacts.of("qian", "area_owner")
SUPERVISOR = ActorFacts.of("sun", "process_supervisor")
OFFICER = ActorFacts.of("zhou", "safety_officer")
STRANGER = ActorFacts.of("nobody")

APPLY_VALUES = {
    "unit": "码头二队", "content": "3号泊位护栏焊接", "method": "电焊",
    "operators": ["wu", "zheng"], "guardian": "zhao", "risks": ["火灾", "灼烫"],
    "measures": {"cleared": "done", "extinguisher": "done", "isolated": "not_applicable"},
}
APPLY_PHOTOS = {"crew": ["sha-crew"], "loto": ["sha-loto"]}
GAS_VALUES = {"lel": 0, "instrument": "GD-07"}


def at(hour: int, minute: int, day: int = 19) -> datetime:
    return datetime(2025, 5, day, hour, minute, tzinfo=CST)


def hot_work(**changes) -> core.Template:
    import yaml

    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc.update(changes)
    return core.load_template(doc)


def world(**kw) -> StaticFacts:
    facts = StaticFacts(outdoor={AREA}, qualifications={"wu": {WELD}, "zheng": {WELD}},
                        names={"wu": "吴六", AREA: "3号泊位"}, owners={AREA: {"qian"}})
    for key, value in kw.items():
        setattr(facts, key, value)
    return facts


class Job:
    """Drives one job through apply() with an injected clock, appending accepted events."""

    def __init__(self, tpl: core.Template | None = None, facts: StaticFacts | None = None,
                 start: datetime | None = None):
        self.tpl = tpl or hot_work()
        self.facts = facts or world()
        self.clock = FixedClock(start or at(8, 55))
        self.events: list[core.Event] = []

    @property
    def state(self) -> core.State:
        return replay(self.tpl, self.events)

    def do(self, actor: ActorFacts, kind: str, when: datetime | None = None, **kw) -> core.Event:
        if when:
            self.clock.set(when)
        event = apply(self.tpl, self.events, Action(kind, **kw), actor, self.clock.now, self.facts)
        self.events.append(event)
        return event

    def refused(self, actor: ActorFacts, kind: str, when: datetime | None = None, **kw) -> Refusal:
        before = list(self.events)
        with pytest.raises(Refusal) as caught:
            self.do(actor, kind, when, **kw)
        assert self.events == before  # nothing recorded for a refused action
        return caught.value

    def decisions(self, actor: ActorFacts) -> dict[tuple[str, str | None], core.Decision]:
        found = core.decide(self.tpl, self.events, actor, self.clock.now, self.facts, area=AREA)
        return {(d.action, d.step): d for d in found}

    # -- the standard script of the port job, one stage at a time --------------------------
    def start(self) -> Job:
        self.do(APPLICANT, "start", at(8, 55), area=AREA)
        return self

    def applied(self) -> Job:
        self.start().do(APPLICANT, "complete", step="apply", values=APPLY_VALUES, photos=APPLY_PHOTOS)
        return self

    def gassed(self) -> Job:
        self.applied().do(ANALYST, "complete", step="gas", values=GAS_VALUES, photos={"meter": ["sha-m"]})
        return self

    def approved(self) -> Job:
        self.gassed().do(APPROVER, "approve", at(8, 56), step="approve", values={"approver_sign": "sig-w"},
                         photos={"presence": ["sha-p"]})
        return self

    def patrolled(self) -> Job:
        self.approved().do(GUARDIAN, "complete", at(15, 24), step="patrol", photos={"site": ["sha-1"]})
        return self

    def finished(self) -> Job:
        self.patrolled().do(GUARDIAN, "complete", at(16, 14), step="finish",
                            values={"cleanup": {"fire_out": "done", "tidy": "done"}}, photos={"site": ["sha-2"]})
        return self

    def rechecked(self) -> Job:
        self.finished().do(GUARDIAN, "complete", at(16, 28), step="recheck", photos={"site": ["sha-3"]})
        return self


def job_with(other: ActiveJob) -> Job:
    return Job(facts=world(jobs={AREA: [other]}))
