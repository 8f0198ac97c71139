"""Expiry reminders at 30 / 7 / 1 days: exactly once per item and threshold, late runs catch up
once, and they reach the holder and the nearest managers (never another company's)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone as dt_timezone

import pytest
from django.urls import reverse

from anlian.core import clock
from anlian.core.models import Notice
from anlian.notify import texts
from anlian.notify.delivery import send_due
from anlian.notify.models import Message
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Contractor, Role
from anlian.orgs import services
from anlian.workforce import certificates, reminders
from anlian.workforce.models import CertificateKind, ContractorDocument
from tests.conftest import make_person

pytestmark = pytest.mark.django_db

START = date(2026, 5, 1)


@pytest.fixture
def kind(db):
    return CertificateKind.objects.create(code="t-n1", name="叉车司机（N1）", family="special_equipment", validity_years=4)


@pytest.fixture
def driver(world):
    return make_person(world.a.team, "叉车工", "A200")


def certificate(person, kind, expires, number="N1-1", review=None):
    return certificates.add_certificate(SYSTEM, person, kind=kind, number=number, issued_on=date(2024, 1, 1),
                                        expires_on=expires, review_due_on=review)


@pytest.fixture(autouse=True)
def _texts(db):
    texts.sync_shipped_texts()


def remind(today=None) -> int:
    """A run of the daily task, then the worker sending what it queued (the inbox writes the notices)."""
    count = reminders.send_expiry_reminders(today)
    send_due()
    return count


def forget() -> None:
    """As if nothing had been sent yet."""
    Notice.objects.all().delete()
    Message.objects.all().delete()
    Message.objects.all().delete()


def notices(**filters):
    return sorted(Notice.objects.filter(**filters).values_list("person__name", "key"))


def test_it_reminds_the_holder_and_the_nearest_manager_once_per_threshold(world, kind, driver):
    cert = certificate(driver, kind, START + timedelta(days=30))
    assert remind(START) == 2
    key = f"expiry:cert:{cert.pk}:expires:2026-05-31:30"
    # The officer holds MANAGE_CERTIFICATES at the plant, nearer than the company admin: only the officer.
    assert notices() == [("叉车工", key), ("甲公司安全员", key)]
    assert remind(START) == 0  # run twice: nothing new
    for day, sent in ((1, 0), (22, 0), (23, 2), (24, 0), (29, 2), (30, 0), (31, 0)):
        assert remind(START + timedelta(days=day)) == sent, day
    thresholds = sorted(k.rsplit(":", 1)[1] for _n, k in notices(person=driver))
    assert thresholds == ["1", "30", "7"]
    assert not Notice.objects.exclude(person__in=[driver, world.a.officer]).exists()


def test_the_notice_says_what_when_and_how_many_days_and_links_to_the_certificate(world, kind, driver):
    cert = certificate(driver, kind, START + timedelta(days=7))
    remind(START)
    notice = Notice.objects.get(person=driver)
    assert notice.title == "证书到期提醒：叉车工的叉车司机（N1）"
    assert "编号N1-1" in notice.body and "2026-05-08" in notice.body and "还剩7天" in notice.body
    assert notice.url == reverse("workforce:certificate", args=[cert.pk])


def test_a_late_run_sends_the_threshold_just_passed_once(world, kind, driver):
    certificate(driver, kind, START + timedelta(days=6))
    assert remind(START) == 2
    assert {k.rsplit(":", 1)[1] for _n, k in notices()} == {"7"}  # not the 30-day one any more
    assert remind(START + timedelta(days=1)) == 0
    assert remind(START + timedelta(days=6)) == 2  # due today: the 1-day notice
    assert remind(START + timedelta(days=7)) == 0  # expired: no more reminders


def test_review_dates_are_reminded_too_and_renewal_starts_afresh(world, kind, driver):
    cert = certificate(driver, kind, date(2028, 1, 1), review=START + timedelta(days=1))
    assert remind(START) == 2
    assert all(":review:" in k for _n, k in notices())
    assert Notice.objects.filter(person=driver, title__contains="复审到期").count() == 1
    certificates.mark_reviewed(SYSTEM, cert, START)  # reviewed: nothing more for this date
    certificates.renew_certificate(SYSTEM, cert, issued_on=date(2026, 4, 1), expires_on=START + timedelta(days=20))
    assert remind(START) == 2  # the new expiry date is a new item


def test_revoked_certificates_and_people_who_left_get_nothing(world, kind, driver):
    revoked = certificate(driver, kind, START + timedelta(days=7))
    certificates.revoke_certificate(SYSTEM, revoked, reason="注销")
    gone = make_person(world.a.team, "已离职", "A201")
    certificate(gone, kind, START + timedelta(days=7), number="N1-2")
    services.save_person(SYSTEM, gone, org_unit=world.a.team, name="已离职", employee_no="A201", is_active=False)
    assert remind(START) == 0


def test_managers_are_found_at_the_nearest_unit_with_a_grant(world, kind):
    at_company = make_person(world.a.unit, "公司司机", "A300")
    certificate(at_company, kind, START + timedelta(days=30))
    remind(START)
    assert {n for n, _k in notices()} == {"公司司机", "甲公司管理员"}  # the plant officer is not above the company
    forget()
    team_lead = make_person(world.a.team, "班组安全员", "A301", [("safety_officer", world.a.team)])
    driver = make_person(world.a.team, "班组司机", "A302")
    certificate(driver, kind, START + timedelta(days=7), number="N1-9")
    remind(START)
    assert {n for n, _k in notices(key__contains=":7")} == {"班组司机", team_lead.name}


def test_no_manager_of_another_company_is_told(world, kind, driver):
    certificate(driver, kind, START + timedelta(days=30))
    b_driver = make_person(world.b.team, "乙司机", "B200")
    certificate(b_driver, kind, START + timedelta(days=30))
    remind(START)
    assert {n for n, _k in notices()} == {"叉车工", "甲公司安全员", "乙司机", "乙公司安全员"}
    for notice in Notice.objects.select_related("person"):
        holder = notice.key.split(":")[2]
        assert notice.person.company_id == certificates.Certificate.objects.get(pk=holder).company_id


def test_contractor_documents_go_to_contractor_managers(world):
    contractor = Contractor.objects.create(org_unit=world.a.plant, company=world.a.unit, name="甲方焊接公司")
    doc = ContractorDocument.objects.create(contractor=contractor, kind="safety_permit", number="(苏)JZ安许证字[2024]000123",
                                            expires_on=START + timedelta(days=1))
    ContractorDocument.objects.create(contractor=contractor, kind="insurance", expires_on=None)
    ContractorDocument.objects.create(contractor=contractor, kind="license", expires_on=START + timedelta(days=45))
    assert remind(START) == 1
    notice = Notice.objects.get()
    assert notice.person == world.a.officer and notice.key == f"expiry:doc:{doc.pk}:expires:2026-05-02:1"
    assert "甲方焊接公司" in notice.title and "安全生产许可证" in notice.title and "还剩1天" in notice.body
    # Someone who may only manage certificates there is not told about documents.
    world.a.officer.grants.all().delete()
    cert_only = Role.objects.create(code="cert-only", name="证书管理", permissions=["org.view", "certificates.manage"])
    services.grant_role(SYSTEM, make_person(world.a.plant, "证书员", "A400"), cert_only, world.a.plant)
    forget()
    assert remind(START) == 1
    assert Notice.objects.get().person == world.a.admin  # the nearest unit with MANAGE_CONTRACTORS


def test_the_daily_task_uses_the_site_date(world, kind, driver):
    certificate(driver, kind, date(2026, 5, 31))
    # 2026-04-30 17:00 UTC is already 1 May in Shanghai: 30 days left.
    with clock.frozen(datetime(2026, 4, 30, 17, 0, tzinfo=dt_timezone.utc)):
        assert reminders.expiry_reminders.call_local() == 2
        send_due()
