"""WeCom group robot (企业微信群机器人, "消息推送").

Documented by WeCom (developer.work.weixin.qq.com/document/path/91770, "群机器人配置说明", and
the global error codes at open.work.weixin.qq.com/devtool/query):

- POST the webhook (`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`; the key in the URL
  is the only credential, there is no signature) with a UTF-8 JSON body.
- Markdown message: {"msgtype": "markdown", "markdown": {"content": …}}, content at most 4096
  bytes (longer is refused with 40058 "markdown.content exceed max length 4096").
- Answers: {"errcode":0,"errmsg":"ok"}; refusals e.g. 93000 (invalid webhook url), 40058
  (invalid parameter), 40008 (invalid message type), 45009 (api freq out of limit: 20 messages a
  minute per robot), -1 (system busy).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from . import Outgoing, Result
from .dingtalk import TITLE_LIMIT, cut, cut_bytes, plain, post_json, webhook_problem

RETRYABLE = frozenset({-1, 45009, 45033})  # busy, frequency limit, concurrency limit
CONTENT_LIMIT = 4096  # bytes of markdown.content


class WeComRobot:
    kind = "wecom"

    def send(self, config: dict, out: Outgoing) -> Result:
        problem = webhook_problem(config)
        if problem:
            return Result(ok=False, detail=problem)
        return post_json(config["webhook"], self.message(out), read_errcode, RETRYABLE, _("企业微信"))

    @staticmethod
    def message(out: Outgoing) -> dict:
        head = f"**{plain(cut(out.title, TITLE_LIMIT))}**"
        if out.severity == "critical":
            head = f'<font color="warning">{_("紧急")}</font> {head}'
        tail = f"\n[{_('查看详情')}]({out.url})" if out.url else ""
        # The link is what makes the message useful, so the body gives way, not the link.
        room = CONTENT_LIMIT - len(f"{head}\n{tail}".encode())
        content = f"{head}\n{cut_bytes(plain(out.text), max(room, 0))}{tail}"
        return {"msgtype": "markdown", "markdown": {"content": cut_bytes(content, CONTENT_LIMIT)}}


def read_errcode(answer: dict) -> tuple[object, str]:
    return answer.get("errcode"), str(answer.get("errmsg", ""))
