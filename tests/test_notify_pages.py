"""Delivery log and channel admin: pages and API. Search, resend, secrets never echoed back, the
test message through the real signed-webhook transport to a local server that checks the
signature, bad input answered with 4xx, and company B never reaching company A's objects."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import datetime, timedelta
from datetime import timezone as tz
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from anlian.core import clock
from anlian.notify import delivery as engine
from anlian.notify.models import Channel, Delivery, Message
from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Role
from tests.conftest import client_for, csrf_client_for, make_person

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=tz.utc)
SECRET = "whsec-甲-very-secret-4711"
API = "/api/v1"


class SignedReceiver:
    """A webhook receiver that recomputes X-Anlian-Signature as the webhook module documents it
    (HMAC-SHA256 of f"{timestamp}.{body}"), answers 401 on a mismatch and drops a repeated
    Idempotency-Key (counting it)."""

    def __init__(self, secret: str) -> None:
        self.accepted: list[dict] = []
        self.duplicates = 0
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stamp = self.headers.get("X-Anlian-Timestamp", "")
                expected = "sha256=" + hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(expected, self.headers.get("X-Anlian-Signature", "")):
                    receiver.refused += 1
                    self._answer(401, b'{"error":"invalid signature"}')
                    return
                key = self.headers.get("Idempotency-Key")
                if any(r["id"] == key for r in receiver.accepted):
                    receiver.duplicates += 1
                else:
                    receiver.accepted.append(json.loads(body))
                self._answer(200, b'{"received":true}')

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def receiver():
    r = SignedReceiver(SECRET)
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def company_officer(world):
    """A safety officer granted at company A itself (the conftest officer sits at the plant)."""
    return make_person(world.a.unit, "甲公司安全总监", "A050", [("safety_officer", world.a.unit)], login="A-hse")


def hook(world, receiver, company=None, name="值班系统") -> Channel:
    return Channel.objects.create(company=company or world.a.unit, kind="webhook", name=name,
                                  config={"url": receiver.url, "secret": SECRET})


def log_rows(world, receiver):
    """Company A: a gas alarm to the worker (inbox) and a webhook; B: its own alarm."""
    a = world.a
    world.a.worker.phone = "13900000001"
    world.a.worker.save()
    channel = hook(world, receiver)
    engine.notify(a.unit, key="gas-1", event="gas_alarm", title="可燃气体报警", body="1号罐区 LEL 25%",
                  url="/hazards/1/", severity="critical", to=[a.worker], channels=[channel], now=T0)
    engine.notify(a.unit, key="permit-9", event="permit_waiting", title="作业票待审批", body="动火作业 DH-9",
                  to=[a.officer], now=T0 + timedelta(days=2))
    engine.notify(world.b.unit, key="gas-1", event="gas_alarm", title="乙公司报警", to=[world.b.worker], now=T0)
    return channel


# --- the delivery log ------------------------------------------------------------------------------------


def test_the_log_shows_who_what_when_result_and_answer(world, receiver):
    log_rows(world, receiver)
    with clock.frozen(T0):
        engine.send_due(T0)
    page = client_for(world.a.admin).get(reverse("notify:deliveries"))
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("可燃气体报警", "作业票待审批", "甲公司工人", "值班系统", "站内消息", "已送达", "{&quot;received&quot;:true}"):
        assert text in html
    assert "乙公司报警" not in html


@pytest.mark.parametrize(("query", "titles"), [
    ({"person": "甲公司工人"}, {"可燃气体报警"}),
    ({"person": "A002"}, {"作业票待审批"}),  # the officer's employee number
    ({"q": "DH-9"}, {"作业票待审批"}),
    ({"q": "gas_alarm"}, {"可燃气体报警"}),
    ({"channel": "inbox"}, {"可燃气体报警", "作业票待审批"}),
    ({"status": "pending"}, {"可燃气体报警", "作业票待审批"}),
    ({"status": "dead"}, set()),
    ({"start": "2026-11-25"}, {"作业票待审批"}),
    ({"end": "2026-11-24"}, {"可燃气体报警"}),
])
def test_log_search(world, receiver, query, titles):
    log_rows(world, receiver)
    page = client_for(world.a.admin).get(reverse("notify:deliveries"), query)
    assert page.status_code == 200
    shown = {d.message.title for d in page.context["page"]}
    assert shown == titles


def test_log_search_by_channel_and_junk_filters(world, receiver):
    channel = log_rows(world, receiver)
    client = client_for(world.a.admin)
    page = client.get(reverse("notify:deliveries"), {"channel": channel.pk})
    assert [d.kind for d in page.context["page"]] == ["webhook"]
    b_channel = hook(world, receiver, world.b.unit, "乙接口")
    for junk in ({"channel": b_channel.pk}, {"channel": "'; drop table x;--"}, {"status": "sent<script>"},
                 {"start": "2026-13-45"}, {"page": "9999999999999999999999"}, {"person": "x" * 5000}):
        page = client.get(reverse("notify:deliveries"), junk)
        assert page.status_code == 200, junk
    assert client.get(reverse("notify:deliveries"), {"q": "\x00"}).status_code == 422  # the site refuses NUL
    assert len(client.get(reverse("notify:deliveries"), {"channel": b_channel.pk}).context["page"]) == 3  # ignored


def test_the_log_answers_htmx_with_the_rows_only(world, receiver):
    log_rows(world, receiver)
    page = client_for(world.a.admin).get(reverse("notify:deliveries"), {"q": "DH"}, HTTP_HX_REQUEST="true")
    assert page.status_code == 200 and b"<form class=\"filters\"" not in page.content and "作业票待审批" in page.content.decode()


def test_only_company_managers_see_the_log(world, receiver, company_officer):
    log_rows(world, receiver)
    assert client_for(company_officer).get(reverse("notify:deliveries")).status_code == 200
    for person in (world.a.worker, world.a.officer):  # the conftest officer manages only the plant
        assert client_for(person).get(reverse("notify:deliveries")).status_code == 403
        assert client_for(person).get(f"{API}/notification-deliveries").status_code == 403
    assert client_for(world.a.admin).get(reverse("notify:channels")).status_code == 200


def test_resend_from_the_page(world, receiver):
    channel = log_rows(world, receiver)
    channel.config = {**channel.config, "secret": "wrong"}
    channel.save()
    with clock.frozen(T0):
        engine.send_due(T0)
    row = Delivery.objects.get(kind="webhook", message__company=world.a.unit)
    assert (row.status, receiver.refused) == ("dead", 1)  # the receiver's 401 is final
    page = client_for(world.a.admin).get(reverse("notify:delivery", args=[row.pk]))
    assert page.status_code == 200 and "invalid signature" in page.content.decode()
    channel.config = {**channel.config, "secret": SECRET}
    channel.save()
    client = csrf_client_for(world.a.admin)
    assert client.post(reverse("notify:delivery_resend", args=[row.pk])).status_code == 403  # no CSRF token
    response = client_for(world.a.admin).post(reverse("notify:delivery_resend", args=[row.pk]))
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == "pending"
    engine.send_due(row.next_attempt_at)
    assert len(receiver.accepted) == 1 and receiver.accepted[0]["id"] == row.idempotency_key
    again = client_for(world.a.admin).post(reverse("notify:delivery_resend", args=[row.pk]))
    assert again.status_code == 409 and "不能重发" in again.content.decode()


def test_resend_through_the_api(world, receiver):
    log_rows(world, receiver)
    Delivery.objects.filter(kind="webhook").update(status="uncertain")
    row = Delivery.objects.get(kind="webhook", message__company=world.a.unit)
    client = client_for(world.a.admin)
    answer = client.post(f"{API}/notification-deliveries/{row.pk}/resend")
    assert answer.status_code == 200 and answer.json()["status"] == "pending"
    assert client.post(f"{API}/notification-deliveries/{row.pk}/resend").json()["status"] == "pending"  # replay
    inbox = Delivery.objects.filter(kind="inbox", message__company=world.a.unit).first()
    queued = client.post(f"{API}/notification-deliveries/{inbox.pk}/resend")
    assert queued.status_code == 200 and queued.json()["status"] == "pending"  # still queued: nothing to do
    Delivery.objects.filter(pk=inbox.pk).update(status="sent")
    assert client.post(f"{API}/notification-deliveries/{inbox.pk}/resend").json()["code"] == "not_resendable"


def test_delivery_api_list_filters_and_detail(world, receiver):
    channel = log_rows(world, receiver)
    client = client_for(world.a.admin)
    listed = client.get(f"{API}/notification-deliveries").json()
    assert listed["count"] == 3 and {r["title"] for r in listed["items"]} == {"可燃气体报警", "作业票待审批"}
    assert client.get(f"{API}/notification-deliveries", {"channel_id": channel.pk}).json()["count"] == 1
    assert client.get(f"{API}/notification-deliveries", {"inbox": "true", "person": "安全员"}).json()["count"] == 1
    assert client.get(f"{API}/notification-deliveries", {"start": "2026-11-25"}).json()["count"] == 1
    row = Delivery.objects.get(kind="webhook", message__company=world.a.unit)
    detail = client.get(f"{API}/notification-deliveries/{row.pk}").json()
    assert detail["idempotency_key"] == row.idempotency_key and detail["severity"] == "critical"
    assert detail["url"].startswith("http") and detail["url"].endswith("/hazards/1/")
    for bad in ({"status": "nope"}, {"channel_id": 0}, {"channel_id": 2**70}, {"start": "yesterday"},
                {"q": "x" * 51}, {"page": 0}, {"page_size": 10_000}):
        assert client.get(f"{API}/notification-deliveries", bad).status_code in (400, 422), bad
    for missing in (2**62, 999_999):
        assert client.get(f"{API}/notification-deliveries/{missing}").status_code == 404


# --- channels ---------------------------------------------------------------------------------------------


def test_add_a_channel_on_the_page_and_its_secret_is_never_shown_again(world, receiver):
    client = client_for(world.a.admin)
    url = reverse("notify:channel_new", args=[world.a.unit.pk, "webhook"])
    assert client.get(url).status_code == 200
    response = client.post(url, {"name": "值班系统", "is_active": "on", "url": receiver.url, "secret": SECRET})
    assert response.status_code == 302
    channel = Channel.objects.get()
    assert channel.config == {"url": receiver.url, "secret": SECRET} and channel.company == world.a.unit
    for page in (client.get(reverse("notify:channels")), client.get(reverse("notify:channel_edit", args=[channel.pk])),
                 client.get(f"{API}/notification-channels"), client.get(f"{API}/notification-channels/{channel.pk}")):
        assert page.status_code == 200 and SECRET not in page.content.decode()
    assert client.get(f"{API}/notification-channels/{channel.pk}").json()["config"] == {"url": receiver.url,
                                                                                       "secret": "••••••"}
    # Editing other settings with the secret left empty keeps it.
    edit = client.post(reverse("notify:channel_edit", args=[channel.pk]), {"name": "DCS 网关", "url": receiver.url})
    assert edit.status_code == 302
    channel.refresh_from_db()
    assert (channel.name, channel.is_active, channel.config["secret"]) == ("DCS 网关", False, SECRET)


def test_channel_page_refuses_bad_settings(world):
    client = client_for(world.a.admin)
    url = reverse("notify:channel_new", args=[world.a.unit.pk, "dingtalk"])
    for data in ({"name": "群", "webhook": "ftp://x"}, {"name": "群", "webhook": "javascript:alert(1)"},
                 {"name": "", "webhook": "https://oapi.dingtalk.com/robot/send?access_token=t"},
                 {"name": "群"}, {"name": "群", "webhook": "https://x.cn/" + "a" * 600},
                 {"name": "群", "webhook": "https://x.cn/", "message": "poster"}):
        response = client.post(url, data)
        assert response.status_code in (400, 422), data
    Channel.objects.create(company=world.a.unit, kind="wecom", name="群", config={"webhook": "https://x.cn/"})
    taken = client.post(url, {"name": "群", "webhook": "https://x.cn/"})
    assert taken.status_code == 409 and "已有名为" in taken.content.decode()
    assert Channel.objects.count() == 1
    for kind in ("inbox", "carrier-pigeon"):
        assert client.get(reverse("notify:channel_new", args=[world.a.unit.pk, kind])).status_code == 404
    assert client.get(reverse("notify:channel_new", args=[world.a.plant.pk, "wecom"])).status_code == 404


def test_channel_test_sends_through_the_real_webhook_transport(world, receiver):
    channel = hook(world, receiver)
    response = client_for(world.a.admin).post(reverse("notify:channel_test", args=[channel.pk]))
    row = Delivery.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("notify:delivery", args=[row.pk])
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(receiver.accepted) == 1 and receiver.accepted[0]["title"] == "测试消息：值班系统"
    assert receiver.accepted[0]["id"] == row.idempotency_key
    channel.config = {**channel.config, "secret": "not-the-receivers"}
    channel.save()
    answer = client_for(world.a.admin).post(f"{API}/notification-channels/{channel.pk}/test")
    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["response"]) == ("dead", '{"error":"invalid signature"}')


def test_channel_test_by_sms_needs_the_testers_phone(world):
    channel = Channel.objects.create(company=world.a.unit, kind="sms_http", name="短信",
                                     config={"url": "http://127.0.0.1:9/", "token": "t"})
    answer = client_for(world.a.admin).post(f"{API}/notification-channels/{channel.pk}/test")
    assert answer.status_code == 422 and answer.json()["field"] == "phone"
    assert not Message.objects.exists()


def test_channel_api_crud(world, receiver):
    client = client_for(world.a.admin)
    body = {"company_id": world.a.unit.pk, "kind": "email", "name": "安全部邮箱",
            "config": {"host": "smtp.a.cn", "port": 465, "use_tls": True, "username": "hse", "password": "pw-1",
                       "from": "noreply@a.cn", "to": "hse@a.cn, boss@a.cn"}}
    made = client.post(f"{API}/notification-channels", body, content_type="application/json")
    assert made.status_code == 201, made.content
    channel = Channel.objects.get()
    assert channel.config["to"] == ["hse@a.cn", "boss@a.cn"] and channel.config["password"] == "pw-1"
    assert made.json()["config"]["password"] == "••••••"
    patched = client.patch(f"{API}/notification-channels/{channel.pk}", {"is_active": False},
                           content_type="application/json")
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    echoed = client.patch(f"{API}/notification-channels/{channel.pk}", {"config": made.json()["config"]},
                          content_type="application/json")
    assert echoed.status_code == 200
    channel.refresh_from_db()
    assert channel.config["password"] == "pw-1"  # the mask sent back keeps the secret
    for bad, status in (({**body, "name": "x", "kind": "fax"}, 422), ({**body, "name": "x", "surprise": 1}, 422),
                        ({**body, "name": "x", "config": {**body["config"], "port": 70000}}, 422),
                        ({**body, "name": "x", "config": {**body["config"], "to": "not-an-address"}}, 422),
                        ({**body, "name": "x", "config": {**body["config"], "shell": "rm -rf /"}}, 422),
                        ({**body, "name": "x", "config": []}, 422), ({**body, "name": "x", "kind": "inbox"}, 422),
                        ({**body}, 409), ({**body, "name": "x", "company_id": world.a.plant.pk}, 404)):
        answer = client.post(f"{API}/notification-channels", bad, content_type="application/json")
        assert answer.status_code == status, (bad, answer.content)
    assert Channel.objects.count() == 1
    assert client.delete(f"{API}/notification-channels/{channel.pk}").status_code == 204
    used = hook(world, receiver)
    engine.notify(world.a.unit, key="k", event="e", title="t", channels=[used], now=T0)
    answer = client.delete(f"{API}/notification-channels/{used.pk}")
    assert answer.status_code == 409 and answer.json()["code"] == "in_use"


# --- company isolation ---------------------------------------------------------------------------------


def test_company_b_cannot_reach_company_a(world, receiver):
    log_rows(world, receiver)
    channel = Channel.objects.get(company=world.a.unit)
    row = Delivery.objects.filter(message__company=world.a.unit).first()
    b = client_for(world.b.admin)
    for url in (reverse("notify:delivery", args=[row.pk]), reverse("notify:channel_edit", args=[channel.pk]),
                reverse("notify:channel_new", args=[world.a.unit.pk, "webhook"])):
        assert b.get(url).status_code == 404, url
    for url in (reverse("notify:delivery_resend", args=[row.pk]), reverse("notify:channel_test", args=[channel.pk]),
                reverse("notify:channel_edit", args=[channel.pk])):
        assert b.post(url, {"name": "hacked", "url": receiver.url}).status_code == 404, url
    assert {r["company_id"] for r in b.get(f"{API}/notification-deliveries").json()["items"]} == {world.b.unit.pk}
    assert b.get(f"{API}/notification-deliveries", {"channel_id": channel.pk}).status_code == 404
    assert b.get(f"{API}/notification-channels").json()["count"] == 0
    for method, url in (("get", f"/notification-deliveries/{row.pk}"), ("post", f"/notification-deliveries/{row.pk}/resend"),
                        ("get", f"/notification-channels/{channel.pk}"), ("patch", f"/notification-channels/{channel.pk}"),
                        ("delete", f"/notification-channels/{channel.pk}"), ("post", f"/notification-channels/{channel.pk}/test")):
        answer = getattr(b, method)(API + url, {"name": "hacked"} if method == "patch" else None,
                                    content_type="application/json")
        assert answer.status_code == 404, (method, url)
    made = b.post(f"{API}/notification-channels", {"company_id": world.a.unit.pk, "kind": "webhook", "name": "x",
                                                   "config": {"url": receiver.url, "secret": "s"}},
                  content_type="application/json")
    assert made.status_code == 404
    assert "乙接口" not in b.get(reverse("notify:channels")).content.decode()
    channel.refresh_from_db()
    assert channel.name == "值班系统" and len(receiver.accepted) == 0
    assert not Delivery.objects.filter(message__company=world.a.unit).exclude(status="pending").exists()


def test_a_manager_of_two_companies_sees_both(world, receiver):
    both = make_person(world.group, "集团安全部", "G001", login="G-hse")
    services.grant_role(SYSTEM, both, Role.objects.get(code="admin", owner=None), world.group)
    log_rows(world, receiver)
    listed = client_for(both).get(f"{API}/notification-deliveries").json()
    assert {r["company_id"] for r in listed["items"]} == {world.a.unit.pk, world.b.unit.pk}
    page = client_for(both).get(reverse("notify:channels")).content.decode()
    assert "甲公司" in page and "乙公司" in page
