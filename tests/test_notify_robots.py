"""Group robots (DingTalk, WeCom, Feishu) against local servers that play each service as it is
documented: they recompute the signature, refuse with the service's own error bodies and count
what arrived. No transport ever raises; refusals say whether another attempt can help."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import timedelta

import pytest

from anlian.core import clock
from anlian.notify.transports import Outgoing, Result, dingtalk
from anlian.notify.transports.dingtalk import DingTalkRobot
from anlian.notify.transports.feishu import FeishuBot
from anlian.notify.transports.wecom import WeComRobot
from tests.notify_servers import Reply, closed_port_url, http_server  # noqa: F401 (fixture)

TOKEN = "t0ken"
SECRET = "SEC0123456789abcdef+/="  # characters that must survive URL encoding
URL = "https://anlian.example/m/hazards/7"
OUT = Outgoing(title="隐患超期：罐区阀门泄漏", text="二号罐区阀门泄漏，整改期限已过。", url=URL)


# --- the services, as documented ---------------------------------------------------------------

def dingtalk_service(secret: str | None = SECRET):
    def answer(seen):
        if seen.param("access_token") != TOKEN:
            return Reply(json={"errcode": 300001, "errmsg": "token is not exist"})
        if secret:
            timestamp, sign = seen.param("timestamp") or "", seen.param("sign") or ""
            if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 3600 * 1000:
                return Reply(json={"errcode": 310000, "errmsg": "invalid timestamp, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"})
            expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(sign, expected):
                return Reply(json={"errcode": 310000, "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"})
        if len(seen.body) > 20000:
            return Reply(json={"errcode": 460101, "errmsg": "message too long, exceed 20000 bytes"})
        if seen.json().get("msgtype") not in ("markdown", "actionCard"):
            return Reply(json={"errcode": 400105, "errmsg": "不支持的消息类型"})
        return Reply(json={"errcode": 0, "errmsg": "ok"})
    return answer


def wecom_service(seen):
    if seen.path != "/cgi-bin/webhook/send" or seen.param("key") != TOKEN:
        return Reply(json={"errcode": 93000, "errmsg": "invalid webhook url, hint: [1], more info at https://open.work.weixin.qq.com/devtool/query?e=93000"})
    body = seen.json()
    if body.get("msgtype") != "markdown":
        return Reply(json={"errcode": 40008, "errmsg": "invalid message type"})
    if len(body["markdown"]["content"].encode()) > 4096:
        return Reply(json={"errcode": 40058, "errmsg": "markdown.content exceed max length 4096. invalid Request Parameter"})
    return Reply(json={"errcode": 0, "errmsg": "ok"})


def feishu_service(secret: str | None = SECRET):
    sign_fail = {"code": 19021, "data": {}, "msg": "sign match fail or timestamp is not within one hour from current time"}

    def answer(seen):
        if seen.path != f"/open-apis/bot/v2/hook/{TOKEN}":
            return Reply(status=404, json={"code": 19001, "data": {}, "msg": "param invalid: incoming webhook access token invalid"})
        if len(seen.body) > 20 * 1024:
            return Reply(status=400, json={"code": 9499, "data": {}, "msg": "Bad Request"})
        body = seen.json()
        if secret:
            timestamp, sign = str(body.get("timestamp", "")), str(body.get("sign", ""))
            if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 3600:
                return Reply(json=sign_fail)
            key = f"{timestamp}\n{secret}".encode()  # the string to sign is the key; the message is empty
            if not hmac.compare_digest(sign, base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()):
                return Reply(json=sign_fail)
        if body.get("msg_type") not in ("interactive", "text"):
            return Reply(status=400, json={"code": 9499, "data": {}, "msg": "Bad Request"})
        return Reply(json={"code": 0, "data": {}, "msg": "success"})
    return answer


def dingtalk_config(server, **more):
    return {"webhook": server.url(f"/robot/send?access_token={TOKEN}"), "secret": SECRET, **more}


def wecom_config(server, **more):
    return {"webhook": server.url(f"/cgi-bin/webhook/send?key={TOKEN}"), **more}


def feishu_config(server, **more):
    return {"webhook": server.url(f"/open-apis/bot/v2/hook/{TOKEN}"), "secret": SECRET, **more}


ROBOTS = {
    "dingtalk": (DingTalkRobot, dingtalk_config),
    "wecom": (WeComRobot, wecom_config),
    "feishu": (FeishuBot, feishu_config),
}


# --- DingTalk ----------------------------------------------------------------------------------

def test_dingtalk_signed_markdown_arrives_once(http_server):
    http_server.answer = dingtalk_service()
    result = DingTalkRobot().send(dingtalk_config(http_server), OUT)
    assert result == Result(ok=True, retry=False, detail="ok", response='{"errcode": 0, "errmsg": "ok"}')
    [seen] = http_server.requests
    assert seen.param("access_token") == TOKEN  # the webhook's own query survives the signature
    assert seen.headers["content-type"] == "application/json; charset=utf-8"
    body = seen.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == OUT.title
    assert OUT.text in body["markdown"]["text"] and f"]({URL})" in body["markdown"]["text"]


@pytest.mark.parametrize("config, severity", [({"message": "action_card"}, "info"), ({}, "critical")])
def test_dingtalk_action_card_has_a_view_button(http_server, config, severity):
    http_server.answer = dingtalk_service()
    out = Outgoing(title=OUT.title, text=OUT.text, url=URL, severity=severity)
    assert DingTalkRobot().send(dingtalk_config(http_server, **config), out).ok
    card = http_server.requests[0].json()["actionCard"]
    assert (card["singleTitle"], card["singleURL"]) == ("查看", URL)
    assert OUT.text in card["text"]


def test_dingtalk_critical_without_link_stays_markdown(http_server):
    http_server.answer = dingtalk_service()
    out = Outgoing(title="气体报警", text="一号罐区可燃气体超标", severity="critical")
    assert DingTalkRobot().send(dingtalk_config(http_server), out).ok
    body = http_server.requests[0].json()
    assert body["msgtype"] == "markdown" and "](" not in body["markdown"]["text"]


def test_dingtalk_without_secret_sends_no_signature(http_server):
    http_server.answer = dingtalk_service(secret=None)
    assert DingTalkRobot().send(dingtalk_config(http_server, secret=""), OUT).ok
    assert http_server.requests[0].param("sign") is None


def test_dingtalk_wrong_secret_is_refused_for_good(http_server):
    http_server.answer = dingtalk_service()
    result = DingTalkRobot().send(dingtalk_config(http_server, secret="SECwrong"), OUT)
    assert (result.ok, result.retry) == (False, False)
    assert "310000" in result.detail and "sign not match" in result.detail
    assert "sign not match" in result.response


def test_dingtalk_stale_timestamp_is_refused(http_server):
    http_server.answer = dingtalk_service()
    with clock.frozen(clock.now() - timedelta(hours=2)):
        result = DingTalkRobot().send(dingtalk_config(http_server), OUT)
    assert (result.ok, result.retry) == (False, False) and "invalid timestamp" in result.detail


def test_dingtalk_missing_signature_is_refused(http_server):
    http_server.answer = dingtalk_service()
    result = DingTalkRobot().send(dingtalk_config(http_server, secret=None), OUT)
    assert (result.ok, result.retry) == (False, False) and "310000" in result.detail


def test_dingtalk_unknown_token_is_final(http_server):
    http_server.answer = dingtalk_service()
    config = {"webhook": http_server.url("/robot/send?access_token=other"), "secret": SECRET}
    result = DingTalkRobot().send(config, OUT)
    assert (result.ok, result.retry) == (False, False) and "300001" in result.detail


@pytest.mark.parametrize("errcode, errmsg", [(130101, "send too fast, exceed 20 times per minute"),
                                             (410100, "发送速度太快而限流"), (-1, "系统繁忙")])
def test_dingtalk_rate_limit_and_busy_are_retried(http_server, errcode, errmsg):
    http_server.answer = lambda seen: Reply(json={"errcode": errcode, "errmsg": errmsg})
    result = DingTalkRobot().send(dingtalk_config(http_server), OUT)
    assert (result.ok, result.retry) == (False, True) and str(errcode) in result.detail


def test_dingtalk_long_text_is_cut_to_the_body_limit(http_server):
    http_server.answer = dingtalk_service()
    out = Outgoing(title="长" * 500, text="泄漏\n\"情况\"" * 5000, url=URL)
    assert DingTalkRobot().send(dingtalk_config(http_server), out).ok
    [seen] = http_server.requests
    assert 19000 < len(seen.body) <= 20000
    markdown = seen.json()["markdown"]
    assert len(markdown["title"]) == 100 and markdown["title"].endswith("…")
    assert markdown["text"].endswith(f"…\n\n[查看详情]({URL})")  # the link survives the cut


def test_dingtalk_user_text_cannot_forge_links_or_markup(http_server):
    http_server.answer = dingtalk_service()
    out = Outgoing(title="[官方通知](http://evil.example)", text='<font color="red">点</font>[这里](http://evil.example)', url=URL)
    assert DingTalkRobot().send(dingtalk_config(http_server), out).ok
    text = http_server.requests[0].json()["markdown"]["text"]
    assert "(http://evil.example)" in text and "](http://evil.example)" not in text and "<font" not in text
    assert text.count("](") == 1


# --- WeCom -------------------------------------------------------------------------------------

def test_wecom_markdown_arrives_once(http_server):
    http_server.answer = wecom_service
    result = WeComRobot().send(wecom_config(http_server), OUT)
    assert (result.ok, result.retry) == (True, False)
    [seen] = http_server.requests
    content = seen.json()["markdown"]["content"]
    assert seen.json()["msgtype"] == "markdown"
    assert content == f"**{OUT.title}**\n{OUT.text}\n[查看详情]({URL})"


def test_wecom_critical_is_marked(http_server):
    http_server.answer = wecom_service
    out = Outgoing(title="气体报警", text="一号罐区", url=URL, severity="critical")
    assert WeComRobot().send(wecom_config(http_server), out).ok
    assert http_server.requests[0].json()["markdown"]["content"].startswith('<font color="warning">紧急</font> **气体报警**')


def test_wecom_invalid_webhook_is_final(http_server):
    http_server.answer = wecom_service
    result = WeComRobot().send({"webhook": http_server.url("/cgi-bin/webhook/send?key=nope")}, OUT)
    assert (result.ok, result.retry) == (False, False) and "93000" in result.detail


@pytest.mark.parametrize("errcode, errmsg", [(45009, "api freq out of limit"), (-1, "system busy")])
def test_wecom_frequency_limit_is_retried(http_server, errcode, errmsg):
    http_server.answer = lambda seen: Reply(json={"errcode": errcode, "errmsg": errmsg})
    result = WeComRobot().send(wecom_config(http_server), OUT)
    assert (result.ok, result.retry) == (False, True) and str(errcode) in result.detail


def test_wecom_long_text_is_cut_to_4096_bytes_keeping_the_link(http_server):
    http_server.answer = wecom_service
    out = Outgoing(title="罐区", text="阀门泄漏" * 3000, url=URL)
    assert WeComRobot().send(wecom_config(http_server), out).ok
    content = http_server.requests[0].json()["markdown"]["content"]
    assert 4000 < len(content.encode()) <= 4096
    assert content.endswith(f"…\n[查看详情]({URL})")


def test_wecom_user_text_cannot_mention_or_link(http_server):
    http_server.answer = wecom_service
    out = Outgoing(title="t", text="<@all> [点](http://evil.example)", url="")
    assert WeComRobot().send(wecom_config(http_server), out).ok
    content = http_server.requests[0].json()["markdown"]["content"]
    assert "<@" not in content and "](" not in content


# --- Feishu ------------------------------------------------------------------------------------

def test_feishu_signed_card_arrives_once(http_server):
    http_server.answer = feishu_service()
    out = Outgoing(title=OUT.title, text=OUT.text, url=URL, severity="critical")
    result = FeishuBot().send(feishu_config(http_server), out)
    assert (result.ok, result.retry) == (True, False)
    [seen] = http_server.requests
    body = seen.json()
    assert body["msg_type"] == "interactive" and body["timestamp"].isdigit() and body["sign"]
    card = body["card"]
    assert card["header"]["template"] == "red" and card["header"]["title"]["content"] == OUT.title
    assert card["elements"][0]["text"] == {"tag": "plain_text", "content": OUT.text}
    [button] = card["elements"][1]["actions"]
    assert (button["url"], button["text"]["content"]) == (URL, "查看")


def test_feishu_text_message_defuses_mentions(http_server):
    http_server.answer = feishu_service()
    out = Outgoing(title="通知", text='<at user_id="all">所有人</at>', url=URL)
    assert FeishuBot().send(feishu_config(http_server, message="text"), out).ok
    text = http_server.requests[0].json()["content"]["text"]
    assert "<at" not in text and text.endswith(URL)


def test_feishu_old_status_code_answer_counts_as_success(http_server):
    http_server.answer = lambda seen: Reply(json={"Extra": None, "StatusCode": 0, "StatusMessage": "success"})
    assert FeishuBot().send(feishu_config(http_server), OUT).ok


@pytest.mark.parametrize("secret", ["wrong-secret", None])
def test_feishu_wrong_or_missing_signature_is_refused_for_good(http_server, secret):
    http_server.answer = feishu_service()
    result = FeishuBot().send(feishu_config(http_server, secret=secret), OUT)
    assert (result.ok, result.retry) == (False, False)
    assert "19021" in result.detail and "sign match fail" in result.detail


def test_feishu_dingtalk_style_signature_is_refused(http_server):
    """The two services sign the other way round; using DingTalk's order must fail."""
    http_server.answer = feishu_service()
    timestamp = str(int(time.time()))
    wrong = base64.b64encode(hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()).decode()
    import httpx
    answer = httpx.post(http_server.url(f"/open-apis/bot/v2/hook/{TOKEN}"),
                        json={"timestamp": timestamp, "sign": wrong, "msg_type": "text", "content": {"text": "x"}})
    assert answer.json()["code"] == 19021


def test_feishu_stale_timestamp_is_refused(http_server):
    http_server.answer = feishu_service()
    with clock.frozen(clock.now() - timedelta(hours=2)):
        result = FeishuBot().send(feishu_config(http_server), OUT)
    assert (result.ok, result.retry) == (False, False) and "19021" in result.detail


def test_feishu_bad_request_is_final_and_frequency_limit_is_retried(http_server):
    http_server.answer = lambda seen: Reply(status=400, json={"code": 9499, "data": {}, "msg": "Bad Request"})
    bad = FeishuBot().send(feishu_config(http_server), OUT)
    http_server.answer = lambda seen: Reply(json={"code": 11232, "data": {}, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]"})
    limited = FeishuBot().send(feishu_config(http_server), OUT)
    assert (bad.ok, bad.retry, limited.ok, limited.retry) == (False, False, False, True)
    assert "9499" in bad.detail and "11232" in limited.detail


def test_feishu_long_text_is_cut_to_20_kb(http_server):
    http_server.answer = feishu_service()
    out = Outgoing(title="罐区", text="阀门泄漏" * 5000, url=URL)
    assert FeishuBot().send(feishu_config(http_server), out).ok
    [seen] = http_server.requests
    assert 19000 < len(seen.body) <= 20000
    assert seen.json()["card"]["elements"][0]["text"]["content"].endswith("…")


# --- the same for all three --------------------------------------------------------------------

@pytest.fixture(params=sorted(ROBOTS))
def robot(request):
    return ROBOTS[request.param]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_http_429_are_retried(http_server, robot, status):
    kind, config = robot
    http_server.answer = lambda seen: Reply(status=status, body=b"<html>Bad Gateway</html>")
    result = kind().send(config(http_server), OUT)
    assert (result.ok, result.retry) == (False, True)
    assert str(status) in result.detail and result.response == "<html>Bad Gateway</html>"


def test_closed_port_is_retried(robot):
    kind, _config = robot
    result = kind().send({"webhook": closed_port_url(f"/robot/send?access_token={TOKEN}")}, OUT)
    assert (result.ok, result.retry) == (False, True) and "连接失败" in result.detail


def test_timeout_is_retried_and_says_it_may_have_arrived(http_server, robot, monkeypatch):
    kind, config = robot
    monkeypatch.setattr(dingtalk, "TIMEOUT_SECONDS", 0.2)
    http_server.answer = lambda seen: Reply(json={"errcode": 0, "code": 0}, delay=30)
    result = kind().send(config(http_server), OUT)
    assert (result.ok, result.retry) == (False, True) and "可能已收到" in result.detail
    assert len(http_server.requests) == 1


@pytest.mark.parametrize("reply", [
    Reply(body=b"<html>Welcome to the hotel wifi</html>"),
    Reply(json=[0]),
    Reply(json={"ok": True}),
    Reply(json={"errcode": "0", "code": "0"}),
    Reply(json={"errcode": True, "code": True}),
    Reply(status=403, body=b"forbidden"),
])
def test_garbage_answer_is_not_success_and_not_retried(http_server, robot, reply):
    """An answer that is not the service's JSON most likely comes from something that is not the
    service (a portal, a wrong URL): trying again will not fix that, and might post twice if the
    message did get through. It is final, and the body is kept for the delivery log."""
    kind, config = robot
    http_server.answer = lambda seen: reply
    result = kind().send(config(http_server), OUT)
    assert (result.ok, result.retry) == (False, False)
    assert "无法识别" in result.detail


@pytest.mark.parametrize("config", [
    {}, {"webhook": ""}, {"webhook": None}, {"webhook": 123}, {"webhook": ["http://127.0.0.1/"]},
    {"webhook": "ftp://127.0.0.1/x"}, {"webhook": "http://"}, {"webhook": "javascript:alert(1)"},
    {"webhook": "http://[::1"}, {"webhook": "http://127.0.0.1:99999/"},
])
def test_bad_config_is_final_and_sends_nothing(http_server, robot, config):
    kind, _config = robot
    result = kind().send(config, OUT)
    assert (result.ok, result.retry) == (False, False) and result.detail
    assert http_server.requests == []


@pytest.mark.parametrize("kind", [DingTalkRobot, FeishuBot])
def test_secret_that_is_not_text_is_final(http_server, kind):
    result = kind().send({"webhook": http_server.url("/"), "secret": {"x": 1}}, OUT)
    assert (result.ok, result.retry) == (False, False) and http_server.requests == []


def test_kinds_match_the_registry():
    from anlian.notify.transports.registry import transport

    for kind, (cls, _config) in ROBOTS.items():
        assert isinstance(transport(kind), cls) and cls.kind == kind


def test_empty_message_still_makes_a_valid_body(http_server, robot):
    kind, config = robot
    http_server.answer = {"dingtalk": dingtalk_service(), "wecom": wecom_service, "feishu": feishu_service()}[kind.kind]
    assert kind().send(config(http_server), Outgoing(title="", text="")).ok
    assert len(http_server.requests) == 1
