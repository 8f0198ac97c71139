"""QR badges and entry checks: every NO-GO reason on the badge page and from the API, GO when all is
in order; forged, expired and revoked tokens refused and logged; re-issue revokes the old badge;
company isolation; CSRF; wrong, huge and replayed input never a 5xx."""

from __future__ import annotations

import io
import json
import re
from datetime import date, datetime, timedelta, timezone as dt_timezone

import pytest
import segno
from django.core import signing
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook
from PIL import Image

from anlian.accounts.tokens import issue_token
from anlian.core import clock
from anlian.core.errors import Conflict, Forbidden, Invalid
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Contractor, ContractorStatus, Person
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


def without_csrf(html: str) -> str:
    """A page without its CSRF token, which is masked differently in every response."""
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)


def xlsx_text(response) -> str:
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    return "\n".join("|".join("" if v is None else str(v) for v in row) for row in sheet.iter_rows(values_only=True))


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


# --- tokens: forged, expired, revoked ------------------------------------------------------------


def _tampered(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


FORGERIES = {
    "tampered_signature": lambda b, t: _tampered(t),
    "another_secret": lambda b, t: signing.Signer(key="another-secret-key-of-some-other-site", salt=badges.SALT,
                                                  sep=badges.SEP).sign(signing.b62_encode(b.pk)),
    "another_salt": lambda b, t: signing.Signer(salt="anlian.other", sep=badges.SEP).sign(signing.b62_encode(b.pk)),
    "another_badge_id": lambda b, t: signing.b62_encode(b.pk + 1) + t[t.index("."):],
    "truncated": lambda b, t: t[:20],
    "garbage": lambda b, t: "not-a-badge",
    "unicode": lambda b, t: "胸卡.伪造",
    "empty": lambda b, t: "",
    "huge": lambda b, t: "A" * 10_240,
}


@pytest.mark.parametrize("kind", FORGERIES)
def test_a_forged_token_is_refused_and_logged(world, guard, welder, kind):
    badge = issue(welder)
    forged = FORGERIES[kind](badge, badges.token_for(badge))
    assert badges.read_token(forged) == (None, "forged")
    client = client_for(guard)
    answer = api_check(client, forged)
    assert answer.status_code == 201
    data = answer.json()
    assert data["go"] is False and data["token_state"] == "forged" and data["person"] is None
    assert data["reasons"][0]["code"] == "badge_forged"
    check = EntryCheck.objects.get(pk=data["id"])
    assert check.checked_by_id == guard.pk and check.badge is None and check.person is None and not check.go
    if forged:  # an empty path segment is not a badge address at all
        response = page(client, forged)
        assert response.status_code == 404
        body = text(response)
        assert "胸卡无效" in body and "无法识别的胸卡" in body and "张焊" not in body
        assert response["Cache-Control"] == "no-store"
        assert EntryCheck.objects.filter(token_state="forged", checked_by=guard).count() == 2


def test_a_token_of_a_deleted_badge_reads_as_forged(world, welder):
    badge = issue(welder)
    token = badges.token_for(badge)
    badge.delete()
    assert badges.read_token(token) == (None, "forged")


def test_the_token_is_compact_url_safe_and_its_qr_prints_small(world, welder, settings):
    settings.SITE_URL = "https://anlian.example-port-group.com.cn"
    badge = issue(welder)
    token = badges.token_for(badge)
    assert len(token) <= 60 and all(c.isalnum() or c in "-_." for c in token)
    qr = segno.make(badges.scan_url(badge), error="m", micro=False)
    assert qr.version <= 6  # ≤ 41 modules: about 0.7 mm each on a 30 mm square, easy for any phone
    image = Image.open(io.BytesIO(badges.qr_png(badge)))
    assert image.size[0] == image.size[1] >= 300


def test_an_expired_badge_is_refused_and_logged(world, guard, welder):
    token = badges.token_for(issue(welder, valid_days=1))
    client = client_for(guard)
    with clock.frozen(NOW + timedelta(days=2)):
        assert badges.read_token(token)[1] == "expired"
        body = text(page(client, token))
        assert "胸卡无效" in body and "胸卡已过期" in body and "张焊" in body
        data = api_check(client, token).json()
    assert data["token_state"] == "expired" and data["go"] is False
    assert data["reasons"][0]["code"] == "badge_expired"
    assert EntryCheck.objects.filter(token_state="expired", person=welder).count() == 2


def test_a_revoked_badge_is_refused_and_logged(world, guard, welder):
    badge = issue(welder)
    badges.revoke_badge(SYSTEM, badge, "胸卡遗失")
    token = badges.token_for(badge)
    client = client_for(guard)
    body = text(page(client, token))
    assert "胸卡已作废" in body and "胸卡遗失" in body and "verdict go" not in body
    data = api_check(client, token).json()
    assert data["token_state"] == "revoked" and data["go"] is False and data["badge_id"] == badge.pk
    assert "胸卡遗失" in data["reasons"][0]["text"]


def test_a_reissued_badge_makes_the_old_token_revoked(world, guard, welder):
    old = issue(welder)
    new = issue(welder)
    assert badges.read_token(badges.token_for(old))[1] == "revoked"
    assert badges.read_token(badges.token_for(new))[1] == "ok"
    old.refresh_from_db()
    assert old.revoked_reason == "已补发新胸卡"
    assert badges.current_badge(welder) == new
    assert api_check(client_for(guard), badges.token_for(old)).json()["token_state"] == "revoked"


def test_a_contractor_badge_ends_with_the_contract(world, hand, contractor):
    badge = issue(hand)
    # the whole last day of the contract (local time), not a year
    assert clock.local_date(badge.expires_at) == date(2027, 1, 1)
    assert clock.local_date(badge.expires_at - timedelta(seconds=1)) == date(2026, 12, 31)
    Contractor.objects.filter(pk=contractor.pk).update(contract_end=date(2026, 5, 19))
    hand.refresh_from_db()
    with pytest.raises(Invalid):
        issue(hand)


def test_issue_and_revoke_rules(world, welder):
    with pytest.raises(Forbidden):
        badges.issue_badge(world.a.worker.user, welder)
    with pytest.raises(Forbidden):  # a person of company B may not issue a badge in company A
        badges.issue_badge(world.b.admin.user, welder)
    for days in (0, -1, badges.MAX_VALID_DAYS + 1, True, "30"):
        with pytest.raises(Invalid):
            issue(welder, valid_days=days)
    assert not Badge.objects.exists()
    badge = badges.issue_badge(world.a.admin.user, welder)  # MANAGE_PEOPLE
    assert badge.expires_at == NOW + timedelta(days=365)
    for reason in ("", "   ", "x" * 201):
        with pytest.raises(Invalid):
            badges.revoke_badge(world.a.admin.user, badge, reason)
    badges.revoke_badge(world.a.officer.user, badge, "离职")  # safety officer: MANAGE_CONTRACTORS
    with pytest.raises(Conflict):
        badges.revoke_badge(world.a.admin.user, badge, "再次作废")
    Person.objects.filter(pk=welder.pk).update(is_active=False)
    welder.refresh_from_db()
    with pytest.raises(Invalid):
        issue(welder)


# --- company isolation ---------------------------------------------------------------------------


def test_another_companys_user_cannot_read_a_badge_or_log_a_check_on_it(world, guard, b_guard, welder):
    badge = issue(welder)
    token = badges.token_for(badge)
    for person in (b_guard, world.b.admin, world.b.officer):
        client = client_for(person)
        response = page(client, token)
        assert response.status_code == 404
        body = text(response)
        assert "无法识别的胸卡" in body and "张焊" not in body and "A100" not in body  # exactly like a forged one
        data = api_check(client, token).json()
        assert data["token_state"] == "forged" and data["person"] is None and data["badge_id"] is None
    assert not EntryCheck.objects.filter(badge=badge).exists()
    assert not EntryCheck.objects.filter(person=welder).exists()
    # A's own guard logs checks on it; B sees none of them, A sees none of B's.
    a_check = EntryCheck.objects.get(pk=api_check(client_for(guard), token).json()["id"])
    b_client = client_for(b_guard)
    assert b_client.get(reverse("workforce:entry_check", args=[a_check.pk])).status_code == 404
    listed = b_client.get("/api/v1/entry-checks").json()
    assert a_check.pk not in [c["id"] for c in listed["items"]] and listed["count"] >= 1
    assert "张焊" not in text(b_client.get(reverse("workforce:entry_log")))
    assert "张焊" not in xlsx_text(b_client.get(reverse("workforce:entry_log"), {"format": "xlsx"}))
    a_listed = client_for(guard).get("/api/v1/entry-checks").json()
    assert [c["id"] for c in a_listed["items"]] == [a_check.pk]


def test_another_companys_user_cannot_reach_badge_pages_or_api(world, welder):
    badge = issue(welder)
    client = client_for(world.b.admin)
    urls = [reverse("workforce:person_badge", args=[welder.pk]), reverse("workforce:badge_photo", args=[welder.pk]),
            reverse("workforce:badge_qr", args=[badge.pk]), f"/api/v1/people/{welder.pk}/badges",
            f"/api/v1/people/{welder.pk}/badge-qr", f"/api/v1/entry-checks?area_id={world.a.area.pk}",
            f"/api/v1/entry-checks?person_id={welder.pk}"]
    for url in urls:
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("workforce:badge_issue", args=[welder.pk]), {"valid_days": 30}).status_code == 404
    assert client.post(reverse("workforce:badge_revoke", args=[badge.pk]), {"reason": "越权"}).status_code == 404
    api = {"content_type": "application/json"}
    assert client.post(f"/api/v1/people/{welder.pk}/badges", "{}", **api).status_code == 404
    assert client.post(f"/api/v1/badges/{badge.pk}/revoke", json.dumps({"reason": "越权"}), **api).status_code == 404
    # a check against company A's area is refused before anything is logged
    token = badges.token_for(badge)
    assert api_check(client, token, area_id=world.a.area.pk).status_code == 404
    assert client.post(reverse("workforce:entry"), {"code": token, "area": world.a.area.pk}).status_code == 400
    badge.refresh_from_db()
    assert badge.revoked_at is None and Badge.objects.count() == 1
    assert not EntryCheck.objects.exists()


def test_a_gate_guard_reads_badges_company_wide_but_a_worker_cannot_log_checks(world, guard):
    # the company admin sits above the guard's plant: the guard's VIEW does not reach them, CHECK_ENTRY does
    token = badges.token_for(issue(world.a.admin))
    body = text(page(client_for(guard), token))
    assert "甲公司管理员" in body and "登记入场" in body
    assert client_for(guard).get(reverse("workforce:badge_photo", args=[world.a.admin.pk])).status_code == 200
    worker = client_for(world.a.worker)  # an applicant of the team: sees their team only, checks nothing
    assert "无法识别的胸卡" in text(page(worker, token))
    assert worker.get(reverse("workforce:entry")).status_code == 403
    assert worker.post(reverse("workforce:entry"), {"code": token}).status_code == 403
    answer = api_check(worker, token)
    assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    assert not EntryCheck.objects.filter(checked_by=world.a.worker).exclude(token_state="forged").exists()


# --- the gate's pages ----------------------------------------------------------------------------


def test_the_badge_pages_register_button_logs_the_check_and_shows_the_result(world, guard, hand):
    token = badges.token_for(issue(hand))
    client = client_for(guard)
    body = text(page(client, token, area=world.a.area.pk, work_type=WELDING))
    assert f'name="code" value="{token}"' in body and "登记入场" in body
    response = client.post(reverse("workforce:entry"), {"code": token, "area": world.a.area.pk, "work_type": WELDING})
    assert response.status_code == 302
    check = EntryCheck.objects.get()
    assert response["Location"] == reverse("workforce:entry_check", args=[check.pk])
    assert (check.go, check.token_state, check.area, check.work_type, check.badge.person) == (
        True, "ok", world.a.area, WELDING, hand)
    result = text(client.get(response["Location"]))
    assert "verdict go" in result and "李工" in result and world.a.area.name in result


def test_the_gate_remembers_its_area_and_work_type(world, guard, hand):
    token = badges.token_for(issue(hand))
    client = client_for(guard)
    page(client, token, area=world.a.area.pk, work_type=WELDING)
    ContractorArea.objects.all().delete()
    body = text(page(client, token))  # no parameters: the gate's choice is kept
    assert "verdict nogo" in body and "未获准在该区域作业" in body
    body = text(page(client, token, area="", work_type=""))  # cleared
    assert "verdict go" in body


def test_a_typed_token_a_pasted_address_or_an_employee_number_is_checked(world, guard, welder):
    badge = issue(welder)
    token = badges.token_for(badge)
    client = client_for(guard)
    for code in (token, f"  {badges.scan_url(badge)}  ", "A100"):
        response = client.post(reverse("workforce:entry"), {"code": code})
        assert response.status_code == 302, code
    assert list(EntryCheck.objects.values_list("badge_id", "token_state", "go")) == [(badge.pk, "ok", True)] * 3
    # an employee number stands for the newest badge, so a revoked one is still refused
    badges.revoke_badge(SYSTEM, badge, "胸卡遗失")
    client.post(reverse("workforce:entry"), {"code": "A100"})
    assert EntryCheck.objects.order_by("-pk").first().token_state == "revoked"


@pytest.mark.parametrize("code, status, words", [
    ("", 400, "这个字段是必填项"),
    ("A999", 404, "未找到工号为“A999”的人员"),
    ("B003", 404, "未找到工号"),          # company B's worker: not found for company A's guard
    ("A003", 422, "尚未发放胸卡"),
    ("x" * 2001, 400, "2000"),
])
def test_the_entry_page_explains_what_it_cannot_check(world, guard, code, status, words):
    response = client_for(guard).post(reverse("workforce:entry"), {"code": code})
    assert response.status_code == status
    assert words in text(response)
    assert not EntryCheck.objects.exists()


def test_the_entry_page_refuses_a_foreign_area_and_an_overlong_work_type(world, guard, welder):
    token = badges.token_for(issue(welder))
    client = client_for(guard)
    assert client.post(reverse("workforce:entry"), {"code": token, "area": world.b.area.pk}).status_code == 400
    assert client.post(reverse("workforce:entry"), {"code": token, "area": "abc"}).status_code == 400
    assert client.post(reverse("workforce:entry"), {"code": token, "work_type": "作" * 61}).status_code == 400
    assert not EntryCheck.objects.exists()
    assert client.get(reverse("workforce:entry")).status_code == 200


def test_forms_need_the_csrf_token(world, guard, welder):
    token = badges.token_for(issue(welder))
    client = csrf_client_for(guard)
    assert client.post(reverse("workforce:entry"), {"code": token}).status_code == 403
    admin = csrf_client_for(world.a.admin)
    assert admin.post(reverse("workforce:badge_issue", args=[welder.pk]), {"valid_days": 30}).status_code == 403
    badge = Badge.objects.get()
    assert admin.post(reverse("workforce:badge_revoke", args=[badge.pk]), {"reason": "x"}).status_code == 403
    answer = client.post("/api/v1/entry-checks", json.dumps({"token": token}), content_type="application/json")
    assert answer.status_code == 403 and answer.json()["code"] == "csrf_failed"
    assert not EntryCheck.objects.exists() and Badge.objects.count() == 1 and badge.revoked_at is None


def test_weird_addresses_are_never_a_server_error(world, guard):
    client = client_for(guard)
    for token in ("..", "1.", ".x", "-1.abc", "%00", "%E4%B8%AD", "a" * 5000, "1.%2F..%2F"):
        assert client.get(f"/badges/t/{token}/").status_code in (200, 404, 422), token
    big = 2**63
    for url in (f"/badges/checks/{big}/", f"/badges/people/{big}/", f"/badges/{big}/qr.svg",
                f"/badges/people/{big}/photo"):
        assert client.get(url).status_code == 404, url
    junk = {"start": "2026-02-30", "end": "x", "area": "1e9", "result": "maybe", "state": "<b>", "page": "-1"}
    assert client.get(reverse("workforce:entry_log"), junk).status_code == 200


# --- the desktop pages ---------------------------------------------------------------------------


def test_a_person_badge_page_issues_prints_and_revokes(world, welder):
    client = client_for(world.a.admin)
    url = reverse("workforce:person_badge", args=[welder.pk])
    assert "当前没有有效胸卡" in text(client.get(url))
    assert client.post(reverse("workforce:badge_issue", args=[welder.pk]), {"valid_days": 30}).status_code == 302
    badge = Badge.objects.get()
    assert badge.expires_at == NOW + timedelta(days=30)
    body = text(client.get(url))
    assert reverse("workforce:badge_qr", args=[badge.pk]) in body and badges.token_for(badge) in body
    qr = client.get(reverse("workforce:badge_qr", args=[badge.pk]))
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml" and b"<script" not in qr.content
    for bad in ({"valid_days": "0"}, {"valid_days": "abc"}, {"valid_days": "99999"}, {}):
        assert client.post(reverse("workforce:badge_issue", args=[welder.pk]), bad).status_code == 400
    assert client.post(reverse("workforce:badge_revoke", args=[badge.pk]), {"reason": ""}).status_code == 400
    assert client.post(reverse("workforce:badge_revoke", args=[badge.pk]), {"reason": "遗失"}).status_code == 302
    assert client.post(reverse("workforce:badge_revoke", args=[badge.pk]), {"reason": "再次"}).status_code == 409
    body = text(client.get(url))
    assert "遗失" in body and "已作废" in body


def test_a_viewer_sees_the_badge_history_but_not_the_qr_code(world, guard, welder):
    badge = issue(welder)
    client = client_for(guard)  # VIEW over the plant, but issues no badges
    body = text(client.get(reverse("workforce:person_badge", args=[welder.pk])))
    assert badges.token_for(badge) not in body and "发放" in body and "补发新胸卡" not in body
    assert client.get(reverse("workforce:badge_qr", args=[badge.pk])).status_code == 404
    assert client.post(reverse("workforce:badge_issue", args=[welder.pk]), {"valid_days": 30}).status_code == 403
    assert Badge.objects.count() == 1


def test_the_entry_log_filters_and_exports(world, guard, welder):
    client = client_for(guard)
    good = badges.token_for(issue(welder))
    api_check(client, good, area_id=world.a.area.pk, work_type=WELDING)
    api_check(client, "garbage.token")
    body = text(client.get(reverse("workforce:entry_log")))
    assert "张焊" in body and "无法识别" in body
    assert "张焊" not in text(client.get(reverse("workforce:entry_log"), {"result": "nogo"}))
    assert "张焊" in text(client.get(reverse("workforce:entry_log"), {"area": world.a.area.pk, "state": "ok"}))
    assert "张焊" not in text(client.get(reverse("workforce:entry_log"), {"start": "2026-05-21"}))
    sheet = xlsx_text(client.get(reverse("workforce:entry_log"), {"format": "xlsx"}))
    assert "张焊" in sheet and "无法识别的胸卡" in sheet and "甲门岗" in sheet


# --- the API -------------------------------------------------------------------------------------


def bearer(person) -> Client:
    _token, secret = issue_token(person.user, "gate phone")
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_a_replayed_check_is_logged_once(world, guard, welder):
    client = bearer(guard)
    body = json.dumps({"token": badges.token_for(issue(welder)), "work_type": WELDING})
    first = client.post("/api/v1/entry-checks", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="scan-1")
    again = client.post("/api/v1/entry-checks", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="scan-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    forged = json.dumps({"token": "forged.token"})
    for _ in range(2):
        client.post("/api/v1/entry-checks", forged, content_type="application/json", HTTP_IDEMPOTENCY_KEY="scan-2")
    assert EntryCheck.objects.count() == 2
    client.post("/api/v1/entry-checks", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="scan-3")
    assert EntryCheck.objects.count() == 3  # a new key is a new scan


@pytest.mark.parametrize("body, status, code", [
    ("{}", 422, "missing_field"),
    ('{"token": 12345}', 422, "invalid_value"),
    ('{"token": null}', 422, "invalid_value"),
    ('{"token": "x", "area_id": 0}', 422, "invalid_value"),
    ('{"token": "x", "area_id": 99999999999999999999}', 422, "invalid_value"),
    ('{"token": "x", "area_id": 999999}', 404, "not_found"),
    ('{"token": "x", "work_type": "' + "作" * 61 + '"}', 422, "invalid_value"),
    ('{"token": "x", "badge_id": 1}', 422, "unknown_field"),
    ('{"token": "' + "A" * 20_001 + '"}', 422, "invalid_value"),
    ('{"token": "x\\u0000"}', 422, "nul_character"),
    ("[1, 2]", 400, "malformed_json"),
    ("not json", 400, "malformed_json"),
])
def test_api_check_refusals_are_clear_and_log_nothing(world, guard, body, status, code):
    answer = client_for(guard).post("/api/v1/entry-checks", body, content_type="application/json")
    assert answer.status_code == status, answer.content
    assert answer.json()["code"] == code and answer.json()["message"]
    assert not EntryCheck.objects.exists()


def test_api_check_area_of_another_company_than_the_person(world, welder):
    # a group-wide checker may see both companies, but an area of B does not apply to A's worker
    group_guard = make_person(world.group, "集团门岗", "G001", [("gate_guard", world.group)], login="G-guard")
    answer = api_check(client_for(group_guard), badges.token_for(issue(welder)), area_id=world.b.area.pk)
    assert answer.status_code == 422 and answer.json()["field"] == "area_id"
    assert not EntryCheck.objects.exists()


def test_api_check_needs_a_login_and_the_permission(world, welder):
    token = badges.token_for(issue(welder))
    assert api_check(Client(), token).status_code == 401
    assert api_check(client_for(world.a.worker), token).status_code == 403
    assert not EntryCheck.objects.exists()


def test_api_lists_checks_with_filters_and_pages(world, guard, welder):
    client = client_for(guard)
    token = badges.token_for(issue(welder))
    api_check(client, token, area_id=world.a.area.pk)
    api_check(client, "forged.x")
    with clock.frozen(NOW + timedelta(days=3)):
        api_check(client, token)
    everything = client.get("/api/v1/entry-checks").json()
    assert everything["count"] == 3
    assert client.get("/api/v1/entry-checks", {"go": "false"}).json()["count"] == 1
    assert client.get("/api/v1/entry-checks", {"token_state": "forged"}).json()["count"] == 1
    assert client.get("/api/v1/entry-checks", {"area_id": world.a.area.pk}).json()["count"] == 1
    assert client.get("/api/v1/entry-checks", {"person_id": welder.pk}).json()["count"] == 2
    assert client.get("/api/v1/entry-checks", {"date_from": "2026-05-21"}).json()["count"] == 1
    assert client.get("/api/v1/entry-checks", {"date_to": "2026-05-20"}).json()["count"] == 2
    assert client.get("/api/v1/entry-checks", {"date_to": "9999-12-31"}).json()["count"] == 3
    paged = client.get("/api/v1/entry-checks", {"page_size": 2, "page": 2}).json()
    assert paged["count"] == 3 and len(paged["items"]) == 1
    for bad in ({"token_state": "fine"}, {"date_from": "2026-02-30"}, {"page": 0}, {"area_id": -1}):
        assert client.get("/api/v1/entry-checks", bad).status_code == 422, bad


def test_api_issues_lists_revokes_and_prints_badges(world, welder):
    client = client_for(world.a.admin)
    api = {"content_type": "application/json"}
    first = client.post(f"/api/v1/people/{welder.pk}/badges", "{}", **api)
    assert first.status_code == 201 and first.json()["state"] == "ok"
    assert first.json()["scan_url"].endswith(f"/badges/t/{badges.token_for(Badge.objects.get())}/")
    second = client.post(f"/api/v1/people/{welder.pk}/badges", json.dumps({"valid_days": 10}), **api).json()
    listed = client.get(f"/api/v1/people/{welder.pk}/badges").json()
    assert [b["id"] for b in listed] == [second["id"], first.json()["id"]]
    assert [b["state"] for b in listed] == ["ok", "revoked"]
    svg = client.get(f"/api/v1/people/{welder.pk}/badge-qr")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    png = client.get(f"/api/v1/people/{welder.pk}/badge-qr", {"format": "png"})
    assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).format == "PNG"
    assert client.get(f"/api/v1/people/{welder.pk}/badge-qr", {"format": "gif"}).status_code == 422
    for bad in ('{"valid_days": 0}', '{"valid_days": "many"}', '{"valid_days": 1, "x": 1}'):
        assert client.post(f"/api/v1/people/{welder.pk}/badges", bad, **api).status_code == 422
    revoked = client.post(f"/api/v1/badges/{second['id']}/revoke", json.dumps({"reason": "离职"}), **api)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    again = client.post(f"/api/v1/badges/{second['id']}/revoke", json.dumps({"reason": "离职"}), **api)
    assert again.status_code == 409
    assert client.post(f"/api/v1/badges/{second['id']}/revoke", "{}", **api).status_code == 422
    assert client.get(f"/api/v1/people/{welder.pk}/badge-qr").status_code == 404  # no live badge left
    assert Badge.objects.count() == 2


def test_api_badges_need_an_issuer(world, guard, welder):
    issue(welder)
    client = client_for(guard)
    assert client.get(f"/api/v1/people/{welder.pk}/badges").json()[0]["scan_url"] is None
    assert client.get(f"/api/v1/people/{welder.pk}/badge-qr").status_code == 403
    answer = client.post(f"/api/v1/people/{welder.pk}/badges", "{}", content_type="application/json")
    assert answer.status_code == 403 and Badge.objects.count() == 1


def test_another_companys_badge_page_is_the_forged_page_word_for_word(world, b_guard, welder):
    client = client_for(b_guard)
    theirs = without_csrf(text(page(client, badges.token_for(issue(welder)))))
    forged = without_csrf(text(page(client, "1.not-a-signature-at-all")))
    assert theirs == forged  # same clock (frozen): not one character tells the badge exists


def test_id_number_certificates_are_masked_for_gate_guards(world, guard, welder):
    token = badges.token_for(issue(welder))
    number = Certificate.objects.get(person=welder).number
    masked = f"{number[:6]}********{number[-4:]}"
    body = text(page(client_for(guard), token))
    assert masked in body and number not in body
    assert number in text(page(client_for(world.a.admin), token))  # certificate managers see it whole
