"""Escalation policies shared by permits and hazards: a permit step past its deadline climbs the
org tree tier by tier (inbox → robot → SMS), each tier exactly once; a company's own policy
replaces the default; the policy API and page refuse bad tiers and never reach another company."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import pytest
from django.urls import reverse

from anlian.core import clock
from anlian.core.models import Notice
from anlian.flows import core
from anlian.flows import services as flows
from anlian.notify import escalation, texts
from anlian.notify.delivery import send_due
from anlian.notify.models import Channel, Delivery, EscalationPolicy, Message
from anlian.orgs.access import SYSTEM
from anlian.permits import tasks
from tests.conftest import client_for, make_person
from tests.notify_servers import Reply, http_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
CST = timezone(timedelta(hours=8))
API = "/api/v1/companies/{}/escalation-policies"

TEMPLATE = """
key: esc-test
name: 升级测试作业
kind: permit
validity: 12h
steps:
  - key: apply
    name: 作业申请
    actor: applicant
    fields:
      - {key: content, label: 作业内容, type: text, required: true}
      - {key: guardian, label: 监护人, type: person}
  - key: approve
    name: 安全审批
    kind: approval
    actor: {role: safety_officer, scope: plant}
    approval: {mode: single}
    deadline: 2h
  - key: recheck
    name: 监护复查
    actor: {person_field: guardian}
"""


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, 19, hour, minute, tzinfo=CST)


class Site:
    """Company A: a permit in the plant's area, applied for at 08:00, its approval due at 10:00.
    The plant's safety officer approves; the company has a general manager with a phone; company B
    has a manager who must never hear of it."""

    def __init__(self, world):
        texts.sync_shipped_texts()
        self.world = world
        a = world.a
        a.team_guardian = make_person(a.team, "监护人", "E05")
        self.ceo = make_person(a.unit, "总经理", "E01", [("manager", a.unit)])
        self.ceo.phone = "13900000001"
        self.ceo.save(update_fields=["phone"])
        self.b_manager = make_person(world.b.unit, "乙公司经理", "E02", [("manager", world.b.unit)])
        version = flows.save_version(SYSTEM, None, TEMPLATE, owner=a.unit, publish=True)
        self.job = flows.start(a.worker.user, version, a.area,
                               first=core.Action("complete", step="apply", values={"content": "罐区焊接", "guardian": str(world.a.team_guardian.pk)}), now=at(8))

    def approve(self, when: datetime) -> None:
        flows.act(self.world.a.officer.user, self.job, core.Action("approve", step="approve"), now=when)


@pytest.fixture
def site(world) -> Site:
    return Site(world)


def run(when: datetime) -> dict:
    clock.set_now(when)
    counts = tasks.permit_timers.call_local()
    send_due(when)
    return counts


def escalations(job) -> list[str]:
    return sorted(Message.objects.filter(key__startswith=f"job:{job.pk}:escalate:").values_list("key", flat=True))


def inbox_of(person, what=":escalate:") -> list[str]:
    return sorted(Notice.objects.filter(person=person, key__contains=what).values_list("key", flat=True))


def test_nothing_before_the_deadline_then_tier_one_exactly_at_it(site):
    assert run(at(9, 59))["escalations"] == 0
    assert escalations(site.job) == []
    counts = run(at(10, 0))
    assert counts["late_steps"] == 1 and counts["escalations"] == 1
    key = f"job:{site.job.pk}:escalate:approve:1"
    # Default policy: tier 1 goes one level above the area's plant — the company's manager — and to
    # the applicant, in the inbox.
    assert inbox_of(site.ceo) == [key] and inbox_of(site.world.a.worker) == [key]
    notice = Notice.objects.get(person=site.ceo, key=key)
    assert notice.title == f"督办（第1级）：作业{site.job.number}的“安全审批”已超期"
    assert "2026-05-19 10:00" in notice.body and notice.url == reverse("todos:open_job", args=[site.job.pk])
    assert inbox_of(site.b_manager) == []
    # Run again, and again later: the plant is one level below the company, so the default has one tier.
    assert run(at(10, 0))["escalations"] == 0 and run(at(13, 0))["escalations"] == 0
    assert escalations(site.job) == [key] and Notice.objects.filter(person=site.ceo, key=key).count() == 1


def test_the_people_who_may_do_a_waiting_step_hear_of_it_once(site, world):
    a, b = world.a, world.b
    other_plant_officer = make_person(world.b.plant, "乙安全员2", "E03", [("safety_officer", b.plant)])
    at_team = make_person(a.team, "班组安全员", "E04", [("safety_officer", a.team)])  # below the plant scope
    counts = run(at(8, 1))
    assert counts["waiting"] == 1
    key = f"job:{site.job.pk}:waiting:approve"
    assert inbox_of(a.officer, ":waiting:") == [key]
    notice = Notice.objects.get(person=a.officer, key=key)
    assert notice.title == "待办：升级测试作业" + site.job.number + "等你安全审批"
    assert notice.url == reverse("todos:open_job", args=[site.job.pk])
    for outsider in (b.officer, other_plant_officer, at_team, a.worker, site.ceo):
        assert inbox_of(outsider, ":waiting:") == []
    assert run(at(8, 2))["waiting"] == 0
    # The re-check comes after the approval: its guardian hears of it only once it is ready.
    assert inbox_of(a.team_guardian, ":waiting:") == []
    site.approve(at(8, 30))
    assert run(at(8, 31))["waiting"] == 1
    assert inbox_of(a.team_guardian, ":waiting:") == [f"job:{site.job.pk}:waiting:recheck"]
    assert run(at(8, 32))["waiting"] == 0 and Message.objects.filter(key__contains=":waiting:").count() == 2


def test_the_people_who_may_do_a_step_are_reminded_once_before_its_deadline(site, world):
    # A 2-hour deadline: reminded a quarter of it (30 minutes) before, not an hour.
    assert run(at(9, 29))["reminders"] == 0
    assert run(at(9, 30))["reminders"] == 1
    key = f"job:{site.job.pk}:remind:approve"
    assert inbox_of(world.a.officer, ":remind:") == [key]
    notice = Notice.objects.get(key=key)
    assert notice.title == f"提醒：升级测试作业{site.job.number}的“安全审批”将于2026-05-19 10:00超期"
    assert run(at(9, 45))["reminders"] == 0 and run(at(10, 0))["reminders"] == 0
    assert Notice.objects.filter(key=key).count() == 1 and inbox_of(site.ceo, ":remind:") == []
    assert escalation.default_tiers(60, 1)[0].after_minutes == 0
    from anlian.permits.timers import remind_before

    assert remind_before(timedelta(hours=24)) == timedelta(hours=1)


def test_a_step_done_in_time_is_never_escalated_and_a_late_one_stops_once_done(site, world):
    site.approve(at(9, 30))
    assert run(at(12, 0))["late_steps"] == 0
    assert escalations(site.job) == []


def test_a_companys_policy_climbs_inbox_then_robot_then_sms(site, world, http_server):
    secret = "SEC-esc"

    def answer(seen):
        if seen.path.startswith("/robot"):
            timestamp, sign = seen.param("timestamp") or "", seen.param("sign") or ""
            expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(),
                                                 hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(sign, expected):
                return Reply(json={"errcode": 310000, "errmsg": "sign not match"})
            return Reply(json={"errcode": 0, "errmsg": "ok"})
        return Reply(json={"ok": True})

    http_server.answer = answer
    a = world.a
    Channel.objects.create(company=a.unit, kind="dingtalk", name="安全群",
                           config={"webhook": http_server.url("/robot/send?access_token=t"), "secret": secret})
    Channel.objects.create(company=a.unit, kind="sms_http", name="短信",
                           config={"url": http_server.url("/sms"), "token": "tok"})
    escalation.save_policy(SYSTEM, a.unit, "permit", [
        {"after_minutes": 0, "levels_up": 0, "kinds": ["inbox"]},
        {"after_minutes": 30, "levels_up": 1, "kinds": ["robot"]},
        {"after_minutes": 60, "levels_up": 1, "kinds": ["robot", "sms"]}])
    run(at(10, 0))
    # Tier 1: the plant's own safety officer (levels up 0) and the applicant; nothing leaves the site.
    assert inbox_of(a.officer) == [f"job:{site.job.pk}:escalate:approve:1"] and not http_server.requests
    run(at(10, 29))
    assert not http_server.requests
    run(at(10, 30))
    assert [r.path.split("?")[0] for r in http_server.requests] == ["/robot/send"]
    assert "督办（第2级）" in http_server.requests[0].body.decode()
    run(at(11, 0))
    paths = sorted(r.path.split("?")[0] for r in http_server.requests)
    assert paths == ["/robot/send", "/robot/send", "/sms"]
    sms = next(r for r in http_server.requests if r.path == "/sms")
    assert sms.json()["phone"] == "13900000001" and sms.headers["authorization"] == "Bearer tok"
    # A late or repeated worker sends nothing twice.
    run(at(11, 0)), run(at(15, 0))
    assert len(http_server.requests) == 3
    assert Delivery.objects.filter(status="sent").count() == Delivery.objects.count()
    # Done late: no further tier (there is none left anyway), and the record stays.
    site.approve(at(15, 5))
    assert run(at(16, 0))["late_steps"] == 0 and len(escalations(site.job)) == 3


def test_a_worker_that_was_down_sends_each_missed_tier_once_lowest_first(site, world):
    escalation.save_policy(SYSTEM, world.a.unit, "permit", [
        {"after_minutes": 0, "levels_up": 0, "kinds": ["inbox"]},
        {"after_minutes": 30, "levels_up": 1, "kinds": ["inbox"]}])
    assert run(at(12, 0))["escalations"] == 2
    rows = list(Message.objects.filter(key__startswith=f"job:{site.job.pk}:escalate:").order_by("pk")
                .values_list("key", flat=True))
    assert rows == [f"job:{site.job.pk}:escalate:approve:1", f"job:{site.job.pk}:escalate:approve:2"]
    assert inbox_of(world.a.officer) == [rows[0]] and inbox_of(site.ceo) == [rows[1]]


def test_an_inactive_policy_leaves_the_default_in_force(site, world):
    escalation.save_policy(SYSTEM, world.a.unit, "permit", [{"after_minutes": 0, "levels_up": 0, "kinds": []}],
                           is_active=False)
    run(at(10, 0))
    assert inbox_of(site.ceo) == [f"job:{site.job.pk}:escalate:approve:1"]
    assert inbox_of(world.a.officer) == []


def test_escalation_channels_prefer_the_routes_and_never_another_companys(site, world):
    from anlian.notify import routing

    a, b = world.a, world.b
    mine = Channel.objects.create(company=a.unit, kind="dingtalk", name="生产群", config={"webhook": "http://127.0.0.1:9/x"})
    routed = Channel.objects.create(company=a.unit, kind="dingtalk", name="督办群", config={"webhook": "http://127.0.0.1:9/y"})
    Channel.objects.create(company=b.unit, kind="dingtalk", name="乙群", config={"webhook": "http://127.0.0.1:9/z"})
    assert escalation.channels_for(a.unit, [], ["inbox", "robot"]) == [mine, routed]
    routing.save_route(SYSTEM, None, company=a.unit, event="permit_escalated", roles=[], people=[],
                       channels=[routed], min_severity="info", is_active=True)
    routes = list(routing.matching_routes(a.unit, "permit_escalated", "warning"))
    assert escalation.channels_for(a.unit, routes, ["robot"]) == [routed]
    assert escalation.channels_for(a.unit, routes, ["inbox"]) == []


# --- the policy API and page ------------------------------------------------------------------------------

GOOD = {"tiers": [{"after_minutes": 0, "levels_up": 1, "kinds": ["inbox"]},
                  {"after_minutes": 60, "levels_up": 2, "kinds": ["sms", "robot"]}]}


def put(person, company, applies_to, body):
    return client_for(person).put(f"{API.format(company.pk)}/{applies_to}", body, content_type="application/json")


def test_an_admin_sets_lists_and_resets_a_policy(world):
    a = world.a
    listed = client_for(a.admin).get(API.format(a.unit.pk)).json()
    assert [(p["applies_to"], p["own"], p["tiers"]) for p in listed] == [("hazard", False, []), ("permit", False, [])]
    response = put(a.admin, a.unit, "hazard", GOOD)
    assert response.status_code == 200, response.content
    # The inbox is added to every tier and the kinds come in a fixed order.
    assert response.json()["tiers"] == [{"after_minutes": 0, "levels_up": 1, "kinds": ["inbox"]},
                                        {"after_minutes": 60, "levels_up": 2, "kinds": ["inbox", "robot", "sms"]}]
    assert client_for(a.admin).delete(f"{API.format(a.unit.pk)}/hazard").status_code == 204
    assert not EscalationPolicy.objects.exists()


@pytest.mark.parametrize(("tiers", "says"), [
    ([], "至少"),
    ("0,60", "tiers"),
    ([{"after_minutes": -1, "levels_up": 1, "kinds": []}], "第1级"),
    ([{"after_minutes": 10**9, "levels_up": 1, "kinds": []}], "第1级"),
    ([{"after_minutes": "0", "levels_up": 1, "kinds": []}], "第1级"),
    ([{"after_minutes": True, "levels_up": 1, "kinds": []}], "第1级"),
    ([{"after_minutes": 0, "levels_up": 1, "kinds": []}, {"after_minutes": 0, "levels_up": 2, "kinds": []}], "晚于上一级"),
    ([{"after_minutes": 0, "levels_up": 99, "kinds": []}], "向上级数"),
    ([{"after_minutes": 0, "levels_up": 1, "kinds": ["fax"]}], "渠道"),
    ([{"after_minutes": 0, "levels_up": 1, "kinds": "sms"}], "渠道"),
    ([{"after_minutes": 0, "levels_up": 1}], "渠道"),
    ([7], "格式"),
    ([{"after_minutes": n, "levels_up": 1, "kinds": []} for n in range(9)], "最多"),
])
def test_bad_tiers_are_refused_with_the_tier_named_and_nothing_stored(world, tiers, says):
    put(world.a.admin, world.a.unit, "permit", GOOD)
    before = list(EscalationPolicy.objects.values())
    response = put(world.a.admin, world.a.unit, "permit", {"tiers": tiers})
    assert response.status_code == 422, response.content
    assert says in response.json()["message"]
    assert list(EscalationPolicy.objects.values()) == before


@pytest.mark.parametrize("body", [{}, {"tiers": GOOD["tiers"], "extra": 1}, {"tiers": [{}] * 51}, "[]"])
def test_malformed_bodies_are_refused(world, body):
    response = client_for(world.a.admin).put(f"{API.format(world.a.unit.pk)}/permit", body,
                                             content_type="application/json")
    assert 400 <= response.status_code < 500 and not EscalationPolicy.objects.exists()


def test_an_unknown_kind_of_item_is_refused(world):
    assert put(world.a.admin, world.a.unit, "vehicle", GOOD).status_code == 422
    assert client_for(world.a.admin).delete(f"{API.format(world.a.unit.pk)}/vehicle").status_code == 422


def test_company_b_can_neither_read_nor_change_company_as_policy(world):
    a, b = world.a, world.b
    put(a.admin, a.unit, "permit", GOOD)
    before = list(EscalationPolicy.objects.values())
    assert client_for(b.admin).get(API.format(a.unit.pk)).status_code == 404
    assert put(b.admin, a.unit, "permit", GOOD).status_code == 404
    assert client_for(b.admin).delete(f"{API.format(a.unit.pk)}/permit").status_code == 404
    assert client_for(b.admin).get(f"/notifications/escalation/{a.unit.pk}/permit/").status_code == 404
    assert client_for(b.admin).post(f"/notifications/escalation/{a.unit.pk}/permit/reset/").status_code == 404
    assert list(EscalationPolicy.objects.values()) == before
    # A worker manages nothing: the list and the page refuse.
    assert client_for(a.worker).get(API.format(a.unit.pk)).status_code == 404
    assert client_for(a.worker).get("/notifications/escalation/").status_code == 403


def test_the_page_shows_the_default_then_edits_and_resets(world):
    a = world.a
    page = client_for(a.admin).get("/notifications/escalation/")
    assert page.status_code == 200 and "默认策略" in page.content.decode()
    url = f"/notifications/escalation/{a.unit.pk}/hazard/"
    form = client_for(a.admin).get(url)
    assert form.status_code == 200 and "第1级：超期多少分钟后" in form.content.decode()
    posted = client_for(a.admin).post(url, {"is_active": "on", "after_1": "0", "up_1": "1", "after_2": "45",
                                            "up_2": "2", "kinds_2": ["robot", "sms"]})
    assert posted.status_code == 302
    stored = EscalationPolicy.objects.get(company=a.unit, applies_to="hazard")
    assert stored.tiers == [{"after_minutes": 0, "levels_up": 1, "kinds": ["inbox"]},
                            {"after_minutes": 45, "levels_up": 2, "kinds": ["inbox", "robot", "sms"]}]
    shown = client_for(a.admin).get("/notifications/escalation/").content.decode()
    assert "超期45分钟后，向上2级" in shown
    bad = client_for(a.admin).post(url, {"is_active": "on", "after_1": "30", "up_1": "1", "after_2": "10", "up_2": "1"})
    assert bad.status_code == 422 and "晚于上一级" in bad.content.decode()
    assert EscalationPolicy.objects.get(pk=stored.pk).tiers == stored.tiers
    assert client_for(a.admin).post(f"{url}reset/").status_code == 302
    assert not EscalationPolicy.objects.exists()


# --- links in messages ------------------------------------------------------------------------------------

PHONE = "Mozilla/5.0 (Linux; Android 12; M2012K11AC) AppleWebKit/537.36 Chrome/96.0 Mobile Safari/537.36 DingTalk/7.0"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 DingTalk/7.0"


def test_a_message_link_opens_the_phone_or_the_desktop_page_by_device(site, world):
    url = reverse("todos:open_job", args=[site.job.pk])
    officer = client_for(world.a.officer)
    assert officer.get(url, HTTP_USER_AGENT=PHONE).url == reverse("permits:job", args=[site.job.pk])
    assert officer.get(url, HTTP_USER_AGENT=DESKTOP).url == reverse("permits:detail", args=[site.job.pk])
    assert officer.get(url).url == reverse("permits:detail", args=[site.job.pk])  # no agent: desktop
    # Another company's person, or a job that does not exist: the same 404, nothing revealed.
    assert client_for(world.b.officer).get(url, HTTP_USER_AGENT=PHONE).status_code == 404
    assert officer.get(reverse("todos:open_job", args=[10**9])).status_code == 404
    # Logged out: the login page, then back here.
    from django.test import Client

    assert "/login/" in Client().get(url).url


def test_a_hazard_link_opens_the_hazard_page_by_device(world):
    from tests.test_scoping_matrix import add_hazard

    hazard_id = add_hazard(world.a, "甲")
    url = reverse("todos:open_hazard", args=[hazard_id])
    officer = client_for(world.a.officer)
    assert officer.get(url, HTTP_USER_AGENT=PHONE).url == reverse("hazards:m_detail", args=[hazard_id])
    assert officer.get(url, HTTP_USER_AGENT=DESKTOP).url == reverse("hazards:detail", args=[hazard_id])
    assert client_for(world.b.admin).get(url).status_code == 404
