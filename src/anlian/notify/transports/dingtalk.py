"""DingTalk custom group robot (钉钉自定义机器人).

Documented by DingTalk (open.dingtalk.com/document/group/custom-robot-access, "自定义机器人安全设置"
and "消息类型及数据格式"):

- POST the robot's webhook (`https://oapi.dingtalk.com/robot/send?access_token=…`) with a UTF-8
  JSON body.
- With the "加签" security setting, add `timestamp` (milliseconds, within one hour of DingTalk's
  clock) and `sign` to the query string: sign = urlencode(base64(HmacSHA256(key=secret,
  msg=f"{timestamp}\\n{secret}"))).
- Messages: `markdown` {title, text} and `actionCard` {title, text, singleTitle, singleURL}.
- Answers: {"errcode":0,"errmsg":"ok"}; refusals carry another errcode, e.g. 310000 (sign not
  match / invalid timestamp / keywords not in content / ip not in whitelist), 300001 (token is not
  exist), 460101 (message too long, exceed 20000 bytes), 130101 and 410100 (send too fast: 20
  messages a minute per robot, then ten minutes of silence), -1 (system busy).

The HTTP plumbing and the text fitting below are shared by the WeCom and Feishu robots, which
follow the same pattern (one JSON POST, a JSON answer with a numeric code).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
from django.utils.translation import gettext as _

from anlian.core import clock

from . import TIMEOUT_SECONDS, Outgoing, Result, http_client

# Codes DingTalk documents as "try later"; every other refusal (bad sign, unknown token, content
# refused) stays refused however often it is sent.
RETRYABLE = frozenset({-1, 130101, 410100})
BODY_LIMIT = 20_000  # bytes, errcode 460101
TITLE_LIMIT = 100  # characters; the title is the one line a phone's notification shows


class DingTalkRobot:
    kind = "dingtalk"

    def send(self, config: dict, out: Outgoing) -> Result:
        problem = webhook_problem(config)
        if problem:
            return Result(ok=False, detail=problem)
        secret = config.get("secret") or ""
        if not isinstance(secret, str):
            return Result(ok=False, detail=_("签名密钥格式不对"))
        title = plain(cut(out.title, TITLE_LIMIT))
        card = bool(out.url) and (config.get("message") == "action_card" or out.severity == "critical")
        payload = fit(lambda text: self.message(title, text, out.url, card), plain(out.text), BODY_LIMIT)
        params = signature(secret) if secret else {}
        return post_json(config["webhook"], payload, read_errcode, RETRYABLE, _("钉钉"), params)

    @staticmethod
    def message(title: str, text: str, url: str, card: bool) -> dict:
        body = f"#### {title}\n\n{text}"
        if card:
            return {"msgtype": "actionCard",
                    "actionCard": {"title": title, "text": body, "singleTitle": _("查看"), "singleURL": url}}
        if url:
            body += f"\n\n[{_('查看详情')}]({url})"
        return {"msgtype": "markdown", "markdown": {"title": title, "text": body}}


def signature(secret: str) -> dict:
    timestamp = str(int(clock.now().timestamp() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    # httpx percent-encodes the query value, which is the documented urlencode step.
    return {"timestamp": timestamp, "sign": base64.b64encode(digest).decode()}


def read_errcode(answer: dict) -> tuple[object, str]:
    return answer.get("errcode"), str(answer.get("errmsg", ""))


# --- shared by the group robots (dingtalk, wecom, feishu) -------------------------------------

# User text lands in markdown that the group renders: a hazard description must not become a
# forged link, a coloured tag or an @everyone. Full-width look-alikes keep the words readable.
_MARKUP = str.maketrans({"[": "［", "]": "］", "<": "＜", ">": "＞"})


def plain(text: str) -> str:
    return text.translate(_MARKUP)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cut_bytes(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes, never splitting a character, with "…" when something went."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: max(limit - 3, 0)].decode(errors="ignore") + "…"


def encode(payload: dict) -> bytes:
    # Chinese as UTF-8 (3 bytes), not \\uXXXX escapes (6): the services count bytes.
    return json.dumps(payload, ensure_ascii=False).encode()


def fit(build: Callable[[str], dict], text: str, limit: int) -> dict:
    """The payload `build(text)` with the text cut as little as possible for the whole body to be
    at most `limit` bytes (a body the service refuses as too long helps nobody). JSON escapes make
    the body grow unevenly with the text, so the cut is found by bisection."""
    payload = build(text)
    if len(encode(payload)) <= limit:
        return payload
    fits, too_long = 0, len(text.encode())
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if len(encode(build(cut_bytes(text, middle)))) <= limit:
            fits = middle
        else:
            too_long = middle
    return build(cut_bytes(text, fits) if fits > 3 else "")


def webhook_problem(config: dict) -> str:
    url = config.get("webhook")
    if not url or not isinstance(url, str):
        return _("没有配置 webhook 地址")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        parts = None
    if not parts or parts.scheme not in ("http", "https") or not parts.hostname:
        return _("webhook 地址必须是 http 或 https 网址")
    return ""


def post_json(url: str, payload: dict, read: Callable[[dict], tuple[object, str]], retryable: frozenset,
              service: str, params: dict | None = None) -> Result:
    """POST `payload` and judge the answer: `read` gives the service's (code, message); code 0 is
    success, a code in `retryable` asks for another try, any other code is final. Network trouble,
    HTTP 429 and 5xx are worth retrying; an answer that is not the service's JSON is not."""
    try:
        target = httpx.URL(url).copy_merge_params(params or {})
        response = http_client().post(target, content=encode(payload), timeout=TIMEOUT_SECONDS,
                                      headers={"Content-Type": "application/json; charset=utf-8"})
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        return Result(ok=False, retry=True, detail=_("连接失败，消息未发出：%s") % exc)
    except httpx.TimeoutException as exc:
        # The request may have arrived: the worker must treat this attempt as uncertain.
        return Result(ok=False, retry=True, detail=_("等待应答超时，对方可能已收到：%s") % (exc or type(exc).__name__))
    except httpx.HTTPError as exc:
        return Result(ok=False, retry=True, detail=_("网络错误：%s") % (exc or type(exc).__name__))
    except (httpx.InvalidURL, ValueError) as exc:
        return Result(ok=False, detail=_("webhook 地址无效：%s") % exc)
    text = response.text
    if response.status_code == 429 or response.status_code >= 500:
        return Result(ok=False, retry=True, detail=_("%(service)s暂时不可用（HTTP %(status)s）")
                      % {"service": service, "status": response.status_code}, response=text)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    code, message = read(answer) if isinstance(answer, dict) else (None, "")
    if not isinstance(code, int) or isinstance(code, bool):
        # 200 with a body that is not the service's answer: most likely the webhook points at
        # something else (a portal, a proxy page). Sending again would not change that and might
        # post twice if the message did get through, so it is final; the body stays in the log.
        return Result(ok=False, detail=_("%(service)s的应答无法识别（HTTP %(status)s）")
                      % {"service": service, "status": response.status_code}, response=text)
    if code == 0:
        return Result(ok=True, detail="ok", response=text)
    return Result(ok=False, retry=code in retryable, detail=_("%(service)s拒绝：%(code)s %(message)s")
                  % {"service": service, "code": code, "message": message}, response=text)
