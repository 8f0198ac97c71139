"""QR badges and entry checks: every NO-GO reason on the badge page and from the API, GO when all is
in order; forged, expired and revoked tokens refused and logged; re-issue revokes the old badge;
company isolation; CSRF; wrong, huge and replayed input never a 5xx."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta, timezone as dt_timezone

import pytest
import segno
from django.core import signing
from django.test import Client
from django.urls import reverse
from PIL import Image

from anlian.accounts.tokens import issue_token
from anlian.core import clock
from anlian.core.errors import Conflict, Forbidden, Invalid
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Contractor, ContractorStatus, Person
from anlian.training.models import Assignment
from anlian.workforce import badges
from anlian.workforce.demo import qualify
from anlian.workforce.models import (
    Badge,
    Certificate,
    ContractorArea,
    ContractorDocument,
    EntryCheck,
    Violation,
)
from tests.conftest import client_for, csrf_client_for, make_person

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 20, 2, 0, tzinfo=dt_timezone.utc)  # 10:00 in Shanghai
TODAY = date(2026, 5, 20)
WELDING = "焊接与热切割作业"
CONFINED = "受限空间作业"


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen(NOW):
        yield


@pytest.fixture
def guard(world):
    """A gate guard of company A, granted at the plant (checks anyone of company A)."""
    return make_person(world.a.plant, "甲门岗", "A050", [("gate_guard", world.a.plant)], login="A-guard")


@pytest.fixture
def b_guard(world):
    return make_person(world.b.plant, "乙门岗", "B050", [("gate_guard", world.b.plant)], login="B-guard")


@pytest.fixture
def welder(world):
    """A qualified welder of company A (three-level education done, a valid welding certificate)."""
    person = make_person(world.a.team, "张焊", "A100")
    qualify(person, WELDING)
    return person


@pytest.fixture
def contractor(world):
    return Contractor.objects.create(org_unit=world.a.plant, company=world.a.unit, name="宏达安装公司",
                                     contract_start=date(2026, 1, 1), contract_end=date(2026, 12, 31))


@pytest.fixture
def hand(world, contractor):
    """A contractor's worker, qualified for welding, whose company may work in company A's area."""
    person = make_person(world.a.plant, "李工", "A200")
    Person.objects.filter(pk=person.pk).update(contractor=contractor)
    person.refresh_from_db()
    qualify(person, WELDING)
    ContractorArea.objects.create(contractor=contractor, area=world.a.area, valid_from=date(2026, 5, 1),
                                  valid_until=date(2026, 6, 30))
    return person


def issue(person, **kwargs) -> Badge:
    return badges.issue_badge(SYSTEM, person, **kwargs)


def page(client: Client, token: str, **params):
    return client.get(reverse("workforce:badge_page", args=[token]), params)


def api_check(client: Client, token, **body):
    return client.post("/api/v1/entry-checks", json.dumps({"token": token, **body}), content_type="application/json")


def text(response) -> str:
    return response.content.decode()


# --- GO and every reason for NO-GO ---------------------------------------------------------------


def test_go_when_all_is_in_order(world, guard, welder):
    token = badges.token_for(issue(welder))
    client = client_for(guard)
    response = page(client, token, work_type=WELDING)
    assert response.status_code == 200
    body = text(response)
    assert "verdict go" in body and "准许入场作业" in body and "张焊" in body
    assert "熔化焊接与热切割作业" in body  # the certificate is listed
    answer = api_check(client, token, work_type=WELDING).json()
    assert answer["go"] is True and answer["token_state"] == "ok" and answer["reasons"] == []
    assert answer["person"]["name"] == "张焊" and answer["person"]["contractor"] is None


def test_go_for_a_contractor_worker_in_an_authorised_area(world, guard, hand):
    token = badges.token_for(issue(hand))
    client = client_for(guard)
    body = text(page(client, token, area=world.a.area.pk, work_type=WELDING))
    assert "verdict go" in body and "宏达安装公司" in body and world.a.area.name in body
    answer = api_check(client, token, area_id=world.a.area.pk, work_type=WELDING).json()
    assert answer["go"] is True and answer["person"]["contractor"] == "宏达安装公司"


def _inactive(world, welder, hand, contractor):
    Person.objects.filter(pk=welder.pk).update(is_active=False)
    return welder, None, WELDING


def _status(status):
    def setup(world, welder, hand, contractor):
        Contractor.objects.filter(pk=contractor.pk).update(status=status, status_reason="安全检查不合格")
        return hand, None, WELDING
    return setup


def _contract_not_started(world, welder, hand, contractor):
    Contractor.objects.filter(pk=contractor.pk).update(contract_start=date(2026, 7, 1))
    return hand, None, WELDING


def _contract_ended(world, welder, hand, contractor):
    Contractor.objects.filter(pk=contractor.pk).update(contract_end=date(2026, 5, 1))
    return hand, None, WELDING


def _document_expired(world, welder, hand, contractor):
    ContractorDocument.objects.create(contractor=contractor, kind="safety_permit", number="SP-1",
                                      expires_on=date(2026, 4, 30))
    return hand, None, WELDING


def _no_grant(world, welder, hand, contractor):
    ContractorArea.objects.filter(contractor=contractor).delete()
    return hand, world.a.area.pk, WELDING


def _grant_out_of_dates(world, welder, hand, contractor):
    ContractorArea.objects.filter(contractor=contractor).update(valid_from=date(2026, 1, 1),
                                                                valid_until=date(2026, 5, 19))
    return hand, world.a.area.pk, WELDING


def _education_open(world, welder, hand, contractor):
    return make_person(world.a.team, "新员工", "A300"), None, None


def _cert_missing(world, welder, hand, contractor):
    Certificate.objects.filter(person=welder).delete()
    return welder, None, WELDING


def _cert_expired(world, welder, hand, contractor):
    Certificate.objects.filter(person=welder).update(expires_on=date(2026, 3, 9))
    return welder, None, WELDING


def _cert_revoked(world, welder, hand, contractor):
    Certificate.objects.filter(person=welder).update(revoked_at=NOW, revoked_reason="违规操作")
    return welder, None, WELDING


def _cert_review_overdue(world, welder, hand, contractor):
    Certificate.objects.filter(person=welder).update(review_due_on=date(2026, 5, 1), reviewed_on=None)
    return welder, None, WELDING


def _training_stale(world, welder, hand, contractor):
    qualify(welder, CONFINED, today=TODAY - timedelta(days=40))
    return welder, None, CONFINED


def _training_never(world, welder, hand, contractor):
    return welder, None, CONFINED


def _open_violation(world, welder, hand, contractor):
    Violation.objects.create(person=welder, what="未系安全带", severity="serious", occurred_at=NOW - timedelta(days=1))
    return welder, None, WELDING


def _no_requirement(world, welder, hand, contractor):
    return welder, None, "水下焊接"


NO_GO = [
    ("person_inactive", _inactive, "已离职或停用"),
    ("company_suspended", _status(ContractorStatus.SUSPENDED), "暂停"),
    ("company_suspended", _status(ContractorStatus.BLACKLISTED), "黑名单"),
    ("contract_invalid", _contract_not_started, "起生效"),
    ("contract_invalid", _contract_ended, "已于2026-05-01到期"),
    ("company_document_expired", _document_expired, "已于2026-04-30过期"),
    ("area_not_authorised", _no_grant, "未获准在该区域作业"),
    ("area_not_authorised", _grant_out_of_dates, "作业授权有效期为2026-01-01至2026-05-19"),
    ("training_incomplete", _education_open, "三级安全教育"),
    ("cert_missing", _cert_missing, "无有效的"),
    ("cert_expired", _cert_expired, "已于2026-03-09过期（72天）"),
    ("cert_revoked", _cert_revoked, "已被吊销或注销：违规操作"),
    ("cert_review_overdue", _cert_review_overdue, "应于2026-05-01前复审"),
    ("training_stale", _training_stale, "专项培训须在30天内"),
    ("training_stale", _training_never, "未通过「受限空间作业」专项培训"),
    ("open_violations", _open_violation, "未系安全带"),
    ("no_requirement", _no_requirement, "未配置资格要求"),
]


@pytest.mark.parametrize("code, setup, words", NO_GO, ids=[f"{c}-{s.__name__}" for c, s, _w in NO_GO])
def test_each_reason_for_no_go_is_shown_and_returned(world, guard, welder, hand, contractor, code, setup, words):
    # Badges are issued while all is well (a person who left, or whose contract ended, gets none).
    tokens = {p.pk: badges.token_for(issue(p)) for p in (welder, hand)}
    person, area_id, work_type = setup(world, welder, hand, contractor)
    token = tokens.get(person.pk) or badges.token_for(issue(person))
    params = {k: v for k, v in (("area", area_id), ("work_type", work_type)) if v}
    client = client_for(guard)
    response = page(client, token, **params)
    assert response.status_code == 200
    body = text(response)
    assert "verdict nogo" in body and "禁止入场作业" in body
    assert words in body
    body_in = {k: v for k, v in (("area_id", area_id), ("work_type", work_type)) if v}
    answer = api_check(client, token, **body_in)
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert data["go"] is False and data["token_state"] == "ok"
    assert code in [r["code"] for r in data["reasons"]]
    assert any(words in r["text"] for r in data["reasons"])
    logged = EntryCheck.objects.get(pk=data["id"])
    assert logged.go is False and logged.person_id == person.pk and logged.checked_by_id == guard.pk
    assert code in [r["code"] for r in logged.reasons]
