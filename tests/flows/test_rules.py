"""Every refusal of the engine, asserted by its code; nothing is recorded for a refused action."""

from datetime import timedelta

import pytest

from anlian.flows.core import ActiveJob, ActorFacts, overdue

from .helpers import (APPLICANT, APPLY_PHOTOS, APPLY_VALUES, APPROVER, ANALYST, AREA, GAS_VALUES, GUARDIAN,
                      OFFICER, OWNER, STRANGER, SUPERVISOR, Job, at, hot_work, job_with, world)

APPROVE = {"step": "approve", "values": {"approver_sign": "sig"}, "photos": {"presence": ["p"]}}


def apply_with(**changes):
    return {"step": "apply", "values": {**APPLY_VALUES, **changes}, "photos": APPLY_PHOTOS}


# -- lifecycle ---------------------------------------------------------------------------------

def test_nothing_before_start_and_start_once():
    job = Job()
    assert job.refused(APPLICANT, "complete", step="apply").code == "not_started"
    assert job.refused(APPLICANT, "start").code == "area_required"
    job.start()
    assert job.refused(APPLICANT, "start", area=AREA).code == "already_started"


def test_unknown_step_and_action():
    job = Job().start()
    assert job.refused(APPLICANT, "complete", step="nope").code == "unknown_step"
    assert job.refused(APPLICANT, "fly").code == "unknown_action"


def test_action_kind_must_fit_the_step():
    job = Job().gassed()
    assert job.refused(APPROVER, "complete", step="approve").code == "not_task"
    assert job.refused(ANALYST, "approve", step="gas").code == "not_approval"
    job = Job().rechecked()
    assert job.refused(OWNER, "reject", step="signoff", reason="x").code == "reject_not_allowed"


# -- order ---------------------------------------------------------------------------------------

def test_wrong_order():
    job = Job().applied()
    refusal = job.refused(APPROVER, "approve", **APPROVE)
    assert (refusal.code, refusal.params) == ("predecessor_pending", {"step": "气体分析"})
    assert job.refused(GUARDIAN, "complete", step="patrol", photos={"site": ["s"]}).code == "predecessor_pending"


def test_step_done_twice():
    job = Job().gassed()
    assert job.refused(ANALYST, "complete", step="gas", values=GAS_VALUES,
                       photos={"meter": ["m"]}).code == "already_done"


def test_parallel_branches_and_join():
    tpl = hot_work(steps=[
        {"key": "a"}, {"key": "b", "after": ["a"]}, {"key": "c", "after": ["a"]},
        {"key": "d", "after": ["b", "c"]},
    ], guards=[], resume_requires=[], handover_requires=[])
    job = Job(tpl).start()
    job.do(APPLICANT, "complete", step="a")
    job.do(APPLICANT, "complete", step="c")  # branches in any order
    assert job.refused(APPLICANT, "complete", step="d").params == {"step": "b"}
    job.do(APPLICANT, "complete", step="b")
    job.do(APPLICANT, "complete", step="d")


# -- who ---------------------------------------------------------------------------------------------

def test_wrong_actor():
    job = Job().applied()
    assert job.refused(APPLICANT, "complete", step="gas", values=GAS_VALUES).code == "wrong_actor"
    job = Job().approved()
    assert job.refused(STRANGER, "complete", step="patrol", photos={"site": ["s"]}).code == "wrong_actor"
    assert job.refused(ActorFacts.of("x", "hot_work_approver", scope="team"), "approve",
                       **APPROVE).code == "already_done"


def test_approver_scope_must_cover():
    job = Job().gassed()
    team_level = ActorFacts.of("x", "hot_work_approver", scope="team")
    assert job.refused(team_level, "approve", **APPROVE).code == "wrong_actor"
    job.do(ActorFacts.of("y", "hot_work_approver", scope="company"), "approve", **APPROVE)


def test_applicant_approving_own_permit():
    boss = ActorFacts.of("zhang", "hot_work_approver", scope="plant")
    job = Job().gassed()
    assert job.refused(boss, "approve", **APPROVE).code == "own_permit"


def test_countersign_needs_every_member():
    job = Job().rechecked()
    job.do(OWNER, "approve", at(18, 16), step="signoff")
    assert job.refused(OWNER, "approve", step="signoff").code == "already_approved"
    assert job.refused(APPLICANT, "close").params == {"step": "签字确认"}
    job.do(SUPERVISOR, "approve", at(18, 18), step="signoff")
    assert job.state.done("signoff")


def test_any_one_closes_on_first():
    tpl = hot_work(steps=[{"key": "a"}, {"key": "ok", "kind": "approval", "approval": {
        "mode": "any", "actors": [{"role": "area_owner"}, {"role": "process_supervisor"}]}}],
        guards=[], resume_requires=[], handover_requires=[])
    job = Job(tpl).start()
    job.do(APPLICANT, "complete", step="a")
    job.do(SUPERVISOR, "approve", step="ok")
    assert job.state.done("ok")
    assert job.refused(OWNER, "approve", step="ok").code == "already_done"


def test_countersign_by_every_named_person():
    tpl = hot_work(steps=[
        {"key": "a", "fields": [{"key": "crew", "type": "person", "many": True}]},
        {"key": "ok", "kind": "review", "approval": {"mode": "all", "actors": [{"person_field": "crew"}]}}],
        guards=[], resume_requires=[], handover_requires=[])
    job = Job(tpl).start()
    job.do(APPLICANT, "complete", step="a", values={"crew": ["p1", "p2"]})
    job.do(ActorFacts("p1"), "approve", step="ok")
    assert not job.state.done("ok")
    assert job.refused(ActorFacts("p3"), "approve", step="ok").code == "wrong_actor"
    job.do(ActorFacts("p2"), "approve", step="ok")
    assert job.state.done("ok")


# -- fields and photos -------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, code, field", [
    ({"content": ""}, "field_required", "content"),
    ({"method": "其他"}, "field_required", "method_other"),
    ({"method_other": "热熔"}, "field_hidden", "method_other"),
    ({"method": "激光"}, "bad_choice", "method"),
    ({"risks": ["火灾", "洪水"]}, "bad_choice", "risks"),
    ({"measures": {"cleared": "done", "extinguisher": "done"}}, "checklist_incomplete", "measures"),
    ({"measures": {"cleared": "done", "extinguisher": "yes", "isolated": "done"}}, "checklist_incomplete",
     "measures"),
    ({"colour": "red"}, "field_unknown", "colour"),
])
def test_field_refusals(changes, code, field):
    job = Job().start()
    refusal = job.refused(APPLICANT, "complete", **apply_with(**changes))
    assert (refusal.code, refusal.field) == (code, field)


def test_show_if_field_accepted_when_shown():
    Job().start().do(APPLICANT, "complete", **apply_with(method="其他", method_other="热熔"))


@pytest.mark.parametrize("lel, code, message", [
    (12, "above_max", "「可燃气体」不能大于10%LEL"),
    (-1, "below_min", "「可燃气体」不能小于0%LEL"),
    ("abc", "number_invalid", "「可燃气体」必须是数字"),
    (True, "number_invalid", "「可燃气体」必须是数字"),
])
def test_reading_out_of_range(lel, code, message):
    job = Job().applied()
    refusal = job.refused(ANALYST, "complete", step="gas", values={**GAS_VALUES, "lel": lel},
                          photos={"meter": ["m"]})
    assert (refusal.code, refusal.message, refusal.field) == (code, message, "lel")


@pytest.mark.parametrize("photos, code", [
    ({"crew": ["a"]}, "photo_min"),
    ({**APPLY_PHOTOS, "crew": ["a", "b", "c", "d"]}, "photo_max"),
    ({**APPLY_PHOTOS, "selfie": ["a"]}, "photo_unknown"),
])
def test_photo_refusals(photos, code):
    job = Job().start()
    assert job.refused(APPLICANT, "complete", step="apply", values=APPLY_VALUES, photos=photos).code == code


def test_approver_without_presence_photo():
    job = Job().gassed()
    refusal = job.refused(APPROVER, "approve", step="approve", values={"approver_sign": "sig"})
    assert (refusal.code, refusal.field) == ("presence_photo", "photos.presence")


# -- time --------------------------------------------------------------------------------------------

def test_gas_reading_too_old():
    job = Job().gassed()
    refusal = job.refused(APPROVER, "approve", at(9, 26), **APPROVE)
    assert refusal.code == "reading_expired"
    assert refusal.message == "气体分析已超过30分钟，请重新分析"
    decision = job.decisions(APPROVER)[("approve", "approve")]
    assert decision.refusal == refusal
    # The approver may still return it for a new analysis: a stale reading is a reason to return.
    job.do(APPROVER, "return", step="approve", target="gas", reason="气体分析超时")


def test_second_patrol_too_early_and_after_the_end():
    job = Job().patrolled()
    refusal = job.refused(GUARDIAN, "complete", at(16, 0), step="patrol", photos={"site": ["s"]})
    assert (refusal.code, refusal.params["at"]) == ("repeat_too_early", "2025-05-19 17:24")
    job.do(GUARDIAN, "complete", at(17, 24), step="patrol", photos={"site": ["s"]})
    job.do(GUARDIAN, "complete", at(17, 30), step="finish", values={"cleanup": {"fire_out": "done", "tidy": "done"}},
           photos={"site": ["s"]})
    assert job.refused(GUARDIAN, "complete", at(19, 30), step="patrol",
                       photos={"site": ["s"]}).code == "repeat_ended"


def test_window_after_acceptance():
    job = Job().finished()  # 16:14
    refusal = job.refused(GUARDIAN, "complete", at(16, 20), step="recheck", photos={"site": ["s"]})
    assert (refusal.code, refusal.params["minutes"]) == ("too_early", 10)
    assert job.refused(GUARDIAN, "complete", at(20, 15), step="recheck",
                       photos={"site": ["s"]}).code == "too_late"


def test_expired_permit_can_only_be_closed():
    job = Job().patrolled()
    later = at(8, 56, day=22)  # 72 h after the start at 08:55 on the 19th
    refusal = job.refused(GUARDIAN, "complete", later, step="finish")
    assert (refusal.code, refusal.params) == ("expired", {"at": "2025-05-22 08:55"})
    allowed = sorted(k for k, d in job.decisions(APPLICANT).items() if d.allowed)
    assert allowed == [("close", None), ("expire", None)]
    job.do(APPLICANT, "close")
    assert job.state.status == "closed"


def test_expire_event_only_when_due():
    job = Job().approved()
    assert job.refused(APPLICANT, "expire").code == "not_expired"
    job.do(APPLICANT, "expire", at(9, 0, day=22))
    assert job.state.status == "expired"
    assert job.refused(GUARDIAN, "complete", step="patrol").code == "expired"


def test_extension_within_the_maximum():
    job = Job().approved()
    job.do(APPLICANT, "extend", extend_by=timedelta(hours=20))
    assert job.state.expires_at == at(4, 55, day=23)
    refusal = job.refused(APPLICANT, "extend", extend_by=timedelta(hours=5))
    assert (refusal.code, refusal.params) == ("extension_too_long", {"minutes": 1440})
    assert job.refused(APPLICANT, "extend").code == "extension_invalid"
    assert job.refused(STRANGER, "extend", extend_by=timedelta(hours=1)).code == "not_permitted"
    no_ext = Job(hot_work(max_extension=None)).approved()
    assert no_ext.refused(APPLICANT, "extend", extend_by=timedelta(hours=1)).code == "no_extension"


def test_deadline_marks_overdue_without_refusing():
    job = Job().rechecked()  # signoff ready at 16:28, deadline 24 h
    assert job.decisions(OWNER)[("approve", "signoff")].due_at == at(16, 28, day=20)
    assert overdue(job.tpl, job.state, at(16, 29, day=20)) == ["signoff"]
    job.do(OWNER, "approve", at(16, 30, day=20), step="signoff")


# -- returns and rejections ---------------------------------------------------------------------------

def test_returned_step_must_be_resubmitted():
    job = Job().gassed()
    assert job.refused(APPROVER, "return", step="approve", target="gas").code == "reason_required"
    assert job.refused(APPROVER, "return", step="approve", target="approve", reason="x").code == "bad_return_target"
    job.do(APPROVER, "return", step="approve", target="gas", reason="读数照片不清晰")
    refusal = job.refused(APPROVER, "approve", **APPROVE)
    assert (refusal.code, refusal.message) == ("returned_pending", "已退回至「气体分析」（读数照片不清晰），请先重新提交")
    job.do(ANALYST, "complete", step="gas", values={**GAS_VALUES, "lel": 0.1}, photos={"meter": ["m2"]})
    job.do(APPROVER, "approve", **APPROVE)
    assert job.state.values["lel"] == 0.1


def test_return_to_apply_invalidates_everything_after_it():
    job = Job().gassed()
    job.do(APPROVER, "return", step="approve", target="apply", reason="补充作业内容")
    assert not job.state.done("gas")
    refusal = job.refused(ANALYST, "complete", step="gas", values=GAS_VALUES, photos={"meter": ["m"]})
    assert refusal.code == "returned_pending"
    job.do(APPLICANT, "complete", **apply_with(content="3号泊位护栏焊接（补充）"))
    job.do(ANALYST, "complete", step="gas", values=GAS_VALUES, photos={"meter": ["m"]})


def test_rejected_job_is_read_only():
    job = Job().gassed()
    assert job.refused(APPROVER, "reject", step="approve").code == "reason_required"
    job.do(APPROVER, "reject", step="approve", reason="不符合动火条件")
    assert job.refused(APPROVER, "approve", **APPROVE).code == "rejected"


# -- cancel, suspend, resume, hand-over ----------------------------------------------------------------

def test_action_on_cancelled_job():
    job = Job().applied()
    assert job.refused(STRANGER, "cancel", reason="x").code == "not_permitted"
    job.do(APPLICANT, "cancel", reason="天气变化")
    assert job.refused(ANALYST, "complete", step="gas", values=GAS_VALUES).code == "cancelled"
    decisions = job.decisions(OFFICER).values()
    assert {d.refusal.code for d in decisions} == {"cancelled"}


def test_suspended_job_can_only_stop_and_resume_redoes_gas():
    job = Job().patrolled()
    assert job.refused(STRANGER, "suspend", reason="x").code == "not_permitted"
    job.do(GUARDIAN, "suspend", at(15, 30), reason="附近可燃气体报警")
    assert job.refused(GUARDIAN, "complete", step="finish").code == "suspended"
    allowed = sorted(k for k, d in job.decisions(APPLICANT).items() if d.allowed)
    assert allowed == [("cancel", None), ("close", None), ("resume", None)]
    job.do(APPLICANT, "resume", at(16, 0))
    refusal = job.refused(GUARDIAN, "complete", step="patrol", photos={"site": ["s"]})
    assert (refusal.code, refusal.params) == ("resume_redo", {"step": "气体分析"})
    job.do(ANALYST, "complete", step="gas", values=GAS_VALUES, photos={"meter": ["m"]})
    job.do(GUARDIAN, "complete", at(17, 24), step="patrol", photos={"site": ["s"]})
    assert job.refused(APPLICANT, "resume").code == "not_suspended"


def test_hand_over_requires_reconfirmation_by_incoming_team():
    job = Job().patrolled()  # last patrol 15:24
    assert job.refused(APPLICANT, "hand_over").code == "person_required"
    job.do(APPLICANT, "hand_over", at(15, 40), target="wu")
    assert job.state.holder == "wu"
    refusal = job.refused(GUARDIAN, "complete", step="finish")
    assert (refusal.code, refusal.params) == ("resume_redo", {"step": "作业中巡检"})
    job.do(GUARDIAN, "complete", step="patrol", photos={"site": ["s"]})  # due now, despite the 2 h interval


# -- guards and simultaneous operations ------------------------------------------------------------------

def test_frozen_area_refuses_start_and_steps_but_not_stopping():
    job = Job(facts=world(frozen={AREA}, names={AREA: "3号泊位"}))
    refusal = job.refused(APPLICANT, "start", area=AREA)
    assert (refusal.code, refusal.message) == ("area_frozen", "作业区域「3号泊位」已冻结，禁止作业")
    job = Job().applied()
    job.facts.frozen.add(AREA)
    assert job.refused(ANALYST, "complete", step="gas", values=GAS_VALUES).code == "area_frozen"
    job.do(ANALYST, "suspend", reason="区域冻结")
    assert job.refused(APPLICANT, "resume").code == "area_frozen"


def test_weather_only_outdoors():
    job = Job(facts=world(bad_weather={AREA: "风力6级"}))
    assert job.refused(APPLICANT, "start", area=AREA).message == "天气条件不允许室外作业：风力6级"
    indoor = Job(facts=world(bad_weather={"shop": "风力6级"}))
    indoor.do(APPLICANT, "start", area="shop")


def test_every_named_worker_qualified():
    job = Job().start()
    refusal = job.refused(APPLICANT, "complete", **apply_with(operators=["wu", "chen"]))
    assert (refusal.code, refusal.params) == ("not_qualified", {"person": "chen", "work_type": "焊接与热切割作业",
                                                                "reason": "无资格记录"})
    job = Job().applied()
    job.facts.qualifications["wu"] = set()  # certificate lapsed mid-job
    assert job.refused(ANALYST, "complete", step="gas", values=GAS_VALUES).message == "吴六不具备「焊接与热切割作业」作业资格：无资格记录"


def test_conflicting_simultaneous_permit():
    assert job_with(ActiveJob("p1", "blind-plate", "permit", "盲板抽堵 MB-01")).refused(
        APPLICANT, "start", area=AREA).code == "conflict_refused"
    job = job_with(ActiveJob("p2", "confined-space", "permit"))
    assert job.refused(APPLICANT, "start", area=AREA).code == "conflict_needs_endorsement"
    assert job.refused(APPLICANT, "start", area=AREA, endorsed_by="nobody").code == "endorser_not_owner"
    event = job.do(APPLICANT, "start", area=AREA, endorsed_by="qian")
    assert event.payload == {"area": AREA, "endorsed_by": "qian"}
    job_with(ActiveJob("p3", "work-at-height", "permit")).do(APPLICANT, "start", area=AREA)


def test_hand_over_after_the_patrols_ended_does_not_block_the_job():
    job = Job().finished()  # the patrol repeats until finish, which is done
    job.do(OFFICER, "hand_over", at(16, 20), target="zhou2")
    assert job.state.redo == []
    job.do(GUARDIAN, "complete", at(16, 40), step="recheck", photos={"site": ["x"]})
    assert job.state.done("recheck")


def test_resume_before_the_required_step_was_ever_done_does_not_block_the_job():
    job = Job().applied()  # no gas analysis yet
    job.do(GUARDIAN, "suspend", reason="暂停")
    job.do(OFFICER, "resume")
    assert job.state.redo == []
    job.do(ANALYST, "complete", step="gas", values=GAS_VALUES, photos={"meter": ["m"]})
