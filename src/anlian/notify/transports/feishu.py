"""Feishu / Lark custom bot (飞书自定义机器人).

Documented by Feishu ("自定义机器人使用指南", open.feishu.cn/document/client-docs/bot-v3/add-custom-bot):

- POST the webhook (`https://open.feishu.cn/open-apis/bot/v2/hook/…`) with a UTF-8 JSON body of
  at most 20 KB; 100 requests a minute and 5 a second per bot.
- With "签名校验", the body carries `timestamp` (seconds, within one hour) and `sign`: the string
  f"{timestamp}\\n{secret}" is the HMAC-SHA256 *key*, the message is empty, and the digest is
  base64-encoded (the reverse of DingTalk, where the secret is the key).
- Messages: {"msg_type": "interactive", "card": …} or {"msg_type": "text", "content": {"text": …}}.
- Answers: {"code":0,"msg":"success","data":{}} (older bots: {"StatusCode":0,…}); refusals e.g.
  19021 (sign match fail or timestamp is not within one hour from current time), 19022 (ip not
  allowed), 19024 (key words not found), 9499 (Bad Request), 11232 (frequency limited), and the
  platform's 99991400 (request trigger frequency limit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.utils.translation import gettext as _

from anlian.core import clock

from . import Outgoing, Result
from .dingtalk import TITLE_LIMIT, cut, fit, plain, post_json, webhook_problem

RETRYABLE = frozenset({11232, 99991400})
BODY_LIMIT = 20_000  # bytes ("不能超过 20 KB", kept under 20 000 to be safe)
COLOURS = {"critical": "red", "warning": "orange"}


class FeishuBot:
    kind = "feishu"

    def send(self, config: dict, out: Outgoing) -> Result:
        problem = webhook_problem(config)
        if problem:
            return Result(ok=False, detail=problem)
        secret = config.get("secret") or ""
        if not isinstance(secret, str):
            return Result(ok=False, detail=_("签名密钥格式不对"))
        signed = signature(secret) if secret else {}
        title = cut(out.title, TITLE_LIMIT)
        build = self.text if config.get("message") == "text" else self.card
        payload = fit(lambda text: {**signed, **build(title, text, out)}, out.text, BODY_LIMIT)
        return post_json(config["webhook"], payload, read_code, RETRYABLE, _("飞书"))

    @staticmethod
    def card(title: str, text: str, out: Outgoing) -> dict:
        # plain_text everywhere: nothing a user typed is read as markup or as an @mention.
        elements = [{"tag": "div", "text": {"tag": "plain_text", "content": text}}]
        if out.url:
            elements.append({"tag": "action", "actions": [{
                "tag": "button", "type": "primary", "url": out.url,
                "text": {"tag": "plain_text", "content": _("查看")},
            }]})
        return {"msg_type": "interactive", "card": {
            "config": {"wide_screen_mode": True},
            "header": {"template": COLOURS.get(out.severity, "blue"),
                       "title": {"tag": "plain_text", "content": title}},
            "elements": elements,
        }}

    @staticmethod
    def text(title: str, text: str, out: Outgoing) -> dict:
        # Text messages do read <at user_id="all"> tags, so user text is defused first.
        lines = [plain(title), plain(text), out.url]
        return {"msg_type": "text", "content": {"text": "\n".join(line for line in lines if line)}}


def signature(secret: str) -> dict:
    timestamp = str(int(clock.now().timestamp()))
    key = f"{timestamp}\n{secret}".encode()
    return {"timestamp": timestamp, "sign": base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()}


def read_code(answer: dict) -> tuple[object, str]:
    if "code" in answer:
        return answer["code"], str(answer.get("msg", ""))
    return answer.get("StatusCode"), str(answer.get("StatusMessage", ""))
