"""The shipped templates (src/anlian/flows/shipped): each loads, and each runs end to end through the
engine with an injected clock; plus the refusals that matter most for each family."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from datetime import datetime, timedelta

import pytest

from anlian.flows.core import SYSTEM, ActiveJob, ActorFacts, StaticFacts, load_template
from anlian.flows.core.fields import shown
from anlian.flows.core.state import approval_slots
from anlian.flows.shipped import SHIPPED_DIR, shipped_templates
from anlian.flows.shipped import load_shipped as _load

from .helpers import AREA, Job, at

APPLICANT = ActorFacts.of("zhang", name="张三")
KEYS = sorted(shipped_templates())
load_shipped = cache(_load)  # templates are frozen: parse each YAML file once per test run


@dataclass
class Facts(StaticFacts):
    """Everyone holds every certificate unless listed in ``lacking``."""

    lacking: set[str] = field(default_factory=set)

    def unqualified(self, person: str, work_type: str, area: str | None, now: datetime) -> str | None:
        return "证书已过期" if person in self.lacking else None


def facts(**kw) -> Facts:
    return Facts(outdoor={AREA}, owners={AREA: {"qian"}}, names={AREA: "3号泊位"}, **kw)


def role_actor(role: str) -> ActorFacts:
    return ActorFacts.of(f"{role}-p", role, scope="company")


def person_value(f):
    return [f"{f.key}-1", f"{f.key}-2"] if f.many else f"{f.key}-1"


def auto_value(f, now: datetime):
    """A valid value for any field, from its type and limits."""
    if f.type == "number":
        if f.min is not None and f.max is not None:
            return round((f.min + f.max) / 2, 3)
        if f.max is not None:
            return min(f.max, 0)
        return (f.min or 0) + 1
    if f.type == "choice":
        return [f.options[0]] if f.many else f.options[0]
    if f.type == "person":
        return person_value(f)
    if f.type == "datetime":
        return now.isoformat()
    if f.type == "checklist":
        return {item.key: "done" for item in f.items}
    if f.type == "signature":
        return f"sig-{f.key}"
    return f"{f.label}（测试）" if f.type == "text" else f"{f.key.upper()}-01"


class Run(Job):
    """Drives a shipped template step by step with valid values, photos and timing."""

    def __init__(self, key: str, overrides: dict | None = None, facts_: Facts | None = None,
                 start: datetime | None = None):
        super().__init__(load_shipped(key), facts_ or facts(), start or at(8, 0))
        self.overrides = overrides or {}

    def tick(self, minutes: int = 2) -> datetime:
        return self.clock.advance(minutes=minutes)

    def values(self, key: str, **changes) -> dict:
        step, known, out = self.tpl.by_key[key], dict(self.state.values), {}
        wanted = {**self.overrides, **changes}
        for f in step.fields:
            if not shown(f, {**known, **out}):
                continue
            out[f.key] = wanted[f.key] if f.key in wanted else auto_value(f, self.clock.now)
        return {k: v for k, v in out.items() if v is not None}

    def photos(self, key: str, skip: tuple[str, ...] = ()) -> dict:
        step = self.tpl.by_key[key]
        out = {p.key: [f"sha-{key}-{p.key}-{i}" for i in range(max(p.min, 1))] for p in step.photos
               if p.key not in skip}
        return {**out, **({"presence": [f"sha-{key}-presence"]} if step.presence else {})}

    def actors(self, key: str) -> list[ActorFacts]:
        step, state = self.tpl.by_key[key], self.state
        if not step.is_approval:
            return [self.resolve(step.actor, state.values)]
        out = []
        for slot, index, person in approval_slots(step, state.values):
            if slot not in state.steps[key].approvals:
                out.append(ActorFacts.of(person) if person else self.resolve(step.approval.actors[index], state.values))
        return out

    def resolve(self, spec, values) -> ActorFacts:
        if spec.kind == "system":
            return SYSTEM
        if spec.kind == "applicant":
            return APPLICANT
        if spec.kind == "person":
            named = values[spec.person_field]
            return ActorFacts.of(named[0] if isinstance(named, list) else named)
        return role_actor(spec.role)

    def step(self, key: str, **changes) -> Run:
        step = self.tpl.by_key[key]
        if step.window and step.window.at_least:
            base = self.state.steps[step.window.step].completed_at
            self.clock.set(max(self.clock.now, base + step.window.at_least))
        kind = "approve" if step.is_approval else "complete"
        for actor in self.actors(key):
            self.tick()
            self.do(actor, kind, step=key, values=self.values(key, **changes), photos=self.photos(key))
        return self

    def through(self, last: str | None = None, repeats: int = 2) -> Run:
        """Every step in template order up to ``last`` (all when None); repeats run ``repeats`` times."""
        if self.state.status == "new":
            self.do(APPLICANT, "start", area=AREA)
        for step in self.tpl.steps:
            if self.state.done(step.key) and not step.repeat:
                continue
            self.step(step.key)
            for _ in range(repeats - 1 if step.repeat else 0):
                self.clock.advance(seconds=step.repeat.every.total_seconds())
                self.step(step.key)
            if step.key == last:
                break
        return self


# -- loading ------------------------------------------------------------------------------------------

def test_every_shipped_file_loads_and_is_named_by_its_key():
    assert len(KEYS) == 18
    for key, path in shipped_templates().items():
        text = path.read_text(encoding="utf-8")
        tpl = load_template(text)
        assert tpl.key == key and tpl.version == 1 and tpl.kind in ("permit", "loto", "hazard")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in tpl.name)
        assert text.startswith("#") and "assumption (configurable)" in text
        assert any(source in text for source in ("GB 30871-2022", "GB/T 33579", "zero process", "隐患排查治理暂行规定"))
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in f.label) for f in tpl.fields.values())
    assert set(KEYS) >= {"hot-work-special", "hot-work-1", "hot-work-2", "confined-space", "blind-plate",
                         "work-at-height-1", "work-at-height-2", "work-at-height-4", "lifting-1", "lifting-2",
                         "lifting-3", "temporary-power", "excavation", "road-closure", "loto", "zero-process"}
    assert SHIPPED_DIR.is_dir()


def test_validity_and_gas_timing_follow_gb30871():
    hours = {k: load_shipped(k).validity for k in KEYS}
    assert hours["hot-work-special"] == hours["hot-work-1"] == timedelta(hours=8)  # 5.1.5
    assert hours["hot-work-2"] == timedelta(hours=72)
    assert hours["confined-space"] == timedelta(hours=24)                          # 6.10
    assert hours["work-at-height-1"] == timedelta(days=7)                          # 8.2.11
    power = load_shipped("temporary-power")
    assert power.validity + power.max_extension == timedelta(days=30)              # 10.8
    assert hours["loto"] is None and hours["zero-process"] is None
    for key in ("hot-work-special", "hot-work-1", "hot-work-2", "confined-space"):
        gas = load_shipped(key).by_key["gas"]
        assert gas.valid_for.duration == timedelta(minutes=30)                     # 5.3.1 c), 6.3 a)
    o2 = load_shipped("confined-space").fields["o2"]
    assert (o2.min, o2.max, o2.unit) == (19.5, 21, "%vol")                         # 6.4 a)


# -- every template end to end ------------------------------------------------------------------------

@pytest.mark.parametrize("key", KEYS)
def test_runs_end_to_end(key):
    run = Run(key).through()
    assert all(run.state.done(s.key) for s in run.tpl.steps)
    run.tick()
    run.do(APPLICANT, "close")
    assert run.state.status == "closed"
    started = run.events[0].server_time
    assert run.tpl.validity is None or run.clock.now < started + run.tpl.validity


def test_hot_work_2_with_lab_analysis_and_real_timing():
    run = Run("hot-work-2", {"gas_method": "色谱分析", "gas_lel_class": "爆炸下限<4%", "conc_low": 0.15,
                             "related": ["高处"], "related_permits": "GC-20250519-0002"})
    run.through("start_work")
    assert run.state.values["conc_low"] == 0.15 and "lel" not in run.state.values
    run.clock.set(at(10, 5))
    run.step("patrol")
    refusal = run.refused(ActorFacts.of("guardian-1"), "complete", at(11, 0), step="patrol",
                          photos={"site": ["s"]})
    assert refusal.code == "repeat_too_early"
    run.clock.set(at(16, 0))
    run.through()
    run.do(APPLICANT, "close", at(18, 0))
    assert run.state.status == "closed"


# -- hot work ------------------------------------------------------------------------------------------

def test_hot_work_1_expires_after_8_hours():
    run = Run("hot-work-1").through("patrol")
    guardian = ActorFacts.of("guardian-1")
    run.clock.set(at(15, 50))
    run.step("patrol")  # 15:52, still inside 8 h of the 08:00 start
    refusal = run.refused(guardian, "complete", at(16, 0), step="patrol", photos={"site": ["s"]})
    assert refusal.code == "expired"
    assert run.refused(role_actor("approver_team"), "complete", step="finish",
                       values=run.values("finish")).code == "expired"
    assert run.refused(APPLICANT, "extend", extend_by=timedelta(hours=1)).code == "expired"
    run.do(role_actor("safety_officer"), "expire")
    run.do(APPLICANT, "close")
    assert run.state.status == "closed"


def test_hot_work_gas_older_than_30_minutes_refuses_the_approval():
    run = Run("hot-work-2").through("gas")
    approver = role_actor("approver_workshop")
    refusal = run.refused(approver, "approve", run.clock.now + timedelta(minutes=31), step="unit_review",
                          values={"unit_sign": "s"}, photos={"presence": ["p"]})
    assert (refusal.code, refusal.params["minutes"]) == ("reading_expired", 30)


@pytest.mark.parametrize("key", ["hot-work-special", "hot-work-1", "hot-work-2"])
def test_hot_work_gas_limits(key):
    run = Run(key).through("briefing")
    analyst = role_actor("analyst")
    over = run.values("gas", lel=10)
    assert run.refused(analyst, "complete", step="gas", values=over, photos=run.photos("gas")).code == "above_max"
    lab = run.values("gas", gas_method="色谱分析", gas_lel_class="爆炸下限≥4%", conc_high=0.6)
    assert run.refused(analyst, "complete", step="gas", values=lab, photos=run.photos("gas")).code == "above_max"
    refusal = run.refused(analyst, "complete", step="gas", values=run.values("gas"), photos={})
    assert (refusal.code, refusal.field) == ("photo_min", "photos.meter")


def test_hot_work_approvers_rise_with_grade():
    assert load_shipped("hot-work-2").by_key["approve"].approval.actors[0].role == "approver_plant"
    assert load_shipped("hot-work-1").by_key["approve"].approval.actors[0].role == "approver_company"
    special = load_shipped("hot-work-special").by_key["approve"].approval
    assert special.mode == "all" and {a.role for a in special.actors} == {"safety_officer", "approver_company"}

    run = Run("hot-work-1").through("unit_review")
    refusal = run.refused(role_actor("approver_plant"), "approve", step="approve",
                          values={"approver_sign": "s"}, photos={"presence": ["p"]})
    assert refusal.code == "wrong_actor"
    assert run.refused(role_actor("approver_company"), "approve", step="approve",
                       values={"approver_sign": "s"}).code == "presence_photo"

    run = Run("hot-work-special").through("unit_review")
    run.tick()
    run.do(role_actor("safety_officer"), "approve", step="approve", values={"approver_sign": "s"},
           photos={"presence": ["p"]})
    assert not run.state.done("approve")  # 会签: still waits for the 主管领导
    assert run.refused(role_actor("approver_team"), "complete", step="start_work",
                       values=run.values("start_work"), photos=run.photos("start_work")).code == "predecessor_pending"


def test_hot_work_special_needs_plan_video_and_continuous_readings():
    run = Run("hot-work-special")
    run.do(APPLICANT, "start", area=AREA)
    refusal = run.refused(APPLICANT, "complete", step="apply", values=run.values("apply"),
                          photos=run.photos("apply", skip=("plan",)))
    assert (refusal.code, refusal.field) == ("photo_min", "photos.plan")
    run.through("start_work")
    guardian = ActorFacts.of("guardian-1")
    refusal = run.refused(guardian, "complete", step="patrol", values={}, photos=run.photos("patrol"))
    assert (refusal.code, refusal.field) == ("field_required", "patrol_lel")
    refusal = run.refused(guardian, "complete", step="patrol", values={"patrol_lel": 1},
                          photos=run.photos("patrol", skip=("video",)))
    assert refusal.field == "photos.video"


def test_hot_work_operator_needs_welding_certificate():
    run = Run("hot-work-2", facts_=facts(lacking={"operators-2"}))
    run.do(APPLICANT, "start", area=AREA)
    refusal = run.refused(APPLICANT, "complete", step="apply", values=run.values("apply"), photos=run.photos("apply"))
    assert (refusal.code, refusal.params["work_type"]) == ("not_qualified", "焊接与热切割作业")


def test_hot_work_simultaneous_operations():
    blind = ActiveJob("j1", "blind-plate", "permit", "盲板抽堵作业")
    confined = ActiveJob("j2", "confined-space", "permit", "受限空间作业")
    run = Run("hot-work-2", facts_=facts(jobs={AREA: [blind]}))
    assert run.refused(APPLICANT, "start", area=AREA).code == "conflict_refused"
    run = Run("hot-work-2", facts_=facts(jobs={AREA: [confined]}))
    assert run.refused(APPLICANT, "start", area=AREA).code == "conflict_needs_endorsement"
    run.do(APPLICANT, "start", area=AREA, endorsed_by="qian")
    assert run.state.status == "active"


def test_hot_work_has_no_extension_and_resume_redoes_gas():
    run = Run("hot-work-2").through("patrol", repeats=1)
    assert run.refused(APPLICANT, "extend", extend_by=timedelta(hours=1)).code == "no_extension"
    run.tick()
    run.do(ActorFacts.of("guardian-1"), "suspend", reason="可燃气体报警")
    run.tick(90)
    run.do(role_actor("safety_officer"), "resume")
    refusal = run.refused(ActorFacts.of("guardian-1"), "complete", step="patrol", photos={"site": ["s"]})
    assert (refusal.code, refusal.params) == ("resume_redo", {"step": "动火分析"})
    run.step("gas").step("start_work")
    run.tick(120)  # the next patrol is due 2 h after the last one
    run.through()
    run.do(APPLICANT, "close")
    assert run.state.status == "closed"


# -- confined space -----------------------------------------------------------------------------------

def test_confined_space_oxygen_out_of_range_is_refused():
    run = Run("confined-space").through("approve")
    analyst = role_actor("analyst")
    low = run.refused(analyst, "complete", step="gas", values=run.values("gas", o2=18), photos=run.photos("gas"))
    assert (low.code, low.field, low.params["min"]) == ("below_min", "o2", "19.5")
    assert low.message == "「氧气含量」不能小于19.5%vol"
    high = run.refused(analyst, "complete", step="gas", values=run.values("gas", o2=21.5), photos=run.photos("gas"))
    assert high.code == "above_max"
    rich = run.values("gas", o2_setting="富氧环境", o2_rich=23)
    run.tick()
    run.do(analyst, "complete", step="gas", values=rich, photos=run.photos("gas"))
    assert run.state.values["o2_rich"] == 23


def test_confined_space_toxics_entry_window_and_monitoring():
    run = Run("confined-space").through("approve")
    analyst = role_actor("analyst")
    assert run.refused(analyst, "complete", step="gas", values=run.values("gas", h2s=12),
                       photos=run.photos("gas")).code == "above_max"
    run.step("gas")
    guardian = ActorFacts.of("guardian-1")
    refusal = run.refused(guardian, "complete", run.clock.now + timedelta(minutes=31), step="entry",
                          values=run.values("entry"), photos=run.photos("entry"))
    assert refusal.code == "reading_expired"
    run = Run("confined-space").through("monitor", repeats=1)
    refusal = run.refused(guardian, "complete", run.clock.now + timedelta(minutes=60), step="monitor",
                          values=run.values("monitor"), photos=run.photos("monitor"))
    assert refusal.code == "repeat_too_early"
    assert run.refused(guardian, "complete", run.clock.now + timedelta(hours=2), step="monitor",
                       values=run.values("monitor", m_co=25), photos=run.photos("monitor")).code == "above_max"


# -- blind plate --------------------------------------------------------------------------------------

def test_blind_plate_one_line_at_a_time_and_position_diagram():
    other = ActiveJob("b1", "blind-plate", "permit", "盲板抽堵作业 MB-07")
    assert Run("blind-plate", facts_=facts(jobs={AREA: [other]})).refused(
        APPLICANT, "start", area=AREA).code == "conflict_refused"
    run = Run("blind-plate")
    run.do(APPLICANT, "start", area=AREA)
    refusal = run.refused(APPLICANT, "complete", step="apply", values=run.values("apply"),
                          photos=run.photos("apply", skip=("diagram",)))
    assert (refusal.code, refusal.field) == ("photo_min", "photos.diagram")
    run.through("approve")
    refusal = run.refused(ActorFacts.of("guardian-1"), "complete", step="check",
                          values=run.values("check", line_pressure=0.5), photos=run.photos("check"))
    assert refusal.code == "above_max"


# -- work at height -----------------------------------------------------------------------------------

def test_work_at_height_grades_and_weather():
    run = Run("work-at-height-1")
    run.do(APPLICANT, "start", area=AREA)
    assert run.refused(APPLICANT, "complete", step="apply", values=run.values("apply", height=8),
                       photos=run.photos("apply")).code == "above_max"
    assert run.refused(APPLICANT, "complete", step="apply", values=run.values("apply", height_band="5m<h≤15m"),
                       photos=run.photos("apply")).code == "bad_choice"
    assert load_shipped("work-at-height-4").by_key["approve_final"].approval.actors[0].role == "approver_company"
    windy = Run("work-at-height-2", facts_=facts(bad_weather={AREA: "阵风6级"}))
    assert windy.refused(APPLICANT, "start", area=AREA).code == "weather"
    run = Run("work-at-height-2").through("apply")
    refusal = run.refused(run.actors("measures")[0], "complete", step="measures",
                          values=run.values("measures", fall_arrest={"harness": "done"}), photos=run.photos("measures"))
    assert refusal.code == "checklist_incomplete"


# -- lifting ------------------------------------------------------------------------------------------

def test_lifting_plan_photo_mass_band_and_crane_operator():
    run = Run("lifting-2")
    run.do(APPLICANT, "start", area=AREA)
    refusal = run.refused(APPLICANT, "complete", step="apply", values=run.values("apply"),
                          photos=run.photos("apply", skip=("plan",)))
    assert (refusal.code, refusal.field) == ("photo_min", "photos.plan")
    assert run.refused(APPLICANT, "complete", step="apply", values=run.values("apply", mass=30),
                       photos=run.photos("apply")).code == "below_min"
    lifting3 = Run("lifting-3")
    lifting3.do(APPLICANT, "start", area=AREA)
    assert lifting3.refused(APPLICANT, "complete", step="apply", values=lifting3.values("apply", mass=40),
                            photos=lifting3.photos("apply")).code == "above_max"
    lifting3.do(APPLICANT, "complete", step="apply", values=lifting3.values("apply", mass=12),
                photos=lifting3.photos("apply", skip=("plan",)))  # 三级 without a plan: allowed
    run = Run("lifting-1", facts_=facts(lacking={"crane_operator-1"}))
    run.do(APPLICANT, "start", area=AREA)
    refusal = run.refused(APPLICANT, "complete", step="apply", values=run.values("apply", mass=120),
                          photos=run.photos("apply"))
    assert (refusal.code, refusal.params["work_type"]) == ("not_qualified", "起重机司机")


# -- temporary power ----------------------------------------------------------------------------------

def test_temporary_power_extension_gas_and_electrician():
    run = Run("temporary-power", {"flammable_area": "是"}).through("approve")
    analyst = role_actor("analyst")
    assert run.refused(analyst, "complete", step="gas", values=run.values("gas", lel=12),
                       photos=run.photos("gas")).code == "above_max"
    run.through()
    assert run.state.values["lel"] == 4.95 and run.state.done("disconnect")

    run = Run("temporary-power", {"flammable_area": "否"}).through("approve")
    refusal = run.refused(analyst, "complete", step="gas", values={"lel": 1})
    assert refusal.code == "field_hidden"
    run.step("gas")
    officer = role_actor("safety_officer")
    run.do(officer, "extend", extend_by=timedelta(days=10))
    run.do(officer, "extend", extend_by=timedelta(days=5))
    assert run.refused(officer, "extend", extend_by=timedelta(days=1)).code == "extension_too_long"
    assert run.state.expires_at == run.state.started_at + timedelta(days=30)

    run = Run("temporary-power", facts_=facts(lacking={"electricians-1"}))
    run.do(APPLICANT, "start", area=AREA)
    assert run.refused(APPLICANT, "complete", step="apply", values=run.values("apply"),
                       photos=run.photos("apply")).code == "not_qualified"


# -- excavation and road closure ----------------------------------------------------------------------

def test_excavation_countersign_missing_one_owner():
    run = Run("excavation").through("apply")
    owners = run.actors("utilities")
    assert [a.id for a in owners] == ["utility_power-p", "utility_pipeline-p", "utility_telecom-p"]
    for owner in owners[:2]:
        run.tick()
        run.do(owner, "approve", step="utilities", values=run.values("utilities"), photos=run.photos("utilities"))
    assert not run.state.done("utilities")
    leader = ActorFacts.of("work_leader-1")
    refusal = run.refused(leader, "complete", step="measures", values=run.values("measures"),
                          photos=run.photos("measures"))
    assert (refusal.code, refusal.params) == ("predecessor_pending", {"step": "地下设施会签"})
    assert run.refused(owners[0], "approve", step="utilities", values=run.values("utilities"),
                       photos=run.photos("utilities")).code == "already_approved"
    assert run.refused(APPLICANT, "close").code == "steps_pending"
    run.tick()
    run.do(owners[2], "approve", step="utilities", values=run.values("utilities"), photos=run.photos("utilities"))
    assert run.state.done("utilities")


def test_road_closure_needs_fire_and_safety_countersign():
    run = Run("road-closure").through("apply")
    assert [a.id for a in run.actors("countersign")] == ["fire_emergency-p", "safety_officer-p"]
    run.tick()
    run.do(role_actor("fire_emergency"), "approve", step="countersign", values=run.values("countersign"))
    assert not run.state.done("countersign")
    refusal = run.refused(ActorFacts.of("work_leader-1"), "complete", step="measures",
                          values=run.values("measures", notified={"fire": "done"}), photos=run.photos("measures"))
    assert refusal.code == "predecessor_pending"


# -- lockout/tagout and zero process ------------------------------------------------------------------

def test_loto_each_worker_applies_and_removes_only_their_own_lock():
    run = Run("loto").through("isolate")
    slots = run.actors("lock")
    assert [a.id for a in slots] == ["workers-1", "workers-2"]
    run.tick()
    run.do(slots[0], "approve", step="lock", values={"lock_no": "L-01"}, photos={"lock": ["sha-l1"]})
    assert not run.state.done("lock")
    assert run.refused(slots[0], "approve", step="lock", values={"lock_no": "L-02"},
                       photos={"lock": ["x"]}).code == "already_approved"
    assert run.refused(ActorFacts.of("someone"), "approve", step="lock", values={"lock_no": "L-09"},
                       photos={"lock": ["x"]}).code == "wrong_actor"
    assert run.refused(slots[1], "approve", step="lock", values={"lock_no": "L-02"},
                       photos={}).code == "photo_min"
    run.step("lock")
    assert run.state.steps["lock"].approvals == {"0:workers-1": "workers-1", "0:workers-2": "workers-2"}
    refusal = run.refused(ActorFacts.of("workers-1"), "complete", step="work", photos={"work": ["w"]})
    assert (refusal.code, refusal.params) == ("predecessor_pending", {"step": "零能量确认"})
    run.through("clear")
    run.tick()
    run.do(ActorFacts.of("workers-2"), "approve", step="unlock", photos={"unlocked": ["u2"]})
    restore = ActorFacts.of("operator-1")
    assert run.refused(restore, "complete", step="restore", values=run.values("restore"),
                       photos=run.photos("restore")).code == "predecessor_pending"
    run.through()
    run.do(APPLICANT, "close")
    assert run.state.status == "closed"


def test_zero_process_needs_mutual_photos():
    run = Run("zero-process")
    run.do(APPLICANT, "start", area=AREA)
    refusal = run.refused(APPLICANT, "complete", step="enter", values=run.values("enter"),
                          photos={"of_partner": ["a"]})
    assert (refusal.code, refusal.field) == ("photo_min", "photos.of_self")
    run.through()
    assert [e.step for e in run.events[1:]] == ["enter", "lock", "exit"]

