"""E-mail, SMS, outbound webhook and in-app inbox transports against real local servers.

Each server on 127.0.0.1 checks what the service documents: the webhook receiver and the SMS
gateways recompute the signature from the raw request with their own code (not the transport's),
refuse with the service's documented error bodies, and count requests. The SMTP tests run a real
aiosmtpd server. A transport must never raise, and must say whether another attempt can help.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from anlian.core import clock
from anlian.core.models import Notice
from anlian.notify.transports import Outgoing, Result
from anlian.notify.transports import email as email_transport
from anlian.notify.transports import webhook as webhook_transport
from anlian.notify.transports.email import Smtp
from anlian.notify.transports.inbox import Inbox
from anlian.notify.transports.registry import CLASSES, transport
from anlian.notify.transports.sms import AliyunSms, HttpSms, aliyun_signature
from anlian.notify.transports.webhook import SignedWebhook

MOMENT = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
KEY = "d41d8cd98f00b204e9800998ecf8427e"


def outgoing(**changes) -> Outgoing:
    values = dict(title="2号罐区可燃气体报警", text="LEL 35%，请立即撤离。\n第二行", url="https://anlian.example/h/7",
                  address="", idempotency_key=KEY, severity="critical", extra={"event": "gas.alarm"})
    values.update(changes)
    return Outgoing(**values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a local HTTP server ------------------------------------------------------------------------


class Recorded:
    def __init__(self, method: str, path: str, headers: dict, body: bytes):
        self.method, self.path, self.headers, self.body = method, path, headers, body


class HttpServer:
    """Threaded HTTP server; `answer(request) -> (status, body)` decides each reply."""

    def __init__(self, answer: Callable[[Recorded], tuple[int, bytes | str]]):
        self.answer = answer
        self.requests: list[Recorded] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                server.requests.append(request)
                status, reply = server.answer(request)
                reply = reply.encode() if isinstance(reply, str) else reply
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server():
    servers = []

    def start(answer):
        servers.append(HttpServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def refused_url():
    return f"http://127.0.0.1:{free_port()}/"


@pytest.fixture
def silent_port():
    """A server that accepts connections and never answers (a hung service)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


# --- outbound webhook ---------------------------------------------------------------------------

SECRET = "whsec-甲公司-9f2c"


def webhook_receiver(secret: str = SECRET, status: int = 200):
    """A receiver written from docs/notifications.md: verify, then drop a repeated key."""
    seen: set[str] = set()

    def answer(request: Recorded):
        timestamp = request.headers.get("x-anlian-timestamp", "")
        expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + request.body,
                                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-anlian-signature", "")):
            return 401, '{"error":"bad signature"}'
        key = request.headers["idempotency-key"]
        if key in seen:
            return 200, '{"duplicate":true}'
        seen.add(key)
        return status, '{"received":true}'

    return answer


def test_webhook_is_signed_as_documented_and_carries_the_message(http_server):
    server = http_server(webhook_receiver())
    with clock.frozen(MOMENT):
        result = SignedWebhook().send({"url": server.url, "secret": SECRET}, outgoing())
    assert result == Result(ok=True, detail="HTTP 200", response='{"received":true}')
    [request] = server.requests
    assert request.headers["x-anlian-timestamp"] == str(int(MOMENT.timestamp()))
    assert request.headers["idempotency-key"] == KEY
    assert request.headers["content-type"].startswith("application/json")
    assert json.loads(request.body) == {
        "id": KEY, "event": "gas.alarm", "title": "2号罐区可燃气体报警", "text": "LEL 35%，请立即撤离。\n第二行",
        "url": "https://anlian.example/h/7", "severity": "critical", "sent_at": "2025-03-14T09:26:53+00:00"}


def test_webhook_retry_carries_the_same_idempotency_key_and_the_receiver_drops_it(http_server):
    failures = iter([(503, "down"), (502, "bad gateway")])
    receiver = webhook_receiver()

    def answer(request):
        outcome = receiver(request)  # the receiver saw it (then the proxy in front failed)
        return next(failures, outcome)

    server = http_server(answer)
    config = {"url": server.url, "secret": SECRET}
    first, second, third = (SignedWebhook().send(config, outgoing()) for _ in range(3))
    assert (first.ok, first.retry, second.ok, second.retry) == (False, True, False, True)
    assert third.ok and third.response == '{"duplicate":true}'
    assert {r.headers["idempotency-key"] for r in server.requests} == {KEY}
    assert len(server.requests) == 3


def test_webhook_signed_with_another_secret_is_refused_for_good(http_server):
    server = http_server(webhook_receiver(secret="the-receivers-secret"))
    result = SignedWebhook().send({"url": server.url, "secret": SECRET}, outgoing())
    assert (result.ok, result.retry, result.detail) == (False, False, "HTTP 401")
    assert result.response == '{"error":"bad signature"}'


def test_webhook_signature_covers_the_body(http_server):
    """A body changed on the way fails the receiver's check (the signature is not of the headers only)."""
    server = http_server(lambda request: (200, "{}"))
    SignedWebhook().send({"url": server.url, "secret": SECRET}, outgoing())
    [request] = server.requests
    tampered = Recorded("POST", "/", request.headers, request.body.replace(b"critical", b"info"))
    assert webhook_receiver()(tampered)[0] == 401
    assert webhook_receiver()(request)[0] == 200


@pytest.mark.parametrize(("status", "ok", "retry"), [
    (200, True, False), (201, True, False), (204, True, False),
    (408, False, True), (429, False, True), (500, False, True), (502, False, True), (503, False, True),
    (301, False, False), (400, False, False), (403, False, False), (404, False, False), (410, False, False),
    (422, False, False),
])
def test_webhook_status_classification(http_server, status, ok, retry):
    server = http_server(lambda request: (status, "" if status in (204, 301) else '{"x":1}'))
    result = SignedWebhook().send({"url": server.url, "secret": SECRET}, outgoing())
    assert (result.ok, result.retry, result.detail) == (ok, retry, f"HTTP {status}")


def test_webhook_network_errors_are_retried(refused_url, silent_port, monkeypatch):
    monkeypatch.setattr(webhook_transport, "TIMEOUT_SECONDS", 0.3)
    refused = SignedWebhook().send({"url": refused_url, "secret": SECRET}, outgoing())
    hung = SignedWebhook().send({"url": f"http://127.0.0.1:{silent_port}/", "secret": SECRET}, outgoing())
    assert (refused.ok, refused.retry, refused.detail) == (False, True, "网络错误：ConnectError")
    assert (hung.ok, hung.retry, hung.detail) == (False, True, "网络错误：ReadTimeout")


@pytest.mark.parametrize("config", [
    {}, {"url": "", "secret": SECRET}, {"url": None, "secret": SECRET}, {"url": 42, "secret": SECRET},
    {"url": "ftp://127.0.0.1/", "secret": SECRET}, {"url": "javascript:alert(1)", "secret": SECRET},
    {"url": "http://[::1", "secret": SECRET}, {"url": "http://127.0.0.1:99999/", "secret": SECRET},
    {"url": "http://127.0.0.1/", "secret": ""}, {"url": "http://127.0.0.1/", "secret": ["x"]},
])
def test_webhook_bad_config_is_a_permanent_failure_without_raising(config):
    result = SignedWebhook().send(config, outgoing())
    assert result.ok is False and result.retry is False and result.detail


def test_webhook_huge_and_hostile_text_is_sent_intact(http_server):
    server = http_server(webhook_receiver())
    text = "</script>\"'\u202e\x00" + "长" * 200_000
    result = SignedWebhook().send({"url": server.url, "secret": SECRET}, outgoing(title="a\r\nX-Evil: 1", text=text))
    assert result.ok
    [request] = server.requests
    assert "x-evil" not in request.headers
    assert json.loads(request.body)["text"] == text


# --- Aliyun SendSms -----------------------------------------------------------------------------

ACCESS_KEY_ID = "LTAI5tTestKeyId"
ACCESS_SECRET = "testAccessKeySecret/+="
UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def doc_percent_encode(text: str) -> str:
    """Written from the signature page's rules, byte by byte (independent of the transport's quote())."""
    return "".join(chr(b) if b in UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def doc_signature(params: dict[str, str], secret: str, method: str) -> str:
    canonical = "&".join(f"{doc_percent_encode(k)}={doc_percent_encode(v)}" for k, v in sorted(params.items()))
    to_sign = method + "&" + doc_percent_encode("/") + "&" + doc_percent_encode(canonical)
    return base64.b64encode(hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


# The documented answers (SendSms page and the API error code page); RequestIds are examples.
ALIYUN_OK = {"Code": "OK", "Message": "OK", "BizId": "9006197469364984^0", "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"}
ALIYUN_ERRORS = {
    "isv.BUSINESS_LIMIT_CONTROL": (200, {"Message": "触发天级流控Permits:10", "RequestId": "C0A0BE93-B44F-4350-BCC8-B677F78C3802",
                                         "Code": "isv.BUSINESS_LIMIT_CONTROL"}),
    "isv.MOBILE_NUMBER_ILLEGAL": (200, {"Message": "非法手机号", "RequestId": "A1", "Code": "isv.MOBILE_NUMBER_ILLEGAL"}),
    "isv.AMOUNT_NOT_ENOUGH": (200, {"Message": "账户余额不足", "RequestId": "A2", "Code": "isv.AMOUNT_NOT_ENOUGH"}),
    "isv.OUT_OF_SERVICE": (200, {"Message": "业务停机", "RequestId": "A3", "Code": "isv.OUT_OF_SERVICE"}),
    "isv.DAY_LIMIT_CONTROL": (200, {"Message": "触发日发送限额", "RequestId": "A4", "Code": "isv.DAY_LIMIT_CONTROL"}),
    "isp.SYSTEM_ERROR": (200, {"Message": "系统错误", "RequestId": "A5", "Code": "isp.SYSTEM_ERROR"}),
    "InvalidAccessKeyId.NotFound": (404, {"RequestId": "A6", "HostId": "dysmsapi.aliyuncs.com",
                                          "Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found."}),
}
RETRIED_CODES = {"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR"}


class AliyunGateway:
    """Dysmsapi as documented: checks the common parameters, recomputes the signature with the
    account's secret and refuses a replayed nonce; then answers `reply`."""

    def __init__(self, secret: str = ACCESS_SECRET):
        self.secret = secret
        self.reply: tuple[int, dict] = (200, ALIYUN_OK)
        self.nonces: set[str] = set()
        self.params: list[dict[str, str]] = []

    def __call__(self, request: Recorded):
        params = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        self.params.append(dict(params))
        signature = params.pop("Signature", "")
        if doc_signature(params, self.secret, request.method) != signature:
            return 400, json.dumps({"RequestId": "B1", "HostId": "dysmsapi.aliyuncs.com", "Code": "SignatureDoesNotMatch",
                                    "Message": "Specified signature is not matched with our calculation."})
        if params["SignatureNonce"] in self.nonces:
            return 400, json.dumps({"RequestId": "B2", "HostId": "dysmsapi.aliyuncs.com", "Code": "SignatureNonceUsed",
                                    "Message": "Specified signature nonce was used already."})
        self.nonces.add(params["SignatureNonce"])
        status, body = self.reply
        return status, json.dumps(body, ensure_ascii=False)


def aliyun_config(url: str, **changes) -> dict:
    config = {"access_key_id": ACCESS_KEY_ID, "access_key_secret": ACCESS_SECRET, "sign_name": "安链科技",
              "template_code": "SMS_154950909", "endpoint": url, "template_vars": ["title", "url"]}
    config.update(changes)
    return config


def test_aliyun_signature_matches_the_documented_example():
    """The example in Alibaba Cloud's signature docs: AccessKey testid/testsecret, DescribeRegions,
    signed URL ends in Signature=CT9X0VtwR86fNWSnsc6v8YGOjuE%3D."""
    params = {"TimeStamp": "2016-02-23T12:46:24Z", "Format": "XML", "AccessKeyId": "testid", "Action": "DescribeRegions",
              "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
              "Version": "2014-05-26", "SignatureVersion": "1.0"}
    assert aliyun_signature(params, "testsecret", "GET") == "CT9X0VtwR86fNWSnsc6v8YGOjuE="
    assert doc_signature(params, "testsecret", "GET") == "CT9X0VtwR86fNWSnsc6v8YGOjuE="


def test_aliyun_sends_a_signed_sendsms_request(http_server):
    gateway = AliyunGateway()
    server = http_server(gateway)
    with clock.frozen(MOMENT):
        result = AliyunSms().send(aliyun_config(server.url), outgoing(address="13900001234", title="罐区 *报警* ~1 & 2"))
    assert result.ok and result.detail == "OK" and json.loads(result.response) == ALIYUN_OK
    [params] = gateway.params
    assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25" and params["Format"] == "JSON"
    assert (params["SignatureMethod"], params["SignatureVersion"]) == ("HMAC-SHA1", "1.0")
    assert params["Timestamp"] == "2025-03-14T09:26:53Z"
    assert params["AccessKeyId"] == ACCESS_KEY_ID and "access_key_secret" not in json.dumps(params)
    assert (params["PhoneNumbers"], params["SignName"], params["TemplateCode"]) == ("13900001234", "安链科技", "SMS_154950909")
    assert json.loads(params["TemplateParam"]) == {"title": "罐区 *报警* ~1 & 2", "url": "https://anlian.example/h/7"}
    assert params["OutId"] == KEY


def test_aliyun_retry_uses_a_fresh_nonce_and_the_same_outid(http_server):
    gateway = AliyunGateway()
    server = http_server(gateway)
    gateway.reply = ALIYUN_ERRORS["isv.BUSINESS_LIMIT_CONTROL"]
    first = AliyunSms().send(aliyun_config(server.url), outgoing(address="13900001234"))
    gateway.reply = (200, ALIYUN_OK)
    second = AliyunSms().send(aliyun_config(server.url), outgoing(address="13900001234"))
    assert (first.ok, first.retry, second.ok) == (False, True, True)
    assert len({p["SignatureNonce"] for p in gateway.params}) == 2
    assert {p["OutId"] for p in gateway.params} == {KEY}


@pytest.mark.parametrize("code", sorted(ALIYUN_ERRORS))
def test_aliyun_documented_error_bodies(http_server, code):
    gateway = AliyunGateway()
    gateway.reply = ALIYUN_ERRORS[code]
    server = http_server(gateway)
    result = AliyunSms().send(aliyun_config(server.url), outgoing(address="13900001234"))
    assert (result.ok, result.retry, result.detail) == (False, code in RETRIED_CODES, code)
    assert json.loads(result.response)["Code"] == code


def test_aliyun_wrong_secret_is_signature_does_not_match_for_good(http_server):
    gateway = AliyunGateway(secret="the-real-secret")
    server = http_server(gateway)
    result = AliyunSms().send(aliyun_config(server.url), outgoing(address="13900001234"))
    assert (result.ok, result.retry, result.detail) == (False, False, "SignatureDoesNotMatch")


@pytest.mark.parametrize(("status", "body", "retry"), [
    (500, "", True), (503, "<html>busy</html>", True), (429, "", True), (200, "not json", True),
    (200, '["OK"]', True), (403, "<html>forbidden</html>", False), (200, '{"Code": 7}', True),
])
def test_aliyun_answers_without_a_code(http_server, status, body, retry):
    server = http_server(lambda request: (status, body))
    result = AliyunSms().send(aliyun_config(server.url), outgoing(address="13900001234"))
    assert (result.ok, result.retry) == (False, retry)


@pytest.mark.parametrize("changes", [
    {"access_key_id": ""}, {"access_key_secret": None}, {"sign_name": 5}, {"template_code": ""},
    {"endpoint": "file:///etc/passwd"}, {"template_vars": 5},
])
def test_aliyun_bad_config_is_permanent_and_sends_nothing(http_server, changes):
    server = http_server(AliyunGateway())
    result = AliyunSms().send(aliyun_config(server.url, **changes), outgoing(address="13900001234"))
    assert (result.ok, result.retry) == (False, False) and result.detail
    assert server.requests == []


def test_aliyun_without_a_phone_number_sends_nothing(http_server):
    server = http_server(AliyunGateway())
    result = AliyunSms().send(aliyun_config(server.url), outgoing(address=""))
    assert (result.ok, result.retry, server.requests) == (False, False, [])


def test_aliyun_network_errors_are_retried(refused_url):
    result = AliyunSms().send(aliyun_config(refused_url), outgoing(address="13900001234"))
    assert (result.ok, result.retry) == (False, True)


# --- generic HTTP SMS gateway -------------------------------------------------------------------

TOKEN = "gw-token-3c1f"


def sms_gateway(status: int = 200):
    def answer(request: Recorded):
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, '{"error":"unauthorized"}'
        return status, '{"accepted":true}'

    return answer


def test_http_sms_posts_phone_text_and_id_with_the_bearer_token(http_server):
    server = http_server(sms_gateway())
    result = HttpSms().send({"url": server.url, "token": TOKEN}, outgoing(address="+8613900001234"))
    assert result.ok
    [request] = server.requests
    assert json.loads(request.body) == {"phone": "+8613900001234", "id": KEY,
                                        "text": "2号罐区可燃气体报警\nLEL 35%，请立即撤离。\n第二行\nhttps://anlian.example/h/7"}
    assert request.headers["idempotency-key"] == KEY


def test_http_sms_wrong_token_is_permanent(http_server):
    server = http_server(sms_gateway())
    result = HttpSms().send({"url": server.url, "token": "stale"}, outgoing(address="13900001234"))
    assert (result.ok, result.retry, result.detail) == (False, False, "HTTP 401")


@pytest.mark.parametrize(("status", "retry"), [(429, True), (500, True), (503, True), (400, False), (404, False)])
def test_http_sms_status_classification(http_server, status, retry):
    server = http_server(sms_gateway(status))
    result = HttpSms().send({"url": server.url, "token": TOKEN}, outgoing(address="13900001234"))
    assert (result.ok, result.retry) == (False, retry)


@pytest.mark.parametrize(("config", "address"), [
    ({"url": "http://127.0.0.1:9/", "token": ""}, "13900001234"), ({"token": TOKEN}, "13900001234"),
    ({"url": "http://127.0.0.1:9/", "token": TOKEN}, ""),
])
def test_http_sms_bad_config_or_address_is_permanent(config, address):
    result = HttpSms().send(config, outgoing(address=address))
    assert (result.ok, result.retry) == (False, False)


def test_http_sms_network_errors_are_retried(refused_url):
    result = HttpSms().send({"url": refused_url, "token": TOKEN}, outgoing(address="13900001234"))
    assert (result.ok, result.retry) == (False, True)


# --- SMTP ---------------------------------------------------------------------------------------


class MailHandler:
    def __init__(self):
        self.messages: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.messages.append(envelope.original_content)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"notify", b"s3cret")
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


@pytest.fixture
def smtp_server():
    handler = MailHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    yield handler, controller.port
    controller.stop()


def mail_config(smtp_port: int, **changes) -> dict:
    config = {"host": "127.0.0.1", "port": smtp_port, "username": "notify", "password": "s3cret", "from": "安链 <alerts@anlian.example>"}
    config.update(changes)
    return config


def test_email_arrives_as_text_and_html_with_the_link_and_a_stable_message_id(smtp_server):
    handler, port = smtp_server
    out = outgoing(address="safety@plant.example", title="<b>报警</b>")
    first = Smtp().send(mail_config(port), out)
    second = Smtp().send(mail_config(port), out)  # a resend after a lost answer
    assert first.ok and second.ok
    assert handler.envelopes[0] == ("alerts@anlian.example", ["safety@plant.example"])
    msg = message_from_bytes(handler.messages[0], policy=policy.default)
    assert msg["Subject"] == "<b>报警</b>"
    assert msg["To"] == "safety@plant.example" and "alerts@anlian.example" in msg["From"]
    assert msg["Message-ID"] == f"<{KEY}@anlian.example>" == first.detail
    assert f"Message-ID: <{KEY}@anlian.example>\r\n".encode() in handler.messages[0]
    assert message_from_bytes(handler.messages[1], policy=policy.default)["Message-ID"] == msg["Message-ID"]
    assert msg["Importance"] == "high" and msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "LEL 35%，请立即撤离。" in text and "https://anlian.example/h/7" in text
    assert '<a href="https://anlian.example/h/7">' in html and "&lt;b&gt;报警&lt;/b&gt;" in html and "<b>" not in html


def test_email_header_injection_in_the_title_stays_in_the_subject(smtp_server):
    handler, port = smtp_server
    result = Smtp().send(mail_config(port), outgoing(address="safety@plant.example", title="报警\r\nBcc: evil@x.example"))
    assert result.ok
    msg = message_from_bytes(handler.messages[0], policy=policy.default)
    assert msg["Bcc"] is None and handler.envelopes[0][1] == ["safety@plant.example"]


def test_email_refused_auth_is_permanent_and_sends_nothing(smtp_server):
    handler, port = smtp_server
    result = Smtp().send(mail_config(port, password="wrong"), outgoing(address="safety@plant.example"))
    assert (result.ok, result.retry, result.detail) == (False, False, "SMTP 535")
    assert handler.messages == []


@pytest.mark.parametrize(("stage", "reply", "retry"), [
    ("rcpt", "451 4.3.0 Try again later", True),
    ("rcpt", "452 4.2.2 Mailbox full", True),
    ("rcpt", "550 5.1.1 No such user", False),
    ("data", "451 4.7.1 Greylisted, come back later", True),
    ("data", "554 5.7.1 Message rejected as spam", False),
])
def test_email_refusals_by_reply_class(smtp_server, stage, reply, retry):
    handler, port = smtp_server
    setattr(handler, f"{stage}_reply", reply)
    result = Smtp().send(mail_config(port), outgoing(address="safety@plant.example"))
    assert (result.ok, result.retry, result.detail) == (False, retry, f"SMTP {reply[:3]}")
    assert reply[4:] in result.response


def test_email_network_errors_are_retried(silent_port, monkeypatch):
    monkeypatch.setattr(email_transport, "TIMEOUT_SECONDS", 0.3)
    refused = Smtp().send(mail_config(free_port()), outgoing(address="safety@plant.example"))
    hung = Smtp().send(mail_config(silent_port), outgoing(address="safety@plant.example"))
    assert (refused.ok, refused.retry) == (False, True)
    assert (hung.ok, hung.retry) == (False, True)


def test_email_starttls_on_a_server_without_it_is_permanent(smtp_server):
    handler, port = smtp_server
    result = Smtp().send(mail_config(port, starttls=True), outgoing(address="safety@plant.example"))
    assert (result.ok, result.retry) == (False, False)
    assert handler.messages == []


@pytest.mark.parametrize(("changes", "address"), [
    ({"host": None}, "safety@plant.example"), ({"from": "no-at-sign"}, "safety@plant.example"),
    ({"port": "smtp"}, "safety@plant.example"), ({"port": 70000}, "safety@plant.example"),
    ({}, ""), ({}, "13900001234"), ({}, "a@x.example\r\nRCPT TO:<b@y.example>"), ({}, "a@x.example, b@y.example"),
])
def test_email_bad_config_or_address_is_permanent_and_sends_nothing(smtp_server, changes, address):
    handler, port = smtp_server
    result = Smtp().send(mail_config(port, **changes), outgoing(address=address))
    assert (result.ok, result.retry) == (False, False) and result.detail
    assert handler.messages == []


# --- in-app inbox -------------------------------------------------------------------------------


def test_inbox_writes_one_notice_per_delivery(world):
    person = world.a.worker
    out = outgoing(extra={"person_id": person.pk}, title="标" * 300)
    with clock.frozen(MOMENT):
        first = Inbox().send({}, out)
    second = Inbox().send({}, out)
    assert (first.ok, second.ok) == (True, True) and first.detail != second.detail
    notice = Notice.objects.get(person=person)
    assert (notice.key, notice.title, notice.url, notice.created_at) == (KEY, "标" * 200, "https://anlian.example/h/7", MOMENT)
    assert notice.body == "LEL 35%，请立即撤离。\n第二行"


@pytest.mark.parametrize("extra", [{}, {"person_id": None}, {"person_id": "1"}, {"person_id": True}, {"person_id": 10**9}])
def test_inbox_without_a_person_is_permanent(world, extra):
    result = Inbox().send({}, outgoing(extra=extra))
    assert (result.ok, result.retry) == (False, False)
    assert not Notice.objects.exists()


def test_inbox_without_a_key_is_permanent(world):
    result = Inbox().send({}, outgoing(idempotency_key="", extra={"person_id": world.a.worker.pk}))
    assert (result.ok, result.retry) == (False, False)
    assert not Notice.objects.exists()


# --- the contract: never raises -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["email", "sms_aliyun", "sms_http", "webhook"])
@pytest.mark.parametrize("config", [None, [], "x", {"url": {"a": 1}, "host": 5, "port": [], "from": 7},
                                    {"endpoint": 3.5, "access_key_id": ["x"], "token": {}}])
def test_no_exception_escapes_a_transport(kind, config):
    result = transport(kind).send(config, outgoing(address="13900001234"))
    assert isinstance(result, Result) and result.ok is False and result.retry is False


def test_each_of_these_kinds_is_registered_to_its_class():
    for kind, cls in {"email": Smtp, "sms_aliyun": AliyunSms, "sms_http": HttpSms, "webhook": SignedWebhook,
                      "inbox": Inbox}.items():
        assert CLASSES[kind] == f"{cls.__module__}.{cls.__name__}" and cls.kind == kind


def test_the_documented_receiver_snippet_verifies_a_real_request(http_server):
    """docs/notifications.md's Python `verify` accepts what the transport sends, and nothing altered."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "notifications.md").read_text()
    snippet = doc.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation
    server = http_server(lambda request: (204, ""))
    assert SignedWebhook().send({"url": server.url, "secret": SECRET}, outgoing()).ok
    [request] = server.requests
    headers = {"X-Anlian-Timestamp": request.headers["x-anlian-timestamp"],
               "X-Anlian-Signature": request.headers["x-anlian-signature"]}
    assert namespace["verify"](SECRET.encode(), headers, request.body)
    assert not namespace["verify"](SECRET.encode(), headers, request.body + b" ")
    assert not namespace["verify"](b"another secret", headers, request.body)


@pytest.mark.parametrize(("send", "config"), [
    (SignedWebhook().send, {"secret": SECRET}), (HttpSms().send, {"token": "tok\r\nX-Evil: 1"}),
])
def test_a_line_break_never_reaches_a_request_header(http_server, send, config):
    server = http_server(lambda request: (200, "{}"))
    result = send({"url": server.url, **config}, outgoing(address="13900001234", idempotency_key="k\r\nX-Evil: 1"))
    assert (result.ok, result.retry, server.requests) == (False, False, [])
