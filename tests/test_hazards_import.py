"""Import of an existing Excel hazard ledger: the template, per-row errors, all or nothing, closed
rows archived with their historic dates, open rows dispatched into the real loop, no duplicate
隐患编号, replayed confirms, progress, bad files, and company isolation on every page and API."""

from __future__ import annotations

import io
from datetime import date, datetime, time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from openpyxl import Workbook, load_workbook

from anlian.core.errors import Conflict
from anlian.flows.models import Event, Instance
from anlian.hazards import importing, services
from anlian.hazards.models import DispatchRule, Hazard, HazardStage
from anlian.workforce.models import ImportBatch, ImportStatus
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
HEAD = [c.header for c in importing.HazardSheet.columns]


def line(number: str = "YH-2025-001", **change) -> list:
    row = {"number": number, "found_on": date(2025, 3, 1), "place": "甲公司罐区", "description": "消防通道堆放杂物",
           "category": "消防", "level": "一般", "unit": "", "responsible": "张三", "measures": "清理杂物",
           "due": date(2025, 3, 8), "rectified_on": date(2025, 3, 5), "verifier": "李四",
           "verified_on": date(2025, 3, 6), "status": "已销号", "funds": "", "remarks": ""}
    row.update(change)
    return list(row.values())


def open_line(number: str = "YH-2025-002", **change) -> list:
    return line(number, place="A-EQ1", description="车床防护罩缺失", category="机械", level="重大", rectified_on="",
                verifier="", verified_on="", status="未销号", due=date(2099, 1, 1), funds=2.5, **change)


def xlsx(rows, head: list | None = None) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(HEAD if head is None else head)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def file(data: bytes, name: str = "台账.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=importing.XLSX)


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    def upload(person, data: bytes, unit=None) -> ImportBatch:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            batch = importing.upload(person.user, org_unit=unit or person.org_unit, file=file(data))
        batch.refresh_from_db()
        return batch

    return upload


@pytest.fixture
def confirm(django_capture_on_commit_callbacks):
    def run(person, batch: ImportBatch) -> ImportBatch:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            importing.confirm(person.user, batch)
        batch.refresh_from_db()
        return batch

    return run


@pytest.fixture
def rule(world):
    return DispatchRule.objects.create(owner=world.a.unit, responsible_role="safety_officer", verifier_role="admin")


def noon(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(12)))


def test_a_closed_and_an_open_row_become_real_hazards(world, send, confirm, rule):
    officer = world.a.officer
    batch = send(officer, xlsx([line(), open_line()]))
    assert batch.status == ImportStatus.READY and batch.kind == "hazards", batch.errors
    assert batch.total_rows == batch.processed_rows == 2 and len(batch.preview) == 2
    batch = confirm(officer, batch)
    assert batch.status == ImportStatus.DONE and batch.imported_rows == 2, batch.errors
    closed = Hazard.objects.get(description="消防通道堆放杂物")
    assert closed.stage == HazardStage.CLOSED and closed.instance.status == "closed"
    assert closed.reported_at == noon(date(2025, 3, 1)) and closed.closed_at == noon(date(2025, 3, 6))
    assert closed.rectified_at == noon(date(2025, 3, 5)) and closed.verified_at == noon(date(2025, 3, 6))
    assert services.cycle_minutes(closed) == 5 * 24 * 60 and closed.reported_by == officer
    assert closed.category == "fire" and closed.level == "general" and closed.responsible_unit == world.a.plant
    events = list(Event.objects.filter(instance=closed.instance).order_by("seq"))
    assert [(e.kind, e.step, e.actor_key) for e in events] == [
        ("started", "", str(officer.pk)), ("step_completed", "report", str(officer.pk)),
        ("step_completed", "close", "system"), ("closed", "", "system")]
    values = events[1].payload["values"]
    assert values["source_no"] == "YH-2025-001" and values["found_on"] == "2025-03-01"
    assert values["import_verifier"] == "李四" and values["import_batch"] == str(batch.pk)
    assert closed.instance.version.template.key == "hazard-import-closed"
    assert closed.instance.version.template.owner == world.a.unit
    # The open row went into the real loop: dispatched by the rules, its deadline the ledger's.
    live = Hazard.objects.get(description="车床防护罩缺失")
    assert live.stage == HazardStage.DISPATCHED and live.level == "major" and live.equipment == world.a.equipment
    assert live.instance.version.template.key == "hazard-import-major"
    assert live.rectify_due == timezone.make_aware(datetime.combine(date(2099, 1, 1), time(23, 59, 59)))
    dispatched = Event.objects.get(instance=live.instance, step="dispatch")
    assert dispatched.payload["values"]["responsible"] == [str(officer.pk)]
    # The ledger export shows the historic record and the original number.
    response = client_for(officer).get("/hazards/ledger/export.xlsx")
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    by_description = {r[4]: r for r in rows[1:]}
    old = by_description["消防通道堆放杂物"]
    assert old[8] == "张三" and old[9] == "清理杂物" and old[12] == "李四" and old[14] == "已销号" and old[15] == "否"
    assert "原编号YH-2025-001" in old[17] and old[18] == 7200
    assert by_description["车床防护罩缺失"][16] == 2.5  # the major hazard's funds


def test_the_same_number_cannot_be_imported_twice(world, send, confirm):
    officer = world.a.officer
    assert confirm(officer, send(officer, xlsx([line()]))).status == ImportStatus.DONE
    again = send(officer, xlsx([line(description="另一描述")]))
    assert again.status == ImportStatus.INVALID
    assert again.errors == [{"row": 2, "column": "隐患编号", "message": "本公司已有编号为“YH-2025-001”的隐患"}]
    existing = Instance.objects.filter(company=world.a.unit).values_list("number", flat=True).first()
    taken = send(officer, xlsx([line(existing)]))
    assert taken.errors[0]["message"] == f"本公司已有编号为“{existing}”的隐患"
    assert Hazard.objects.count() == 1


def test_every_bad_row_is_listed_and_nothing_is_imported(world, send, confirm):
    rows = [
        line("N1"),
        line("N1"),                                              # row 3: same number as row 2
        line("N3", place="不存在的区域"),                         # row 4
        line("N4", place="乙公司罐区"),                           # row 5: another company's area
        line("N5", found_on="2025-13-01"),                        # row 6: impossible date
        line("N6", verifier=""),                                  # row 7: closed without verifier
        line("N7", verified_on=date(2025, 3, 4)),                 # row 8: verified before rectified
        line("N8", level="特大"),                                 # row 9
        line("N9", category="天灾"),                              # row 10
        line("N10", funds=-1),                                    # row 11
        line(importing.EXAMPLE_NO),                               # row 12: the template's example
        line("N12", status="差不多"),                              # row 13
        line("N13", description=""),                              # row 14
        line("N14", status="未销号"),                              # row 15: open with a verification date
        line("N15", found_on=date(2099, 1, 1)),                   # row 16: in the future
        line("N16", unit="乙公司一厂"),                            # row 17: another company's unit
        line("N17", description="x" * 501),                       # row 18
    ]
    batch = send(world.a.officer, xlsx(rows))
    assert batch.status == ImportStatus.INVALID
    rows_with_errors = {e["row"] for e in batch.errors}
    assert rows_with_errors == set(range(3, 19)), batch.errors
    messages = {e["row"]: e["message"] for e in batch.errors}
    assert messages[3] == "隐患编号“N1”与第2行重复"
    assert "不存在的区域" in messages[4] and "乙公司罐区" in messages[5]
    assert messages[7] == "已销号的隐患须填写验收人"
    with pytest.raises(Conflict):
        importing.confirm(world.a.officer.user, batch)
    assert Hazard.objects.count() == 0 and Instance.objects.count() == 0


def test_a_replayed_confirm_does_not_import_twice(world, send, confirm, client):
    officer = world.a.officer
    batch = confirm(officer, send(officer, xlsx([line()])))
    assert batch.status == ImportStatus.DONE
    again = client_for(officer).post(f"/api/v1/hazard-imports/{batch.pk}/confirm")
    assert again.status_code == 202 and again.json()["status"] == "done"
    page = client_for(officer).post(f"/hazards/ledger/imports/{batch.pk}/confirm/")
    assert page.status_code == 302
    assert Hazard.objects.count() == 1


def test_rows_changed_in_the_database_after_the_check_fail_the_import_whole(world, send, confirm):
    officer = world.a.officer
    first = send(officer, xlsx([line("K1"), line("K2")]))
    second = send(officer, xlsx([line("K2", description="抢先")]))
    assert confirm(officer, second).status == ImportStatus.DONE
    failed = confirm(officer, first)
    assert failed.status == ImportStatus.FAILED and any("K2" in e["message"] for e in failed.errors)
    assert Hazard.objects.count() == 1  # K1 was not imported either


def test_progress_is_counted_while_a_large_sheet_is_checked(world, send):
    rows = [line(f"P{n:05d}") for n in range(1200)]
    batch = send(world.a.officer, xlsx(rows))
    assert batch.status == ImportStatus.READY and batch.total_rows == batch.processed_rows == 1200
    body = client_for(world.a.officer).get(f"/api/v1/hazard-imports/{batch.pk}").json()
    assert body["percent"] == 100 and body["columns"][0] == "隐患编号" and len(body["preview"]) == 20


@pytest.mark.parametrize("data, code", [
    (b"", "file_empty"), (b"not a zip", "not_xlsx"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "not_xlsx"),
    (xlsx([line()], head=["编号", "日期"]), "wrong_headers"), (xlsx([], head=[]), "empty_sheet"),
])
def test_bad_files_are_refused_at_upload_with_a_clear_message(world, data, code):
    response = client_for(world.a.officer).post("/api/v1/hazard-imports",
                                                {"org_unit_id": world.a.plant.pk, "file": file(data)})
    assert response.status_code == 422 and response.json()["code"] == code, response.content
    assert ImportBatch.objects.count() == 0


def test_an_empty_sheet_and_too_many_rows_are_refused(world, send, monkeypatch):
    assert send(world.a.officer, xlsx([])).errors[0]["message"] == "表格里没有数据行：请在表头下方逐行填写"
    monkeypatch.setattr(importing, "MAX_ROWS", 3)
    batch = send(world.a.officer, xlsx([line(f"M{n}") for n in range(5)]))
    assert batch.status == ImportStatus.INVALID and "超过3行" in batch.errors[0]["message"]


def test_formula_like_text_is_imported_as_text(world, send, confirm):
    batch = confirm(world.a.officer, send(world.a.officer, xlsx([line(description='=cmd|" /C calc"!A0')])))
    assert batch.status == ImportStatus.DONE
    assert Hazard.objects.get().description == '=cmd|" /C calc"!A0'


def test_the_pages_upload_show_the_batch_and_confirm(world, django_capture_on_commit_callbacks):
    officer = client_for(world.a.officer)
    assert officer.get("/hazards/ledger/imports/").status_code == 200
    new = officer.get("/hazards/ledger/imports/new/")
    assert new.status_code == 200 and "下载隐患台账导入模板" in new.content.decode()
    template = officer.get(f"/hazards/ledger/imports/template.xlsx?unit={world.a.plant.pk}")
    book = load_workbook(io.BytesIO(template.content))
    assert [c.value for c in book.worksheets[0][1]] == HEAD and book.worksheets[1].title == "填写说明"
    assert book.worksheets[0]["A2"].value == importing.EXAMPLE_NO
    assert "最多5000行" in book.worksheets[1]["A3"].value
    with django_capture_on_commit_callbacks(execute=True):
        posted = officer.post("/hazards/ledger/imports/new/", {"org_unit": world.a.plant.pk,
                                                                "file": file(xlsx([line()]))})
    assert posted.status_code == 302
    batch = ImportBatch.objects.get()
    page = officer.get(posted["Location"])
    assert page.status_code == 200 and "确认导入" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert officer.post(f"/hazards/ledger/imports/{batch.pk}/confirm/").status_code == 302
    batch.refresh_from_db()
    assert batch.status == ImportStatus.DONE and Hazard.objects.count() == 1
    bad = officer.post("/hazards/ledger/imports/new/", {"org_unit": world.a.plant.pk, "file": file(b"junk")})
    assert bad.status_code == 422 and "不是 Excel" in bad.content.decode()


def test_importing_takes_the_permission_to_manage_hazards(world):
    worker = client_for(world.a.worker)
    assert worker.get("/hazards/ledger/imports/").status_code == 403
    assert worker.get("/hazards/ledger/imports/new/").status_code == 403
    response = worker.post("/api/v1/hazard-imports", {"org_unit_id": world.a.team.pk, "file": file(xlsx([line()]))})
    assert response.status_code in (403, 404)
    assert ImportBatch.objects.count() == 0


def test_company_b_can_neither_see_nor_import_into_company_a(world, send, confirm):
    batch = send(world.a.officer, xlsx([line()]))
    b = client_for(world.b.admin)
    assert b.get(f"/hazards/ledger/imports/{batch.pk}/").status_code == 404
    assert b.post(f"/hazards/ledger/imports/{batch.pk}/confirm/").status_code == 404
    assert b.get(f"/api/v1/hazard-imports/{batch.pk}").status_code == 404
    assert b.get(f"/api/v1/hazard-imports/{batch.pk}/errors").status_code == 404
    assert b.post(f"/api/v1/hazard-imports/{batch.pk}/confirm").status_code == 404
    assert b.get("/api/v1/hazard-imports").json()["count"] == 0
    assert f"/hazards/ledger/imports/{batch.pk}/" not in b.get("/hazards/ledger/imports/").content.decode()
    assert f"/hazards/ledger/imports/{batch.pk}/" in client_for(world.a.officer).get("/hazards/ledger/imports/").content.decode()
    assert b.get(f"/api/v1/hazard-import-template?org_unit_id={world.a.unit.pk}").status_code == 404
    assert b.get(f"/hazards/ledger/imports/template.xlsx?unit={world.a.unit.pk}").status_code == 404
    response = b.post("/api/v1/hazard-imports", {"org_unit_id": world.a.unit.pk, "file": file(xlsx([line("B1")]))})
    assert response.status_code == 404
    # B's own sheet naming A's area, equipment or unit: refused row by row, nothing imported.
    mine = send(world.b.admin, xlsx([line("B1"), open_line("B2"), line("B3", place="乙公司罐区", unit="甲公司一厂")]))
    assert mine.status == ImportStatus.INVALID and {e["row"] for e in mine.errors} == {2, 3, 4}
    assert batch.status == ImportStatus.READY and Hazard.objects.count() == 0
    # A hazards batch is no people-import batch: the people import's API does not know it.
    assert client_for(world.a.officer).get(f"/api/v1/imports/{batch.pk}").status_code == 404
