"""The delivery engine: messages and deliveries created exactly once, atomic claims, retries with
backoff then the dead letter, crash safety (repeat with the same key where the receiver dedupes,
"uncertain" where it cannot), resend. The clock is injected; transports post to a real HTTP
server on 127.0.0.1 that counts what arrives."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from datetime import timezone as tz
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from anlian.core.errors import Conflict, Forbidden, Invalid
from anlian.notify import delivery as engine
from anlian.notify.models import Channel, Delivery, Message
from anlian.notify.transports import Result, registry
from tests.conftest import make_person

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=tz.utc)


class Receiver:
    """A local service: records each request, dedupes by Idempotency-Key like a webhook receiver
    that honours it, and answers with the status and body the test sets."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status, self.body = 200, '{"ok":true}'
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "key": self.headers.get("Idempotency-Key"),
                                          "body": json.loads(data or b"{}")})
                payload = receiver.body.encode()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def unique_keys(self) -> set[str]:
        return {r["key"] for r in self.requests}


class PostingTransport:
    """Stands in for a transport: posts the message to the channel's `url`; 2xx is sent, 5xx and
    429 are worth a retry, other refusals are final. `crash_once` makes it die after the request
    arrived, like a worker killed mid-send."""

    def __init__(self, kind: str, inbox_url: str) -> None:
        self.kind = kind
        self.inbox_url = inbox_url  # the in-app inbox has no config: it "posts" here
        self.crash_once = False
        self.raise_bug = False

    def send(self, config: dict, out) -> Result:
        if self.raise_bug:
            raise RuntimeError("bug")
        url = config.get("url") or (config["base"] + "/" + out.address if "base" in config else self.inbox_url)
        answer = httpx.post(url, json={"title": out.title, "text": out.text, "url": out.url,
                                       "severity": out.severity, "extra": out.extra},
                            headers={"Idempotency-Key": out.idempotency_key}, timeout=5)
        if self.crash_once:
            self.crash_once = False
            raise KeyboardInterrupt  # the process stops before recording anything
        if answer.is_success:
            return Result(ok=True, response=answer.text)
        retry = answer.status_code >= 500 or answer.status_code == 429
        return Result(ok=False, retry=retry, detail=f"HTTP {answer.status_code}", response=answer.text)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def transports(monkeypatch, receiver):
    fakes = {kind: PostingTransport(kind, receiver.url + "/inbox") for kind in registry.CLASSES}
    monkeypatch.setattr(registry, "transport", lambda kind: fakes[kind])
    return fakes


def channel(company, kind: str, name: str, url: str, **config) -> Channel:
    return Channel.objects.create(company=company, kind=kind, name=name, config={"url": url, **config})


def alarm(world, to, channels=None, key="gas-alarm-1", **kw):
    fields = {"event": "gas_alarm", "title": "可燃气体报警", "body": "1号罐区 LEL 25%", "url": "/hazards/1/",
              "severity": "critical", "now": T0, **kw}
    return engine.notify(world.a.unit, key=key, to=to, channels=channels, **fields)


# --- creation exactly once ------------------------------------------------------------------------------


def test_notify_creates_one_delivery_per_recipient_and_channel_and_nothing_twice(world, receiver, settings):
    settings.SITE_URL = "https://aq.example.cn"
    a = world.a
    a.worker.phone = "13800000001"
    a.worker.save()
    gone = make_person(a.team, "离职工人", "A099")
    gone.is_active = False
    gone.phone = "13800000009"
    gone.save()
    hook = channel(a.unit, "webhook", "值班系统", receiver.url)
    robot = channel(a.unit, "dingtalk", "安全群", receiver.url)
    sms = channel(a.unit, "sms_http", "短信", "", base=receiver.url)
    mail = Channel.objects.create(company=a.unit, kind="email", name="邮件", config={"to": "hse@a.cn, boss@a.cn"})
    off = channel(a.unit, "wecom", "旧群", receiver.url)
    off.is_active = False
    off.save()
    people = [a.worker, a.officer, gone]

    message = alarm(world, people, [hook, robot, sms, mail, off])

    assert message.url == "https://aq.example.cn/hazards/1/"
    rows = {(d.kind, d.person_id, d.address): d for d in Delivery.objects.all()}
    assert {k: d.status for k, d in rows.items()} == {
        ("inbox", a.worker.pk, ""): "pending", ("inbox", a.officer.pk, ""): "pending",
        ("inbox", gone.pk, ""): "skipped",
        ("webhook", None, ""): "pending", ("dingtalk", None, ""): "pending", ("wecom", None, ""): "skipped",
        ("sms_http", a.worker.pk, "13800000001"): "pending", ("sms_http", a.officer.pk, ""): "skipped",
        ("sms_http", gone.pk, "13800000009"): "skipped",
        ("email", None, "hse@a.cn"): "pending", ("email", None, "boss@a.cn"): "pending"}
    assert rows[("sms_http", a.officer.pk, "")].last_error == "没有手机号"
    assert rows[("wecom", None, "")].last_error == "渠道已停用"
    assert rows[("inbox", gone.pk, "")].last_error == "人员已停用"
    assert len({d.idempotency_key for d in rows.values()}) == len(rows)

    again = alarm(world, people + [make_person(a.team, "新人", "A098")], [hook], title="另一个标题")
    assert again.pk == message.pk and again.title == "可燃气体报警"
    assert Message.objects.count() == 1 and Delivery.objects.count() == len(rows)


def test_the_same_key_in_two_companies_is_two_messages(world, transports):
    one = alarm(world, [world.a.worker])
    other = engine.notify(world.b.unit, key="gas-alarm-1", event="gas_alarm", title="报警", to=[world.b.worker], now=T0)
    assert one.pk != other.pk
    keys = list(Delivery.objects.values_list("idempotency_key", flat=True))
    assert len(keys) == 2 and len(set(keys)) == 2


def test_notify_refuses_people_and_channels_of_another_company_and_bad_input(world, receiver):
    b_channel = channel(world.b.unit, "webhook", "乙的接口", receiver.url)
    with pytest.raises(Invalid) as exc:
        alarm(world, [world.a.worker, world.b.worker])
    assert exc.value.field == "to"
    with pytest.raises(Invalid) as exc:
        alarm(world, [world.a.worker], [b_channel])
    assert exc.value.field == "channels"
    with pytest.raises(Invalid):
        alarm(world, [world.a.worker], severity="apocalyptic")
    with pytest.raises(Invalid):
        engine.notify(world.a.plant, key="k", event="e", title="t", to=[world.a.worker], now=T0)
    assert not Message.objects.exists() and not Delivery.objects.exists()


def test_the_message_is_sent_at_once_after_commit(world, transports, receiver, django_capture_on_commit_callbacks):
    hook = channel(world.a.unit, "webhook", "值班系统", receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        alarm(world, [world.a.worker], [hook], now=None)
    # Sent by the queued task (inline in tests), not by the minute's task.
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert len(receiver.requests) == 2


# --- sending, retries, dead letter ------------------------------------------------------------------------


def test_send_due_sends_each_delivery_once_and_records_the_answer(world, transports, receiver):
    hook = channel(world.a.unit, "webhook", "值班系统", receiver.url)
    receiver.body = "x" * 5000
    alarm(world, [world.a.worker, world.a.officer], [hook])
    assert engine.send_due(T0 - timedelta(seconds=1)) == {}  # nothing due before it was created
    assert engine.send_due(T0) == {"sent": 3}
    assert engine.send_due(T0 + timedelta(hours=1)) == {}
    assert len(receiver.requests) == 3
    hook_row = Delivery.objects.get(kind="webhook")
    assert (hook_row.status, hook_row.attempts, hook_row.sent_at, hook_row.sending_since) == ("sent", 1, T0, None)
    assert len(hook_row.response) == engine.RESPONSE_LIMIT
    sent = next(r for r in receiver.requests if r["path"] != "/inbox")
    assert sent["key"] == hook_row.idempotency_key
    assert sent["body"]["extra"]["message_key"] == "gas-alarm-1" and sent["body"]["severity"] == "critical"


def test_a_failing_service_is_retried_after_1_5_30_120_600_minutes_then_dead(world, transports, receiver):
    hook = channel(world.a.unit, "webhook", "值班系统", receiver.url)
    receiver.status, receiver.body = 503, '{"error":"maintenance"}'
    alarm(world, [], [hook])
    now = T0
    for attempt, wait in enumerate(engine.RETRY_MINUTES, start=1):
        assert engine.send_due(now) == {"retry": 1}
        row = Delivery.objects.get()
        assert (row.status, row.attempts, row.last_error) == ("retry", attempt, "HTTP 503")
        assert row.next_attempt_at == now + timedelta(minutes=wait)
        assert row.response == '{"error":"maintenance"}'
        assert engine.send_due(row.next_attempt_at - timedelta(seconds=1)) == {}  # not before its time
        now = row.next_attempt_at
    assert engine.send_due(now) == {"dead": 1}
    row = Delivery.objects.get()
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", engine.MAX_ATTEMPTS, None)
    assert engine.send_due(now + timedelta(days=1)) == {}
    assert len(receiver.requests) == engine.MAX_ATTEMPTS


def test_a_recovered_service_ends_the_retries(world, transports, receiver):
    hook = channel(world.a.unit, "webhook", "值班系统", receiver.url)
    receiver.status = 429
    alarm(world, [], [hook])
    engine.send_due(T0)
    receiver.status = 200
    assert engine.send_due(T0 + timedelta(minutes=1)) == {"sent": 1}
    row = Delivery.objects.get()
    assert (row.status, row.attempts, row.last_error, row.sent_at) == ("sent", 2, "", T0 + timedelta(minutes=1))


def test_a_final_refusal_is_dead_at_once(world, transports, receiver):
    hook = channel(world.a.unit, "webhook", "值班系统", receiver.url)
    receiver.status, receiver.body = 401, '{"error":"bad signature"}'
    alarm(world, [], [hook])
    assert engine.send_due(T0) == {"dead": 1}
    assert Delivery.objects.get().response == '{"error":"bad signature"}'


def test_claims_never_overlap(world, transports):
    alarm(world, [make_person(world.a.team, f"工人{i}", f"A2{i:02}") for i in range(10)])
    first = engine.claim(T0, 1000)
    assert len(first) == 10
    assert engine.claim(T0, 1000) == []  # the second claimer finds nothing: all are "sending"
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sending", 1)}


def test_interleaved_claimers_share_the_work_without_a_row_twice(world, transports):
    alarm(world, [make_person(world.a.team, f"工人{i}", f"A2{i:02}") for i in range(10)])
    got: dict[str, list[int]] = {"a": [], "b": []}
    while batch := engine.claim(T0, 3):
        got["a" if len(got["a"]) <= len(got["b"]) else "b"].extend(batch)
    assert len(got["a"]) + len(got["b"]) == 10 and not set(got["a"]) & set(got["b"])


def test_claim_limited_to_one_message(world, transports):
    one = alarm(world, [world.a.worker])
    alarm(world, [world.a.worker], key="other")
    ids = engine.claim(T0, 100, message_id=one.pk)
    assert list(Delivery.objects.filter(pk__in=ids).values_list("message_id", flat=True)) == [one.pk]


# --- crash safety ---------------------------------------------------------------------------------------------


def test_no_duplicate_after_a_crash_mid_send_to_a_webhook(world, transports, receiver):
    hook = channel(world.a.unit, "webhook", "值班系统", receiver.url)
    alarm(world, [], [hook])
    transports["webhook"].crash_once = True
    with pytest.raises(KeyboardInterrupt):
        engine.send_due(T0)
    row = Delivery.objects.get()
    assert (row.status, row.sending_since) == ("sending", T0)
    assert engine.send_due(T0 + timedelta(minutes=9)) == {}  # the worker might still be busy with it
    assert engine.send_due(T0 + timedelta(minutes=11)) == {"recovered_retry": 1}
    row.refresh_from_db()
    assert row.status == "retry" and "发送中断" in row.last_error
    assert engine.send_due(T0 + timedelta(minutes=13)) == {"sent": 1}
    # Sent again with the same key: the receiver got the request twice and keeps one message.
    assert len(receiver.requests) == 2 and receiver.unique_keys() == {row.idempotency_key}


def test_no_duplicate_after_a_crash_mid_send_to_a_group_robot(world, transports, receiver):
    robot = channel(world.a.unit, "dingtalk", "安全群", receiver.url)
    alarm(world, [], [robot])
    transports["dingtalk"].crash_once = True
    with pytest.raises(KeyboardInterrupt):
        engine.send_due(T0)
    assert engine.send_due(T0 + timedelta(minutes=11)) == {"recovered_uncertain": 1}
    assert engine.send_due(T0 + timedelta(days=2)) == {}
    row = Delivery.objects.get()
    assert (row.status, row.next_attempt_at) == ("uncertain", None)
    assert len(receiver.requests) == 1  # the group saw it once; a person decides about a resend

    engine.resend(world.a.admin.user, row, now=T0 + timedelta(hours=1))
    assert engine.send_due(T0 + timedelta(hours=1)) == {"sent": 1}
    assert len(receiver.requests) == 2


def test_a_crash_leaves_the_rest_of_its_batch_to_be_sent_later_not_uncertain(world, transports, receiver):
    first = channel(world.a.unit, "dingtalk", "安全群", receiver.url)
    second = channel(world.a.unit, "feishu", "飞书群", receiver.url)
    alarm(world, [], [first, second])
    transports["dingtalk"].crash_once = True
    with pytest.raises(KeyboardInterrupt):
        engine.send_due(T0)  # both claimed; the worker dies after the first request left
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sending"}
    assert engine.send_due(T0 + timedelta(minutes=11)) == {"recovered_uncertain": 1, "recovered_retry": 1,
                                                             "sent": 1}
    rows = {d.kind: d for d in Delivery.objects.all()}
    assert (rows["dingtalk"].status, rows["feishu"].status, rows["feishu"].attempts) == ("uncertain", "sent", 1)
    assert sorted(r["key"] for r in receiver.requests) == sorted(d.idempotency_key for d in rows.values())


def test_a_transport_bug_is_uncertain_for_a_robot_and_retried_for_a_webhook(world, transports, receiver):
    robot = channel(world.a.unit, "wecom", "班组群", receiver.url)
    hook = channel(world.a.unit, "webhook", "值班系统", receiver.url)
    alarm(world, [], [robot, hook])
    transports["wecom"].raise_bug = transports["webhook"].raise_bug = True
    assert engine.send_due(T0) == {"uncertain": 1, "retry": 1}
    assert Delivery.objects.get(kind="wecom").last_error == "发送程序出错：RuntimeError"


def test_two_recoverers_change_a_stuck_row_once(world, transports):
    alarm(world, [world.a.worker])
    engine.claim(T0, 10)
    later = T0 + timedelta(minutes=11)
    assert engine.recover_stuck(later) == 1
    engine.claim(later + timedelta(minutes=1), 10)  # retried and claimed again by a live worker
    row = Delivery.objects.get()
    stale = Delivery.objects.get()
    stale.attempts = 1
    engine._unknown(stale, later, "stale", stuck_before=later - engine.STUCK_AFTER)  # a slow second recoverer
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sending", 2)


def test_a_crash_mid_chunk_leaves_that_chunk_uncertain_and_later_chunks_to_be_sent(world, transports, receiver,
                                                                                    monkeypatch):
    """Non-deduplicated sends are marked in flight a chunk at a time (one UPDATE, not one per send):
    after a crash the whole chunk is uncertain, sent or not, and the chunks after it go out."""
    monkeypatch.setattr(engine, "IN_FLIGHT_CHUNK", 2)
    people = [make_person(world.a.team, f"工人{i}", f"A3{i:02}") for i in range(5)]
    for i, person in enumerate(people):
        person.phone = f"1380000000{i}"
        person.save()
    sms = channel(world.a.unit, "sms_http", "短信", "", base=receiver.url)
    alarm(world, people, [sms])
    transports["sms_http"].crash_once = True
    with pytest.raises(KeyboardInterrupt):
        engine.send_due(T0)  # the inbox went out; the first SMS left, then the worker died
    texts = Delivery.objects.filter(kind="sms_http").order_by("pk")
    assert [d.last_error for d in texts] == [engine.IN_FLIGHT] * 2 + [""] * 3
    assert engine.send_due(T0 + timedelta(minutes=11)) == {"recovered_uncertain": 2, "recovered_retry": 3, "sent": 3}
    assert [d.status for d in texts.all()] == ["uncertain"] * 2 + ["sent"] * 3
    sms_requests = [r for r in receiver.requests if r["path"] != "/inbox"]
    assert len(sms_requests) == 4  # the second of the first chunk never left: uncertain all the same
    assert len({r["key"] for r in sms_requests}) == 4


def test_a_chunk_records_each_outcome_of_its_own(world, transports, receiver):
    people = [world.a.worker, world.a.officer, world.a.admin]
    for person, phone in zip(people, ["13800000001", "13800000002", "13800000003"], strict=True):
        person.phone = phone
        person.save()
    sms = channel(world.a.unit, "sms_http", "短信", "", base=receiver.url)
    alarm(world, people, [sms])
    answers = {"13800000001": Result(ok=True, response="ok-1"),
               "13800000002": Result(ok=False, retry=True, detail="HTTP 503", response="busy"),
               "13800000003": Result(ok=False, detail="HTTP 400", response="bad number")}
    transports["sms_http"].send = lambda config, out: answers[out.address]
    assert engine.send_due(T0) == {"sent": 4, "retry": 1, "dead": 1}  # three inbox notices, three texts
    rows = {d.address: d for d in Delivery.objects.filter(kind="sms_http").order_by("address")}
    assert [(d.status, d.last_error, d.response, d.sent_at, d.next_attempt_at) for d in rows.values()] == [
        ("sent", "", "ok-1", T0, None), ("retry", "HTTP 503", "busy", None, T0 + timedelta(minutes=1)),
        ("dead", "HTTP 400", "bad number", None, None)]


# --- the in-app inbox, a batch at a time --------------------------------------------------------------------


@pytest.fixture
def real_inbox(monkeypatch):
    from anlian.notify.transports.inbox import Inbox

    inbox = Inbox()
    monkeypatch.setattr(registry, "transport", lambda kind: inbox)
    return inbox


def test_the_inbox_of_many_people_is_a_few_statements(world, real_inbox, django_assert_max_num_queries):
    from anlian.core.models import Notice

    people = [make_person(world.a.team, f"工人{i}", f"A4{i:02}") for i in range(60)]
    alarm(world, people)
    # recovery, claim, message, person check, notice insert, outcomes, transactions: not per person
    with django_assert_max_num_queries(16):
        assert engine.send_due(T0) == {"sent": 60}
    notices = {n.person_id: n for n in Notice.objects.filter(person__in=people)}
    assert len(notices) == 60 and {n.title for n in notices.values()} == {"可燃气体报警"}
    for row in Delivery.objects.all():
        assert (row.status, row.response, row.sent_at) == ("sent", str(notices[row.person_id].pk), T0)
        assert notices[row.person_id].key == row.message.key  # the message key: one notice per person


def test_the_inbox_batch_survives_a_crash_before_its_outcomes_were_recorded(world, real_inbox, monkeypatch):
    from anlian.core.models import Notice

    people = [world.a.worker, world.a.officer, world.a.admin]
    alarm(world, people)
    finish = engine._finish_all

    def dies(*args, **kwargs):
        monkeypatch.setattr(engine, "_finish_all", finish)
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "_finish_all", dies)
    with pytest.raises(KeyboardInterrupt):
        engine.send_due(T0)  # the notices are written; the worker died before recording it
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sending"}
    assert engine.send_due(T0 + timedelta(minutes=11)) == {"recovered_retry": 3}
    assert engine.send_due(T0 + timedelta(minutes=12)) == {"sent": 3}
    assert Notice.objects.filter(person__in=people).count() == 3  # the repeat found them: none twice
    for row in Delivery.objects.all():
        assert row.response == str(Notice.objects.get(person_id=row.person_id, key=row.message.key).pk)


def test_inbox_send_many_answers_each_in_order(world, real_inbox):
    from anlian.core.models import Notice
    from anlian.notify.transports import Outgoing

    def out(person_id, key):
        return Outgoing(title="标题", text="正文", idempotency_key=key, extra={"person_id": person_id})

    Notice.objects.create(person=world.a.officer, key="k-old", title="旧", created_at=T0)
    results = real_inbox.send_many({}, [
        out(world.a.worker.pk, "k-new"), out(10**9, "k-x"), out(world.a.worker.pk, ""), out("1", "k-y"),
        out(world.a.officer.pk, "k-old"), out(world.a.worker.pk, "k-new")])
    assert [(r.ok, r.retry) for r in results] == [(True, False), (False, False), (False, False), (False, False),
                                                  (True, False), (True, False)]
    assert [r.detail for r in results] == ["已放入站内消息", "没有收件人", "缺少幂等键", "没有收件人",
                                           "站内消息已存在", "已放入站内消息"]
    new = Notice.objects.get(key="k-new")
    assert results[0].response == results[5].response == str(new.pk)
    assert results[4].response == str(Notice.objects.get(key="k-old").pk)
    assert Notice.objects.count() == 2 and Notice.objects.get(key="k-old").title == "旧"  # not overwritten
    assert real_inbox.send_many({}, []) == []


# --- resend ------------------------------------------------------------------------------------------------------


def _dead(world, transports, receiver) -> Delivery:
    hook = channel(world.a.unit, "webhook", "值班系统", receiver.url)
    receiver.status = 400
    alarm(world, [], [hook])
    engine.send_due(T0)
    receiver.status = 200
    return Delivery.objects.get()


def test_resend_a_dead_delivery_sends_it_once_more_with_the_same_key(world, transports, receiver):
    row = _dead(world, transports, receiver)
    again = engine.resend(world.a.admin.user, row, now=T0 + timedelta(hours=2))
    assert (again.status, again.next_attempt_at) == ("pending", T0 + timedelta(hours=2))
    assert "甲公司管理员" in again.last_error and "要求重发" in again.last_error
    assert engine.resend(world.a.admin.user, again, now=T0 + timedelta(hours=2)).status == "pending"  # replay
    assert engine.send_due(T0 + timedelta(hours=2)) == {"sent": 1}
    assert [r["key"] for r in receiver.requests] == [row.idempotency_key] * 2
    with pytest.raises(Conflict):
        engine.resend(world.a.admin.user, Delivery.objects.get())  # sent: nothing to resend


def test_resend_after_a_dead_end_fails_again_without_a_new_schedule(world, transports, receiver):
    hook = channel(world.a.unit, "webhook", "值班系统", receiver.url)
    receiver.status = 500
    alarm(world, [], [hook])
    now = T0
    while engine.send_due(now) != {"dead": 1}:
        now += timedelta(hours=12)
    engine.resend(world.a.admin.user, Delivery.objects.get(), now=now)
    assert engine.send_due(now) == {"dead": 1}  # one more attempt, not five more retries


def test_resend_is_refused_to_others_and_for_a_disabled_channel(world, transports, receiver):
    row = _dead(world, transports, receiver)
    for person in (world.a.worker, world.a.officer, world.b.admin):
        with pytest.raises(Forbidden):
            engine.resend(person.user, row)
    row.channel.is_active = False
    row.channel.save()
    with pytest.raises(Conflict):
        engine.resend(world.a.admin.user, row)
    assert Delivery.objects.get().status == "dead"


# --- end to end with the real transports ---------------------------------------------------------------------


def test_real_webhook_and_inbox_deliver_once_across_a_crash(world, monkeypatch):
    """The shipped SignedWebhook posting to a receiver that checks the signature and drops a
    repeated Idempotency-Key, and the shipped Inbox: the worker dies after each send left."""
    from anlian.core.models import Notice
    from tests.test_notify_pages import SECRET, SignedReceiver

    receiver = SignedReceiver(SECRET)
    try:
        real = {kind: registry.transport(kind) for kind in ("webhook", "inbox")}
        crashing = set(real)

        class DiesAfterSending:
            def __init__(self, kind):
                self.kind = kind

            def send(self, config, out):
                result = real[self.kind].send(config, out)
                if self.kind in crashing:
                    crashing.discard(self.kind)
                    raise KeyboardInterrupt
                return result

        monkeypatch.setattr(registry, "transport", DiesAfterSending)
        hook = Channel.objects.create(company=world.a.unit, kind="webhook", name="值班系统",
                                      config={"url": receiver.url, "secret": SECRET})
        alarm(world, [world.a.worker], [hook])
        for _ in range(2):
            with pytest.raises(KeyboardInterrupt):
                engine.send_due(T0, limit=1)
        assert engine.send_due(T0 + timedelta(minutes=11)) == {"recovered_retry": 2}
        assert engine.send_due(T0 + timedelta(minutes=12)) == {"sent": 2}
        assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
        assert (len(receiver.accepted), receiver.duplicates, receiver.refused) == (1, 1, 0)
        assert receiver.accepted[0]["title"] == "可燃气体报警"
        assert Notice.objects.filter(person=world.a.worker).count() == 1
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
