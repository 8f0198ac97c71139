"""E-mail over SMTP with the standard library's smtplib
(https://docs.python.org/3/library/smtplib.html).

Config: `host`, `port` (default 465 with `use_tls`, 587 with `starttls`, else 25), `use_tls`
(implicit TLS, `SMTP_SSL`), `starttls` (upgrade a plain connection), `username` and `password`
(AUTH after TLS when both are set), `from` (the sender address).

The message is multipart/alternative: plain text and HTML, each with the link. Its `Message-ID`
is made from the delivery's idempotency key (`<key@sender-domain>`), the same on every attempt, so
a resend after a lost answer is recognisable as the same message (RFC 5322 §3.6.4).

Answers (RFC 5321 §4.2.1): a 4yz reply is a transient failure (451 local error, 421 service not
available, 452 storage): retried. A 5yz reply is permanent: 535 authentication refused, 550/553
mailbox refused or unknown. smtplib raises `SMTPResponseException` (with `smtp_code`) for a refused
reply, `SMTPRecipientsRefused` (a code per recipient) when every recipient is refused,
`SMTPAuthenticationError` for a refused AUTH, `SMTPNotSupportedError` when the server lacks AUTH or
STARTTLS (configuration: permanent), and `OSError` for a refused connection or a timeout (retried).
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from html import escape

from django.utils.translation import gettext as _

from anlian.notify.transports import TIMEOUT_SECONDS, Outgoing, Result
from anlian.notify.transports.webhook import guarded

NOT_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def message_id(key: str, sender: str) -> str:
    """`<key@domain>`: the same key gives the same Message-ID on every attempt."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "anlian.invalid"  # sender may be "名字 <a@b>"
    local = NOT_ID_CHARS.sub("", key)
    return f"<{local}@{domain}>" if local else make_msgid(domain=domain)


def build(config: dict, out: Outgoing) -> EmailMessage:
    sender = config["from"]
    msg = EmailMessage()
    msg["Subject"] = " ".join(out.title.split())  # a line break in a header would be an injection
    msg["From"] = sender
    msg["To"] = out.address
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id(out.idempotency_key, sender)
    if out.severity == "critical":
        msg["Importance"] = "high"  # RFC 2156; mail clients show it as urgent
    link = f"\n\n{out.url}" if out.url else ""
    msg.set_content(f"{out.text}{link}\n")
    anchor = f'<p><a href="{escape(out.url)}">{escape(_("打开查看"))}</a></p>' if out.url else ""
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in out.text.splitlines() if line.strip())
    msg.add_alternative(f"<!doctype html><html><body><h2>{escape(out.title)}</h2>{paragraphs}{anchor}"
                        "</body></html>", subtype="html")
    return msg


def _port(config: dict) -> int:
    default = 465 if config.get("use_tls") else 587 if config.get("starttls") else 25
    return int(config.get("port") or default)


def _open(config: dict) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if config.get("use_tls"):
        return smtplib.SMTP_SSL(config["host"], _port(config), timeout=TIMEOUT_SECONDS, context=context)
    smtp = smtplib.SMTP(config["host"], _port(config), timeout=TIMEOUT_SECONDS)
    if config.get("starttls"):
        smtp.starttls(context=context)
    return smtp


def _refused(code: int, reply) -> Result:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return Result(ok=False, retry=400 <= code < 500, detail=f"SMTP {code}", response=text[:500])


class Smtp:
    kind = "email"

    @guarded
    def send(self, config: dict, out: Outgoing) -> Result:
        if not isinstance(config.get("host"), str) or not isinstance(config.get("from"), str) or "@" not in config["from"]:
            return Result(ok=False, detail=_("邮件渠道配置缺少服务器或发件地址"))
        if "@" not in out.address or any(c in out.address for c in "\r\n,;"):
            return Result(ok=False, detail=_("收件人没有邮箱地址"))
        try:
            port = _port(config)
        except (TypeError, ValueError):
            return Result(ok=False, detail=_("邮件渠道配置的端口无效"))
        if not 0 < port < 65536:
            return Result(ok=False, detail=_("邮件渠道配置的端口无效"))
        msg = build(config, out)
        try:
            with _open(config) as smtp:
                if config.get("username") and config.get("password"):
                    smtp.login(str(config["username"]), str(config["password"]))
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            return _refused(code, reply)
        except smtplib.SMTPResponseException as exc:  # AUTH refused, sender refused, DATA refused, ...
            return _refused(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:
            return Result(ok=False, detail=_("邮件服务器不支持：%(error)s") % {"error": exc})
        except ssl.SSLCertVerificationError as exc:
            return Result(ok=False, detail=_("邮件服务器证书无效：%(error)s") % {"error": exc.verify_message})
        except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, dropped connection
            return Result(ok=False, retry=True, detail=_("网络错误：%(error)s") % {"error": type(exc).__name__})
        return Result(ok=True, detail=msg["Message-ID"])
