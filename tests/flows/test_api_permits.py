"""Issue 3 through the real HTTP API: the port hot-work job with the timing of a real job, and
every refusal the issue lists, each a 4xx naming its rule with nothing recorded."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from anlian.core import clock
from anlian.flows.models import AreaFreeze, Event, FlowTemplate, Instance
from anlian.orgs import services as org_services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Role
from tests.conftest import client_for, make_person

from .port import Crew, at, make_crew


@pytest.fixture
def crew(world) -> Crew:
    yield make_crew(world)
    clock.set_now(None)


def snapshot(instance_id: int) -> tuple:
    job = Instance.objects.get(pk=instance_id)
    return (list(Event.objects.filter(instance=job).values_list("seq", "hash")), job.status, job.last_hash,
            job.current_steps)


def refused(crew: Crew, person, instance_id: int, status: int, code: str, when=None, **body) -> dict:
    """Assert the action is refused with `code` and that nothing about the job changed."""
    before = snapshot(instance_id)
    response = crew.act(person, instance_id, when, **body)
    assert response.status_code == status, response.content
    error = response.json()
    assert error["code"] == code and error["message"], error
    assert snapshot(instance_id) == before
    return error


def test_port_hot_work_runs_end_to_end_through_the_api(crew):
    job = crew.start(at(8, 55))
    assert job["number"].startswith("DH-20250519-") or job["number"]
    assert job["current_steps"][0] == "gas"
    crew.gas(job["id"], at(8, 55))
    crew.approve(job["id"], at(8, 56))
    crew.patrol(job["id"], at(15, 24))
    crew.finish(job["id"], at(16, 14))
    crew.ok(crew.guardian, job["id"], at(16, 28), kind="complete", step="recheck",
            photos={"site": [crew.photo(crew.guardian)]})

    # 会签: the area owner signs, the job still waits for the process supervisor.
    mine = crew.client(crew.owner).get(f"/api/v1/instances/{job['id']}/actions").json()
    assert {"action": "approve", "step": "signoff"} in [{"action": d["action"], "step": d["step"]}
                                                         for d in mine if d["allowed"]]
    crew.ok(crew.owner, job["id"], at(18, 16), kind="approve", step="signoff")
    tasks = crew.client(crew.supervisor).get("/api/v1/my-tasks").json()
    assert [t["instance"]["id"] for t in tasks] == [job["id"]]
    crew.ok(crew.supervisor, job["id"], at(18, 18), kind="approve", step="signoff", reason="规范二次巡检时间")
    crew.ok(crew.applicant, job["id"], at(18, 20), kind="close")

    detail = crew.client(crew.applicant).get(f"/api/v1/instances/{job['id']}").json()
    assert detail["status"] == "closed" and detail["current_steps"] == []
    assert all(s["done"] for s in detail["steps"])
    events = crew.client(crew.applicant).get(f"/api/v1/instances/{job['id']}/events").json()
    local = [(e["kind"], e["step"], timezone.localtime(_parse(e["server_time"])).strftime("%H:%M")) for e in events]
    assert local == [
        ("started", "", "08:55"), ("step_completed", "apply", "08:55"), ("step_completed", "gas", "08:55"),
        ("approved", "approve", "08:56"), ("step_completed", "patrol", "15:24"),
        ("step_completed", "finish", "16:14"), ("step_completed", "recheck", "16:28"),
        ("approved", "signoff", "18:16"), ("approved", "signoff", "18:18"), ("closed", "", "18:20"),
    ]
    assert [e["actor_name"] for e in events] == ["张三", "张三", "李四", "王五", "赵六", "赵六", "赵六", "钱七",
                                                 "孙八", "张三"]
    assert events[8]["payload"]["opinion"] == "规范二次巡检时间"
    # The chain links every event to the one before it.
    assert all(e["prev_hash"] == p["hash"] for p, e in zip(events, events[1:]))
    assert events[-1]["hash"] == detail["last_hash"]
    # Everyone who acted sees the job in their ledger; a stranger of the same team's role does not.
    for person in (crew.analyst, crew.guardian, crew.supervisor, crew.operators[0]):
        ids = [i["id"] for i in crew.client(person).get("/api/v1/instances").json()["items"]]
        assert job["id"] in ids


def _parse(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


# --- the refusals the issue lists ------------------------------------------------------------------


def test_wrong_order_is_refused(crew):
    job = crew.start()
    error = refused(crew, crew.approver, job["id"], 409, "predecessor_pending", kind="approve", step="approve",
                    values={"approver_sign": "王五"}, photos={"presence": [crew.photo(crew.approver)]})
    assert "气体分析" in error["message"]


def test_wrong_actor_is_refused(crew):
    job = crew.start()
    officer = crew.world.a.officer  # sees the plant's jobs, but is not the analyst
    refused(crew, officer, job["id"], 403, "wrong_actor", kind="complete", step="gas",
            values={"lel": 0, "instrument": str(crew.instrument.pk)}, photos={"meter": [crew.photo(officer)]})
    # A worker of another team does not even see the job.
    refused(crew, crew.stranger, job["id"], 404, "not_found", kind="complete", step="gas")


def test_missing_photo_and_missing_field_are_refused(crew):
    job = crew.start()
    error = refused(crew, crew.analyst, job["id"], 422, "photo_min", kind="complete", step="gas",
                    values={"lel": 0, "instrument": str(crew.instrument.pk)})
    assert error["field"] == "photos.meter"
    error = refused(crew, crew.analyst, job["id"], 422, "field_required", kind="complete", step="gas",
                    values={"lel": 0}, photos={"meter": [crew.photo(crew.analyst)]})
    assert error["field"] == "instrument"


def test_a_missing_field_on_the_first_step_leaves_no_job_behind(crew):
    clock.set_now(at(8, 55))
    values = crew.apply_values()
    del values["content"]
    response = crew.client(crew.applicant).post("/api/v1/instances", {
        "version_id": crew.version_id, "area_id": crew.world.a.area.pk, "values": values,
        "photos": {"crew": [crew.photo(crew.applicant)], "loto": [crew.photo(crew.applicant)]},
    }, content_type="application/json")
    assert response.status_code == 422 and response.json()["code"] == "field_required"
    assert response.json()["field"] == "content"
    assert not Instance.objects.exists()


def test_gas_reading_over_its_limit_or_out_of_range_is_refused(crew):
    job = crew.start()
    body = {"kind": "complete", "step": "gas", "photos": {"meter": [crew.photo(crew.analyst)]}}
    error = refused(crew, crew.analyst, job["id"], 422, "above_max",
                    values={"lel": 12, "instrument": str(crew.instrument.pk)}, **body)
    assert "10" in error["message"] and error["field"] == "lel"
    refused(crew, crew.analyst, job["id"], 422, "below_min", values={"lel": -1, "instrument": str(
        crew.instrument.pk)}, **body)
    refused(crew, crew.analyst, job["id"], 422, "number_invalid", values={"lel": "零", "instrument": str(
        crew.instrument.pk)}, **body)


def test_gas_reading_too_old_is_refused(crew):
    job = crew.start()
    crew.gas(job["id"], at(8, 55))
    error = refused(crew, crew.approver, job["id"], 409, "reading_expired", at(9, 30), kind="approve",
                    step="approve", values={"approver_sign": "王五"}, photos={"presence": [crew.photo(crew.approver)]})
    assert "30" in error["message"]
    # The approver returns the job to a new analysis; the fresh reading is accepted.
    crew.ok(crew.approver, job["id"], at(9, 31), kind="return", step="approve", target="gas", reason="读数超时")
    crew.gas(job["id"], at(9, 35))
    crew.approve(job["id"], at(9, 40))


def test_second_patrol_too_early_is_refused(crew):
    job = crew.start()
    crew.gas(job["id"])
    crew.approve(job["id"], at(8, 56))
    crew.patrol(job["id"], at(15, 24))
    error = refused(crew, crew.guardian, job["id"], 409, "repeat_too_early", at(16, 0), kind="complete",
                    step="patrol", photos={"site": [crew.photo(crew.guardian)]})
    assert "17:24" in error["message"]
    crew.patrol(job["id"], at(17, 24))


def test_approver_without_presence_photo_is_refused(crew):
    job = crew.start()
    crew.gas(job["id"])
    refused(crew, crew.approver, job["id"], 422, "presence_photo", kind="approve", step="approve",
            values={"approver_sign": "王五"})


def test_expired_permit_is_refused(crew):
    job = crew.start()
    crew.gas(job["id"])
    crew.approve(job["id"], at(8, 56))
    error = refused(crew, crew.guardian, job["id"], 409, "expired", at(9, 0, day=22), kind="complete",
                    step="patrol", photos={"site": [crew.photo(crew.guardian)]})
    assert "2025" in error["message"] or "05" in error["message"]
    crew.ok(crew.applicant, job["id"], kind="close")  # an expired job can only be closed


def test_frozen_area_refuses_steps_and_new_jobs(crew):
    job = crew.start()
    AreaFreeze.objects.create(area=crew.world.a.area, reason="可燃气体报警", started_at=at(8, 50))
    error = refused(crew, crew.analyst, job["id"], 409, "area_frozen", kind="complete", step="gas",
                    values={"lel": 0, "instrument": str(crew.instrument.pk)}, photos={"meter": [crew.photo(crew.analyst)]})
    assert crew.world.a.area.name in error["message"]
    count = Instance.objects.count()
    response = crew.client(crew.applicant).post("/api/v1/instances", {
        "version_id": crew.version_id, "area_id": crew.world.a.area.pk}, content_type="application/json")
    assert response.status_code == 409 and response.json()["code"] == "area_frozen"
    assert Instance.objects.count() == count
    # Stopping stays possible while frozen.
    crew.ok(crew.guardian, job["id"], kind="suspend", reason="区域冻结")


def test_returned_step_must_be_resubmitted_first(crew):
    job = crew.start()
    crew.gas(job["id"])
    refused(crew, crew.approver, job["id"], 422, "reason_required", at(8, 56), kind="return", step="approve",
            target="apply")
    refused(crew, crew.approver, job["id"], 422, "bad_return_target", kind="return", step="approve",
            target="patrol", reason="x")
    crew.ok(crew.approver, job["id"], kind="return", step="approve", target="apply", reason="缺少动火人证书")
    # The returned step comes first; approving again before it is resubmitted is refused.
    error = refused(crew, crew.approver, job["id"], 409, "returned_pending", kind="approve", step="approve",
                    values={"approver_sign": "王五"}, photos={"presence": [crew.photo(crew.approver)]})
    assert "缺少动火人证书" in error["message"]
    refused(crew, crew.approver, job["id"], 409, "returned_pending", kind="return", step="approve", target="gas")
    crew.ok(crew.applicant, job["id"], kind="complete", step="apply", values=crew.apply_values(),
            photos={"crew": [crew.photo(crew.applicant)], "loto": [crew.photo(crew.applicant)]})
    crew.gas(job["id"])  # a return to the application also voids the analysis that followed it
    crew.approve(job["id"])


def test_action_on_a_cancelled_job_is_refused(crew):
    job = crew.start()
    crew.ok(crew.applicant, job["id"], kind="cancel", reason="天气变化，改期")
    refused(crew, crew.analyst, job["id"], 409, "cancelled", kind="complete", step="gas",
            values={"lel": 0, "instrument": str(crew.instrument.pk)}, photos={"meter": [crew.photo(crew.analyst)]})
    refused(crew, crew.applicant, job["id"], 409, "cancelled", kind="cancel", reason="again")


def test_applicant_cannot_approve_their_own_permit(crew):
    org_services.grant_role(SYSTEM, crew.applicant, Role.objects.get(code="hot_work_approver"), crew.world.a.plant)
    job = crew.start()
    crew.gas(job["id"])
    refused(crew, crew.applicant, job["id"], 403, "own_permit", kind="approve", step="approve",
            values={"approver_sign": "张三"}, photos={"presence": [crew.photo(crew.applicant)]})


def test_countersign_missing_one_member_is_refused(crew):
    job = crew.start()
    crew.gas(job["id"])
    crew.approve(job["id"], at(8, 56))
    crew.patrol(job["id"], at(15, 24))
    crew.finish(job["id"], at(16, 14))
    crew.ok(crew.guardian, job["id"], at(16, 28), kind="complete", step="recheck",
            photos={"site": [crew.photo(crew.guardian)]})
    crew.ok(crew.owner, job["id"], at(18, 16), kind="approve", step="signoff")
    error = refused(crew, crew.applicant, job["id"], 409, "steps_pending", at(18, 17), kind="close")
    assert "签字确认" in error["message"]
    refused(crew, crew.owner, job["id"], 409, "already_approved", kind="approve", step="signoff")


def _start_other(crew: Crew, key: str) -> None:
    """Another company-A job of template `key` (a shipped one) running in the same area."""
    version = FlowTemplate.objects.get(key=key, owner=None).published()
    response = crew.client(crew.applicant).post("/api/v1/instances", {
        "version_id": version.pk, "area_id": crew.world.a.area.pk}, content_type="application/json")
    assert response.status_code == 201, response.content


def test_conflicting_simultaneous_permit_is_refused_or_needs_the_area_owner(crew):
    clock.set_now(at(8, 0))
    _start_other(crew, "blind-plate")
    body = {"version_id": crew.version_id, "area_id": crew.world.a.area.pk}
    applicant = crew.client(crew.applicant)
    count = Instance.objects.count()
    response = applicant.post("/api/v1/instances", body, content_type="application/json")
    assert response.status_code == 409 and response.json()["code"] == "conflict_refused"
    assert Instance.objects.count() == count


def test_confined_space_beside_hot_work_needs_the_area_owners_endorsement(crew):
    clock.set_now(at(8, 0))
    _start_other(crew, "confined-space")
    body = {"version_id": crew.version_id, "area_id": crew.world.a.area.pk}
    applicant = crew.client(crew.applicant)
    response = applicant.post("/api/v1/instances", body, content_type="application/json")
    assert response.status_code == 409 and response.json()["code"] == "conflict_needs_endorsement"
    endorse = {"area_id": crew.world.a.area.pk, "template_key": "hot-work-2", "reason": "受限空间内无人，已隔离"}
    response = crew.client(crew.analyst).post("/api/v1/endorsements", endorse, content_type="application/json")
    assert response.status_code == 403 and response.json()["code"] == "endorser_not_owner"
    endorsement = crew.client(crew.owner).post("/api/v1/endorsements", endorse, content_type="application/json")
    assert endorsement.status_code == 201, endorsement.content
    eid = endorsement.json()["id"]
    response = applicant.post("/api/v1/instances", {**body, "endorsement_id": eid}, content_type="application/json")
    assert response.status_code == 201, response.content
    first = Event.objects.get(instance_id=response.json()["id"], seq=1)
    assert first.payload["endorsed_by"] == str(crew.owner.pk)
    # One endorsement, one job.
    count = Instance.objects.count()
    again = applicant.post("/api/v1/instances", {**body, "endorsement_id": eid}, content_type="application/json")
    assert again.status_code == 422 and again.json()["code"] == "endorsement_invalid"
    assert Instance.objects.count() == count


def test_an_endorsement_is_for_one_area_kind_and_time(crew):
    clock.set_now(at(8, 0))
    _start_other(crew, "confined-space")
    endorse = {"area_id": crew.world.a.area.pk, "template_key": "hot-work-2", "reason": "已隔离", "valid_minutes": 30}
    eid = crew.client(crew.owner).post("/api/v1/endorsements", endorse, content_type="application/json").json()["id"]
    clock.set_now(at(8, 31))
    response = crew.client(crew.applicant).post("/api/v1/instances", {
        "version_id": crew.version_id, "area_id": crew.world.a.area.pk, "endorsement_id": eid},
        content_type="application/json")
    assert response.status_code == 422 and response.json()["code"] == "endorsement_invalid"
    other = crew.client(crew.world.b.admin).post("/api/v1/instances", {
        "version_id": crew.version_id, "area_id": crew.world.b.area.pk, "endorsement_id": eid},
        content_type="application/json")
    assert other.status_code == 404


def test_unqualified_operator_is_refused(crew):
    crew.operators[1].certificates.update(expires_on=date(2025, 5, 1))
    clock.set_now(at(8, 55))
    response = crew.client(crew.applicant).post("/api/v1/instances", {
        "version_id": crew.version_id, "area_id": crew.world.a.area.pk, "values": crew.apply_values(),
        "photos": {"crew": [crew.photo(crew.applicant)], "loto": [crew.photo(crew.applicant)]},
    }, content_type="application/json")
    assert response.status_code == 403 and response.json()["code"] == "not_qualified"
    assert "郑十" in response.json()["message"] and "已于2025-05-01过期" in response.json()["message"]
    assert not Instance.objects.exists()


def test_suspended_job_only_stops_and_resuming_requires_a_new_gas_analysis(crew):
    job = crew.start()
    crew.gas(job["id"])
    crew.approve(job["id"], at(8, 56))
    crew.ok(crew.guardian, job["id"], at(10, 0), kind="suspend", reason="可燃气体报警")
    refused(crew, crew.guardian, job["id"], 409, "suspended", kind="complete", step="patrol",
            photos={"site": [crew.photo(crew.guardian)]})
    crew.ok(crew.applicant, job["id"], at(11, 0), kind="resume")
    error = refused(crew, crew.guardian, job["id"], 409, "resume_redo", kind="complete", step="patrol",
                    photos={"site": [crew.photo(crew.guardian)]})
    assert "气体分析" in error["message"]
    crew.gas(job["id"], at(11, 5))
    crew.patrol(job["id"], at(11, 10))


def test_extension_within_the_template_maximum(crew):
    job = crew.start()
    refused(crew, crew.applicant, job["id"], 409, "extension_too_long", kind="extend", extend_minutes=25 * 60)
    crew.ok(crew.applicant, job["id"], kind="extend", extend_minutes=12 * 60)
    detail = crew.client(crew.applicant).get(f"/api/v1/instances/{job['id']}").json()
    assert _parse(detail["expires_at"]) == at(8, 55) + timedelta(hours=84)


def test_allowed_actions_name_the_refusing_rule_in_chinese_and_english(crew):
    job = crew.start()
    url = f"/api/v1/instances/{job['id']}/actions"
    found = {(d["action"], d["step"]): d for d in crew.client(crew.approver).get(url).json()}
    assert found[("approve", "approve")]["code"] == "predecessor_pending"
    assert found[("approve", "approve")]["message"] == "请先完成「气体分析」"
    english = crew.client(crew.approver).get(url, headers={"accept-language": "en"}).json()
    message = {(d["action"], d["step"]): d for d in english}[("approve", "approve")]["message"]
    assert message.startswith("First complete") or "请先" not in message


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("body, status, code", [
    ({"kind": "teleport"}, 422, "unknown_action"),
    ({"kind": "start"}, 422, "unknown_action"),
    ({"kind": "complete", "step": "nope"}, 422, "unknown_step"),
    ({"kind": "complete", "step": "gas", "values": {"lel": 0, "instrument": "x" * 3000}}, 422, "field_invalid"),
    ({"kind": "complete", "step": "gas", "photos": {"meter": ["not-a-hash"]}}, 422, "invalid_value"),
    ({"kind": "complete", "step": "gas", "photos": {"meter": ["0" * 64]}}, 422, "photo_unknown"),
    ({"kind": "complete", "step": "gas", "lat": 91, "lng": 0}, 422, "invalid_value"),
    ({"kind": "complete", "step": "gas", "lat": 30}, 422, "invalid"),
    ({"kind": "complete", "step": "gas", "surprise": 1}, 422, "unknown_field"),
    ({"kind": "extend", "extend_minutes": -5}, 422, "invalid_value"),
    ({"step": "gas"}, 422, "missing_field"),
])
def test_bad_action_bodies_are_clear_4xx_and_change_nothing(crew, body, status, code):
    job = crew.start()
    refused(crew, crew.analyst, job["id"], status, code, **body)


def test_people_named_in_a_form_must_exist_in_the_company(crew):
    clock.set_now(at(8, 55))
    values = {**crew.apply_values(), "guardian": str(crew.world.b.worker.pk)}
    response = crew.client(crew.applicant).post("/api/v1/instances", {
        "version_id": crew.version_id, "area_id": crew.world.a.area.pk, "values": values,
        "photos": {"crew": [crew.photo(crew.applicant)], "loto": [crew.photo(crew.applicant)]},
    }, content_type="application/json")
    assert response.status_code == 422 and response.json()["code"] == "unknown_reference"
    assert response.json()["field"] == "guardian"
    assert not Instance.objects.exists()


def test_photos_of_another_company_cannot_be_attached(crew):
    job = crew.start()
    other = make_person(crew.world.b.team, "乙检测员", "B77", login="b-li")
    from django.core.files.uploadedfile import SimpleUploadedFile

    from .port import jpeg

    upload = SimpleUploadedFile("b.jpg", jpeg(999), content_type="image/jpeg")
    sha = client_for(other).post("/api/v1/files", {"file": upload}).json()["sha256"]
    refused(crew, crew.analyst, job["id"], 422, "photo_unknown", kind="complete", step="gas",
            values={"lel": 0, "instrument": str(crew.instrument.pk)}, photos={"meter": [sha]})


def test_uploads_that_are_not_images_are_refused(crew):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = crew.client(crew.analyst)
    for name, data in [("x.jpg", b"<script>alert(1)</script>"), ("x.php", b"<?php echo 1; ?>"), ("e.jpg", b"")]:
        response = client.post("/api/v1/files", {"file": SimpleUploadedFile(name, data, content_type="image/jpeg")})
        assert response.status_code == 422, (name, response.content)
    assert client.post("/api/v1/files", {}).status_code == 422


def test_a_replayed_step_submission_is_answered_once(crew):
    job = crew.start()
    body = {"kind": "complete", "step": "gas", "values": {"lel": 0, "instrument": str(crew.instrument.pk)},
            "photos": {"meter": [crew.photo(crew.analyst)]}}
    client = crew.client(crew.analyst)
    url = f"/api/v1/instances/{job['id']}/actions"
    first = client.post(url, body, content_type="application/json", headers={"idempotency-key": "gas-1"})
    again = client.post(url, body, content_type="application/json", headers={"idempotency-key": "gas-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    # Without the key the server still refuses doing the step twice.
    twice = client.post(url, body, content_type="application/json")
    assert twice.status_code == 409 and twice.json()["code"] == "already_done"
    assert Event.objects.filter(instance_id=job["id"], step="gas").count() == 1


def test_start_refuses_unpublished_versions_and_invisible_areas(crew):
    w = crew.world
    applicant = crew.client(crew.applicant)
    draft = crew.client(w.a.admin).post(f"/api/v1/templates/{FlowTemplate.objects.get(key='hot-work-2', owner=w.a.unit).pk}/versions",
                                        {"source": (crew_source := _source(crew))}, content_type="application/json")
    assert draft.status_code == 201 and draft.json()["status"] == "draft" and crew_source
    response = applicant.post("/api/v1/instances", {"version_id": draft.json()["id"], "area_id": w.a.area.pk},
                              content_type="application/json")
    assert response.status_code == 422 and response.json()["field"] == "version"
    response = applicant.post("/api/v1/instances", {"version_id": crew.version_id, "area_id": w.b.area.pk},
                              content_type="application/json")
    assert response.status_code == 404 and response.json()["field"] == "area_id"
    assert not Instance.objects.exists()


def _source(crew: Crew) -> str:
    from .port import EXAMPLE

    return EXAMPLE.read_text(encoding="utf-8").replace("name: 二级动火作业", "name: 二级动火作业（修订）")


def test_running_jobs_keep_their_version_when_a_new_one_is_published(crew):
    job = crew.start()
    template = FlowTemplate.objects.get(key="hot-work-2", owner=crew.world.a.unit)
    admin = crew.client(crew.world.a.admin)
    new = admin.post(f"/api/v1/templates/{template.pk}/versions", {"source": _source(crew), "publish": True},
                     content_type="application/json").json()
    assert new["number"] == 2 and new["status"] == "published"
    assert admin.get(f"/api/v1/template-versions/{crew.version_id}").json()["status"] == "retired"
    assert crew.client(crew.applicant).get(f"/api/v1/instances/{job['id']}").json()["version_number"] == 1
    crew.gas(job["id"])  # the running job goes on under version 1


def test_the_worker_marks_expired_permits(crew):
    from anlian.flows.services import expire_due
    from anlian.flows.tasks import expire_permits

    job = crew.start()
    crew.ok(crew.applicant, job["id"], at(9, 0), kind="extend", extend_minutes=60)
    assert expire_due(at(8, 55, day=22)) == 0  # 72 h + 1 h extension not over yet
    clock.set_now(at(10, 0, day=22))
    expire_permits.call_local()
    detail = crew.client(crew.applicant).get(f"/api/v1/instances/{job['id']}").json()
    assert detail["status"] == "expired" and detail["current_steps"] == []
    last = Event.objects.filter(instance_id=job["id"]).order_by("-seq").first()
    assert last.kind == "expired" and last.actor_id is None and last.actor_key == "system"
    assert expire_due(at(11, 0, day=22)) == 0  # once only


def test_template_validation_through_the_api(crew):
    admin = crew.client(crew.world.a.admin)
    good = admin.post("/api/v1/templates/validate", {"source": _source(crew)}, content_type="application/json").json()
    assert good["valid"] and [s["key"] for s in good["steps"]][:2] == ["apply", "gas"]
    dup = _source(crew).replace("kind: permit", "kind: permit\nkind: loto")
    bad = admin.post("/api/v1/templates/validate", {"source": dup}, content_type="application/json").json()
    assert not bad["valid"] and any("kind" in e for e in bad["errors"])
    broken = admin.post("/api/v1/templates/validate", {"source": "steps: [\n  - key: a\n  bad"},
                        content_type="application/json").json()
    assert not broken["valid"] and "第" in broken["errors"][0]
    count = FlowTemplate.objects.count()
    refused = admin.post("/api/v1/templates", {"owner_id": crew.world.a.unit.pk, "source": dup},
                         content_type="application/json")
    assert refused.status_code == 422 and refused.json()["code"] == "template_invalid"
    assert FlowTemplate.objects.count() == count
    export = admin.get(f"/api/v1/template-versions/{crew.version_id}/export")
    assert export["Content-Type"].startswith("application/x-yaml")
    assert export.content.decode() == (crew_source := _source(crew).replace("（修订）", "")) and crew_source


def test_hand_over_only_to_a_person_of_the_company(crew):
    job = crew.start()
    refused(crew, crew.applicant, job["id"], 422, "unknown_reference", kind="hand_over",
            target=str(crew.world.b.worker.pk))
    refused(crew, crew.applicant, job["id"], 422, "unknown_reference", kind="hand_over", target="abc")
    refused(crew, crew.applicant, job["id"], 422, "person_required", kind="hand_over")
    crew.ok(crew.applicant, job["id"], kind="hand_over", target=str(crew.stranger.pk))


def test_the_phones_position_accuracy_is_kept_with_the_event(crew):
    job = crew.start()
    event = crew.ok(crew.analyst, job["id"], kind="complete", step="gas", lat=30.0001, lng=120.0002, accuracy=8.5,
                    values={"lel": 0, "instrument": str(crew.instrument.pk)}, photos={"meter": [crew.photo(crew.analyst)]})
    assert event["accuracy"] == 8.5 and event["lat"] == 30.0001
    row = Event.objects.get(instance_id=job["id"], seq=event["seq"])
    from anlian.flows.core import chain_hash
    from anlian.flows.services import core_events

    events = core_events(row.instance)
    assert events[-1].accuracy == 8.5 and "accuracy" in events[-1].to_dict()
    assert chain_hash(row.prev_hash, events[-1]) == row.hash  # the accuracy is part of the chain
    refused(crew, crew.analyst, job["id"], 422, "invalid_value", kind="complete", step="patrol", accuracy=-1)


def test_every_stored_event_rehashes_to_its_chain(crew):
    """The chain must verify from the database alone: recomputing each hash from the stored rows
    gives the stored hash, whatever time zone the event was recorded in."""
    from anlian.flows.core import chain_hash
    from anlian.flows.services import core_events

    job = crew.start(at(8, 55))
    crew.gas(job["id"], at(8, 55))
    crew.approve(job["id"], at(8, 56))
    rows = list(Event.objects.filter(instance_id=job["id"]).order_by("seq"))
    for row, event in zip(rows, core_events(rows[0].instance)):
        assert chain_hash(row.prev_hash, event) == row.hash, row.seq
