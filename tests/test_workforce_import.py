"""Bulk import from Excel: templates, upload checks, per-row errors, all-or-nothing import,
replayed confirms, progress, and company isolation on every page and API operation."""

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from openpyxl import Workbook, load_workbook

from anlian.core.codes import id18_check_char
from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Contractor, OrgKind, Person
from anlian.training import services as training
from anlian.training.models import Assignment, Attendance, Session
from anlian.workforce import importing
from anlian.workforce.models import Certificate, ImportBatch, ImportStatus
from tests.conftest import client_for

PATH = "甲公司一厂/甲公司一班"  # world.a.team, as a path below the company


def id_number(n: int) -> str:
    birth = date(1960, 1, 1) + timedelta(days=n)
    first17 = f"110105{birth:%Y%m%d}{n % 1000:03d}"
    return first17 + id18_check_char(first17)


def bad_check_digit(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


def headers(kind: str) -> list[str]:
    return [c.header for c in importing.SHEETS[kind].columns]


def xlsx(rows, kind: str = "people", head: list | None = None) -> bytes:
    """A sheet built in write-only mode (fast for 10,000 rows; it declares no size)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(headers(kind) if head is None else head)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def person_row(n: int, **change) -> list:
    row = {"org_unit": PATH, "name": f"员工{n}", "employee_no": f"P{n:05d}", "phone": f"139{n:08d}",
           "id_number": id_number(n), "hired_on": date(2025, 1, 1) + timedelta(days=n % 300), "job_title": "操作工",
           "contractor": ""}
    row.update(change)
    return list(row.values())


def file(data: bytes, name: str = "sheet.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=importing.XLSX)


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """Upload through the service and run the worker's check (tasks run inline in tests)."""

    def upload(person, data: bytes, kind: str = "people", unit=None) -> ImportBatch:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            batch = importing.upload(person.user, kind=kind, org_unit=unit or person.org_unit, file=file(data))
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


def errors_by_row(batch: ImportBatch) -> dict:
    found: dict = {}
    for error in batch.errors:
        found.setdefault(error["row"], []).append((error["column"], error["message"]))
    return found


# --- the 10,000-row sheets --------------------------------------------------------------------------


def test_a_10000_row_sheet_with_bad_rows_lists_each_error_by_row_and_imports_nothing(world, send):
    rows = [person_row(n) for n in range(10_000)]
    rows[10] = person_row(10, hired_on="2025-13-01")                  # row 12: impossible date
    rows[20] = person_row(20, hired_on="下周一")                      # row 22: not a date
    rows[30] = person_row(30, org_unit="不存在的车间")               # row 32: unknown unit
    rows[40] = person_row(40, org_unit="乙公司一厂")                 # row 42: another company's unit
    rows[50] = person_row(50, employee_no="P00049")                  # row 52: duplicate in the file
    rows[60] = person_row(60, employee_no="A001")                    # row 62: taken in the database
    rows[70] = person_row(70, id_number=bad_check_digit(id_number(70)))  # row 72: wrong check digit
    rows[80] = person_row(80, name="")                               # row 82: missing name
    rows[90] = person_row(90, phone="139-0000")                      # row 92: phone with a dash
    rows[100] = person_row(100, name="长" * 40_000)                  # row 102: a huge cell (Excel keeps 32,767)
    rows[110] = person_row(110, contractor="无名承包商")              # row 112: unknown contractor
    before = Person.objects.count()

    batch = send(world.a.admin, xlsx(rows))

    assert batch.status == ImportStatus.INVALID
    assert batch.total_rows == 10_000 and batch.processed_rows == 10_000
    found = errors_by_row(batch)
    assert sorted(found) == [12, 22, 32, 42, 52, 62, 72, 82, 92, 102, 112]
    assert found[12] == [("入职日期", "日期“2025-13-01”不存在（月份或日期超出范围）")]
    assert found[22] == [("入职日期", "“下周一”不是日期，请填写如 2025-03-01 的日期")]
    assert found[32][0][0] == "组织" and "找不到组织“不存在的车间”" in found[32][0][1]
    assert found[42][0][0] == "组织" and "找不到组织“乙公司一厂”" in found[42][0][1]
    assert found[52] == [("工号", "工号“P00049”与第51行重复")]
    assert found[62] == [("工号", "本公司已有工号为“A001”的人员")]
    assert found[72][0][0] == "身份证号" and "校验码" in found[72][0][1]
    assert found[82] == [("姓名", "姓名不能为空")]
    assert found[92] == [("手机号", "手机号只能包含5到20位数字")]
    assert found[102] == [("姓名", "姓名不能超过50个字符（现有32767个）")]
    assert found[112][0][0] == "承包商"
    assert Person.objects.count() == before
    assert not batch.upload.storage.exists(batch.upload.name)
    assert len(batch.preview) == importing.PREVIEW_ROWS and batch.preview[0]["cells"][1] == "员工0"


def test_the_fixed_10000_row_sheet_imports_every_person_with_their_education(world, send, confirm):
    before = Person.objects.count()
    batch = send(world.a.admin, xlsx([person_row(n) for n in range(10_000)]))
    assert batch.status == ImportStatus.READY and batch.errors == []

    storage = batch.upload.storage
    assert storage.exists(batch.upload.name)  # kept until it is imported
    batch = confirm(world.a.admin, batch)

    assert batch.status == ImportStatus.DONE and batch.imported_rows == 10_000
    assert not storage.exists(batch.upload.name)  # personal data is not kept once imported
    assert Person.objects.count() == before + 10_000
    person = Person.objects.get(employee_no="P00042")
    assert (person.org_unit, person.company, person.id_number) == (world.a.team, world.a.unit, id_number(42))
    assert person.hired_on == date(2025, 1, 1) + timedelta(days=42)
    imported = Person.objects.filter(employee_no__startswith="P")
    assert Assignment.objects.filter(person__in=imported).count() == 30_000  # company, workshop, team level
    assert set(Assignment.objects.filter(person=person).values_list("level", flat=True)) == {
        "company", "workshop", "team"}


# --- all or nothing -----------------------------------------------------------------------------------


def test_a_number_taken_after_the_check_fails_the_import_and_nothing_is_imported(world, send, confirm):
    batch = send(world.a.admin, xlsx([person_row(n) for n in range(30)]))
    assert batch.status == ImportStatus.READY
    services.save_person(SYSTEM, None, org_unit=world.a.plant, name="抢先登记", employee_no="P00017")
    before = Person.objects.count()

    batch = confirm(world.a.admin, batch)

    assert batch.status == ImportStatus.FAILED and batch.imported_rows == 0
    assert {"row": 19, "column": "工号", "message": "本公司已有工号为“P00017”的人员"} in batch.errors
    assert batch.errors[0]["row"] is None and "没有导入任何数据" in batch.errors[0]["message"]
    assert Person.objects.count() == before


def test_a_failure_while_writing_rolls_everything_back(world, send, confirm, monkeypatch):
    batch = send(world.a.admin, xlsx([person_row(n) for n in range(30)]))

    def clash(people):
        raise IntegrityError("UNIQUE constraint failed")

    monkeypatch.setattr(training, "assign_education", clash)
    before = Person.objects.count()
    batch = confirm(world.a.admin, batch)

    assert batch.status == ImportStatus.FAILED
    assert "没有导入任何数据" in batch.errors[0]["message"]
    assert Person.objects.count() == before


def test_a_replayed_confirm_does_not_import_twice(world, send, confirm, django_capture_on_commit_callbacks):
    batch = send(world.a.admin, xlsx([person_row(n) for n in range(5)]))
    client = client_for(world.a.admin)
    url = f"/imports/{batch.pk}/confirm/"
    with django_capture_on_commit_callbacks(execute=True):  # the worker starts once the requests are done
        assert client.post(url).status_code == 302
        assert client.post(url).status_code == 302  # a double click
        api = client.post(f"/api/v1/imports/{batch.pk}/confirm")  # an API retry
        assert api.status_code == 202 and api.json()["status"] == "importing"
    batch = confirm(world.a.admin, batch)  # and once more after it is done
    assert (batch.status, batch.imported_rows) == (ImportStatus.DONE, 5)
    assert Person.objects.filter(employee_no__startswith="P").count() == 5


def test_a_sheet_with_errors_cannot_be_confirmed(world, send):
    batch = send(world.a.admin, xlsx([person_row(1, hired_on="2025-02-30")]))
    response = client_for(world.a.admin).post(f"/api/v1/imports/{batch.pk}/confirm")
    assert response.status_code == 409 and response.json()["code"] == "not_ready"
    batch.refresh_from_db()
    assert batch.status == ImportStatus.INVALID


def test_the_template_example_row_left_in_is_refused(world, send):
    example = importing.PeopleSheet.example(world.a.team)
    batch = send(world.a.admin, xlsx([example, person_row(1)]))
    assert errors_by_row(batch) == {2: [("工号", "这是模板中的示例行，请删除后再上传")]}


# --- progress -----------------------------------------------------------------------------------------


def test_progress_moves_while_the_rows_are_checked(world, send, monkeypatch):
    batch = send(world.a.admin, xlsx([person_row(n) for n in range(1_234)]))
    assert (batch.processed_rows, batch.total_rows) == (1_234, 1_234)
    seen: list[int] = []
    batch.status = ImportStatus.CHECKING
    importing.read(batch, progress=seen.append)
    assert seen == [500, 1000]

    ImportBatch.objects.filter(pk=batch.pk).update(status=ImportStatus.CHECKING, processed_rows=617)
    client = client_for(world.a.admin)
    page = client.get(f"/imports/{batch.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in page and 'value="50"' in page and "已检查 617 / 约 1234 行" in page
    api = client.get(f"/api/v1/imports/{batch.pk}").json()
    assert (api["status"], api["processed_rows"], api["total_rows"], api["percent"]) == ("checking", 617, 1234, 50)


# --- certificates and training ---------------------------------------------------------------------------


def holders(world, n: int) -> list[Person]:
    return [services.save_person(SYSTEM, None, org_unit=world.a.team, name=f"持证人{i}", employee_no=f"H{i:03d}",
                                 id_number=id_number(500 + i)) for i in range(n)]


def cert_row(i: int, **change) -> list:
    row = {"employee_no": f"H{i:03d}", "kind": "so-welding", "number": id_number(500 + i), "issuer": "某市应急管理局",
           "issued_on": date(2024, 3, 1), "expires_on": date(2030, 3, 1), "review_due_on": None}
    row.update(change)
    return list(row.values())


def test_certificates_are_checked_like_single_ones_and_imported(world, send, confirm):
    holders(world, 8)
    officer = world.a.officer  # safety officer of the plant: manages certificates there
    bad = [
        cert_row(0),
        cert_row(1, kind="不存在的证书"),
        cert_row(2, number=bad_check_digit(id_number(502))),
        cert_row(3, number=id_number(500)),  # another holder's ID number
        cert_row(4, expires_on=date(2020, 1, 1)),
        cert_row(5, issued_on=date.today() + timedelta(days=3)),
        cert_row(6, review_due_on=date(2031, 1, 1)),
        cert_row(7, employee_no="B003"),  # company B's worker
        cert_row(0),  # the same certificate twice
    ]
    batch = send(officer, xlsx(bad, "certificates"), "certificates", world.a.plant)
    found = errors_by_row(batch)
    assert sorted(found) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert found[3][0][0] == "证书类型" and "找不到证书类型“不存在的证书”" in found[3][0][1]
    assert found[4] == [("证书编号", f"证书编号末位校验码错误：按前17位应为“{id_number(502)[17]}”")]
    assert found[5][0][0] == "证书编号" and "不一致" in found[5][0][1]
    assert found[6] == [("有效期至", "有效期至2020-01-01早于发证日期2024-03-01")]
    assert found[7][0][0] == "发证日期"
    assert found[8] == [("复审日期", "复审日期须在发证日期与有效期至之间")]
    assert found[9] == [("工号", "本公司没有工号为“B003”的人员")]
    assert found[10][0][0] == "证书编号" and "与第2行重复" in found[10][0][1]
    assert Certificate.objects.count() == 0

    good = [cert_row(i) for i in range(6)] + [cert_row(6, kind="熔化焊接与热切割作业", review_due_on=date(2026, 9, 1))]
    batch = confirm(officer, send(officer, xlsx(good, "certificates"), "certificates", world.a.plant))
    assert batch.status == ImportStatus.DONE and batch.imported_rows == 7
    first = Certificate.objects.get(person__employee_no="H000")
    assert (first.kind.code, first.company, first.review_due_on) == ("so-welding", world.a.unit, date(2027, 3, 1))
    assert Certificate.objects.get(person__employee_no="H006").review_due_on == date(2026, 9, 1)


def test_certificates_of_people_outside_the_chosen_scope_are_refused(world, send):
    officer = world.a.officer
    batch = send(officer, xlsx([cert_row(0, employee_no="A001", number=id_number(1))], "certificates"),
                 "certificates", world.a.plant)
    assert errors_by_row(batch) == {2: [("工号", "工号“A001”的人员不在所选导入范围“甲公司一厂”内")]}


def course(world, code: str, pass_score=None, hours=8, unit=None):
    return training.save_course(SYSTEM, None, org_unit=unit or world.a.plant, code=code, name=f"课程{code}", level="special",
                                hours=hours, pass_score=pass_score)


def test_training_rows_make_one_session_per_course_and_day_and_attendance(world, send, confirm):
    people = holders(world, 3)
    exam = course(world, "EX-1", pass_score=60)
    talk = course(world, "TK-1")
    day1, day2 = date(2025, 3, 1), date(2025, 3, 2)
    rows = [
        ["H000", "EX-1", day1, None, 90, None],
        ["H001", "EX-1", day1, 4, 50, None],      # failed: credits 0 hours
        ["H002", "EX-1", day2, None, 70, "是"],
        ["H000", "TK-1", day1, None, None, None],  # no pass score: passed
        ["H001", "TK-1", day2, None, None, "否"],
    ]
    batch = confirm(world.a.officer, send(world.a.officer, xlsx(rows, "training"), "training", world.a.plant))

    assert batch.status == ImportStatus.DONE and batch.imported_rows == 5
    assert Session.objects.filter(course__in=[exam, talk]).count() == 4
    line = Attendance.objects.get(person=people[1], session__course=exam)
    assert (line.score, line.passed, line.hours) == (50, False, 0)
    line = Attendance.objects.get(person=people[0], session__course=exam)
    assert (line.passed, line.hours, training.training_day(line.session)) == (True, 8, day1)
    assert not Attendance.objects.get(person=people[1], session__course=talk).passed

    again = send(world.a.officer, xlsx([["H000", "EX-1", day1, None, 95, None]], "training"), "training",
                 world.a.plant)
    assert errors_by_row(again)[2][0][1] == "持证人0已有课程EX-1在2025-03-01的培训记录"


def test_training_rows_are_refused_one_by_one(world, send):
    holders(world, 2)
    course(world, "EX-1", pass_score=60)
    course(world, "CO-1", unit=world.a.unit)  # the company's course: the plant officer cannot add sessions to it
    future = date.today() + timedelta(days=2)
    rows = [
        ["H000", "NOPE", date(2025, 3, 1), None, 90, None],
        ["H000", "EX-1", date(2025, 3, 1), None, 120, None],
        ["H000", "EX-1", date(2025, 3, 2), None, 85.5, None],
        ["H000", "EX-1", future, None, 90, None],
        ["H000", "EX-1", date(2025, 3, 3), None, 40, "是"],
        ["H001", "EX-1", date(2025, 3, 4), None, None, None],
        ["H001", "EX-1", date(2025, 3, 5), 9, 80, None],
        ["H001", "EX-1", date(2025, 3, 6), None, 80, "也许"],
        ["H001", "EX-1", date(2025, 3, 7), None, 80, None],
        ["H001", "EX-1", date(2025, 3, 7), None, 80, None],
        ["H001", "CO-1", date(2025, 3, 8), None, None, None],
    ]
    batch = send(world.a.officer, xlsx(rows, "training"), "training", world.a.plant)
    found = errors_by_row(batch)
    assert found[2] == [("课程编号", "本公司没有编号为“NOPE”的课程")]
    assert found[3] == found[4] == [("成绩", "成绩须为0到100的整数")]
    assert found[5][0][0] == "培训日期" and "超出范围" in found[5][0][1]
    assert found[6] == [("是否合格", "成绩40与合格分数60不符：应为“否”")]
    assert found[7] == [("成绩", "课程合格分数为60：请填写成绩或是否合格")]
    assert found[8] == [("学时", "学时须大于0且不超过课程学时8.0")]
    assert found[9] == [("是否合格", "是否合格请填“是”或“否”，或留空")]
    assert found[11] == [("工号", "与第10行重复：同一人同一课程同一天")]
    assert 10 not in found
    assert found[12] == [("课程编号", "2025-03-08没有“课程CO-1”的场次，你也无权为该课程新建场次：请课程管理单位先建场次")]
    assert Attendance.objects.count() == 0


# --- what the upload refuses -----------------------------------------------------------------------------


def api_upload(client, data: bytes, kind: str = "people", unit=None, name: str = "s.xlsx"):
    return client.post("/api/v1/imports", {"kind": kind, "org_unit_id": unit, "file": file(data, name)})


@pytest.mark.parametrize(("data", "code"), [
    ("name,no\n张三,1\n".encode(), "not_xlsx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "not_xlsx"),  # an old .xls
    (b"", "file_empty"),
])
def test_it_refuses_what_is_not_an_xlsx(world, data, code):
    response = api_upload(client_for(world.a.admin), data, unit=world.a.unit.pk)
    assert response.status_code == 422 and response.json()["code"] == code
    assert ImportBatch.objects.count() == 0


def test_it_refuses_a_zip_that_is_not_a_workbook_and_a_zip_bomb(world, monkeypatch):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("hello.txt", "0" * 200_000)
    client = client_for(world.a.admin)
    response = api_upload(client, out.getvalue(), unit=world.a.unit.pk)
    assert response.status_code == 422 and "不是有效的 Excel" in response.json()["message"]
    monkeypatch.setattr(importing, "MAX_UNPACKED_BYTES", 100_000)
    response = api_upload(client, out.getvalue(), unit=world.a.unit.pk)
    assert response.status_code == 413 and response.json()["code"] == "file_too_large"


def test_it_refuses_a_file_over_20_mb_with_a_clear_message(world):
    huge = b"PK\x03\x04" + b"\0" * (importing.MAX_BYTES + 1)
    client = client_for(world.a.admin)
    response = api_upload(client, huge, unit=world.a.unit.pk)
    assert response.status_code == 413 and "最大 20 MB" in response.json()["message"]
    page = client.post("/imports/new/?kind=people", {"org_unit": world.a.unit.pk, "file": file(huge)})
    assert page.status_code == 413 and "最大 20 MB" in page.content.decode()
    assert ImportBatch.objects.count() == 0


def test_it_refuses_an_empty_sheet_and_one_with_only_a_header(world, send):
    empty = Workbook()
    out = io.BytesIO()
    empty.save(out)
    response = api_upload(client_for(world.a.admin), out.getvalue(), unit=world.a.unit.pk)
    assert response.status_code == 422 and response.json()["code"] == "empty_sheet"
    batch = send(world.a.admin, xlsx([]))
    assert batch.status == ImportStatus.INVALID
    assert batch.errors == [{"row": None, "column": "", "message": "表格里没有数据行：请在表头下方逐行填写"}]


def test_it_refuses_wrong_headers_naming_the_column(world):
    head = headers("people")
    head[2] = "员工编号"
    response = api_upload(client_for(world.a.admin), xlsx([person_row(1)], head=head), unit=world.a.unit.pk)
    assert response.status_code == 422 and response.json()["code"] == "wrong_headers"
    assert "第C列应为“工号”，实际为“员工编号”" in response.json()["message"]
    certificates = api_upload(client_for(world.a.admin), xlsx([person_row(1)]), kind="certificates",
                              unit=world.a.unit.pk)
    assert certificates.status_code == 422 and certificates.json()["code"] == "wrong_headers"


def test_short_headers_are_accepted(world, send):
    head = [str(c.label) for c in importing.PeopleSheet.columns]
    assert send(world.a.admin, xlsx([person_row(1)], head=head)).status == ImportStatus.READY


def test_it_refuses_too_many_rows_declared_or_counted(world, send, monkeypatch):
    monkeypatch.setattr(importing, "MAX_ROWS", 50)
    book = Workbook()  # a normal workbook declares its size: refused at the upload
    book.active.append(headers("people"))
    for n in range(60):
        book.active.append(person_row(n))
    out = io.BytesIO()
    book.save(out)
    response = api_upload(client_for(world.a.admin), out.getvalue(), unit=world.a.unit.pk)
    assert response.status_code == 422 and response.json()["code"] == "too_many_rows"
    batch = send(world.a.admin, xlsx([person_row(n) for n in range(60)]))  # declares nothing: counted
    assert batch.status == ImportStatus.INVALID
    assert batch.errors[0]["message"] == "超过50行，请分成多个文件导入"


def test_formula_cells_are_stored_as_text_and_never_evaluated(world, send, confirm):
    formula = "=cmd|' /C calc'!A0"
    batch = confirm(world.a.admin, send(world.a.admin, xlsx([person_row(1, name=formula, job_title="=1+1")])))
    assert batch.status == ImportStatus.DONE
    person = Person.objects.get(employee_no="P00001")
    assert (person.name, person.job_title) == (formula, "=1+1")


def test_templates_never_carry_formulas_from_user_data(world):
    evil = "=HYPERLINK(\"http://evil\",\"点我\")"
    services.create_unit(SYSTEM, name=evil, kind=OrgKind.WORKSHOP, parent=world.a.plant, code="=1+2")
    Contractor.objects.create(org_unit=world.a.unit, company=world.a.unit, name="=cmd|' /C calc'!A0")
    training.save_course(SYSTEM, None, org_unit=world.a.unit, code="=SUM(A1)", name=evil, level="special", hours=2)
    client = client_for(world.a.admin)
    for kind in ("people", "certificates", "training"):
        response = client.get(f"/imports/template.xlsx?kind={kind}&unit={world.a.unit.pk}")
        assert response.status_code == 200 and response["Content-Type"] == importing.XLSX
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and all(b"<f>" not in archive.read(n) for n in sheets)
    book = load_workbook(io.BytesIO(client.get("/imports/template.xlsx?kind=people").content))
    values = [c.value for row in book["填写说明"].iter_rows() for c in row]
    assert f"甲公司一厂/{evil}" in values and "=1+2" in values and "=cmd|' /C calc'!A0" in values


def test_the_template_has_headers_an_example_dates_and_a_help_sheet(world):
    response = client_for(world.a.officer).get(f"/api/v1/import-templates/certificates?org_unit_id={world.a.plant.pk}")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    data, help_sheet = book.worksheets
    assert [c.value for c in data[1]] == headers("certificates")
    assert data["A2"].value == importing.EXAMPLE_NO and data["E2"].number_format == "yyyy-mm-dd"
    assert data["E2"].value.date() == date(2024, 3, 1) and data.column_dimensions["C"].width >= 22
    values = [c.value for row in help_sheet.iter_rows() for c in row]
    assert "so-welding" in values and "熔化焊接与热切割作业" in values
    training_book = load_workbook(io.BytesIO(client_for(world.a.officer).get(
        "/imports/template.xlsx?kind=training").content))
    assert [c.value for c in training_book.worksheets[0][1]] == headers("training")


# --- pages ------------------------------------------------------------------------------------------------


def test_the_pages_upload_show_errors_by_row_and_confirm(world, django_capture_on_commit_callbacks):
    client = client_for(world.a.admin)
    assert client.get("/imports/").status_code == 200
    form = client.get(f"/imports/new/?kind=people&unit={world.a.team.pk}")
    assert form.status_code == 200 and "下载人员导入模板" in form.content.decode()
    rows = [person_row(1), person_row(2, hired_on="2025-13-01", org_unit="火星")]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/imports/new/?kind=people", {"org_unit": world.a.unit.pk, "file": file(xlsx(rows))})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "有 1 行有错误" in page and "改正后重新上传" in page and "确认导入" not in page
    assert "找不到组织“火星”" in page and "日期“2025-13-01”不存在" in page and 'rowspan="2"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/imports/new/?kind=people", {"org_unit": world.a.unit.pk,
                                                             "file": file(xlsx([person_row(1)]))})
    batch_url = response["Location"]
    assert "确认导入" in client.get(batch_url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(batch_url + "confirm/").status_code == 302
    done = client.get(batch_url).content.decode()
    assert "已全部导入 1 行" in done and "hx-trigger" not in done
    listing = client.get("/imports/").content.decode()
    assert "sheet.xlsx" in listing and "已导入" in listing


def test_errors_are_paginated_by_row(world, send):
    batch = send(world.a.admin, xlsx([person_row(n, hired_on="2025-13-01") for n in range(120)]))
    client = client_for(world.a.admin)
    first = client.get(f"/imports/{batch.pk}/").content.decode()
    assert "第 1 / 3 页，共 120 条" in first
    api = client.get(f"/api/v1/imports/{batch.pk}/errors?page=3&page_size=50").json()
    assert api["count"] == 120 and [e["row"] for e in api["items"]] == list(range(102, 122))


def test_a_bad_upload_on_the_page_is_a_form_error_not_a_crash(world):
    client = client_for(world.a.admin)
    response = client.post("/imports/new/?kind=people", {"org_unit": world.a.unit.pk,
                                                         "file": file(b"<html>not a sheet</html>", "x.xlsx")})
    assert response.status_code == 422 and "不是 Excel（.xlsx）文件" in response.content.decode()
    assert client.post("/imports/new/?kind=people", {"org_unit": world.a.unit.pk}).status_code == 400
    assert client.get("/imports/new/?kind=robots").status_code == 404
    assert client.get("/imports/new/").status_code == 404


# --- who may do what ---------------------------------------------------------------------------------------


def test_permissions_are_checked_per_kind_at_the_chosen_unit(world):
    officer = client_for(world.a.officer)  # safety officer: certificates and training, not people
    assert officer.get("/imports/new/?kind=people").status_code == 403
    assert officer.get("/imports/new/?kind=certificates").status_code == 200
    response = api_upload(officer, xlsx([person_row(1)]), unit=world.a.plant.pk)
    assert response.status_code == 403
    response = api_upload(officer, xlsx([cert_row(1)], "certificates"), kind="certificates", unit=world.a.unit.pk)
    assert response.status_code == 404  # the company above the officer's plant is not even visible to them
    worker = client_for(world.a.worker)
    assert worker.get("/imports/").status_code == 403
    assert worker.get("/api/v1/import-templates/people").status_code == 403
    assert ImportBatch.objects.count() == 0


def test_company_b_can_neither_see_nor_touch_company_a_imports(world, send):
    batch = send(world.a.admin, xlsx([person_row(1)]))
    intruder = client_for(world.b.admin)
    for url in (f"/imports/{batch.pk}/", f"/api/v1/imports/{batch.pk}", f"/api/v1/imports/{batch.pk}/errors",
                f"/imports/template.xlsx?kind=people&unit={world.a.unit.pk}",
                f"/imports/new/?kind=people&unit={world.a.unit.pk}",
                f"/api/v1/import-templates/people?org_unit_id={world.a.unit.pk}"):
        assert intruder.get(url).status_code == 404, url
    assert intruder.post(f"/imports/{batch.pk}/confirm/").status_code == 404
    assert intruder.post(f"/api/v1/imports/{batch.pk}/confirm").status_code == 404
    assert api_upload(intruder, xlsx([person_row(1)]), unit=world.a.unit.pk).status_code == 404
    page = intruder.post("/imports/new/?kind=people", {"org_unit": world.a.unit.pk, "file": file(xlsx([person_row(1)]))})
    assert page.status_code == 400  # not among the choices
    assert intruder.get("/api/v1/imports").json()["count"] == 0
    assert "sheet.xlsx" not in intruder.get("/imports/").content.decode()
    batch.refresh_from_db()
    assert batch.status == ImportStatus.READY


def test_rows_naming_another_companys_units_or_people_are_not_found(world, send):
    batch = send(world.b.admin, xlsx([person_row(1, org_unit=PATH)]), unit=world.b.unit)
    assert "找不到组织" in errors_by_row(batch)[2][0][1]
    holders(world, 1)
    course(world, "EX-1")
    certs = send(world.b.admin, xlsx([cert_row(0)], "certificates"), "certificates", world.b.unit)
    assert errors_by_row(certs)[2] == [("工号", "本公司没有工号为“H000”的人员")]
    lines = send(world.b.admin, xlsx([["B003", "EX-1", date(2025, 3, 1), None, None, None]], "training"),
                 "training", world.b.unit)
    assert errors_by_row(lines)[2] == [("课程编号", "本公司没有编号为“EX-1”的课程")]


def test_a_group_is_not_a_scope_to_import_into(world):
    from tests.conftest import make_person

    group_admin = make_person(world.group, "集团管理员", "G001", [("admin", world.group)], login="G-admin")
    client = client_for(group_admin)
    for url in (f"/imports/template.xlsx?kind=people&unit={world.group.pk}",
                f"/imports/new/?kind=people&unit={world.group.pk}"):
        response = client.get(url)
        assert response.status_code == 422 and "请选择公司或其下级组织" in response.content.decode(), url
    response = api_upload(client, xlsx([person_row(1)]), unit=world.group.pk)
    assert response.status_code == 422 and response.json()["field"] == "org_unit_id"
    assert client.get("/imports/new/?kind=people").status_code == 200  # the form offers the companies


def test_a_check_lost_with_a_stopped_worker_is_resumed(world):
    """The upload's check never ran (its worker stopped): ten minutes on, the sweep checks it."""
    from anlian.core import clock
    from anlian.workforce.models import ImportStatus
    from anlian.workforce.tasks import resume_checks

    with transaction.atomic():  # the on-commit enqueue never runs inside the test's transaction
        batch = importing.upload(world.a.admin.user, kind="people", org_unit=world.a.admin.org_unit,
                                 file=file(xlsx([person_row(n) for n in range(3)])))
    assert batch.status == ImportStatus.CHECKING
    assert resume_checks.call_local() == 0  # not stale yet
    ImportBatch.objects.filter(pk=batch.pk).update(created_at=clock.now() - timedelta(minutes=11))
    assert resume_checks.call_local() == 1
    batch.refresh_from_db()
    assert batch.status == ImportStatus.READY and batch.total_rows == 3
