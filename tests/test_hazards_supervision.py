"""Supervision 督办: per department, on known data with every figure worked out by hand; the page,
its drill-down links into the ledger, the API; bad input; company B sees nothing of company A."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from anlian.core import clock
from anlian.hazards import supervision
from anlian.hazards.models import DispatchRule, Hazard, HazardStage
from anlian.orgs import services as orgs
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import OrgKind
from tests.conftest import client_for
from tests.flows.test_photo_checks_in_steps import scene
from tests.test_hazards_example import at

pytestmark = pytest.mark.django_db
API = "/api/v1/hazard-supervision"
PAGE = "/hazards/supervision/"


def report(person, area, when, seed: int, description: str = "隐患") -> Hazard:
    clock.set_now(when)
    client = client_for(person)
    photo = client.post("/api/v1/files", {"file": SimpleUploadedFile("p.jpg", scene(seed), content_type="image/jpeg")})
    assert photo.status_code == 201, photo.content
    response = client.post("/api/v1/hazards", {
        "area_id": area.pk, "category": "mechanical", "level": "general", "description": description,
        "scene": [photo.json()["sha256"]], "lat": area.center_lat, "lng": area.center_lng}, content_type="application/json")
    assert response.status_code == 201, response.content
    return Hazard.objects.get(pk=response.json()["id"])


class Known:
    """Company A with two plants. In May 2026 (the clock at 2026-05-20 12:00):
    一厂: h1 closed after 2 h in time; h2 open and flagged overdue; h3 closed after 10 h, 5 h past its
         deadline, a recurrence of h1;  h6 reported in April (outside the period).
    二厂: h4 open, deadline ahead; h5 cancelled (counts nowhere)."""

    def __init__(self, world):
        a = world.a
        self.plant1 = a.plant
        self.plant2 = orgs.create_unit(SYSTEM, name="甲公司二厂", kind=OrgKind.PLANT, parent=a.unit)
        self.area2 = orgs.save_area(SYSTEM, None, org_unit=self.plant2, name="二厂仓库", is_outdoor=True,
                                    center_lat=30.0, center_lng=120.0, radius_m=100)
        DispatchRule.objects.create(owner=a.unit, responsible_role="safety_officer", verifier_role="admin")
        day = at(9, 0)
        self.h1 = report(a.admin, a.area, day, 1)
        self.h2 = report(a.admin, a.area, day + timedelta(hours=1), 2)
        self.h3 = report(a.admin, a.area, day + timedelta(hours=2), 3)
        self.h4 = report(a.admin, self.area2, day + timedelta(hours=3), 4)
        self.h5 = report(a.admin, self.area2, day + timedelta(hours=4), 5)
        self.h6 = report(a.admin, a.area, day - timedelta(days=30), 6)
        self._set(self.h1, stage=HazardStage.CLOSED, closed_at=self.h1.reported_at + timedelta(hours=2),
                  rectify_due=self.h1.reported_at + timedelta(days=1))
        # Reporting links a same-area, same-category hazard as a recurrence: only h3 is one here.
        self._set(self.h2, overdue=True, recurrence_of=None)
        self._set(self.h3, stage=HazardStage.CLOSED, closed_at=self.h3.reported_at + timedelta(hours=10),
                  rectify_due=self.h3.reported_at + timedelta(hours=5), recurrence_of=self.h1)
        self._set(self.h4, rectify_due=at(9, 0) + timedelta(days=30))
        self._set(self.h5, stage=HazardStage.CANCELLED)
        clock.set_now(at(12, 0) + timedelta(days=1))

    @staticmethod
    def _set(hazard: Hazard, **fields) -> None:
        Hazard.objects.filter(pk=hazard.pk).update(**fields)


@pytest.fixture
def known(world) -> Known:
    return Known(world)


def test_the_figures_per_department_match_the_hand_count(known, world):
    got = supervision.report(world.a.admin.user, world.a.unit, "plant", at(0, 0).date().replace(day=1),
                             at(0, 0).date().replace(day=31))
    by_name = {row.label: row for row in got.rows}
    assert list(by_name) == ["甲公司一厂", "甲公司二厂"]  # no "本级" row: nothing at the company itself
    one, two = by_name["甲公司一厂"], by_name["甲公司二厂"]
    # 一厂: h1, h2, h3 → 3; open h2 → 1; overdue h2 (flag) and h3 (closed late) → 2; closed 2 in (2 h + 10 h) / 2.
    assert (one.total, one.open, one.overdue, one.closed, one.recurrent) == (3, 1, 2, 2, 1)
    assert one.avg_close_hours == 6.0 and one.overdue_rate == 0.6667 and one.recurrence_rate == 0.3333
    # 二厂: h4 only (h5 cancelled).
    assert (two.total, two.open, two.overdue, two.closed, two.recurrent) == (1, 1, 0, 0, 0)
    assert two.avg_close_hours is None and two.overdue_rate == 0.0 and two.recurrence_rate == 0.0
    whole = got.all
    assert (whole.total, whole.open, whole.overdue, whole.closed) == (4, 2, 2, 2)
    assert whole.avg_close_hours == 6.0 and whole.overdue_rate == 0.5 and whole.recurrence_rate == 0.25


def test_the_api_returns_the_same_figures(known, world):
    response = client_for(world.a.admin).get(f"{API}?unit_id={world.a.unit.pk}&level=plant&start=2026-05-01&end=2026-05-31")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["unit_id"] == world.a.unit.pk and body["level"] == "plant"
    one = body["departments"][0]
    assert one == {"unit_id": known.plant1.pk, "name": "甲公司一厂", "rest": False, "total": 3, "open": 1, "overdue": 2,
                   "closed": 2, "recurrent": 1, "avg_close_hours": 6.0, "overdue_rate": 0.6667, "recurrence_rate": 0.3333}
    assert body["total"]["total"] == 4 and body["total"]["overdue_rate"] == 0.5
    # A period that includes April adds h6 (open, not overdue: no deadline passed) to 一厂.
    april = client_for(world.a.admin).get(f"{API}?unit_id={world.a.unit.pk}&level=plant&start=2026-04-01&end=2026-05-31")
    assert april.json()["departments"][0]["total"] == 4 and april.json()["departments"][0]["open"] == 2


def test_rolled_up_to_the_team_level_hazards_outside_every_team_land_in_the_rest_row(known, world):
    got = supervision.report(world.a.admin.user, world.a.unit, "team", at(0, 0).date().replace(day=1),
                             at(0, 0).date().replace(day=31))
    assert [r.label for r in got.rows] == ["甲公司一班", "甲公司本级及其他"]
    assert got.rows[0].total == 0 and got.rows[1].rest and got.rows[1].total == 4


def test_the_drill_down_links_open_the_ledger_on_exactly_those_hazards(known, world):
    admin = client_for(world.a.admin)
    page = admin.get(f"{PAGE}?unit={world.a.unit.pk}&level=plant&start=2026-05-01&end=2026-05-31")
    assert page.status_code == 200
    html = page.content.decode()
    report_ = supervision.report(world.a.admin.user, world.a.unit, "plant", at(0, 0).date().replace(day=1),
                                 at(0, 0).date().replace(day=31))
    one = report_.rows[0]
    expected = {"total": {known.h1, known.h2, known.h3}, "open": {known.h2}, "overdue": {known.h2, known.h3},
                "recurrent": {known.h3}, "closed": {known.h1, known.h3}}
    for figure, hazards in expected.items():
        link = f"/hazards/ledger/?{one.links[figure]}"
        assert link.replace("&", "&amp;") in html
        listed = admin.get(link)
        assert listed.status_code == 200
        numbers = {h.instance.number for h in Hazard.objects.filter(pk__in=[h.pk for h in hazards])}
        shown = {h.instance.number for h in Hazard.objects.all() if h.instance.number in listed.content.decode()}
        assert shown == numbers, figure


@pytest.mark.parametrize("query, field", [
    ("level=galaxy", "level"), ("level=plant&start=2026-05-31&end=2026-05-01", "end"),
    ("level=plant&start=1990-01-01&end=2026-05-01", "start"), ("level=plant&start=yesterday", "start"),
    ("level=plant&end=2026-02-30", "end"),
])
def test_bad_api_input_is_a_clear_422(known, world, query, field):
    response = client_for(world.a.admin).get(f"{API}?unit_id={world.a.unit.pk}&{query}")
    assert response.status_code == 422, response.content
    assert field in response.content.decode()


def test_a_level_not_below_the_unit_is_refused(known, world):
    response = client_for(world.a.admin).get(f"{API}?unit_id={world.a.plant.pk}&level=plant")
    assert response.status_code == 422 and response.json()["field"] == "level"
    page = client_for(world.a.admin).get(f"{PAGE}?unit={world.a.unit.pk}&level=plant&start=2026-05-31&end=2026-05-01")
    assert page.status_code == 400 and "结束日期不能早于开始日期" in page.content.decode()


@pytest.mark.parametrize("query", ["unit=abc", "unit=99999999999999999999", "level=x", "start=2026-99-99",
                                   "unit=-1&level=team&start=&end="])
def test_junk_on_the_page_never_500(known, world, query):
    assert client_for(world.a.admin).get(f"{PAGE}?{query}").status_code == 200


def test_company_b_sees_none_of_company_a_figures(known, world):
    b = client_for(world.b.admin)
    assert b.get(f"{API}?unit_id={world.a.unit.pk}&level=plant").status_code == 404
    assert b.get(f"{API}?unit_id={known.plant1.pk}&level=team").status_code == 404
    own = b.get(f"{API}?unit_id={world.b.unit.pk}&level=plant&start=2026-04-01&end=2026-05-31").json()
    assert own["total"]["total"] == 0 and [d["name"] for d in own["departments"]] == ["乙公司一厂"]
    page = b.get(f"{PAGE}?unit={world.a.unit.pk}&level=plant").content.decode()
    assert "甲公司" not in page  # another company's unit is ignored: B's own is shown
    for person in (world.a.worker, world.b.worker):  # VIEW over a team only: its figures, nobody else's
        response = client_for(person).get(f"{API}?unit_id={world.a.unit.pk}&level=plant")
        assert response.status_code == 404


def test_supervision_needs_a_login(client, world):
    assert client.get(PAGE).status_code == 302
    assert client.get(f"{API}?unit_id={world.a.unit.pk}").status_code in (401, 403)
