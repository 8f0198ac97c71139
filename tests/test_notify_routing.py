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
from anlian.orgs.models import OrgKind, Role
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
