"""Routing, personal preferences with quiet hours, and editable message texts: who receives what,
when SMS waits, which text they read; the route editor, the text editor, "my notification
settings" and their API, with bad input answered 4xx and company B never reaching company A."""

from __future__ import annotations

from datetime import datetime, time
from datetime import timezone as tz

import pytest
from django.urls import include, path, reverse
from ninja import NinjaAPI

from anlian import urls as project_urls
from anlian.core import api as core_api
from anlian.notify import api_routing, routing, texts
from anlian.notify.models import Channel, Delivery, DeliveryStatus, Message, MessageTemplate, Preference, Route
from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import OrgKind
from tests.conftest import client_for, csrf_client_for, make_person

# 2026-11-24 02:00 UTC is 10:00 in Shanghai (the site's zone).
T0 = datetime(2026, 11, 24, 2, 0, tzinfo=tz.utc)
API = "/test-routing-api/v1"

# Until the lead mounts the router and the pages, this module is its own URLconf: the project's
# URLs, the routing pages, and the router on an API with the project's auth and error handlers.
_test_api = NinjaAPI(urls_namespace="test_routing_api", auth=core_api.api.auth, parser=core_api.api.parser)
for _exc, _handler in core_api.api._exception_handlers.items():
    _test_api.add_exception_handler(_exc, _handler)
_test_api.add_router("/", api_routing.router)
urlpatterns = [path("test-routing-api/v1/", _test_api.urls), *project_urls.urlpatterns]
if not any(getattr(p, "namespace", None) == "notify_routing" for p in project_urls.urlpatterns):
    urlpatterns.append(path("notifications/", include("anlian.notify.urls_routing")))
pytestmark = pytest.mark.urls(__name__)


@pytest.fixture
def shipped(db):
    texts.sync_shipped_texts()


def sms(company, name="短信网关"):
    return Channel.objects.create(company=company, kind="sms_http", name=name,
                                  config={"url": "http://127.0.0.1:9/sms", "token": "t"})


def robot(company, name="安全群"):
    return Channel.objects.create(company=company, kind="webhook", name=name,
                                  config={"url": "http://127.0.0.1:9/hook", "secret": "s"})


def route(company, event="hazard_alert", roles=(), people=(), channels=(), min_severity="info", active=True):
    return routing.save_route(SYSTEM, None, company=company, event=event, roles=list(roles), people=list(people),
                              channels=list(channels), min_severity=min_severity, is_active=active)


def phone(person, number="13800000000"):
    person.phone = number
    person.save(update_fields=["phone"])
    return person


def rows(message, kind=None):
    qs = Delivery.objects.filter(message=message)
    return list(qs.filter(kind=kind) if kind else qs)


def told(message):
    return {d.person_id for d in rows(message, "inbox")}


def event(world, key="k1", severity="warning", unit=None, people=(), now=T0, ev="hazard_alert", **context):
    return routing.notify_event(world.a.unit, event=ev, key=key, severity=severity, unit=unit or world.a.team,
                                context={"number": "YH-1", "level": "重大隐患", "description": "罐区泄漏", **context},
                                people=people, url="/jobs/1/", now=now)


# --- who receives what ---------------------------------------------------------------------------------


def test_roles_over_the_unit_named_people_and_never_another_company(world, shipped):
    a, b = world.a, world.b
    team_lead = make_person(a.team, "班长", "A010", [("safety_officer", a.team)])
    other_plant = services.create_unit(SYSTEM, name="甲公司二厂", kind=OrgKind.PLANT, parent=a.unit)
    elsewhere = make_person(other_plant, "二厂安全员", "A011", [("safety_officer", other_plant)])
    group_officer = make_person(world.group, "集团安全员", "G001", [("safety_officer", world.group)])
    make_person(b.plant, "乙安全员2", "B010", [("safety_officer", b.unit)])
    named = make_person(a.unit, "值班长", "A012")
    route(a.unit, roles=["safety_officer"], people=[named])
    route(b.unit, roles=["safety_officer"], people=[b.worker])  # B's route never tells A's event

    message = event(world)
    # team (own unit), plant officer (above), named; not the sibling plant, not the group, not B
    assert told(message) == {team_lead.pk, a.officer.pk, named.pk}
    assert elsewhere.pk not in told(message) and group_officer.pk not in told(message)
    assert message.title == "重大隐患：YH-1"


def test_named_callers_people_and_inactive_routes_and_people(world, shipped):
    a = world.a
    gone = make_person(a.unit, "离职", "A020")
    route(a.unit, people=[gone])
    route(a.unit, roles=["admin"], active=False)
    services.save_person(SYSTEM, gone, org_unit=a.unit, name="离职", employee_no="A020", is_active=False)
    message = event(world, people=[a.worker])
    assert told(message) == {a.worker.pk}


def test_min_severity(world, shipped):
    a = world.a
    route(a.unit, people=[a.admin], min_severity="warning")
    route(a.unit, people=[a.worker], min_severity="critical")
    assert told(event(world, key="i", severity="info")) == set()
    assert told(event(world, key="w", severity="warning")) == {a.admin.pk}
    assert told(event(world, key="c", severity="critical")) == {a.admin.pk, a.worker.pk}


def test_route_channels_and_replay_makes_nothing_twice(world, shipped):
    a = world.a
    phone(a.worker)
    route(a.unit, people=[a.worker], channels=[sms(a.unit), robot(a.unit)])
    first = event(world)
    again = event(world)
    assert first.pk == again.pk
    assert sorted(d.kind for d in rows(first)) == ["inbox", "sms_http", "webhook"]


def test_refuses_a_unit_of_another_company_and_unknown_severity(world, shipped):
    from anlian.core.errors import Invalid

    with pytest.raises(Invalid):
        event(world, unit=world.b.team)
    with pytest.raises(Invalid):
        event(world, severity="apocalyptic")
    assert not Message.objects.exists()


# --- preferences and quiet hours ---------------------------------------------------------------------


def quiet(person, start, end, muted=()):
    Preference.objects.update_or_create(person=person, defaults={
        "quiet_start": start, "quiet_end": end, "muted_kinds": list(muted)})


def test_muted_sms_is_skipped_with_the_reason_but_critical_texts_anyway(world, shipped):
    a = world.a
    phone(a.worker)
    route(a.unit, people=[a.worker], channels=[sms(a.unit)])
    quiet(a.worker, None, None, muted=["sms_http"])
    [held] = rows(event(world, key="w"), "sms_http")
    assert held.status == DeliveryStatus.SKIPPED and held.last_error == "本人已关闭该渠道"
    [inbox] = rows(Message.objects.get(key="w"), "inbox")
    assert inbox.status == DeliveryStatus.PENDING
    [alarm] = rows(event(world, key="c", severity="critical"), "sms_http")
    assert alarm.status == DeliveryStatus.PENDING and alarm.next_attempt_at == T0


def test_quiet_hours_hold_sms_until_they_end_and_critical_goes_at_once(world, shipped):
    a = world.a
    phone(a.worker)
    route(a.unit, people=[a.worker], channels=[sms(a.unit)])
    quiet(a.worker, time(9, 30), time(12, 0))  # it is 10:00 local
    message = event(world, key="w")
    [text] = rows(message, "sms_http")
    assert text.next_attempt_at == datetime(2026, 11, 24, 4, 0, tzinfo=tz.utc)  # 12:00 local
    assert rows(message, "inbox")[0].next_attempt_at == T0  # the inbox shows at once
    [alarm] = rows(event(world, key="c", severity="critical"), "sms_http")
    assert alarm.next_attempt_at == T0


@pytest.mark.parametrize(("local_now", "held_until"), [
    (datetime(2026, 11, 24, 23, 15), datetime(2026, 11, 25, 7, 0)),  # evening: ends tomorrow morning
    (datetime(2026, 11, 25, 3, 0), datetime(2026, 11, 25, 7, 0)),  # after midnight: ends this morning
    (datetime(2026, 11, 25, 7, 0), None),  # the end itself is no longer quiet
    (datetime(2026, 11, 24, 21, 59), None),
])
def test_quiet_hours_spanning_midnight(world, shipped, local_now, held_until):
    from django.utils import timezone

    a = world.a
    phone(a.worker)
    route(a.unit, people=[a.worker], channels=[sms(a.unit)])
    quiet(a.worker, time(22, 0), time(7, 0))
    now = timezone.make_aware(local_now)
    [text] = rows(event(world, now=now), "sms_http")
    assert text.next_attempt_at == (timezone.make_aware(held_until) if held_until else now)


# --- texts -----------------------------------------------------------------------------------------------


def test_shipped_texts_both_languages_and_sync_is_idempotent(world, shipped):
    assert texts.sync_shipped_texts() == 0
    for ev in texts.EVENTS:
        for lang in ("zh-hans", "en"):
            row = MessageTemplate.objects.get(company=None, event=ev, language=lang)
            texts.check(ev, lang, row.title, row.body)  # every shipped text passes its own rules
    ctx = {"number": "YH-9", "description": "泄漏", "level": "Major hazard"}
    assert texts.render(world.a.unit, "hazard_dispatched", "en", ctx) == (
        "New hazard to rectify: YH-9", "Major hazard, please rectify it soon: 泄漏")
    assert texts.render(world.a.unit, "hazard_dispatched", "zh-hans", ctx)[0] == "新隐患待整改：YH-9"
    assert texts.render(world.a.unit, "hazard_dispatched", "xx", ctx)[0] == "新隐患待整改：YH-9"  # site language


def test_company_text_replaces_the_shipped_one_for_that_company_only(world, shipped):
    texts.save_text(SYSTEM, world.a.unit, "hazard_alert", "zh-hans", title="【甲】{level}{number}", body="{unit}")
    ctx = {"number": "YH-1", "level": "重大隐患"}
    assert texts.render(world.a.unit, "hazard_alert", "zh-hans", ctx) == ("【甲】重大隐患YH-1", "{unit}")
    assert texts.render(world.b.unit, "hazard_alert", "zh-hans", ctx)[0] == "重大隐患：YH-1"
    texts.reset_text(SYSTEM, world.a.unit, "hazard_alert", "zh-hans")
    assert texts.render(world.a.unit, "hazard_alert", "zh-hans", ctx)[0] == "重大隐患：YH-1"


def test_generic_fallback_without_any_text(world, db):
    assert texts.render(world.a.unit, "something_new", "zh-hans", {"title": "T", "body": "B"}) == ("T", "B")
    assert texts.render(world.a.unit, "something_new", "zh-hans", {}) == ("something_new", "")


@pytest.mark.parametrize("bad", ["{number.__class__}", "{number[0]}", "{number:>99999}", "{number!r}", "{}",
                                 "{0}", "{number", "number}", "{nmuber}", "{__import__}"])
def test_unsafe_or_unknown_placeholders_are_refused(world, shipped, bad):
    from anlian.core.errors import Invalid

    with pytest.raises(Invalid) as refused:
        texts.save_text(SYSTEM, world.a.unit, "hazard_alert", "zh-hans", title="标题" + bad, body="")
    assert refused.value.field == "title"
    assert not MessageTemplate.objects.filter(company=world.a.unit).exists()


def test_filling_never_raises_nor_evaluates(db):
    assert texts.fill("{a}{b}", {"a": 1}) == "1{b}"
    assert texts.fill("{a.__class__}", {"a": 1}) == "{a.__class__}"  # a stored unsafe text stays as written
    assert texts.fill("{{literal}} {a}", {"a": None}) == "{literal} "
    assert texts.fill("{a", {"a": 1}) == "{a"


def test_preview_fills_example_values(db):
    assert texts.preview("hazard_alert", "zh-hans", "{level}：{number}", "")[0] == "重大隐患：YH-2026-0043"


# --- pages -----------------------------------------------------------------------------------------------


def test_route_pages_add_edit_delete(world, shipped):
    a = world.a
    channel = sms(a.unit)
    c = client_for(a.admin)
    assert c.get(reverse("notify_routing:routes")).status_code == 200
    url = reverse("notify_routing:route_new", args=[a.unit.pk])
    assert c.get(url).status_code == 200
    r = c.post(url, {"event": "hazard_alert", "roles": ["safety_officer"], "people": "A003，A002",
                     "channels": [str(channel.pk)], "min_severity": "warning", "is_active": "on"})
    assert r.status_code == 302
    made = Route.objects.get(company=a.unit)
    assert made.roles == ["safety_officer"] and {p.pk for p in made.people.all()} == {a.worker.pk, a.officer.pk}
    assert list(made.channels.all()) == [channel]
    page = c.get(reverse("notify_routing:routes")).content.decode()
    assert "重大隐患上报" in page and a.worker.name in page
    edit = reverse("notify_routing:route_edit", args=[made.pk])
    assert c.get(edit).status_code == 200
    assert c.post(edit, {"event": "hazard_alert", "people": "A003", "min_severity": "info"}).status_code == 302
    made.refresh_from_db()
    assert made.roles == [] and not made.is_active and list(made.channels.all()) == []
    assert c.post(reverse("notify_routing:route_delete", args=[made.pk])).status_code == 302
    assert not Route.objects.exists()


@pytest.mark.parametrize(("data", "error"), [
    ({"event": "nope", "min_severity": "info", "people": "A003"}, "event"),
    ({"event": "hazard_alert", "min_severity": "loud", "people": "A003"}, "min_severity"),
    ({"event": "hazard_alert", "min_severity": "info", "people": "B003"}, "该公司没有工号"),  # B's worker
    ({"event": "hazard_alert", "min_severity": "info", "roles": ["root"]}, "roles"),
    ({"event": "hazard_alert", "min_severity": "info"}, "请至少选择"),
    ({"event": "hazard_alert", "min_severity": "info", "people": ",".join(f"X{i}" for i in range(60))}, "最多"),
    ({"event": "hazard_alert", "min_severity": "info", "people": "A003", "channels": ["999999999999"]}, "channels"),
    ({"event": "hazard_alert" * 100, "min_severity": "info", "people": "A003"}, "event"),
])
def test_route_page_bad_input_is_a_4xx_and_stores_nothing(world, shipped, data, error):
    c = client_for(world.a.admin)
    robot(world.b.unit)
    r = c.post(reverse("notify_routing:route_new", args=[world.a.unit.pk]), data)
    assert 400 <= r.status_code < 500
    assert error in r.content.decode() or error in str(r.context["form"].errors)
    assert not Route.objects.exists()


def test_route_page_refuses_a_nul_character(world, shipped):
    r = client_for(world.a.admin).post(reverse("notify_routing:route_new", args=[world.a.unit.pk]),
                                       {"event": "hazard_alert", "min_severity": "info", "people": "A003\x00"})
    assert r.status_code == 422
    assert not Route.objects.exists()


def test_route_pages_company_isolation(world, shipped):
    a_route = route(world.a.unit, people=[world.a.worker])
    b = client_for(world.b.admin)
    page = b.get(reverse("notify_routing:routes")).content.decode()
    assert world.a.worker.name not in page and world.a.unit.name not in page
    for url in (reverse("notify_routing:route_new", args=[world.a.unit.pk]),
                reverse("notify_routing:route_edit", args=[a_route.pk])):
        assert b.get(url).status_code == 404
        assert b.post(url, {"event": "hazard_alert", "min_severity": "info", "people": "B003"}).status_code == 404
    assert b.post(reverse("notify_routing:route_delete", args=[a_route.pk])).status_code == 404
    assert Route.objects.get(pk=a_route.pk).people.get() == world.a.worker
    # a worker manages nothing
    w = client_for(world.a.worker)
    assert w.get(reverse("notify_routing:routes")).status_code == 403
    assert w.get(reverse("notify_routing:route_edit", args=[a_route.pk])).status_code == 404
    assert w.get(reverse("notify_routing:texts")).status_code == 403


def test_text_page_preview_save_reset(world, shipped):
    a = world.a
    c = client_for(a.admin)
    assert "hazard_alert" in c.get(reverse("notify_routing:texts")).content.decode()
    url = reverse("notify_routing:text", args=[a.unit.pk, "hazard_alert", "en"])
    page = c.get(url)
    assert page.status_code == 200 and "Major hazard" not in page.content.decode()
    assert "重大隐患: YH-2026-0043" in page.content.decode()  # the shipped English text, example values
    shown = c.post(url, {"title": "ALARM {number}", "body": "at {unit}", "preview": "1"})
    assert shown.status_code == 200 and "ALARM YH-2026-0043" in shown.content.decode()
    assert not MessageTemplate.objects.filter(company=a.unit).exists()  # a preview saves nothing
    assert c.post(url, {"title": "ALARM {number}", "body": "at {unit}", "save": "1"}).status_code == 302
    assert texts.render(a.unit, "hazard_alert", "en", {"number": "N1"})[0] == "ALARM N1"
    assert "已修改" in c.get(reverse("notify_routing:texts")).content.decode()
    assert c.post(reverse("notify_routing:text_reset", args=[a.unit.pk, "hazard_alert", "en"])).status_code == 302
    assert not MessageTemplate.objects.filter(company=a.unit).exists()


@pytest.mark.parametrize("title", ["{number.__class__.__mro__}", "{number[0]}", "{nope}", "{", "", "x" * 201])
def test_text_page_refuses_unsafe_texts(world, shipped, title):
    c = client_for(world.a.admin)
    url = reverse("notify_routing:text", args=[world.a.unit.pk, "hazard_alert", "zh-hans"])
    for button in ("preview", "save"):
        r = c.post(url, {"title": title, "body": "", button: "1"})
        assert 400 <= r.status_code < 500
    assert not MessageTemplate.objects.filter(company=world.a.unit).exists()


def test_text_pages_company_isolation_and_unknown_event(world, shipped):
    texts.save_text(SYSTEM, world.a.unit, "hazard_alert", "zh-hans", title="甲公司专用 {number}", body="")
    b = client_for(world.b.admin)
    a_url = reverse("notify_routing:text", args=[world.a.unit.pk, "hazard_alert", "zh-hans"])
    assert b.get(a_url).status_code == 404
    assert b.post(a_url, {"title": "x", "save": "1"}).status_code == 404
    assert b.post(reverse("notify_routing:text_reset", args=[world.a.unit.pk, "hazard_alert", "zh-hans"])).status_code == 404
    assert "甲公司专用" not in b.get(reverse("notify_routing:text", args=[world.b.unit.pk, "hazard_alert", "zh-hans"])).content.decode()
    assert MessageTemplate.objects.get(company=world.a.unit).title == "甲公司专用 {number}"
    a = client_for(world.a.admin)
    assert a.get(reverse("notify_routing:text", args=[world.a.unit.pk, "nope", "zh-hans"])).status_code == 404
    assert a.get(reverse("notify_routing:text", args=[world.a.unit.pk, "hazard_alert", "fr"])).status_code == 404
    assert a.get(reverse("notify_routing:text", args=[world.a.plant.pk, "hazard_alert", "zh-hans"])).status_code == 404


def test_my_settings_page(world, shipped):
    c = client_for(world.a.worker)
    url = reverse("notify_routing:my_settings")
    page = c.get(url)
    assert page.status_code == 200 and "紧急消息" in page.content.decode()
    r = c.post(url, {"sms_off": "on", "quiet": "on", "quiet_start": "22:00", "quiet_end": "07:00"})
    assert r.status_code == 302
    pref = Preference.objects.get(person=world.a.worker)
    assert pref.muted_kinds == ["sms_aliyun", "sms_http"] and pref.quiet_start == time(22) and pref.quiet_end == time(7)
    assert c.post(url, {}).status_code == 302  # everything off
    pref.refresh_from_db()
    assert pref.muted_kinds == [] and pref.quiet_start is None


@pytest.mark.parametrize("data", [
    {"quiet": "on", "quiet_start": "22:00", "quiet_end": ""},
    {"quiet": "on", "quiet_start": "08:00", "quiet_end": "08:00"},
    {"quiet": "on", "quiet_start": "25:99", "quiet_end": "07:00"},
    {"quiet": "on", "quiet_start": "x" * 5000, "quiet_end": "07:00"},
])
def test_my_settings_page_bad_input(world, shipped, data):
    r = client_for(world.a.worker).post(reverse("notify_routing:my_settings"), data)
    assert 400 <= r.status_code < 500
    assert not Preference.objects.exists()


def test_my_settings_needs_a_person_and_a_login(world, db):
    from django.contrib.auth import get_user_model
    from django.test import Client

    assert Client().get(reverse("notify_routing:my_settings")).status_code == 302  # to the login page
    nobody = get_user_model().objects.create_user("nobody", password="correct-horse-battery-9")
    c = Client()
    c.force_login(nobody)
    assert c.get(reverse("notify_routing:my_settings")).status_code == 403


# --- API -------------------------------------------------------------------------------------------------


def test_api_routes_crud(world, shipped):
    a = world.a
    channel = robot(a.unit)
    c = client_for(a.admin)
    r = c.post(f"{API}/notification-routes", {"company_id": a.unit.pk, "event": "hazard_escalated",
                                              "roles": ["safety_officer"], "person_ids": [a.worker.pk],
                                              "channel_ids": [channel.pk], "min_severity": "warning"},
               content_type="application/json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["person_ids"] == [a.worker.pk] and body["channel_ids"] == [channel.pk]
    rid = body["id"]
    assert c.get(f"{API}/notification-routes").json()["count"] == 1
    r = c.patch(f"{API}/notification-routes/{rid}", {"is_active": False, "person_ids": []},
                content_type="application/json")
    assert r.status_code == 200 and r.json()["is_active"] is False and r.json()["person_ids"] == []
    assert r.json()["roles"] == ["safety_officer"]
    assert c.delete(f"{API}/notification-routes/{rid}").status_code == 204
    assert c.get(f"{API}/notification-routes/{rid}").status_code == 404


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"event": "nope"}, 422, "event"),
    ({"min_severity": "loud"}, 422, "min_severity"),
    ({"roles": ["root"]}, 422, "roles"),
    ({"person_ids": [2**63]}, 422, "person_ids.0"),
    ({"person_ids": [0]}, 422, "person_ids.0"),
    ({"person_ids": list(range(1, 80))}, 422, "person_ids"),
    ({"person_ids": [999999999]}, 404, "person_ids"),
    ({"channel_ids": [999999999]}, 404, "channel_ids"),
    ({"company_id": 999999999}, 404, "company_id"),
    ({"surprise": 1}, 422, "surprise"),
    ({"event": "x" * 61}, 422, "event"),
    ({"roles": [], "person_ids": [], "channel_ids": []}, 422, "roles"),
])
def test_api_route_bad_input(world, shipped, body, status, field):
    c = client_for(world.a.admin)
    payload = {"company_id": world.a.unit.pk, "event": "hazard_alert", "person_ids": [world.a.worker.pk], **body}
    r = c.post(f"{API}/notification-routes", payload, content_type="application/json")
    assert r.status_code == status, r.content
    assert r.json()["field"] == field and r.json()["message"]
    assert not Route.objects.exists()


def test_api_route_malformed_and_replayed(world, shipped):
    c = client_for(world.a.admin)
    for raw in ("{", "[]", '"x"', '{"company_id": NaN}'):
        r = c.post(f"{API}/notification-routes", raw, content_type="application/json")
        assert 400 <= r.status_code < 500
    payload = {"company_id": world.a.unit.pk, "event": "hazard_alert", "person_ids": [world.a.worker.pk] * 3}
    for _ in range(2):
        assert c.post(f"{API}/notification-routes", payload, content_type="application/json").status_code == 201
    assert [list(r.people.all()) for r in Route.objects.all()] == [[world.a.worker]] * 2  # duplicates folded


def test_api_routes_company_isolation(world, shipped):
    a, b = world.a, world.b
    a_route = route(a.unit, people=[a.worker])
    bc = client_for(b.admin)
    assert bc.get(f"{API}/notification-routes").json()["count"] == 0
    assert bc.get(f"{API}/notification-routes/{a_route.pk}").status_code == 404
    assert bc.patch(f"{API}/notification-routes/{a_route.pk}", {"is_active": False},
                    content_type="application/json").status_code == 404
    assert bc.delete(f"{API}/notification-routes/{a_route.pk}").status_code == 404
    for body in ({"company_id": a.unit.pk}, {"person_ids": [a.worker.pk]}, {"channel_ids": [robot(a.unit).pk]}):
        payload = {"company_id": b.unit.pk, "event": "hazard_alert", "person_ids": [b.worker.pk], **body}
        assert bc.post(f"{API}/notification-routes", payload, content_type="application/json").status_code == 404
    b_route = route(b.unit, people=[b.worker])
    r = bc.patch(f"{API}/notification-routes/{b_route.pk}", {"person_ids": [a.worker.pk]},
                 content_type="application/json")
    assert r.status_code == 404
    assert Route.objects.get(pk=a_route.pk).is_active and list(b_route.people.all()) == [b.worker]
    assert client_for(a.worker).get(f"{API}/notification-routes").status_code == 403


def test_api_my_settings(world, db):
    c = client_for(world.a.worker)
    assert c.get(f"{API}/me/notification-settings").json() == {
        "muted_kinds": [], "quiet_start": None, "quiet_end": None, "critical_ignores": True}
    r = c.put(f"{API}/me/notification-settings", {"muted_kinds": ["sms_http"], "quiet_start": "22:30",
                                                  "quiet_end": "06:00"}, content_type="application/json")
    assert r.status_code == 200 and r.json()["quiet_start"] == "22:30:00"
    assert Preference.objects.get().person == world.a.worker
    assert client_for(world.b.worker).get(f"{API}/me/notification-settings").json()["muted_kinds"] == []


@pytest.mark.parametrize("body", [
    {"muted_kinds": ["inbox"]}, {"muted_kinds": ["pager"]}, {"quiet_start": "22:00"},
    {"quiet_start": "22:00", "quiet_end": "22:00"}, {"quiet_start": "25:00", "quiet_end": "07:00"},
    {"muted_kinds": ["sms_http"] * 11}, {"person_id": 1},
])
def test_api_my_settings_bad_input(world, db, body):
    c = client_for(world.a.worker)
    r = c.put(f"{API}/me/notification-settings", body, content_type="application/json")
    assert r.status_code == 422, r.content
    assert r.json()["message"]
    assert not Preference.objects.exists()


def test_api_needs_login_and_csrf(world, db):
    from django.test import Client

    assert Client().get(f"{API}/me/notification-settings").status_code == 401
    r = csrf_client_for(world.a.worker).put(f"{API}/me/notification-settings", {"muted_kinds": []},
                                            content_type="application/json")
    assert r.status_code == 403
    assert not Preference.objects.exists()
