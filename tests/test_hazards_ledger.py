"""The hazard ledger 隐患台账: the machine-shop hazard's 54-minute cycle on the page, in the export and
the API; filters; overdue in red; the export's columns and values from the job; text that looks
like a formula stays text; the printable page; bad input; company B sees nothing of company A."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook

from anlian.core import clock
from anlian.hazards import ledger
from anlian.hazards.models import Hazard, HazardStage
from tests.conftest import client_for
from tests.flows.test_photo_checks_in_steps import scene
from tests.test_hazards_example import Shop, at

pytestmark = pytest.mark.django_db
LEDGER, EXPORT, PRINT = "/hazards/ledger/", "/hazards/ledger/export.xlsx", "/hazards/ledger/print/"


@pytest.fixture
def shop(world) -> Shop:
    return Shop(world)


def close_machine_shop(shop: Shop) -> int:
    """The issue's example, 09:23 to 10:17 (as in tests/test_hazards_example.py)."""
    hid = shop.report(at(9, 23))["id"]
    shop.ok(shop.fitter, hid, at(9, 25), kind="complete", step="receive")
    shop.ok(shop.fitter, hid, at(9, 38), kind="complete", step="on_site", photos={"arrival": [shop.upload(shop.fitter, scene(41))]})
    shop.ok(shop.fitter, hid, at(10, 12), kind="complete", step="rectify",
            values={"measures": "加装防护罩并固定", "rectifier_sign": "李师傅"},
            photos={"before": [shop.upload(shop.fitter, scene(42))], "after": [shop.upload(shop.fitter, scene(43))]})
    shop.ok(shop.officer, hid, at(10, 15), kind="approve", step="verify", values={"verify_sign": "安全员"})
    shop.ok(shop.officer, hid, at(10, 17), kind="complete", step="close")
    return hid


def open_one(shop: Shop, when: datetime, description: str = "配电箱门未关", seed: int = 90,
             category: str = "mechanical") -> int:
    clock.set_now(when)
    photo = shop.upload(shop.reporter, scene(seed))
    response = client_for(shop.reporter).post("/api/v1/hazards", {
        "area_id": shop.world.a.area.pk, "category": category, "level": "general", "description": description,
        "scene": [photo], "lat": 30.0, "lng": 120.0}, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def sheet(response) -> list[list]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content))
    return [list(row) for row in book.active.iter_rows(values_only=True)]


def test_the_machine_shop_hazard_shows_its_54_minute_cycle_on_the_page_in_the_export_and_the_api(shop):
    hid = close_machine_shop(shop)
    number = Hazard.objects.get(pk=hid).instance.number
    officer = client_for(shop.officer)
    page = officer.get(LEDGER)
    assert page.status_code == 200
    text = page.content.decode()
    assert number in text and "54 分钟" in text
    assert f'/permits/{Hazard.objects.get(pk=hid).instance_id}/' in text  # the timeline
    rows = sheet(officer.get(EXPORT))
    assert rows[0][:18] == ["序号", "隐患编号", "排查日期", "隐患部位（区域/设备）", "隐患描述", "隐患类别", "隐患等级", "责任单位",
                            "整改责任人", "整改措施", "整改期限", "整改完成日期", "验收人", "验收日期", "状态", "是否超期",
                            "整改资金（万元，重大隐患）", "备注"]
    assert rows[0][18] == "闭环用时（分钟）"
    row = rows[1]
    assert row[0] == 1 and row[1] == number and row[2].date() == at(9, 23).date()
    assert row[3] == "甲公司罐区/储罐（A-EQ1）" and row[4] == "车床防护罩缺失" and row[5] == "机械" and row[6] == "一般隐患"
    assert row[7] == "甲公司一厂"  # the dispatch rule's unit: the area's
    assert row[8] == "钳工老李" and row[9] == "加装防护罩并固定" and row[12] == "甲公司安全员"
    assert row[11].date() == row[13].date() == at(10, 12).date()
    assert row[14] == "已销号" and row[15] == "否" and row[16] is None and row[18] == 54
    api = officer.get("/api/v1/hazard-ledger").json()
    assert api["count"] == 1 and api["items"][0]["cycle_minutes"] == 54 and api["items"][0]["overdue"] is False
    printed = officer.get(PRINT)
    assert printed.status_code == 200 and "size: A4 landscape" in printed.content.decode()
    assert number in printed.content.decode() and "<td>54</td>" in printed.content.decode()


def test_filters_select_by_stage_level_category_area_unit_overdue_dates_and_search(shop, world):
    closed = close_machine_shop(shop)
    late = open_one(shop, at(11, 0), "配电箱门未关", 91, "electrical")  # no rule names anyone: stays reported
    Hazard.objects.filter(pk=late).update(rectify_due=at(12, 0))
    clock.set_now(at(13, 0))
    officer = client_for(shop.officer)

    def ids(query: str, path: str = "/api/v1/hazard-ledger") -> set[int]:
        response = officer.get(f"{path}?{query}")
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["items"]}

    assert ids("") == {closed, late}
    assert ids("stage=closed") == {closed} and ids("stage=reported") == {late}
    assert ids("category=electrical") == {late} and ids("level=major") == set()
    assert ids(f"area_id={world.a.area.pk}") == {closed, late}
    assert ids(f"unit_id={world.a.plant.pk}") == {closed, late} and ids(f"unit_id={world.a.team.pk}") == set()
    assert ids("overdue=true") == {late} and ids("overdue=false") == {closed}
    assert ids("open=true") == {late}
    assert ids("start=2026-05-19&end=2026-05-19") == {closed, late} and ids("start=2026-05-20") == set()
    assert ids("q=防护罩") == {closed}
    assert officer.get("/api/v1/hazard-ledger/counts").json() == {"total": 2, "open": 1, "overdue": 1}
    # The page: the overdue row is red and marked; the head counts it.
    page = officer.get(LEDGER + "?overdue=1").content.decode()
    assert 'class="overdue"' in page and page.count('class="overdue"') == 1 and "配电箱门未关" in page
    assert "防护罩" not in page
    assert "车床防护罩" in officer.get(LEDGER + "?q=防护罩").content.decode()


def test_an_overdue_hazard_is_marked_in_the_export_and_a_late_closure_stays_overdue(shop):
    closed = close_machine_shop(shop)
    Hazard.objects.filter(pk=closed).update(rectify_due=at(10, 0))  # closed 10:17: late
    assert ledger.is_overdue(Hazard.objects.get(pk=closed), at(12, 0))
    rows = sheet(client_for(shop.officer).get(EXPORT))
    assert rows[1][15] == "是"


def test_the_export_keeps_formula_like_text_as_text(shop, world):
    for n, text in enumerate(["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)"]):
        open_one(shop, at(11, n), text, 100 + n)
    response = client_for(shop.officer).get(EXPORT)
    book = load_workbook(io.BytesIO(response.content))
    cells = [row[4] for row in book.active.iter_rows(min_row=2)]
    assert sorted(c.value for c in cells) == sorted(["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)"])
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)


def test_the_export_loads_events_in_bulk_not_per_row(shop, django_assert_max_num_queries):
    for n in range(12):
        open_one(shop, at(11, n), f"隐患{n}", 200 + n)
    qs = ledger.ledger(shop.officer.user, {})[0]
    with django_assert_max_num_queries(8):
        rows = list(ledger.export_rows(qs))
    assert len(rows) == 12 and {r[8] for r in rows} == {"钳工老李"} and {r[12] for r in rows} == {"甲公司安全员"}
    assert [r[0] for r in rows] == list(range(1, 13))


@pytest.mark.parametrize("query", [
    "stage=nope", "level=xx", "category=" + "x" * 300, "area=abc", "area=99999999999999999999", "unit=-1",
    "overdue=maybe", "start=2026-13-45", "end=yesterday", "q=" + "长" * 5000, "page=abc", "page=999999",
    "start=2026-05-20&end=2026-05-01",
])
def test_junk_filters_on_the_pages_are_ignored_never_a_500(shop, query):
    close_machine_shop(shop)
    officer = client_for(shop.officer)
    for path in (LEDGER, EXPORT, PRINT):
        assert officer.get(f"{path}?{query}").status_code == 200


def test_a_nul_byte_in_a_filter_is_refused_by_the_site_not_a_500(shop):
    for path in (LEDGER, EXPORT, PRINT):
        assert client_for(shop.officer).get(f"{path}?level=%00").status_code == 422


@pytest.mark.parametrize("query", ["stage=" + "x" * 20, "area_id=0", "area_id=abc", "unit_id=-5", "overdue=maybe",
                                   "start=2026-02-30", "q=" + "x" * 51, "page=0", "area_id=99999999999999999999"])
def test_bad_api_filters_are_a_clear_4xx(shop, query):
    response = client_for(shop.officer).get(f"/api/v1/hazard-ledger?{query}")
    assert 400 <= response.status_code < 500, response.content


def test_company_b_sees_none_of_company_a_hazards(shop, world):
    hid = close_machine_shop(shop)
    number = Hazard.objects.get(pk=hid).instance.number
    for person in (world.b.officer, world.b.admin, world.b.worker):
        other = client_for(person)
        assert number not in other.get(LEDGER).content.decode()
        assert number not in other.get(PRINT).content.decode()
        assert len(sheet(other.get(EXPORT))) == 1  # the header only
        assert other.get("/api/v1/hazard-ledger").json()["count"] == 0
        assert other.get("/api/v1/hazard-ledger/counts").json()["total"] == 0
        # A's area or unit as a filter: 404 on the API, ignored (nothing of A's shown) on the pages.
        assert other.get(f"/api/v1/hazard-ledger?area_id={world.a.area.pk}").status_code == 404
        assert other.get(f"/api/v1/hazard-ledger?unit_id={world.a.plant.pk}").status_code == 404
        assert other.get(f"/api/v1/hazard-ledger/export?unit_id={world.a.plant.pk}").status_code == 404
        page = other.get(f"{LEDGER}?area={world.a.area.pk}&unit={world.a.plant.pk}").content.decode()
        assert number not in page and "甲公司" not in page


def test_the_ledger_needs_a_login(client):
    assert client.get(LEDGER).status_code == 302
    assert client.get("/api/v1/hazard-ledger").status_code in (401, 403)


def test_the_ledger_orders_newest_first_and_counts_stages(shop):
    first = open_one(shop, at(11, 0), "一", 300)
    second = open_one(shop, at(11, 5), "二", 301)
    Hazard.objects.filter(pk=first).update(stage=HazardStage.CANCELLED)
    qs, _filters = ledger.ledger(shop.officer.user, {}, at(12, 0))
    assert [h.pk for h in qs] == [second, first]
    assert ledger.counts(qs, at(12, 0) + timedelta(days=30)) == {"total": 2, "open": 1, "overdue": 1}
