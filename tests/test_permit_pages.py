"""The permit pages: a whole job done on the phone with real photos, approvals with presence proof,
refusals shown next to the field with nothing recorded, the ledger and its export, the timeline, the
public QR check, and company B never seeing company A's jobs."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook
from PIL import Image

from anlian.core import clock
from anlian.flows import core
from anlian.flows import services as flows
from anlian.flows.models import AreaFreeze, Event, Instance, InstanceStatus, TemplateStatus, TemplateVersion
from anlian.orgs import services as orgs_services
from anlian.orgs.access import SYSTEM
from anlian.permits.models import Refusal
from tests.conftest import World, client_for, csrf_client_for, make_person

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

APPROVAL_TEMPLATE = """
key: test-approval
name: 测试审批作业
kind: permit
validity: 8h
guards:
  - area_not_frozen
steps:
  - key: apply
    name: 作业申请
    actor: applicant
    fields:
      - {key: content, label: 作业内容, type: text, required: true}
      - {key: method, label: 动火方式, type: choice, required: true, options: [电焊, 其他]}
      - {key: method_other, label: 其他动火方式, type: text, required: true, show_if: {field: method, equals: 其他}}
      - {key: hazards, label: 风险辨识, type: many-choice, options: [火灾, 灼烫, 触电]}
      - {key: guardian, label: 监护人, type: person, required: true}
      - {key: place, label: 作业地点, type: area}
      - {key: tool, label: 动火设备, type: equipment}
      - {key: planned, label: 计划开始时间, type: datetime, required: true}
      - key: measures
        label: 安全措施
        type: checklist
        required: true
        items: [{key: m1, label: 现场已配备灭火器}, {key: m2, label: 已设立警戒区}]
      - {key: sign, label: 申请人签名, type: signature, required: true}
    photos:
      - {key: crew, label: 人员状态, hint: 防护用品穿戴齐全, min: 1, max: 2}
  - key: gas
    name: 气体分析
    actor: {role: analyst}
    fields:
      - {key: lel, label: 可燃气体读数, type: number, unit: "%LEL", min: 0, max: 9.9, required: true}
    photos:
      - {key: meter, label: 检测仪读数, min: 1, max: 3}
  - key: approve
    name: 动火审批
    kind: approval
    actor: {role: approver_plant, scope: plant}
    approval: {mode: single, return_to: [apply, gas]}
    presence: photo
  - key: finish
    name: 完工验收
    actor: applicant
"""


def jpeg(color: str = "red", name: str = "photo.jpg") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(out, "JPEG", quality=80)
    return SimpleUploadedFile(name, out.getvalue(), "image/jpeg")


def text(response) -> str:
    return response.content.decode()


def version(key: str) -> TemplateVersion:
    return TemplateVersion.objects.get(template__key=key, status=TemplateStatus.PUBLISHED)


def step_url(instance: Instance, key: str) -> str:
    return reverse("permits:step", args=[instance.pk, key])


def start_url(v: TemplateVersion, area) -> str:
    return f"{reverse('permits:start')}?version={v.pk}&area={area.pk}"


@pytest.fixture
def crew(world: World):
    """Company A's people for the approval template: a partner/guardian, an analyst, a plant approver."""
    a = world.a
    return {
        "partner": make_person(a.team, "甲公司同伴", "A010"),
        "analyst": make_person(a.plant, "甲公司分析人", "A011", [("analyst", a.plant)], login="A-analyst"),
        "approver": make_person(a.plant, "甲公司厂长", "A012", [("approver_plant", a.plant)], login="A-approver"),
        "supervisor": make_person(a.unit, "甲公司监督员", "A013", [("process_supervisor", a.unit)], login="A-super"),
    }


@pytest.fixture
def approval_version(world: World) -> TemplateVersion:
    return flows.save_version(SYSTEM, None, APPROVAL_TEMPLATE, owner=world.a.unit, publish=True)


def apply_data(crew, world: World, **extra) -> dict:
    return {"f__content": "3号罐护栏焊接", "f__method": "电焊", "f__method_other": "（浏览器未隐藏）",
            "f__hazards": ["火灾", "灼烫"], "f__guardian": str(crew["partner"].pk), "f__place": str(world.a.area.pk),
            "f__tool": str(world.a.equipment.pk), "f__planned": "2025-05-19T10:30",
            "c__measures__m1": "done", "c__measures__m2": "not_applicable", "f__sign": "甲公司工人",
            "photo__crew": [jpeg("red")], "device_time": "2025-05-19T02:29:00.000Z", "lat": "30.0001",
            "lng": "120.0002", "do": "complete", **extra}


def start_approval_job(world: World, crew, v: TemplateVersion) -> Instance:
    response = client_for(world.a.worker).post(start_url(v, world.a.area), apply_data(crew, world))
    assert response.status_code == 302, text(response)
    return Instance.objects.get(version=v)


# --- the zero process, end to end on the phone ----------------------------------------------------------


def test_the_zero_process_runs_on_the_phone_pages_with_real_photos(world, crew):
    worker = client_for(world.a.worker)
    v = version("zero-process")
    assert "三步零流程" in text(worker.get(reverse("permits:start")))
    assert world.a.area.name in text(worker.get(f"{reverse('permits:start')}?version={v.pk}"))
    form = worker.get(start_url(v, world.a.area))
    assert form.status_code == 200
    page = text(form)
    for expected in ("本人拍同伴", "同伴拍本人", 'capture="environment"', 'accept="image/*"', "甲公司同伴", "人员状态、防护用品"):
        assert expected in page

    response = worker.post(start_url(v, world.a.area), {
        "f__partner": str(crew["partner"].pk), "f__place": "1号皮带机",
        "photo__of_partner": [jpeg("red", "a.jpg"), jpeg("orange", "b.jpg")], "photo__of_self": [jpeg("yellow")],
        "device_time": "2025-05-19T02:30:00.000Z", "lat": "30.00012", "lng": "120.00034", "do": "complete"})
    assert response.status_code == 302
    job = Instance.objects.get(version=v)
    assert response["Location"] == reverse("permits:job", args=[job.pk])
    enter = job.events.get(step="enter")
    assert len(enter.payload["photos"]["of_partner"]) == 2
    assert enter.payload["values"] == {"partner": str(crew["partner"].pk), "place": "1号皮带机"}
    assert enter.lat == pytest.approx(30.00012) and enter.device_time is not None

    # The overview offers the next step; the lock photo is required: refused, nothing recorded.
    assert step_url(job, "lock") in text(worker.get(reverse("permits:job", args=[job.pk])))
    before = Event.objects.count()
    refused = worker.post(step_url(job, "lock"), {"do": "complete"})
    assert refused.status_code == 422
    assert "「上锁挂牌照片」至少需要1张照片" in text(refused)
    assert 'id="slot-lock"' in text(refused) and "pf-error" in text(refused)
    assert Event.objects.count() == before
    assert Refusal.objects.get(instance=job).code == "photo_min"

    assert worker.post(step_url(job, "lock"), {"do": "complete", "photo__lock": [jpeg("blue")]}).status_code == 302
    assert worker.post(step_url(job, "exit"), {"do": "complete", "photo__of_partner": [jpeg("green")],
                                               "photo__of_self": [jpeg("purple")]}).status_code == 302
    assert "关闭作业" in text(worker.get(reverse("permits:job", args=[job.pk])))
    assert worker.post(reverse("permits:job_action", args=[job.pk]), {"do": "close"}).status_code == 302
    job.refresh_from_db()
    assert job.status == InstanceStatus.CLOSED

    # The desktop timeline shows every step, its photos, values with names, and the refusal.
    detail = text(client_for(world.a.officer).get(job.get_absolute_url()))
    for expected in ("进入：互拍照片", "上锁挂牌", "离开：互拍照片", "1号皮带机", "甲公司同伴", "被拒绝，未记录",
                     "「上锁挂牌照片」至少需要1张照片", "本人拍同伴", "30.00012", "甲公司工人"):
        assert expected in detail, expected
    for sha in enter.payload["photos"]["of_partner"]:
        assert reverse("evidence:thumb", args=[sha]) in detail
        assert client_for(world.a.officer).get(reverse("evidence:thumb", args=[sha])).status_code == 200


# --- an approval with presence proof, on a template with every field type ----------------------------------


def test_every_field_type_renders_on_the_phone(world, crew, approval_version):
    page = text(client_for(world.a.worker).get(start_url(approval_version, world.a.area)))
    for expected in ('type="datetime-local"', 'name="c__measures__m1"', "已落实", "不适用", "<canvas",
                     'name="f__hazards"', 'data-show-field="f__method"', "甲公司同伴", world.a.equipment.code,
                     "防护用品穿戴齐全", "至少 1 张，最多 2 张"):
        assert expected in page, expected


def test_an_approval_with_presence_photo_return_and_refusals_through_the_pages(world, crew, approval_version):
    job = start_approval_job(world, crew, approval_version)
    apply = job.events.get(step="apply")
    # The browser may send a field that show_if hides: the server drops it instead of refusing.
    assert "method_other" not in apply.payload["values"]
    assert apply.payload["values"]["measures"] == {"m1": "done", "m2": "not_applicable"}
    assert apply.payload["values"]["hazards"] == ["火灾", "灼烫"]
    assert apply.payload["values"]["planned"].startswith("2025-05-19T10:30:00+08:00")

    analyst = client_for(crew["analyst"])
    tasks = text(analyst.get(reverse("permits:tasks")))
    assert "气体分析" in tasks and job.number in tasks
    before = Event.objects.count()
    refused = analyst.post(step_url(job, "gas"), {"do": "complete", "f__lel": "12", "photo__meter": [jpeg("gray")]})
    assert refused.status_code == 422
    body = text(refused)
    assert "「可燃气体读数」不能大于9.9%LEL" in body
    assert re.search(r'id="field-lel".*?不能大于9\.9%LEL', body, re.S)
    # The photo taken for the refused attempt is kept on the form: no second upload on a weak network.
    kept = re.search(r'name="ref__meter" value="([0-9a-f]{64})"', body).group(1)
    assert Event.objects.count() == before
    assert analyst.post(step_url(job, "gas"), {"do": "complete", "f__lel": "3.5", "ref__meter": kept}).status_code == 302

    approver = client_for(crew["approver"])
    page = text(approver.get(step_url(job, "approve")))
    for expected in ("前序步骤记录", "3.5 %LEL", "3号罐护栏焊接", "甲公司同伴", "现场已配备灭火器", "已落实",
                     reverse("evidence:thumb", args=[kept]), "退回修改", "驳回", "现场照片（审批人在场证明）"):
        assert expected in page, expected

    before = Event.objects.count()
    no_presence = approver.post(step_url(job, "approve"), {"do": "approve", "reason": "同意"})
    assert no_presence.status_code == 422 and "审批人须上传现场照片以证明在场" in text(no_presence)
    assert re.search(r'id="slot-presence".*?审批人须上传现场照片', text(no_presence), re.S)
    no_reason = approver.post(step_url(job, "approve"), {"do": "return", "target": "gas", "reason": " "})
    assert no_reason.status_code == 422 and re.search(r'id="field-reason".*?请填写原因', text(no_reason), re.S)
    bad_target = approver.post(step_url(job, "approve"), {"do": "return", "target": "finish", "reason": "x"})
    assert bad_target.status_code == 422 and "不能退回到" in text(bad_target)
    assert Event.objects.count() == before

    assert approver.post(step_url(job, "approve"), {"do": "return", "target": "gas",
                                                    "reason": "请在动火点10m内重新取样"}).status_code == 302
    gas_again = text(analyst.get(reverse("permits:job", args=[job.pk])))
    assert "已退回" in gas_again and "请在动火点10m内重新取样" in gas_again
    assert analyst.post(step_url(job, "gas"), {"do": "complete", "f__lel": "0.5",
                                               "photo__meter": [jpeg("silver")]}).status_code == 302
    assert approver.post(step_url(job, "approve"), {"do": "approve", "reason": "现场确认，同意动火",
                                                    "photo__presence": [jpeg("white")]}).status_code == 302
    approved = job.events.get(kind="approved")
    assert approved.payload["opinion"] == "现场确认，同意动火" and len(approved.payload["photos"]["presence"]) == 1

    timeline = text(client_for(world.a.admin).get(job.get_absolute_url()))
    for expected in ("动火审批", "现场确认，同意动火", "请在动火点10m内重新取样", "退回至", "气体分析",
                     "现场照片（审批人在场证明）", "不能大于9.9%LEL", "审批人须上传现场照片以证明在场",
                     "0.5 %LEL", "被拒绝，未记录", "甲公司厂长"):
        assert expected in timeline, expected


def test_the_applicant_cannot_approve_and_a_stranger_sees_why(world, crew, approval_version):
    job = start_approval_job(world, crew, approval_version)
    worker = client_for(world.a.worker)
    page = worker.get(step_url(job, "gas"))
    assert page.status_code == 200 and "您不是「气体分析」的办理人" in text(page)
    before = Event.objects.count()
    assert worker.post(step_url(job, "gas"), {"do": "complete", "f__lel": "1"}).status_code == 403
    assert worker.post(step_url(job, "gas"), {"do": "approve"}).status_code == 400
    assert Event.objects.count() == before


def test_a_refused_start_leaves_no_job_and_keeps_the_refusal(world, crew, approval_version):
    AreaFreeze.objects.create(area=world.a.area, reason="可燃气体报警", started_at=clock.now())
    response = client_for(world.a.worker).post(start_url(approval_version, world.a.area), apply_data(crew, world))
    assert response.status_code == 409
    assert "已冻结" in text(response)
    assert not Instance.objects.exists()
    assert Refusal.objects.get().code == "area_frozen"


def test_a_non_image_upload_is_refused_next_to_its_slot(world, crew, approval_version):
    fake = SimpleUploadedFile("photo.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg")
    response = client_for(world.a.worker).post(start_url(approval_version, world.a.area),
                                               apply_data(crew, world, photo__crew=[fake]))
    assert response.status_code == 422
    assert re.search(r'id="slot-crew".*?无法识别的图片文件', text(response), re.S)
    assert not Instance.objects.exists()


def test_a_drawn_signature_is_stored_as_evidence(world, crew, approval_version):
    out = io.BytesIO()
    Image.new("RGB", (300, 100), "white").save(out, "PNG")
    import base64
    drawn = "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()
    client = client_for(world.a.worker)
    assert client.post(start_url(approval_version, world.a.area),
                       apply_data(crew, world, sig__sign=drawn)).status_code == 302
    job = Instance.objects.get()
    value = job.events.get(step="apply").payload["values"]["sign"]
    assert value.startswith("sig:") and value.endswith(":甲公司工人")
    sha = value.split(":")[1]
    assert reverse("evidence:thumb", args=[sha]) in text(client_for(world.a.admin).get(job.get_absolute_url()))
    bad = client.post(start_url(approval_version, world.a.area), apply_data(crew, world, sig__sign="data:image/png;base64,!!"))
    assert bad.status_code == 400 and "手写签名无法读取" in text(bad)


# --- bad input never crashes ----------------------------------------------------------------------------------


def test_bad_input_answers_4xx_never_5xx(world, crew, approval_version):
    job = start_approval_job(world, crew, approval_version)
    client = client_for(world.a.worker)
    gets = [reverse("permits:job", args=[999999]), reverse("permits:detail", args=[999999]),
            reverse("permits:qr", args=[999999]), step_url(job, "nope"), step_url(job, "x" * 300),
            f"{reverse('permits:start')}?version=abc", f"{reverse('permits:start')}?version=99999999999999999999",
            f"{reverse('permits:start')}?version={approval_version.pk}&area=abc",
            f"{reverse('permits:start')}?version={approval_version.pk}&area=999999",
            reverse("permits:verify", args=["x" * 200])]
    for url in gets:
        assert client.get(url).status_code == 404, url
    assert client.get(reverse("permits:ledger") + "?type=%00").status_code == 422  # NUL: refused at the door
    odd = [reverse("permits:ledger") + "?area=abc&start=2025-13-45&end=x&status=nope&type=%01&page=-1",
           reverse("permits:ledger") + "?start=9999-99-99&person=" + "x" * 500]
    for url in odd:
        assert client.get(url).status_code == 200, url
    posts = [
        (step_url(job, "nope"), {"do": "complete"}),
        (step_url(job, "finish"), {"do": "bogus"}),
        (reverse("permits:job_action", args=[job.pk]), {"do": "explode"}),
        (step_url(job, "finish"), {"do": "complete", "f__unknown": "x" * 100_000, "device_time": "not-a-time",
                                   "lat": "nan", "lng": "1e999"}),
        (start_url(approval_version, world.a.area), apply_data(crew, world, f__content="字" * 200_000,
                                                                f__planned="yesterday", c__measures__m1="maybe")),
        (start_url(approval_version, world.a.area), apply_data(crew, world, f__guardian="999999",
                                                                ref__crew="f" * 64)),
    ]
    for url, data in posts:
        status = client.post(url, data).status_code
        assert 400 <= status < 500, (url, status)
    assert client.post(reverse("permits:detail", args=[job.pk])).status_code in (200, 405)


def test_huge_text_is_cut_not_stored_whole(world, crew, approval_version):
    client = client_for(world.a.worker)
    response = client.post(start_url(approval_version, world.a.area), apply_data(crew, world, f__content="长" * 50_000))
    assert response.status_code == 302
    assert len(Instance.objects.get().events.get(step="apply").payload["values"]["content"]) == 2000


# --- CSRF -------------------------------------------------------------------------------------------------------


def test_forms_need_the_csrf_token(world, crew, approval_version):
    job = start_approval_job(world, crew, approval_version)
    client = csrf_client_for(world.a.worker)
    before = Event.objects.count()
    assert client.post(step_url(job, "finish"), {"do": "complete"}).status_code == 403
    assert client.post(reverse("permits:job_action", args=[job.pk]), {"do": "cancel", "reason": "x"}).status_code == 403
    assert client.post(start_url(approval_version, world.a.area), apply_data(crew, world)).status_code == 403
    assert Event.objects.count() == before
    page = client.get(reverse("permits:job", args=[job.pk]))
    token = TOKEN.search(text(page)).group(1)
    ok = client.post(reverse("permits:job_action", args=[job.pk]),
                     {"do": "cancel", "reason": "天气突变", "csrfmiddlewaretoken": token})
    assert ok.status_code == 302
    job.refresh_from_db()
    assert job.status == InstanceStatus.CANCELLED


# --- scoping -----------------------------------------------------------------------------------------------------


def test_company_b_cannot_see_company_a_permits_or_photos(world, crew, approval_version):
    job = start_approval_job(world, crew, approval_version)
    sha = job.events.get(step="apply").payload["photos"]["crew"][0]
    for person in (world.b.admin, world.b.worker, world.b.officer):
        client = client_for(person)
        for url in (reverse("permits:detail", args=[job.pk]), reverse("permits:job", args=[job.pk]),
                    reverse("permits:qr", args=[job.pk]), step_url(job, "gas"),
                    reverse("evidence:file", args=[sha]), reverse("evidence:thumb", args=[sha]),
                    f"{reverse('permits:start')}?version={approval_version.pk}",
                    f"{reverse('permits:start')}?version={version('zero-process').pk}&area={world.a.area.pk}"):
            assert client.get(url).status_code == 404, (person.name, url)
        assert client.post(step_url(job, "gas"), {"do": "complete", "f__lel": "1"}).status_code == 404
        assert client.post(reverse("permits:job_action", args=[job.pk]), {"do": "close"}).status_code == 404
        ledger = text(client.get(reverse("permits:ledger")))
        assert job.number not in ledger
        assert job.number not in text(client.get(reverse("permits:tasks")))
    assert job.number in text(client_for(world.a.officer).get(reverse("permits:ledger")))
    # Not logged in: the login page, for every permit page.
    for url in (reverse("permits:ledger"), reverse("permits:detail", args=[job.pk]), reverse("permits:tasks"),
                reverse("permits:start"), step_url(job, "gas")):
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


# --- the QR check --------------------------------------------------------------------------------------------------


def test_the_qr_check_says_valid_or_not_and_leaks_nothing_else(world, crew, approval_version):
    job = start_approval_job(world, crew, approval_version)
    url = reverse("permits:verify", args=[job.verify_token])
    public = Client()
    page = public.get(url)
    assert page.status_code == 200
    body = text(page)
    assert "有效" in body and "无效" not in body
    for shown in (job.number, "测试审批作业", world.a.area.name):
        assert shown in body
    for secret in ("3号罐护栏焊接", world.a.worker.name, "甲公司同伴", "/files/", "ref__", "csrfmiddlewaretoken"):
        assert secret not in body, secret
    assert page["Cache-Control"] == "no-store"

    freeze = AreaFreeze.objects.create(area=world.a.area, reason="泄漏", started_at=clock.now())
    frozen = text(public.get(url))
    assert "无效" in frozen and "作业区域已冻结" in frozen and "泄漏" not in frozen
    freeze.ended_at = clock.now()
    freeze.save()
    assert "无效" not in text(public.get(url))

    flows.act(world.a.worker.user, job, core.Action("cancel", reason="改期"))
    cancelled = text(public.get(url))
    assert "无效" in cancelled and "已取消" in cancelled

    assert public.get(reverse("permits:verify", args=["not-the-token"])).status_code == 404
    assert public.get(reverse("permits:verify", args=[job.verify_token[:-1]])).status_code == 404

    qr = client_for(world.a.officer).get(reverse("permits:qr", args=[job.pk]))
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml"
    assert "<svg" in qr.content.decode()


def test_an_expired_permit_is_invalid(world, crew, approval_version):
    from datetime import timedelta

    job = start_approval_job(world, crew, approval_version)
    with clock.frozen(clock.now() + timedelta(hours=9)):
        body = text(Client().get(reverse("permits:verify", args=[job.verify_token])))
    assert "无效" in body and "已过期" in body


# --- ledger ----------------------------------------------------------------------------------------------------------


def test_the_ledger_filters_and_exports_what_it_shows(world, crew, approval_version):
    from datetime import timedelta

    worker, officer = world.a.worker.user, world.a.officer
    second_area = orgs_services.save_area(SYSTEM, None, org_unit=world.a.plant, name="甲公司码头")
    zero = version("zero-process")
    old = flows.start(worker, approval_version, world.a.area, now=clock.now() - timedelta(days=10))
    new = flows.start(worker, approval_version, second_area)
    loto = flows.start(worker, zero, world.a.area)
    flows.act(worker, loto, core.Action("cancel", reason="取消"))
    other = make_person(world.a.team, "甲公司焊工", "A020", [("applicant", world.a.team)], login="A-welder")
    welder_job = flows.start(other.user, zero, second_area)

    client = client_for(officer)

    def numbers(query: str) -> set[str]:
        body = text(client.get(reverse("permits:ledger") + query))
        return {i.number for i in (old, new, loto, welder_job) if i.number in body}

    assert numbers("") == {old.number, new.number, loto.number, welder_job.number}
    assert numbers("?type=zero-process") == {loto.number, welder_job.number}
    assert numbers("?status=cancelled") == {loto.number}
    assert numbers(f"?area={second_area.pk}") == {new.number, welder_job.number}
    today = clock.now().date().isoformat()
    assert numbers(f"?start={today}") == {new.number, loto.number, welder_job.number}
    assert numbers(f"?end={(clock.now() - timedelta(days=5)).date().isoformat()}") == {old.number}
    assert numbers("?person=焊工") == {welder_job.number}
    assert numbers(f"?q={old.number}") == {old.number}
    fragment = client.get(reverse("permits:ledger") + "?type=zero-process", HTTP_HX_REQUEST="true")
    assert "<html" not in text(fragment) and loto.number in text(fragment)

    export = client.get(reverse("permits:ledger") + "?type=zero-process&format=xlsx")
    assert export.status_code == 200
    assert export["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(export.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("编号", "作业类型", "作业内容", "区域")
    assert {r[0] for r in rows[1:]} == {loto.number, welder_job.number}
    cancelled = next(r for r in rows[1:] if r[0] == loto.number)
    assert cancelled[1] == "三步零流程" and cancelled[7] == "已取消" and cancelled[5] == world.a.worker.name


def test_the_pages_render_in_chinese(world, crew, approval_version):
    job = start_approval_job(world, crew, approval_version)
    client = client_for(world.a.worker)
    for url, expected in ((reverse("permits:tasks"), "我的待办"), (reverse("permits:start"), "选择类型"),
                          (reverse("permits:job", args=[job.pk]), "作业步骤"),
                          (reverse("permits:ledger"), "作业票台账"), (job.get_absolute_url(), "作业记录"),
                          (reverse("mobile:home"), "发起作业")):
        response = client.get(url)
        assert response.status_code == 200 and expected in text(response), url


def test_the_hot_work_start_form_renders_its_fields(world):
    page = text(client_for(world.a.worker).get(start_url(version("hot-work-2"), world.a.area)))
    for expected in ("作业申请单位", "动火方式", "动火人", "关联作业票编号", "作业人员状态", "72小时"):
        assert expected in page, expected
