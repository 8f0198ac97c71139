"""Outbound webhook signed with HMAC-SHA256, for a company's own systems (a DCS gateway, a
ticketing tool, a chat bridge).

Request: `POST <config["url"]>` with a JSON body
`{"id", "event", "title", "text", "url", "severity", "sent_at"}` (UTF-8, no spaces) and headers

- `X-Anlian-Timestamp`: seconds since the epoch when this attempt was signed;
- `X-Anlian-Signature: sha256=<hex HMAC-SHA256(config["secret"], f"{timestamp}.{body}")>`;
- `Idempotency-Key`: the delivery's key, the same on every attempt (also the body's `id`), so a
  receiver that got an attempt whose answer was lost can drop the retry.

The signed string is Stripe's (the timestamp, a dot, the raw body:
https://www.rubydoc.info/gems/stripe/Stripe/Webhook/Signature `compute_signature`), the header
form GitHub's `X-Hub-Signature-256: sha256=<hex>`
(https://docs.github.com/webhooks/securing, "Validating webhook deliveries"); `Idempotency-Key`
is the IETF draft's header (https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/).
docs/notifications.md ("Outbound webhook") tells a receiver how to verify it.

Answers: 2xx delivered; 408, 429 and 5xx are worth another attempt (RFC 9110 §15.5.9, RFC 6585 §4,
§15.6); any other 4xx is the receiver refusing this request for good. A network error or timeout is
retried: the receiver drops a duplicate by its key.

`post()` and `http_result()` are shared with the SMS gateways.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from urllib.parse import urlsplit

import httpx
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.notify.transports import TIMEOUT_SECONDS, Outgoing, Result, http_client

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429})
RESPONSE_CHARS = 2000  # what the delivery log keeps of an answer


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Anlian-Signature value for one request."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def http_result(response: httpx.Response) -> Result:
    """Classify a plain HTTP answer: 2xx ok, 408/429/5xx retry, other statuses permanent."""
    status = response.status_code
    answer = response.text[:RESPONSE_CHARS]
    if 200 <= status < 300:
        return Result(ok=True, detail=f"HTTP {status}", response=answer)
    retry = status in RETRY_STATUSES or status >= 500
    return Result(ok=False, retry=retry, detail=f"HTTP {status}", response=answer)


def usable_url(url) -> bool:
    """An http(s) URL with a host and a valid port: anything else is a configuration mistake."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def post(url: str, **kwargs) -> httpx.Response | Result:
    """POST, answering the response, or a Result when nothing usable came back (never raises).

    Connection refused and timeouts are retried; a URL that cannot be requested at all is a
    configuration mistake that another attempt will not fix."""
    if not usable_url(url):
        return Result(ok=False, detail=_("渠道配置缺少有效的 URL"))
    if not all(str(value).isprintable() for value in (kwargs.get("headers") or {}).values()):
        return Result(ok=False, detail=_("请求头含有控制字符"))  # a line break would split the header
    try:
        return http_client().post(url, timeout=TIMEOUT_SECONDS, **kwargs)
    except httpx.TransportError as exc:  # connect, read, write, timeout, protocol
        return Result(ok=False, retry=True, detail=_("网络错误：%(error)s") % {"error": type(exc).__name__})
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        return Result(ok=False, detail=_("请求无法发出：%(error)s") % {"error": type(exc).__name__})


def guarded(send):
    """A transport never raises: an unforeseen error becomes a permanent failure in the delivery
    log (and a logged traceback) instead of killing the worker's loop."""

    def wrapper(self, config: dict, out: Outgoing) -> Result:
        try:
            return send(self, config if isinstance(config, dict) else {}, out)
        except Exception as exc:  # noqa: BLE001 - the contract is "never raises"
            log.exception("transport %s failed", getattr(self, "kind", "?"))
            return Result(ok=False, detail=_("发送程序出错：%(error)s") % {"error": type(exc).__name__})

    return wrapper


class SignedWebhook:
    kind = "webhook"

    @guarded
    def send(self, config: dict, out: Outgoing) -> Result:
        secret = config.get("secret")
        if not isinstance(secret, str) or not secret:
            return Result(ok=False, detail=_("渠道配置缺少签名密钥"))
        now = clock.now()
        body = json.dumps({
            "id": out.idempotency_key,
            "event": out.extra.get("event", ""),
            "title": out.title,
            "text": out.text,
            "url": out.url,
            "severity": out.severity,
            "sent_at": now.isoformat(),
        }, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Anlian-Timestamp": timestamp,
            "X-Anlian-Signature": sign(secret, timestamp, body),
            "Idempotency-Key": out.idempotency_key,
        }
        answer = post(config.get("url"), content=body, headers=headers)
        return answer if isinstance(answer, Result) else http_result(answer)
