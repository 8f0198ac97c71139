"""The monthly contractor red/black list: every figure computed by hand on known data (month
boundaries in Asia/Shanghai), the verdicts and their thresholds, the page, the Excel and PDF
exports and the API, and that another company's contractors never appear."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timezone as dt_timezone

import pytest
from django.test import Client
from openpyxl import load_workbook

from anlian.accounts.tokens import issue_token
from anlian.core import clock
from anlian.core.errors import Invalid
from anlian.orgs import services as orgs
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Contractor
from anlian.training.models import Assignment
from anlian.workforce import contractors, redlist
from anlian.workforce.models import Violation
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

MAY = redlist.Month(2026, 5)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=dt_timezone.utc)


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen(utc(2026, 6, 3, 2, 0)):  # 3 June: the default month is May
        yield


def people(world, contractor, prefix: str, n: int, company="a", active=True) -> list:
    team = getattr(world, company).team
    return [orgs.save_person(SYSTEM, None, org_unit=team, name=f"{prefix}{i}", employee_no=f"{prefix}{i}",
                             contractor=contractor, is_active=active) for i in range(1, n + 1)]


def violation(contractor, person, occurred_at, **extra) -> Violation:
    return Violation.objects.create(person=person, contractor=contractor, what="违章", occurred_at=occurred_at,
                                    **extra)


def owe(person, level, due_on, completed_on=None) -> Assignment:
    return Assignment.objects.create(person=person, level=level, hours_required=8, due_on=due_on,
                                     completed_on=completed_on)


@pytest.fixture
def month_data(world):
    """Known data for May 2026; the docstring of each block gives the expected figures."""
    make = lambda name, company="a": contractors.save_contractor(  # noqa: E731
        SYSTEM, None, org_unit=getattr(world, company).plant, name=name)
    # 海工建设: 4 active workers (+1 who left).
    hg = make("海工建设")
    w1, w2, w3, w4 = people(world, hg, "HG", 4)
    (gone,) = people(world, hg, "HGX", 1, active=False)
    # In May (Shanghai): 00:30 on 1 May and 23:59 on 31 May; not in May: 23:59 on 30 April and
    # 00:00 on 1 June; a voided one never counts. Violations in May: 2 (one serious) → 50.0 per 100.
    violation(hg, w1, utc(2026, 4, 30, 16, 30), rectify_due=date(2026, 5, 10),
                   rectified_at=utc(2026, 5, 10, 16, 30), status="rectified")  # 00:30 on 11 May: late
    violation(hg, w2, utc(2026, 5, 31, 15, 59), severity="serious", rectify_due=date(2026, 5, 31))  # never done
    violation(hg, w3, utc(2026, 5, 31, 16, 0), rectify_due=date(2026, 6, 1))  # June: not due in May
    violation(hg, w4, utc(2026, 4, 30, 15, 59), rectify_due=date(2026, 5, 5),
              rectified_at=utc(2026, 5, 4, 20, 0), status="rectified")  # 04:00 on 5 May: in time
    violation(hg, w1, utc(2026, 4, 2, 1, 0), rectify_due=date(2026, 5, 20), closed_at=utc(2026, 5, 19, 8, 0),
              status="closed")  # closed without a separate rectification: in time
    violation(hg, w1, utc(2026, 5, 15, 1, 0), rectify_due=date(2026, 5, 16), status="void")
    # Rectifications due in May: v1, the serious one, w4's, the closed one = 4; in time: 2 → 50.0 %.
    Assignment.objects.all().delete()  # the education the hire signal assigned: only the rows below count
    # Training due by 31 May: w1 (done 31 May), w2 (done 1 June: late), w4 (done in March) = 3,
    # done by month end 2 → 66.7 %; w3's is due in June; the one who left is not counted.
    owe(w1, "company", date(2026, 5, 31), date(2026, 5, 31))
    owe(w2, "company", date(2026, 5, 15), date(2026, 6, 1))
    owe(w3, "company", date(2026, 6, 1))
    owe(w4, "refresher", date(2026, 4, 1), date(2026, 3, 30))
    owe(gone, "company", date(2026, 5, 1))

    # 蓝海保洁: 2 workers, no violation in May, its one rectification due in May done in time,
    # all training done → 红榜.
    lan = make("蓝海保洁")
    l1, l2 = people(world, lan, "LH", 2)
    Assignment.objects.filter(person__in=[l1, l2]).delete()
    violation(lan, l1, utc(2026, 4, 20, 1, 0), rectify_due=date(2026, 5, 3), rectified_at=utc(2026, 5, 2, 1, 0),
              status="rectified")
    owe(l2, "team", date(2026, 5, 10), date(2026, 5, 9))

    # 恒安机电: 10 workers and 1 violation → exactly 10.0 per 100 (not above the limit) → 一般.
    ha = make("恒安机电")
    staff = people(world, ha, "HA", 10)
    Assignment.objects.filter(person__in=staff).delete()
    violation(ha, staff[0], utc(2026, 5, 6, 2, 0))

    # 空壳公司: no workers, nothing → 一般 (red needs workers). 离场公司: a violation by someone who
    # has left and no worker now → the rate cannot be computed and counts as above the limit.
    make("空壳公司")
    gone_co = make("离场公司")
    (left,) = people(world, gone_co, "LC", 1, active=False)
    violation(gone_co, left, utc(2026, 5, 8, 2, 0))

    # Company B's contractor with violations must never appear in company A's list.
    other = make("乙方承包商", "b")
    (b1,) = people(world, other, "BB", 1, company="b")
    Assignment.objects.filter(person=b1).delete()
    violation(other, b1, utc(2026, 5, 8, 2, 0), severity="serious")
    return hg


def rows_by_name(report) -> dict:
    return {row.contractor.name: row for row in report.rows}


def test_every_figure_matches_the_hand_computation(world, month_data):
    report = redlist.compute(world.a.admin.user, MAY)
    rows = rows_by_name(report)
    assert set(rows) == {"海工建设", "蓝海保洁", "恒安机电", "空壳公司", "离场公司"}
    hg = rows["海工建设"]
    assert (hg.workers, hg.violations, hg.serious, hg.rate) == (4, 2, 1, 50.0)
    assert (hg.rectify_due, hg.rectified_in_time, hg.timeliness) == (4, 2, 50.0)
    assert (hg.training_due, hg.training_done, hg.training) == (3, 2, 66.7)
    assert hg.verdict == "black"
    assert hg.reasons == ["严重违章1起", "违章率超过每百人10起", "整改及时率低于80%", "培训完成率低于80%"]

    lan = rows["蓝海保洁"]
    assert (lan.workers, lan.violations, lan.rate, lan.timeliness, lan.training) == (2, 0, 0.0, 100.0, 100.0)
    assert lan.verdict == "red" and lan.reasons == []
    ha = rows["恒安机电"]
    assert (ha.workers, ha.violations, ha.rate, ha.timeliness, ha.training) == (10, 1, 10.0, None, None)
    assert ha.verdict == "normal"
    empty = rows["空壳公司"]
    assert (empty.workers, empty.rate, empty.verdict) == (0, 0.0, "normal")
    gone = rows["离场公司"]
    assert (gone.workers, gone.violations, gone.rate, gone.verdict) == (0, 1, None, "black")
    assert gone.reasons == ["违章率超过每百人10起"]
    # Black first, then normal, then red.
    assert [r.contractor.name for r in report.rows] == ["海工建设", "离场公司", "恒安机电", "空壳公司", "蓝海保洁"]
    assert report.counts() == {"red": 1, "normal": 2, "black": 2}


def test_the_neighbouring_months_see_their_own_violations(world, month_data):
    april = rows_by_name(redlist.compute(world.a.admin.user, redlist.Month(2026, 4)))["海工建设"]
    june = rows_by_name(redlist.compute(world.a.admin.user, redlist.Month(2026, 6)))["海工建设"]
    # April: 23:59 on 30 April and 2 April (the void one is in May anyway); June: 00:00 on 1 June.
    assert (april.violations, june.violations) == (2, 1)
    assert (june.rectify_due, june.rectified_in_time) == (1, 0)
    # By the end of June every assignment of an active worker is due: 4, of which 3 done.
    assert (june.training_due, june.training_done) == (4, 3)


def test_the_thresholds_are_settings(world, month_data, settings):
    settings.ANLIAN_REDLIST_BLACK_RATE = 5
    rows = rows_by_name(redlist.compute(world.a.admin.user, MAY))
    assert rows["恒安机电"].verdict == "black" and rows["恒安机电"].reasons == ["违章率超过每百人5起"]
    settings.ANLIAN_REDLIST_BLACK_RATE = 60
    settings.ANLIAN_REDLIST_BLACK_TIMELINESS = 50
    settings.ANLIAN_REDLIST_BLACK_TRAINING = 60
    rows = rows_by_name(redlist.compute(world.a.admin.user, MAY))
    assert rows["海工建设"].reasons == ["严重违章1起"] and rows["海工建设"].verdict == "black"


def test_a_person_sees_only_the_contractors_in_their_scope(world, month_data):
    team_only = contractors.save_contractor(SYSTEM, None, org_unit=world.a.team, name="班组外包")
    assert [r.contractor for r in redlist.compute(world.a.worker.user, MAY).rows] == [team_only]
    names = [r.contractor.name for r in redlist.compute(world.b.admin.user, MAY).rows]
    assert names == ["乙方承包商"]


@pytest.mark.parametrize("text", ["2026-5", "2026-13", "2026-00", "1999-12", "abcd-ef", "2026-05-01", "2026/05",
                                  "-2026-5", "2026-05\x00"])
def test_a_bad_month_is_refused_with_a_reason(text):
    with pytest.raises(Invalid) as refused:
        redlist.parse_month(text, date(2026, 6, 3))
    assert refused.value.field == "month" and "2025-06" in refused.value.message()


def test_the_default_month_is_the_one_before(world):
    assert redlist.parse_month("", date(2026, 1, 1)) == redlist.Month(2025, 12)
    assert redlist.parse_month(None, date(2026, 6, 30)) == redlist.Month(2026, 5)
    assert redlist.parse_month("2026-12", date(2026, 6, 3)).last_day == date(2026, 12, 31)
    assert redlist.Month(2024, 2).last_day == date(2024, 2, 29)


def test_the_month_picker_offers_recent_months_and_the_chosen_one():
    months = redlist.recent_months(date(2026, 2, 10), redlist.Month(2026, 1))
    assert [str(m) for m in months[:3]] == ["2026-02", "2026-01", "2025-12"] and len(months) == 24
    older = redlist.recent_months(date(2026, 2, 10), redlist.Month(2020, 7))
    assert str(older[0]) == "2020-07" and len(older) == 25


# --- page, exports, API ---------------------------------------------------------------------------


def test_the_page_shows_the_month_with_its_verdicts(world, month_data):
    client = client_for(world.a.officer)
    body = client.get("/contractors/redlist/").content.decode()  # default: May
    assert 'value="2026-05"' in body and "承包商红黑榜 2026-05" in body
    assert "严重违章1起" in body and "50.0" in body and "66.7%" in body and "2/3" in body
    assert "乙方承包商" not in body and "违章率超过每百人 10 起" in body
    response = client.get("/contractors/redlist/?month=2026-13")
    assert response.status_code == 422 and "月份格式应为" in response.content.decode()


def test_the_excel_export_has_the_same_figures(world, month_data):
    response = client_for(world.a.officer).get("/contractors/redlist/?month=2026-05&format=xlsx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "承包商" and rows[0][-2:] == ("评定", "原因")
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["海工建设"][2:12] == (4, 2, 1, 50, 4, 2, 50, 3, 2, 66.7)
    assert by_name["海工建设"][12] == "黑榜" and by_name["蓝海保洁"][12] == "红榜"
    assert by_name["恒安机电"][8] is None and "乙方承包商" not in by_name


def test_the_pdf_export_embeds_a_chinese_font(world, month_data):
    response = client_for(world.a.officer).get("/contractors/redlist/?month=2026-05&format=pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff" and "attachment" in response["Content-Disposition"]
    assert response.content.startswith(b"%PDF") and b"/FontFile2" in response.content


def test_the_api_gives_the_list_as_json(world, month_data):
    secret = issue_token(world.a.admin.user, "t")[1]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    body = client.get("/api/v1/contractor-redlist?month=2026-05").json()
    assert body["month"] == "2026-05" and body["black_rate"] == 10.0
    hg = next(r for r in body["rows"] if r["contractor_name"] == "海工建设")
    assert (hg["workers"], hg["violations"], hg["serious_violations"], hg["violation_rate"]) == (4, 2, 1, 50.0)
    assert (hg["timeliness"], hg["training_completion"], hg["verdict"]) == (50.0, 66.7, "black")
    assert "乙方承包商" not in json.dumps(body, ensure_ascii=False)
    assert client.get("/api/v1/contractor-redlist").json()["month"] == "2026-05"
    for junk in ("2026-13", "x" * 8, "2026-05%00"):
        r = client.get(f"/api/v1/contractor-redlist?month={junk}")
        assert r.status_code == 422 and r.json()["code"] in ("invalid", "invalid_value", "nul_character"), junk
    other = Client(HTTP_AUTHORIZATION=f"Bearer {issue_token(world.b.admin.user, 't')[1]}")
    names = [r["contractor_name"] for r in other.get("/api/v1/contractor-redlist?month=2026-05").json()["rows"]]
    assert names == ["乙方承包商"]
    assert Contractor.objects.count() == 6
