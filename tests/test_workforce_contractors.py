"""Contractor companies: the rules of the services, the pages (list with its figures, detail, forms,
status change, export) and the API, with wrong, huge, replayed and malicious input and company
isolation on every URL and operation."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timezone as dt_timezone

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook
from PIL import Image

from anlian.accounts.tokens import issue_token
from anlian.core import clock
from anlian.core.codes import credit_check_char
from anlian.core.errors import Conflict, Forbidden, Invalid
from anlian.evidence.models import StoredFile
from anlian.evidence.services import store_photo
from anlian.orgs import services as orgs
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Contractor, ContractorStatus, Person
from anlian.workforce import contractors
from anlian.workforce.models import ContractorArea, ContractorDocument, Violation
from anlian.workforce.signals import qualification_changed
from tests.conftest import client_for, csrf_client_for
from tests.test_pages import post_form, text

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 20, 2, 0, tzinfo=dt_timezone.utc)  # 10:00 on 20 May in Shanghai
TODAY = date(2026, 5, 20)


def credit(first17: str) -> str:
    return first17 + credit_check_char(first17)


CODE = credit("91330200MA2H4B7CX")


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen(NOW):
        yield


def png(color: str = "#c00") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, "PNG")
    return SimpleUploadedFile("scan.png", out.getvalue(), content_type="image/png")


def make(world, company="a", name="海工建设", **extra) -> Contractor:
    c = getattr(world, company)
    return contractors.save_contractor(SYSTEM, None, org_unit=c.plant, name=name, **extra)


def worker(world, contractor: Contractor, no: str, company="a", active=True) -> Person:
    c = getattr(world, company)
    return orgs.save_person(SYSTEM, None, org_unit=c.team, name=f"工人{no}", employee_no=no, contractor=contractor,
                            is_active=active)


@pytest.fixture
def haigong(world) -> Contractor:
    return make(world, credit_code=CODE, contact_name="王经理", contact_phone="13800000001",
                contract_start=date(2026, 1, 1), contract_end=date(2026, 12, 31))


def snapshot() -> list[tuple]:
    return [list(Contractor.objects.order_by("pk").values_list()), list(ContractorDocument.objects.values_list()),
            list(ContractorArea.objects.values_list())]


# --- services ------------------------------------------------------------------------------------


def test_it_creates_a_contractor_in_the_managing_units_company(world, haigong):
    assert haigong.company == world.a.unit and haigong.org_unit == world.a.plant
    assert haigong.credit_code == CODE and haigong.status == ContractorStatus.ACTIVE
    # The same name is free in another company, and a lower-case code is stored upper-case.
    other = make(world, "b", credit_code=CODE.lower())
    assert other.company == world.b.unit and other.credit_code == CODE


@pytest.mark.parametrize(("changes", "field"), [
    ({"name": "  "}, "name"),
    ({"name": "长" * 101}, "name"),
    ({"credit_code": CODE[:17] + ("0" if CODE[17] != "0" else "1")}, "credit_code"),  # wrong check character
    ({"credit_code": "91330200MA2H4B7CO1"}, "credit_code"),  # O is not in the alphabet
    ({"contact_phone": "138-0000-0001"}, "contact_phone"),
    ({"contact_phone": "1" * 21}, "contact_phone"),
    ({"contact_name": "名" * 51}, "contact_name"),
    ({"contract_start": date(2026, 6, 1), "contract_end": date(2026, 5, 31)}, "contract_end"),
])
def test_it_refuses_bad_contractor_input_and_stores_nothing(world, changes, field):
    data = {"name": "海工建设"} | changes
    with pytest.raises(Invalid) as refused:
        contractors.save_contractor(SYSTEM, None, org_unit=world.a.plant, **data)
    assert refused.value.field == field and refused.value.message()
    assert not Contractor.objects.exists()


def test_a_contractor_needs_a_company_and_a_unique_name_in_it(world, haigong):
    with pytest.raises(Invalid) as refused:
        contractors.save_contractor(SYSTEM, None, org_unit=world.group, name="集团承包商")
    assert refused.value.field == "org_unit"
    with pytest.raises(Conflict) as clash:
        make(world, name="海工建设")
    assert "本公司已有名为“海工建设”的承包商" in clash.value.message()
    with pytest.raises(Invalid):  # moving it to another company's unit
        contractors.save_contractor(SYSTEM, haigong, org_unit=world.b.plant, name="海工建设")
    assert Contractor.objects.get().org_unit == world.a.plant


def test_only_contractor_managers_write(world, haigong):
    with pytest.raises(Forbidden):
        contractors.save_contractor(world.a.worker.user, None, org_unit=world.a.team, name="偷偷加的")
    with pytest.raises(Forbidden):
        contractors.set_status(world.b.admin.user, haigong, "blacklisted", "越权")
    # The safety officer holds the permission at the plant, not at the company above it.
    with pytest.raises(Forbidden):
        contractors.save_contractor(world.a.officer.user, None, org_unit=world.a.unit, name="公司级")
    assert contractors.save_contractor(world.a.officer.user, None, org_unit=world.a.plant, name="厂级").pk


@pytest.fixture
def received():
    seen: list[tuple[str, str]] = []

    def listener(sender, person, reason="", **kwargs):
        seen.append((person.employee_no, str(reason)))

    qualification_changed.connect(listener)
    yield seen
    qualification_changed.disconnect(listener)


def test_a_status_change_announces_every_active_worker_after_commit(world, haigong, received,
                                                                    django_capture_on_commit_callbacks):
    worker(world, haigong, "C1"), worker(world, haigong, "C2"), worker(world, haigong, "C3", active=False)
    with django_capture_on_commit_callbacks(execute=True):
        contractors.set_status(world.a.officer.user, haigong, "suspended", "高处作业未系安全带")
        assert received == []  # nothing before the commit
    assert sorted(received) == [("C1", "承包商“海工建设”状态改为暂停：高处作业未系安全带"),
                                ("C2", "承包商“海工建设”状态改为暂停：高处作业未系安全带")]
    haigong.refresh_from_db()
    assert haigong.status == "suspended" and haigong.status_reason == "高处作业未系安全带"


@pytest.mark.parametrize(("status", "reason", "error"), [
    ("blacklisted", "", Invalid),
    ("blacklisted", "   ", Invalid),
    ("blacklisted", "理" * 201, Invalid),
    ("closed", "不存在的状态", Invalid),
    ("active", "已经是正常", Conflict),
])
def test_a_status_change_needs_a_known_new_status_and_a_reason(world, haigong, received, status, reason, error,
                                                               django_capture_on_commit_callbacks):
    worker(world, haigong, "C1")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(error):
        contractors.set_status(SYSTEM, haigong, status, reason)
    haigong.refresh_from_db()
    assert haigong.status == "active" and haigong.status_reason == "" and received == []


def test_documents_keep_the_scan_as_evidence_and_refuse_duplicates(world, haigong):
    doc = contractors.save_document(SYSTEM, haigong, None, kind="safety_permit", number="(浙)JZ安许证字[2024]000123",
                                    expires_on=date(2026, 6, 1), scan=png())
    assert doc.file.company == world.a.unit and doc.file.content_type == "image/png"
    with pytest.raises(Conflict):
        contractors.save_document(SYSTEM, haigong, None, kind="safety_permit", number="(浙)JZ安许证字[2024]000123")
    # Renewal keeps the scan when no new one is given.
    renewed = contractors.save_document(SYSTEM, haigong, doc, kind="safety_permit", number=doc.number,
                                        expires_on=date(2029, 6, 1))
    assert renewed.file_id == doc.file_id and ContractorDocument.objects.get().expires_on == date(2029, 6, 1)


def test_a_scan_that_is_not_an_image_is_refused_and_nothing_kept(world, haigong):
    fake = SimpleUploadedFile("scan.jpg", b"<html><script>alert(1)</script></html>", content_type="image/jpeg")
    with pytest.raises(Invalid) as refused:
        contractors.save_document(SYSTEM, haigong, None, kind="license", scan=fake)
    assert refused.value.field == "scan"
    assert not ContractorDocument.objects.exists() and not StoredFile.objects.exists()


def test_a_scan_of_another_company_or_a_clip_is_refused(world, haigong):
    theirs = store_photo(SYSTEM, world.b.unit, png())
    with pytest.raises(Invalid):
        contractors.save_document(SYSTEM, haigong, None, kind="license", file=theirs)
    assert not ContractorDocument.objects.exists()


def test_expiry_states_on_the_boundaries():
    today = date(2026, 5, 20)
    assert contractors.expiry_state(None, today) == ""
    assert contractors.expiry_state(date(2026, 5, 19), today) == "expired"
    assert contractors.expiry_state(date(2026, 5, 20), today) == "expiring"  # valid through today
    assert contractors.expiry_state(date(2026, 6, 19), today) == "expiring"  # 30 days ahead
    assert contractors.expiry_state(date(2026, 6, 20), today) == ""


def test_areas_belong_to_the_company_and_run_forward(world, haigong):
    link = contractors.save_area(SYSTEM, haigong, None, area=world.a.area, valid_from=date(2026, 5, 1),
                                 valid_until=date(2026, 5, 31))
    with pytest.raises(Conflict):
        contractors.save_area(SYSTEM, haigong, None, area=world.a.area, valid_from=date(2026, 6, 1),
                              valid_until=date(2026, 6, 30))
    with pytest.raises(Invalid) as other:
        contractors.save_area(SYSTEM, haigong, None, area=world.b.area, valid_from=date(2026, 5, 1),
                              valid_until=date(2026, 5, 31))
    assert other.value.field == "area"
    with pytest.raises(Invalid) as backwards:
        contractors.save_area(SYSTEM, haigong, link, area=world.a.area, valid_from=date(2026, 6, 1),
                              valid_until=date(2026, 5, 31))
    assert backwards.value.field == "valid_until"
    one_day = contractors.save_area(SYSTEM, haigong, link, area=world.a.area, valid_from=date(2026, 6, 1),
                                    valid_until=date(2026, 6, 1))
    assert ContractorArea.objects.get().valid_until == one_day.valid_from == date(2026, 6, 1)


def test_removing_an_area_or_document_announces_the_workers(world, haigong, received,
                                                            django_capture_on_commit_callbacks):
    worker(world, haigong, "C1")
    link = contractors.save_area(SYSTEM, haigong, None, area=world.a.area, valid_from=date(2026, 5, 1),
                                 valid_until=date(2026, 5, 31))
    doc = contractors.save_document(SYSTEM, haigong, None, kind="license")
    with django_capture_on_commit_callbacks(execute=True):
        contractors.delete_area(SYSTEM, link)
        contractors.delete_document(SYSTEM, doc)
    assert received == [("C1", "承包商“海工建设”不再获准在“甲公司罐区”作业"), ("C1", "承包商“海工建设”的资质文件已删除")]


def test_a_contractor_with_workers_is_kept(world, haigong):
    worker(world, haigong, "C1")
    with pytest.raises(Conflict):
        contractors.delete_contractor(SYSTEM, haigong)
    empty = make(world, name="空壳公司")
    contractors.delete_contractor(SYSTEM, empty)
    assert list(Contractor.objects.values_list("name", flat=True)) == ["海工建设"]


# --- pages ---------------------------------------------------------------------------------------


@pytest.fixture
def figures(world, haigong):
    """海工建设: 2 active workers (1 left), 1 open violation, 1 expired and 1 expiring document."""
    for no in ("C1", "C2"):
        worker(world, haigong, no)
    left = worker(world, haigong, "C3", active=False)
    Violation.objects.create(person=left, contractor=haigong, what="未戴安全帽", occurred_at=NOW)
    Violation.objects.create(person=left, contractor=haigong, what="已整改的", occurred_at=NOW, status="rectified")
    contractors.save_document(SYSTEM, haigong, None, kind="license", expires_on=date(2026, 5, 19))
    contractors.save_document(SYSTEM, haigong, None, kind="insurance", expires_on=date(2026, 6, 19))
    contractors.save_document(SYSTEM, haigong, None, kind="agreement", expires_on=date(2026, 6, 20))
    contractors.save_document(SYSTEM, haigong, None, kind="qualification")  # no expiry
    make(world, name="蓝海保洁")  # nothing at all
    return haigong


def test_the_list_shows_each_contractors_figures(world, figures):
    listed = {c.name: c for c in contractors.with_figures(Contractor.objects.all())}
    hg = listed["海工建设"]
    assert (hg.n_workers, hg.n_open_violations, hg.n_docs_expired, hg.n_docs_expiring) == (2, 1, 1, 1)
    lan = listed["蓝海保洁"]
    assert (lan.n_workers, lan.n_open_violations, lan.n_docs_expired, lan.n_docs_expiring) == (0, 0, 0, 0)

    body = text(client_for(world.a.officer).get("/contractors/"))
    assert "1 份已过期" in body and "1 份30天内到期" in body and "2026-01-01 ~ 2026-12-31" in body
    assert 'class="badge c-active"' in body and "蓝海保洁" in body and "合同已到期" not in body
    contractors.save_contractor(SYSTEM, figures, org_unit=world.a.plant, name="海工建设",
                                contract_start=date(2025, 1, 1), contract_end=date(2026, 5, 19))
    assert "合同已到期" in text(client_for(world.a.officer).get("/contractors/"))


def test_the_list_filters_by_status_and_search(world, figures, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        contractors.set_status(SYSTEM, figures, "blacklisted", "发生死亡事故")
    client = client_for(world.a.officer)
    body = text(client.get("/contractors/?status=blacklisted"))
    assert "海工建设" in body and "蓝海保洁" not in body and "发生死亡事故" in body
    body = text(client.get("/contractors/?q=蓝海"))
    assert "蓝海保洁" in body and "海工建设" not in body
    body = text(client.get(f"/contractors/?q={CODE[:10]}"))
    assert "海工建设" in body and "蓝海保洁" not in body
    # Unknown values are ignored, a huge search is cut, a fragment answers htmx.
    assert client.get("/contractors/?status=<script>&page=abc").status_code == 200
    assert client.get("/contractors/?q=" + "海" * 5000).status_code == 200
    fragment = client.get("/contractors/?status=active", HTTP_HX_REQUEST="true")
    assert "<html" not in text(fragment) and "蓝海保洁" in text(fragment)


def test_the_list_exports_to_excel(world, figures):
    response = client_for(world.a.officer).get("/contractors/?format=xlsx&status=active")
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[0][:4] == ("承包商名称", "统一社会信用代码", "管理单位", "状态")
    by_name = {r[0]: r for r in rows[1:]}
    assert set(by_name) == {"海工建设", "蓝海保洁"}
    hg = by_name["海工建设"]
    assert hg[1:4] == (CODE, "甲公司一厂", "正常") and hg[5:8] == (2, 1, 1) and hg[10] == 1
    assert hg[8].date() == date(2026, 1, 1) and hg[9].date() == date(2026, 12, 31)


def test_the_detail_page_shows_documents_areas_workers_and_violations(world, figures):
    contractors.save_area(SYSTEM, figures, None, area=world.a.area, valid_from=date(2026, 1, 1),
                          valid_until=date(2026, 4, 30))
    body = text(client_for(world.a.officer).get(f"/contractors/{figures.pk}/"))
    assert "营业执照" in body and 't-expired' in body and 't-expiring' in body and "长期" in body
    assert "甲公司罐区" in body and "2026-01-01 ~ 2026-04-30" in body and 'badge expired' in body
    assert f'href="/people/{Person.objects.get(employee_no="C1").pk}/"' in body and "未戴安全帽" in body
    assert f'href="/people/?contractor={figures.pk}"' in body


def test_a_worker_sees_the_pages_but_no_management_buttons(world, haigong):
    client = client_for(world.a.worker)
    assert "新建承包商" not in text(client.get("/contractors/"))
    # The worker's grants are at the team; a contractor of the plant is outside them.
    assert client.get(f"/contractors/{haigong.pk}/").status_code == 404
    assert client.get("/contractors/new/").status_code == 403
    team = contractors.save_contractor(SYSTEM, None, org_unit=world.a.team, name="班组外包")
    body = text(client.get(f"/contractors/{team.pk}/"))
    assert "班组外包" in body and "变更状态" not in body
    assert client.get(f"/contractors/{team.pk}/edit/").status_code == 403


def test_it_creates_and_edits_a_contractor_through_the_forms(world):
    client = csrf_client_for(world.a.officer)
    data = {"org_unit": world.a.plant.pk, "name": "海工建设", "credit_code": CODE, "contact_name": "王经理",
            "contact_phone": "13800000001", "contract_start": "2026-01-01", "contract_end": "2026-12-31"}
    response = post_form(client, "/contractors/new/", data)
    hg = Contractor.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/contractors/{hg.pk}/"
    assert "已保存承包商“海工建设”" in text(client.get(response["Location"]))
    response = post_form(client, f"/contractors/{hg.pk}/edit/", data | {"contract_end": "2027-06-30"})
    hg.refresh_from_db()
    assert response.status_code == 302 and hg.contract_end == date(2027, 6, 30)


@pytest.mark.parametrize(("changes", "status", "message"), [
    ({"credit_code": "91330200MA2H4B7CX0"}, 422, "统一社会信用代码"),
    ({"contract_end": "2025-12-31"}, 422, "合同结束日期不能早于开始日期"),
    ({"contact_phone": "call me"}, 422, "联系电话只能包含5到20位数字"),
    ({"contract_start": "2026-02-30"}, 400, "有效的日期"),
    ({"name": "长" * 5000}, 400, "100"),
    ({"org_unit": "999999999999999999999"}, 400, ""),
])
def test_the_form_refuses_bad_input_with_a_reason(world, changes, status, message):
    data = {"org_unit": world.a.plant.pk, "name": "海工建设", "contract_start": "2026-01-01"} | changes
    response = post_form(csrf_client_for(world.a.officer), "/contractors/new/", data)
    assert response.status_code == status and message in text(response)
    assert not Contractor.objects.exists()


def test_names_are_escaped_on_every_page(world):
    evil = make(world, name='<script>alert("x")</script>')
    client = client_for(world.a.officer)
    for url in ("/contractors/", f"/contractors/{evil.pk}/", "/contractors/redlist/?month=2026-05"):
        body = text(client.get(url))
        assert '<script>alert("x")</script>' not in body and "&lt;script&gt;" in body, url


def test_it_changes_the_status_with_a_reason_through_the_page(world, haigong):
    client = csrf_client_for(world.a.officer)
    url = f"/contractors/{haigong.pk}/status/"
    response = post_form(client, url, {"status": "suspended", "reason": ""})
    assert response.status_code == 400 and Contractor.objects.get().status == "active"
    response = post_form(client, url, {"status": "suspended", "reason": "安全协议过期"})
    assert response.status_code == 302
    response = post_form(client, url, {"status": "suspended", "reason": "再次提交"})  # replayed
    assert response.status_code == 409 and "承包商已是“暂停”状态" in text(response)
    haigong.refresh_from_db()
    assert (haigong.status, haigong.status_reason) == ("suspended", "安全协议过期")


def test_it_uploads_a_document_scan_served_without_sniffing(world, haigong):
    client = csrf_client_for(world.a.officer)
    url = f"/contractors/{haigong.pk}/documents/new/"
    data = {"kind": "safety_permit", "number": "JZ-001", "expires_on": "2026-06-01"}
    response = post_form(client, url, data | {"scan": png()})
    doc = ContractorDocument.objects.get()
    assert response.status_code == 302 and doc.file is not None
    scan = client.get(reverse("evidence:file", args=[doc.file.sha256]))
    assert scan.status_code == 200 and scan["Content-Type"] == "image/png"
    assert scan["X-Content-Type-Options"] == "nosniff" and scan["Content-Security-Policy"] == "default-src 'none'"
    assert client_for(world.b.admin).get(reverse("evidence:file", args=[doc.file.sha256])).status_code == 404

    replay = post_form(client, url, data | {"scan": png()})
    assert replay.status_code == 409 and ContractorDocument.objects.count() == 1
    fake = SimpleUploadedFile("x.png", b"MZ\x90\x00 not an image", content_type="image/png")
    response = post_form(client, url, {"kind": "license", "scan": fake})
    assert response.status_code == 422 and "has-error" in text(response)
    assert ContractorDocument.objects.count() == 1 and StoredFile.objects.count() == 1

    response = post_form(client, f"/contractors/documents/{doc.pk}/edit/", data | {"expires_on": "2029-06-01"})
    doc.refresh_from_db()
    assert response.status_code == 302 and doc.expires_on == date(2029, 6, 1) and doc.file is not None
    response = post_form(client, f"/contractors/documents/{doc.pk}/delete/", {})
    assert response.status_code == 302 and not ContractorDocument.objects.exists()


def test_it_authorises_an_area_through_the_page(world, haigong):
    client = csrf_client_for(world.a.officer)
    url = f"/contractors/{haigong.pk}/areas/new/"
    response = post_form(client, url, {"area": world.b.area.pk, "valid_from": "2026-05-01",
                                       "valid_until": "2026-05-31"})
    assert response.status_code == 400 and not ContractorArea.objects.exists()  # not a choice here
    response = post_form(client, url, {"area": world.a.area.pk, "valid_from": "2026-05-31",
                                       "valid_until": "2026-05-01"})
    assert response.status_code == 422 and "授权截止日期不能早于起始日期" in text(response)
    response = post_form(client, url, {"area": world.a.area.pk, "valid_from": "2026-05-01",
                                       "valid_until": "2026-05-31"})
    link = ContractorArea.objects.get()
    assert response.status_code == 302 and link.area == world.a.area
    response = post_form(client, f"/contractors/areas/{link.pk}/edit/", {
        "area": world.a.area.pk, "valid_from": "2026-05-01", "valid_until": "2026-08-31"})
    link.refresh_from_db()
    assert response.status_code == 302 and link.valid_until == date(2026, 8, 31)
    response = post_form(client, f"/contractors/areas/{link.pk}/delete/", {})
    assert response.status_code == 302 and not ContractorArea.objects.exists()


def test_deleting_a_contractor_with_workers_is_refused_on_the_page(world, haigong):
    worker(world, haigong, "C1")
    response = post_form(csrf_client_for(world.a.officer), f"/contractors/{haigong.pk}/delete/", {})
    assert response.status_code == 409 and "不能删除" in text(response)
    assert Contractor.objects.filter(pk=haigong.pk).exists()


# --- company isolation ---------------------------------------------------------------------------


@pytest.fixture
def a_objects(world, haigong):
    doc = contractors.save_document(SYSTEM, haigong, None, kind="license", number="L1", scan=png())
    link = contractors.save_area(SYSTEM, haigong, None, area=world.a.area, valid_from=date(2026, 5, 1),
                                 valid_until=date(2026, 5, 31))
    return haigong, doc, link


def test_company_b_cannot_read_or_change_company_a_on_any_page(world, a_objects):
    hg, doc, link = a_objects
    before = snapshot()
    plain = client_for(world.b.admin)
    assert "海工建设" not in text(plain.get("/contractors/"))
    urls = [f"/contractors/{hg.pk}/", f"/contractors/{hg.pk}/edit/", f"/contractors/{hg.pk}/delete/",
            f"/contractors/{hg.pk}/status/", f"/contractors/{hg.pk}/documents/new/",
            f"/contractors/documents/{doc.pk}/edit/", f"/contractors/documents/{doc.pk}/delete/",
            f"/contractors/{hg.pk}/areas/new/", f"/contractors/areas/{link.pk}/edit/",
            f"/contractors/areas/{link.pk}/delete/"]
    for url in urls:
        assert plain.get(url).status_code == 404, url
        assert plain.post(url, {"status": "blacklisted", "reason": "x", "name": "改名", "kind": "license",
                                "org_unit": world.b.plant.pk}).status_code == 404, url
    assert snapshot() == before
    body = text(plain.get("/contractors/redlist/?month=2026-05"))
    assert "海工建设" not in body
    rows = list(load_workbook(io.BytesIO(plain.get("/contractors/?format=xlsx").content)).active.iter_rows())
    assert len(rows) == 1


# --- API -----------------------------------------------------------------------------------------


class Api:
    def __init__(self, person) -> None:
        self.client = Client()
        self.secret = issue_token(person.user, "t")[1]

    def __call__(self, method: str, url: str, body: dict | None = None):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(self.client, method)(f"/api/v1{url}", **kwargs)


def test_the_api_creates_reads_changes_and_deletes_a_contractor(world):
    api = Api(world.a.officer)
    r = api("post", "/contractors", {"org_unit_id": world.a.plant.pk, "name": "海工建设", "credit_code": CODE,
                                     "contract_start": "2026-01-01", "contract_end": "2026-12-31"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["company_id"] == world.a.unit.pk and body["status"] == "active" and body["workers"] == 0
    cid = body["id"]
    worker(world, Contractor.objects.get(pk=cid), "C1")
    r = api("patch", f"/contractors/{cid}", {"contact_phone": "13800000001"})
    assert r.status_code == 200 and r.json()["contact_phone"] == "13800000001" and r.json()["workers"] == 1
    assert r.json()["credit_code"] == CODE  # untouched fields stay
    r = api("get", "/contractors?status=active&q=海工")
    assert r.json()["count"] == 1 and r.json()["items"][0]["id"] == cid
    r = api("post", f"/contractors/{cid}/status", {"status": "suspended", "reason": "安全协议过期"})
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert api("delete", f"/contractors/{cid}").status_code == 409  # it has a worker
    empty = api("post", "/contractors", {"org_unit_id": world.a.plant.pk, "name": "空壳"}).json()["id"]
    assert api("delete", f"/contractors/{empty}").status_code == 204
    assert not Contractor.objects.filter(pk=empty).exists()


PLANT = "the plant's id"


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"name": "X"}, 422, "missing_field", "org_unit_id"),
    ({"org_unit_id": PLANT, "name": "X", "colour": "red"}, 422, "unknown_field", "colour"),
    ({"org_unit_id": 2**70, "name": "X"}, 422, "invalid_value", "org_unit_id"),
    ({"org_unit_id": None, "name": "X"}, 422, "invalid_value", "org_unit_id"),
    ({"org_unit_id": PLANT, "name": "X" * 101}, 422, "invalid_value", "name"),
    ({"org_unit_id": PLANT, "name": "X", "credit_code": "91330200MA2H4B7CX0"}, 422, "invalid", "credit_code"),
    ({"org_unit_id": PLANT, "name": "X", "contract_start": "2026-13-01"}, 422, "invalid_value", "contract_start"),
    ({"org_unit_id": PLANT, "name": "X", "contract_start": "2026-06-01", "contract_end": "2026-05-01"},
     422, "invalid", "contract_end"),
    ({"org_unit_id": PLANT, "name": "X\x00"}, 422, "nul_character", None),
])
def test_the_api_refuses_bad_bodies_with_a_reason(world, body, status, code, field):
    body = {key: world.a.plant.pk if value == PLANT else value for key, value in body.items()}
    r = Api(world.a.officer)("post", "/contractors", body)
    assert r.status_code == status and r.json()["code"] == code and r.json()["field"] == field
    assert r.json()["message"] and not Contractor.objects.exists()


def test_the_api_refuses_malformed_json_and_huge_ids(world, haigong):
    api = Api(world.a.officer)
    r = api.client.post("/api/v1/contractors", data="{not json", content_type="application/json",
                        HTTP_AUTHORIZATION=f"Bearer {api.secret}")
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"
    assert api("get", f"/contractors/{2**70}").status_code == 422
    assert api("get", "/contractors/0").status_code == 422
    assert api("post", f"/contractors/{haigong.pk}/status", {"status": "closed", "reason": "x"}).status_code == 422
    assert api("post", f"/contractors/{haigong.pk}/status", {"status": "suspended"}).status_code == 422
    assert Contractor.objects.get().status == "active"


def test_the_api_manages_documents_and_areas(world, haigong):
    api = Api(world.a.officer)
    scan = store_photo(SYSTEM, world.a.unit, png())
    r = api("post", f"/contractors/{haigong.pk}/documents", {"kind": "license", "number": "L1",
                                                               "expires_on": "2026-05-25", "scan_sha256": scan.sha256})
    assert r.status_code == 201, r.content
    doc = r.json()
    assert doc["scan_sha256"] == scan.sha256 and doc["expiry"] == "expiring"
    assert api("post", f"/contractors/{haigong.pk}/documents", {"kind": "license", "number": "L1"}).status_code == 409
    r = api("patch", f"/contractor-documents/{doc['id']}", {"expires_on": "2026-05-19"})
    assert r.status_code == 200 and r.json()["expiry"] == "expired" and r.json()["scan_sha256"] == scan.sha256
    assert api("patch", f"/contractor-documents/{doc['id']}", {"scan_sha256": None}).status_code == 422
    assert [d["id"] for d in api("get", f"/contractors/{haigong.pk}/documents").json()] == [doc["id"]]

    r = api("post", f"/contractors/{haigong.pk}/areas", {"area_id": world.a.area.pk, "valid_from": "2026-05-01",
                                                           "valid_until": "2026-05-31"})
    assert r.status_code == 201 and r.json()["area_name"] == "甲公司罐区"
    link = r.json()["id"]
    r = api("patch", f"/contractor-areas/{link}", {"valid_until": "2026-04-30"})
    assert r.status_code == 422 and r.json()["field"] == "valid_until"
    r = api("patch", f"/contractor-areas/{link}", {"valid_until": "2026-07-31"})
    assert r.status_code == 200 and r.json()["valid_until"] == "2026-07-31"
    assert api("get", f"/contractors/{haigong.pk}/areas").json()[0]["valid_until"] == "2026-07-31"
    assert api("delete", f"/contractor-areas/{link}").status_code == 204
    assert api("delete", f"/contractor-documents/{doc['id']}").status_code == 204
    assert not ContractorArea.objects.exists() and not ContractorDocument.objects.exists()


def test_company_b_cannot_reach_company_a_through_the_api(world, a_objects):
    hg, doc, link = a_objects
    before = snapshot()
    api = Api(world.b.admin)
    calls = [("get", f"/contractors/{hg.pk}", None), ("patch", f"/contractors/{hg.pk}", {"name": "改名"}),
             ("delete", f"/contractors/{hg.pk}", None),
             ("post", f"/contractors/{hg.pk}/status", {"status": "blacklisted", "reason": "越权"}),
             ("get", f"/contractors/{hg.pk}/documents", None),
             ("post", f"/contractors/{hg.pk}/documents", {"kind": "license"}),
             ("patch", f"/contractor-documents/{doc.pk}", {"number": "改"}),
             ("delete", f"/contractor-documents/{doc.pk}", None),
             ("get", f"/contractors/{hg.pk}/areas", None),
             ("post", f"/contractors/{hg.pk}/areas", {"area_id": world.b.area.pk, "valid_from": "2026-05-01",
                                                      "valid_until": "2026-05-31"}),
             ("patch", f"/contractor-areas/{link.pk}", {"valid_until": "2027-01-01"}),
             ("delete", f"/contractor-areas/{link.pk}", None)]
    for method, url, body in calls:
        r = api(method, url, body)
        assert r.status_code == 404 and r.json()["code"] == "not_found", (method, url)
    # Company A's ids named in B's own bodies and filters are not found either.
    own = make(world, "b", name="乙方承包商")
    assert api("post", "/contractors", {"org_unit_id": world.a.plant.pk, "name": "X"}).json()["field"] == "org_unit_id"
    r = api("post", f"/contractors/{own.pk}/areas", {"area_id": world.a.area.pk, "valid_from": "2026-05-01",
                                                     "valid_until": "2026-05-31"})
    assert r.status_code == 404 and r.json()["field"] == "area_id"
    r = api("post", f"/contractors/{own.pk}/documents", {"kind": "license", "scan_sha256": doc.file.sha256})
    assert r.status_code == 404 and r.json()["field"] == "scan_sha256"
    assert api("get", f"/contractors?org_unit_id={world.a.plant.pk}").status_code == 404
    assert [c["name"] for c in api("get", "/contractors").json()["items"]] == ["乙方承包商"]
    assert snapshot()[1:] == before[1:] and Contractor.objects.get(pk=hg.pk).name == "海工建设"
