"""SMS: Alibaba Cloud Short Message Service (Dysmsapi `SendSms`) and a generic HTTP gateway.

Aliyun (`sms_aliyun`): the RPC API `SendSms`, version 2017-05-25
(https://help.aliyun.com/document_detail/55284.html), sent as `POST` of a form to
`config["endpoint"]` (default https://dysmsapi.aliyuncs.com/). Parameters: the common ones
(Action, Version, Format=JSON, AccessKeyId, SignatureMethod=HMAC-SHA1, SignatureVersion=1.0,
SignatureNonce (a fresh UUID per request), Timestamp (UTC, yyyy-MM-ddTHH:mm:ssZ), RegionId) and
PhoneNumbers, SignName, TemplateCode, TemplateParam (a JSON object of the template's variables)
and OutId (the delivery's idempotency key, so the receipt names our delivery).

Signature, "signature method" (https://www.alibabacloud.com/help/en/sms/signature-method):
sort all parameters but Signature by name; percent-encode names and values as UTF-8 keeping only
A-Z a-z 0-9 - _ . ~ (so space is %20, `*` is %2A and `~` stays); join as `name=value` with `&`;
StringToSign = `POST&%2F&` + percentEncode(that string); Signature =
Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)).

Answer: JSON `{"Code": "OK", "Message": "OK", "BizId": ..., "RequestId": ...}`; a refusal carries
another Code ("API error codes", https://help.aliyun.com/document_detail/101346.html), e.g.
`isv.BUSINESS_LIMIT_CONTROL` (flow control per number and minute/hour/day: later is fine, so
retried), `isp.SYSTEM_ERROR` (retried), `isv.MOBILE_NUMBER_ILLEGAL`, `isv.AMOUNT_NOT_ENOUGH`,
`isv.OUT_OF_SERVICE`, `isv.DAY_LIMIT_CONTROL` (the company's own daily cap) and the gateway's
`SignatureDoesNotMatch` / `InvalidAccessKeyId.NotFound` (HTTP 400/404): all permanent. Without a
Code, 429 and 5xx are retried. SendSms itself is not idempotent (the page says so): a timeout
after the request left is retried, and that attempt may duplicate a message the first one sent.

Generic gateway (`sms_http`): `POST config["url"]` with JSON `{"phone", "text", "id"}` (`id` = the
idempotency key, also sent as `Idempotency-Key`) and `Authorization: Bearer <config["token"]>`.
2xx ok, 408/429/5xx retried, other statuses permanent, as for the outbound webhook.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC
from urllib.parse import quote

import httpx
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.notify.transports import Outgoing, Result
from anlian.notify.transports.webhook import RESPONSE_CHARS, guarded, http_result, post

ALIYUN_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
ALIYUN_RETRY_CODES = frozenset({
    "isv.BUSINESS_LIMIT_CONTROL",  # flow control: the same number again after a pause
    "isp.SYSTEM_ERROR",
    "Throttling", "Throttling.User", "ServiceUnavailable", "InternalError",
})
# The fields of an Outgoing a template may use as variables (config "template_vars").
TEMPLATE_FIELDS = ("title", "text", "url", "severity")


def percent_encode(value: str) -> str:
    """Aliyun's percentEncode: RFC 3986 unreserved characters stay, everything else is %XX."""
    return quote(value, safe="-_.~")


def aliyun_signature(params: dict[str, str], secret: str, method: str = "POST") -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    mac = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _text(value) -> str:
    return value if isinstance(value, str) else ""


class AliyunSms:
    kind = "sms_aliyun"

    @guarded
    def send(self, config: dict, out: Outgoing) -> Result:
        required = ("access_key_id", "access_key_secret", "sign_name", "template_code")
        if not all(_text(config.get(name)) for name in required):
            return Result(ok=False, detail=_("短信渠道配置不完整（AccessKey、签名、模板）"))
        if not out.address:
            return Result(ok=False, detail=_("收件人没有手机号"))
        params = self.params(config, out)
        params["Signature"] = aliyun_signature(params, config["access_key_secret"])
        answer = post(_text(config.get("endpoint")) or ALIYUN_ENDPOINT, data=params)
        return answer if isinstance(answer, Result) else self.result(answer)

    @staticmethod
    def params(config: dict, out: Outgoing) -> dict[str, str]:
        names = config.get("template_vars") or ["title"]
        variables = {name: getattr(out, name) for name in names if name in TEMPLATE_FIELDS}
        return {
            "Action": "SendSms",
            "Version": "2017-05-25",
            "Format": "JSON",
            "RegionId": _text(config.get("region_id")) or "cn-hangzhou",
            "AccessKeyId": config["access_key_id"],
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": uuid.uuid4().hex,
            "Timestamp": clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "PhoneNumbers": out.address,
            "SignName": config["sign_name"],
            "TemplateCode": config["template_code"],
            "TemplateParam": json.dumps(variables, ensure_ascii=False),
            "OutId": out.idempotency_key,
        }

    @staticmethod
    def result(response: httpx.Response) -> Result:
        answer = response.text[:RESPONSE_CHARS]
        try:
            code = response.json().get("Code")
        except (ValueError, AttributeError):
            code = None
        if not isinstance(code, str):
            plain = http_result(response)
            # A 2xx without a Code is not the documented success answer.
            return plain if not plain.ok else Result(ok=False, retry=True, detail=plain.detail, response=answer)
        if code == "OK":
            return Result(ok=True, detail="OK", response=answer)
        return Result(ok=False, retry=code in ALIYUN_RETRY_CODES, detail=code[:100], response=answer)


class HttpSms:
    kind = "sms_http"

    @guarded
    def send(self, config: dict, out: Outgoing) -> Result:
        token = _text(config.get("token"))
        if not token:
            return Result(ok=False, detail=_("短信网关配置缺少令牌"))
        if not out.address:
            return Result(ok=False, detail=_("收件人没有手机号"))
        text = "\n".join(part for part in (out.title, out.text, out.url) if part)
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": out.idempotency_key}
        answer = post(config.get("url"), json={"phone": out.address, "text": text, "id": out.idempotency_key},
                      headers=headers)
        return answer if isinstance(answer, Result) else http_result(answer)
