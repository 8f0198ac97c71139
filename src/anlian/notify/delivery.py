"""The delivery engine: a message fans out into deliveries once, and the worker sends each one
exactly once as far as the receiving service lets us know.

- `notify()` creates the `Message` once per (company, key) and one `Delivery` per recipient and
  channel, each with an idempotency key derived from what it is (message, kind, channel,
  recipient), so neither a replayed call nor a retried timer ever creates a second one.
- `send_due()` is the worker's loop. It claims due deliveries with one UPDATE … RETURNING that
  only matches rows still pending or waiting for a retry, so of two workers exactly one wins each
  row; it sends them through their transport, channel by channel, and records the outcomes of
  each chunk in one transaction right after the chunk (the inbox writes a whole batch of notices
  at once). Before a chunk of sends to a receiver that cannot drop repeats, one UPDATE marks the
  chunk "in flight" (`IN_FLIGHT_CHUNK` rows): a crash makes that chunk uncertain, never more.
- A failed attempt is retried after 1, 5, 30, 120 and 600 minutes, then the delivery is dead.
- A delivery still "sending" after `STUCK_AFTER` was interrupted (the worker died mid-send): we
  cannot know whether the service got it. Where the receiver drops a repeated idempotency key
  (the inbox's keyed notice, a signed webhook's Idempotency-Key) it is simply
  sent again with the same key; a group robot, an SMTP server or an SMS service would show it
  twice (Aliyun documents SendSms as not idempotent: OutId only names the receipt), so such a
  delivery becomes "uncertain" and waits for a person to look and press "resend" (`resend()`).

Quiet hours, routing and preferences are not decided here: callers name the people and channels.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.core.errors import Conflict, Invalid
from anlian.notify.models import Channel, ChannelKind, Delivery, DeliveryStatus, Message, Severity
from anlian.notify.transports import Outgoing, Result, registry
from anlian.orgs import access
from anlian.orgs.models import OrgKind, OrgUnit, Person
from anlian.orgs.permissions import MANAGE_ORG

log = logging.getLogger(__name__)

RETRY_MINUTES = (1, 5, 30, 120, 600)  # after the 1st, 2nd … failed attempt
MAX_ATTEMPTS = len(RETRY_MINUTES) + 1  # the first try and five retries; dead after the last
STUCK_AFTER = timedelta(minutes=10)  # far beyond a transport's timeout: the worker is gone
BATCH = 200  # claimed at once; its ids in one IN (…) stay far below SQLite's 999 parameters
IN_FLIGHT_CHUNK = 20  # non-deduplicated sends marked "in flight" together: the most a crash leaves uncertain
RESPONSE_LIMIT = 2000
ERROR_LIMIT = 500  # Delivery.last_error's length

# Receivers that drop a repeated idempotency key: an interrupted send may be repeated with it.
DEDUPLICATING = frozenset({ChannelKind.INBOX, ChannelKind.WEBHOOK})
GROUP_KINDS = frozenset({ChannelKind.DINGTALK, ChannelKind.WECOM, ChannelKind.FEISHU, ChannelKind.WEBHOOK})
SMS_KINDS = frozenset({ChannelKind.SMS_ALIYUN, ChannelKind.SMS_HTTP})
DUE = (DeliveryStatus.PENDING, DeliveryStatus.RETRY)
RESENDABLE = (DeliveryStatus.DEAD, DeliveryStatus.UNCERTAIN)
IN_FLIGHT = "in flight"  # last_error of a claimed delivery whose request may have left


def absolute(url: str) -> str:
    """Links in messages open from DingTalk or an SMS, outside the site: make them absolute."""
    if not url or url.startswith(("http://", "https://")):
        return url
    return settings.SITE_URL + ("" if url.startswith("/") else "/") + url


def idempotency_key(message: Message, kind: str, channel: Channel | None, recipient: str) -> str:
    # The company is part of it: two companies may use the same message key.
    raw = "\x1f".join([str(message.company_id), message.key, kind, str(channel.pk if channel else ""), recipient])
    return hashlib.sha256(raw.encode()).hexdigest()


def fixed_addresses(channel: Channel) -> list[str]:
    """E-mail addresses a channel's config names (`to`: a list or a comma-separated text)."""
    value = channel.config.get("to", [])
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    return [str(a).strip() for a in items if str(a).strip()]


def notify(company: OrgUnit, *, key: str, event: str, title: str, body: str = "", url: str = "",
           severity: str = Severity.INFO, to: Iterable[Person] = (), channels: Iterable[Channel] | None = None,
           context: dict | None = None, now: datetime | None = None,
           not_before: dict[int, datetime] | None = None, muted: dict[int, set[str]] | None = None) -> Message:
    """Tell `to` (each in the in-app inbox, and by SMS where an SMS channel is named and the person
    has a phone) and post to each named group channel. `channels` None: the inbox only.

    Routing passes each person's choices: `not_before` holds a person's deliveries until their quiet
    hours end (the inbox still shows at once), `muted` skips the channel kinds they turned off.

    Called again with the same key it creates nothing and returns the first message. A person or
    channel of another company is refused (a caller's bug must not leak a message).
    """
    now = now or clock.now()
    people = list(to)
    chosen = list(channels or [])
    if company.kind != OrgKind.COMPANY:
        raise Invalid(_("消息须发给一个公司"), field="company")
    if severity not in Severity.values:
        raise Invalid(_("未知的消息级别"), field="severity")
    if any(p.company_id != company.pk for p in people):
        raise Invalid(_("收件人不属于该公司"), field="to")
    if any(c.company_id != company.pk for c in chosen):
        raise Invalid(_("通知渠道不属于该公司"), field="channels")
    with transaction.atomic():
        message, created = Message.objects.get_or_create(company=company, key=key[:200], defaults={
            "event": event[:60], "severity": severity, "title": title[:200], "body": body,
            "context": context or {}, "url": absolute(url)[:500], "created_at": now})
        if not created:
            return message
        _insert(_deliveries(message, people, chosen, now, not_before or {}, muted or {}))
        transaction.on_commit(lambda: _send_soon(message.pk))
    return message


def _deliveries(message: Message, people: list[Person], channels: list[Channel], now: datetime,
                not_before: dict[int, datetime], muted: dict[int, set[str]]) -> list[tuple]:
    """The rows to insert, as `INSERTED` tuples, one per idempotency key."""
    rows: dict[str, tuple] = {}
    adapt = connection.ops.adapt_datetimefield_value
    at = adapt(now)

    def add(kind: str, channel: Channel | None, person: Person | None, address: str, skip: str = "") -> None:
        recipient = f"p{person.pk}" if person else address
        key = idempotency_key(message, kind, channel, recipient)
        if not skip and person is not None and kind in muted.get(person.pk, ()):
            skip = _("本人已关闭该渠道")
        due = now
        if person is not None and kind != ChannelKind.INBOX and person.pk in not_before:
            due = max(now, not_before[person.pk])  # quiet hours: the phone stays silent until they end
        rows[key] = (message.pk, person.pk if person else None, channel.pk if channel else None, kind, address[:200],
                     key, DeliveryStatus.SKIPPED if skip else DeliveryStatus.PENDING, 0, str(skip), "", LANGUAGE,
                     None if skip else (at if due == now else adapt(due)), at)

    for person in people:
        add(ChannelKind.INBOX, None, person, "", "" if person.is_active else _("人员已停用"))
    for channel in channels:
        if channel.kind == ChannelKind.INBOX:  # the inbox is always used; an inbox channel adds nothing
            continue
        off = "" if channel.is_active else _("渠道已停用")
        if channel.kind in GROUP_KINDS:
            add(channel.kind, channel, None, "", off)
        elif channel.kind in SMS_KINDS:
            for person in people:
                reason = off or ("" if person.is_active else _("人员已停用")) or ("" if person.phone else _("没有手机号"))
                add(channel.kind, channel, person, person.phone, reason)
        elif channel.kind == ChannelKind.EMAIL:
            # People have no e-mail address on file: only the channel's fixed addresses get mail.
            for address in fixed_addresses(channel):
                add(channel.kind, channel, None, address, off)
    return list(rows.values())


INSERTED = ("message_id", "person_id", "channel_id", "kind", "address", "idempotency_key", "status", "attempts",
            "last_error", "response", "language", "next_attempt_at", "created_at")
LANGUAGE = Delivery._meta.get_field("language").default


def _insert(rows: list[tuple]) -> None:
    """Insert deliveries; one whose idempotency key exists is left out (the unique key is the last
    word on "never twice"). Raw SQL: the ORM's bulk_create spends more Python preparing a
    thousand rows of plain values than the database spends storing them."""
    table = connection.ops.quote_name(Delivery._meta.db_table)
    sql = (f"INSERT INTO {table} ({', '.join(INSERTED)}) VALUES ({', '.join(['%s'] * len(INSERTED))}) "
           "ON CONFLICT (idempotency_key) DO NOTHING")
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _send_soon(message_id: int) -> None:
    """Queue a send of this message's deliveries now, so an alarm does not wait for the minute."""
    from anlian.notify.tasks import send_message

    try:
        send_message(message_id)
    except Exception:  # noqa: BLE001 - the queue being down must not undo the message: the minute task sends it
        log.exception("notify: could not queue message %s", message_id)


# --- sending ---------------------------------------------------------------------------------------


def send_due(now: datetime | None = None, limit: int = BATCH, message_id: int | None = None) -> dict[str, int]:
    """Claim and send due deliveries (of one message, if given), in batches until none is due or
    `limit` were claimed; returns counts per outcome."""
    now = now or clock.now()
    counts: Counter[str] = Counter()
    recover_stuck(now, counts)
    claimed = 0
    while claimed < limit:
        rows = _claim(now, min(BATCH, limit - claimed), message_id)
        if not rows:
            break
        claimed += len(rows)
        counts.update(_send_batch(_loaded(rows), now))
    return dict(counts)


CLAIMED = ("id", "message_id", "channel_id", "person_id", "kind", "address", "idempotency_key", "attempts", "language")


def claim(now: datetime, limit: int, message_id: int | None = None) -> list[int]:
    """Mark up to `limit` due deliveries "sending" and return their ids, oldest first."""
    return [row[0] for row in _claim(now, limit, message_id)]


def _claim(now: datetime, limit: int, message_id: int | None) -> list[tuple]:
    """One statement, and it re-checks the status of each row it changes: a row another worker
    claimed first is not ours. It returns what sending needs (`CLAIMED`), so nothing is read again."""
    table = connection.ops.quote_name(Delivery._meta.db_table)
    at = connection.ops.adapt_datetimefield_value(now)
    only = "AND message_id = %s" if message_id is not None else ""
    sql = (f"UPDATE {table} SET status = %s, sending_since = %s, attempts = attempts + 1, last_error = '' "
           f"WHERE status IN (%s, %s) AND id IN (SELECT id FROM {table} WHERE status IN (%s, %s) "
           f"AND next_attempt_at <= %s {only} ORDER BY next_attempt_at, id LIMIT %s) RETURNING {', '.join(CLAIMED)}")
    params: list[Any] = [DeliveryStatus.SENDING, at, *DUE, *DUE, at]
    if message_id is not None:
        params.append(message_id)
    params.append(limit)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # RETURNING follows no ORDER BY: restore the claim's order (ids grow with next_attempt_at
    # within a message, and a batch is sent whole before the next claim anyway).
    return sorted(rows, key=lambda row: row[0])


@dataclass(slots=True)
class Claimed:
    """A claimed delivery as sending needs it (a model instance per row would cost more than the
    send's bookkeeping); `deliver` takes a `Delivery` as well."""

    pk: int
    message_id: int
    channel_id: int | None
    person_id: int | None
    kind: str
    address: str
    idempotency_key: str
    attempts: int
    language: str
    message: Message | None = None
    channel: Channel | None = None


def _loaded(rows: list[tuple]) -> list[Claimed]:
    """Claimed rows with their messages and channels (two queries a batch, shared by its rows)."""
    messages = Message.objects.in_bulk({row[1] for row in rows})
    channels = Channel.objects.in_bulk({row[2] for row in rows if row[2] is not None})
    loaded = []
    for row in rows:
        claimed = Claimed(*row)
        claimed.message, claimed.channel = messages[claimed.message_id], channels.get(claimed.channel_id)
        loaded.append(claimed)
    return loaded


def outgoing(delivery: Delivery | Claimed) -> Outgoing:
    message = delivery.message
    return Outgoing(title=message.title, text=message.body, url=message.url, address=delivery.address,
                    idempotency_key=delivery.idempotency_key, severity=message.severity,
                    extra={"delivery_id": delivery.pk, "message_id": message.pk, "message_key": message.key,
                           "event": message.event, "company_id": message.company_id,
                           "person_id": delivery.person_id, "language": delivery.language})


def deliver(delivery: Delivery, now: datetime) -> str:
    """Send one claimed delivery and record what happened; returns the new status."""
    return _send_batch([delivery], now)[0]


def _send_batch(deliveries: list[Delivery] | list[Claimed], now: datetime) -> list[str]:
    """Send claimed deliveries, channel by channel in claim order, and record the outcomes.

    Outcomes are written per chunk in one transaction, after the chunk's sends: a crash before
    that leaves the chunk "sending", which recovery handles as it handles a single send (repeated
    with the same key where the receiver dedupes, else "uncertain" if marked in flight).
    """
    groups: dict[tuple[str, int | None], list[Delivery | Claimed]] = {}
    for delivery in deliveries:
        groups.setdefault((delivery.kind, delivery.channel_id), []).append(delivery)
    statuses = []
    for (kind, _channel), group in groups.items():
        transport = registry.transport(kind)
        config = group[0].channel.config if group[0].channel else {}
        size = BATCH if kind in DEDUPLICATING else IN_FLIGHT_CHUNK
        for start in range(0, len(group), size):
            chunk = group[start:start + size]
            if kind not in DEDUPLICATING:
                # Claimed is not yet sent: mark only the chunk whose requests may now leave, so that
                # after a crash it alone is "uncertain" and the rest of the batch is sent later.
                ids = [d.pk for d in chunk]
                _execute("UPDATE {table} SET last_error = %s WHERE status = %s AND id IN ("
                         + ", ".join(["%s"] * len(ids)) + ")", [IN_FLIGHT, DeliveryStatus.SENDING, *ids])
            outcomes = _send_chunk(transport, config, chunk, now)
            _finish_all([(d.pk, outcome) for d, outcome in zip(chunk, outcomes, strict=True)])
            statuses.extend(outcome[0] for outcome in outcomes)
    return statuses


def _send_chunk(transport: Any, config: dict, chunk: list[Delivery | Claimed], now: datetime) -> list[tuple]:
    """Each delivery's outcome (see `_outcome`); a transport with `send_many` (the inbox) gets the
    whole chunk at once. A transport that raises may or may not have sent: the outcome is unknown."""
    many = getattr(transport, "send_many", None)
    if many is not None:
        try:
            results = many(config, [outgoing(d) for d in chunk])
        except Exception as exc:  # noqa: BLE001 - the transport's bug or its database's
            log.exception("notify: transport %s raised for %d deliveries", transport.kind, len(chunk))
            return [_unknown_outcome(d, now, _("发送程序出错：{e}").format(e=type(exc).__name__)) for d in chunk]
        return [_outcome(d, result, now) for d, result in zip(chunk, results, strict=True)]
    outcomes = []
    for delivery in chunk:
        try:
            result = transport.send(config, outgoing(delivery))
        except Exception as exc:  # noqa: BLE001 - a transport's bug: the request may or may not have left
            log.exception("notify: transport %s raised for delivery %s", delivery.kind, delivery.pk)
            outcomes.append(_unknown_outcome(delivery, now, _("发送程序出错：{e}").format(e=type(exc).__name__)))
        else:
            outcomes.append(_outcome(delivery, result, now))
    return outcomes


def _outcome(delivery: Delivery | Claimed, result: Result, now: datetime) -> tuple:
    """(status, next attempt, sent at, error, response) after an answered attempt."""
    if result.ok:
        return DeliveryStatus.SENT, None, now, "", result.response
    if result.retry and delivery.attempts < MAX_ATTEMPTS:
        next_at = now + timedelta(minutes=RETRY_MINUTES[max(delivery.attempts, 1) - 1])
        return DeliveryStatus.RETRY, next_at, None, result.detail or _("发送失败"), result.response
    return DeliveryStatus.DEAD, None, None, result.detail or _("发送失败"), result.response


def _unknown_outcome(delivery: Delivery | Claimed, now: datetime, error: str) -> tuple:
    """The outcome of an attempt is unknown: repeat it where the receiver drops repeats."""
    if delivery.kind in DEDUPLICATING and delivery.attempts < MAX_ATTEMPTS:
        next_at = now + timedelta(minutes=RETRY_MINUTES[max(delivery.attempts, 1) - 1])
        return DeliveryStatus.RETRY, next_at, None, error, ""
    if delivery.kind in DEDUPLICATING:
        return DeliveryStatus.DEAD, None, None, error, ""
    return DeliveryStatus.UNCERTAIN, None, None, error, ""


def _unknown(delivery: Delivery | Claimed, now: datetime, error: str, stuck_before: datetime | None = None) -> str:
    outcome = _unknown_outcome(delivery, now, error)
    _finish_all([(delivery.pk, outcome)], stuck_before=stuck_before)
    return outcome[0]


def _finish_all(outcomes: list[tuple[int, tuple]], stuck_before: datetime | None = None) -> None:
    """Record outcomes, one statement per row in one transaction (raw SQL: compiling the ORM's
    UPDATE would cost more than running it). Only a row still "sending" is changed (and, when
    recovering a stuck one, only if no other worker has recovered and claimed it again meanwhile)."""
    ops = connection.ops
    stuck = "" if stuck_before is None else " AND sending_since < %s"
    extra = [] if stuck_before is None else [ops.adapt_datetimefield_value(stuck_before)]
    params = [[status, ops.adapt_datetimefield_value(next_at), ops.adapt_datetimefield_value(sent_at),
               str(error)[:ERROR_LIMIT], str(response or "")[:RESPONSE_LIMIT], pk, DeliveryStatus.SENDING, *extra]
              for pk, (status, next_at, sent_at, error, response) in outcomes]
    sql = ("UPDATE {table} SET status = %s, next_attempt_at = %s, sent_at = %s, sending_since = NULL, "
           "last_error = %s, response = %s WHERE id = %s AND status = %s" + stuck)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql.format(table=connection.ops.quote_name(Delivery._meta.db_table)), params)


def _execute(sql: str, params: list[Any]) -> None:
    """One write on the delivery table, committed at once (it is the record of what was sent)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.format(table=connection.ops.quote_name(Delivery._meta.db_table)), params)


def recover_stuck(now: datetime, counts: Counter[str] | None = None) -> int:
    """Deliveries left "sending" by a worker that died: one never started goes back in the queue;
    one that may have left is repeated where the receiver drops repeats, else marked uncertain
    for a person to decide."""
    cutoff = now - STUCK_AFTER
    stuck = Delivery.objects.filter(status=DeliveryStatus.SENDING, sending_since__lt=cutoff)
    changed = 0
    for row in stuck.only("pk", "kind", "attempts", "last_error")[:BATCH]:
        if row.kind in DEDUPLICATING or row.last_error == IN_FLIGHT:
            status = _unknown(row, now, _("发送中断（工作进程停止），无法确认对方是否收到"), stuck_before=cutoff)
        else:
            status = DeliveryStatus.RETRY
            Delivery.objects.filter(pk=row.pk, status=DeliveryStatus.SENDING, sending_since__lt=cutoff).update(
                status=status, next_attempt_at=now, sending_since=None, attempts=F("attempts") - 1,
                last_error=_("工作进程停止，尚未发送，重新排队"))
        changed += 1
        if counts is not None:
            counts[f"recovered_{status}"] += 1
    return changed


def send_one(delivery: Delivery, now: datetime | None = None) -> Delivery:
    """Send a delivery now if it is due (the channel test uses it); returns it refreshed."""
    now = now or clock.now()
    updated = Delivery.objects.filter(pk=delivery.pk, status__in=DUE).update(
        status=DeliveryStatus.SENDING, sending_since=now, attempts=F("attempts") + 1)
    if updated:
        deliver(Delivery.objects.select_related("message", "channel").get(pk=delivery.pk), now)
    delivery.refresh_from_db()
    return delivery


def resend(actor: Any, delivery: Delivery, now: datetime | None = None) -> Delivery:
    """A person decided a dead or uncertain delivery should go again: one more attempt, with the
    same idempotency key (a receiver that dedupes still drops it if the first did arrive).
    Pressing it again while it is queued changes nothing."""
    access.require(actor, MANAGE_ORG, delivery.message.company)
    now = now or clock.now()
    if delivery.status in (*DUE, DeliveryStatus.SENDING):
        return delivery
    if delivery.status not in RESENDABLE:
        raise Conflict(_("状态为“{s}”的投递不能重发").format(s=delivery.get_status_display()), code="not_resendable")
    if delivery.channel is not None and not delivery.channel.is_active:
        raise Conflict(_("渠道“{c}”已停用，请先启用").format(c=delivery.channel.name), code="channel_inactive")
    # One more attempt: a retryable failure after it goes dead again at once (no new schedule).
    attempts = min(delivery.attempts, MAX_ATTEMPTS - 1)
    Delivery.objects.filter(pk=delivery.pk, status__in=RESENDABLE).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now, attempts=attempts,
        last_error=_("{who} 于 {when} 要求重发").format(who=_actor_name(actor), when=_local(now)))
    message_id = delivery.message_id
    transaction.on_commit(lambda: _send_soon(message_id))
    delivery.refresh_from_db()
    return delivery


def _actor_name(actor: Any) -> str:
    person = getattr(actor, "person", None)
    return person.name if person is not None else str(actor)


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def day_start(day: date) -> datetime:
    """Local midnight: the log's dates are the site's local dates, like everything it shows."""
    return timezone.make_aware(datetime.combine(day, time.min))


# --- the delivery log ------------------------------------------------------------------------------


def companies_for(user: Any) -> QuerySet[OrgUnit]:
    """Companies whose channels and delivery log the user manages (MANAGE_ORG at the company)."""
    return access.visible(OrgUnit, user, MANAGE_ORG).filter(kind=OrgKind.COMPANY).order_by("path")


def deliveries_for(user: Any) -> QuerySet[Delivery]:
    return access.visible(Delivery, user, MANAGE_ORG).select_related("message", "person", "channel")


def channels_for(user: Any) -> QuerySet[Channel]:
    return access.visible(Channel, user, MANAGE_ORG).select_related("company")


def search(qs: QuerySet[Delivery], *, person: str = "", q: str = "", channel: str = "", status: str = "",
           kind: str = "", start: Any = None, end: Any = None) -> QuerySet[Delivery]:
    """The log's filters. `channel` is a channel id or "inbox"; `start`/`end` local dates."""
    if person:
        qs = qs.filter(Q(person__name__icontains=person) | Q(person__employee_no__icontains=person)
                       | Q(address__icontains=person))
    if q:
        qs = qs.filter(Q(message__title__icontains=q) | Q(message__body__icontains=q) | Q(message__event__icontains=q))
    if channel == "inbox":
        qs = qs.filter(kind=ChannelKind.INBOX)
    elif channel:
        qs = qs.filter(channel_id=channel)
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if start:
        qs = qs.filter(created_at__gte=day_start(start))
    if end:
        qs = qs.filter(created_at__lt=day_start(end) + timedelta(days=1))
    return qs.order_by("-created_at", "-pk")


# --- channels (admin) ------------------------------------------------------------------------------


class Setting:
    """One setting of a channel kind: how the page asks for it and how it is checked."""

    def __init__(self, key: str, label: Any, kind: str = "text", *, required: bool = False, secret: bool = False,
                 help: Any = "", choices: tuple = ()) -> None:
        self.key, self.label, self.kind, self.required, self.secret = key, label, kind, required, secret
        self.help, self.choices = help, choices


def _settings() -> dict[str, list[Setting]]:
    from django.utils.translation import gettext_lazy as t

    # The keys are the transports' config keys (see each module in anlian.notify.transports).
    # A robot's webhook address carries its access token: it is a secret like the signing key.
    robot_url = Setting("webhook", t("Webhook 地址"), "url", required=True, secret=True,
                        help=t("群设置 → 机器人 → 复制 Webhook 地址"))
    sign_key = Setting("secret", t("加签密钥"), secret=True, help=t("机器人安全设置选“加签”时填写"))
    return {
        ChannelKind.DINGTALK: [robot_url, sign_key, Setting(
            "message", t("消息样式"), "choice", choices=(("markdown", t("Markdown")), ("action_card", t("卡片（带按钮）"))))],
        ChannelKind.WECOM: [robot_url],
        ChannelKind.FEISHU: [robot_url, sign_key, Setting(
            "message", t("消息样式"), "choice", choices=(("card", t("卡片")), ("text", t("纯文本"))))],
        ChannelKind.EMAIL: [
            Setting("host", t("SMTP 服务器"), required=True), Setting("port", t("端口"), "port"),
            Setting("use_tls", t("SSL/TLS 连接"), "bool"), Setting("starttls", t("STARTTLS"), "bool"),
            Setting("username", t("用户名")), Setting("password", t("密码"), secret=True),
            Setting("from", t("发件人地址"), "email", required=True),
            Setting("to", t("收件地址"), "emails", required=True, help=t("多个地址用逗号分隔；人员档案中没有邮箱"))],
        ChannelKind.SMS_ALIYUN: [
            Setting("access_key_id", t("AccessKey ID"), required=True),
            Setting("access_key_secret", t("AccessKey Secret"), required=True, secret=True),
            Setting("sign_name", t("短信签名"), required=True), Setting("template_code", t("模板 CODE"), required=True),
            Setting("endpoint", t("接口地址"), "url", help=t("留空：https://dysmsapi.aliyuncs.com/"))],
        ChannelKind.SMS_HTTP: [Setting("url", t("网关地址"), "url", required=True),
                               Setting("token", t("访问令牌"), required=True, secret=True)],
        ChannelKind.WEBHOOK: [Setting("url", t("接收地址"), "url", required=True),
                              Setting("secret", t("签名密钥"), required=True, secret=True,
                                      help=t("接收方用它验证 X-Anlian-Signature"))],
        ChannelKind.INBOX: [],
    }


def settings_of(kind: str) -> list[Setting]:
    return _settings().get(kind, [])


MASK = "••••••"


def masked(channel: Channel) -> dict[str, Any]:
    """A channel's config for showing: a secret is never echoed back, only that it is set."""
    shown = {}
    for s in settings_of(channel.kind):
        value = channel.config.get(s.key)
        if s.secret:
            shown[s.key] = MASK if value else ""
        elif value not in (None, ""):
            shown[s.key] = value
    return shown


def _clean(kind: str, given: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """Check a kind's settings; a secret left empty keeps the stored one (the page never has it)."""
    from django.core.validators import URLValidator, validate_email
    from django.core.exceptions import ValidationError

    config: dict[str, Any] = {}
    known = {s.key for s in settings_of(kind)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise Invalid(_("该类型渠道没有设置项：{k}").format(k=", ".join(unknown)[:100]), field="config")
    for s in settings_of(kind):
        value = given.get(s.key)
        if s.secret and value in (None, "", MASK):
            value = stored.get(s.key, "")
        if isinstance(value, str):
            value = value.strip()
        if value in (None, "", False, []):
            if s.required:
                raise Invalid(_("请填写“{l}”").format(l=s.label), field=s.key)
            continue
        if s.kind == "bool":
            if not isinstance(value, bool):
                raise Invalid(_("“{l}”须为是或否").format(l=s.label), field=s.key)
        elif s.kind == "port":
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
                raise Invalid(_("端口须为 1–65535 的整数"), field=s.key)
        elif s.kind == "emails":
            items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else None
            if items is None or len(items) > 50:
                raise Invalid(_("收件地址最多 50 个，用逗号分隔"), field=s.key)
            value = [str(a).strip() for a in items if str(a).strip()]
            try:
                for address in value:
                    validate_email(address)
            except ValidationError:
                raise Invalid(_("“{l}”中有无效的邮箱地址").format(l=s.label), field=s.key) from None
        elif not isinstance(value, str) or len(value) > 500:
            raise Invalid(_("“{l}”须为不超过 500 字的文字").format(l=s.label), field=s.key)
        elif s.kind == "url":
            try:
                URLValidator(schemes=["http", "https"])(value)
            except ValidationError:
                raise Invalid(_("“{l}”须为 http 或 https 网址").format(l=s.label), field=s.key) from None
        elif s.kind == "email":
            try:
                validate_email(value)
            except ValidationError:
                raise Invalid(_("“{l}”不是有效的邮箱地址").format(l=s.label), field=s.key) from None
        elif s.kind == "choice" and value not in {c for c, _label in s.choices}:
            raise Invalid(_("“{l}”的取值无效").format(l=s.label), field=s.key)
        config[s.key] = value
    return config


def save_channel(actor: Any, channel: Channel | None, *, company: OrgUnit | None = None, kind: str = "",
                 name: str, is_active: bool = True, config: dict[str, Any]) -> Channel:
    """Add a channel to a company or change one (its kind and company stay)."""
    if channel is None:
        if company is None or company.kind != OrgKind.COMPANY:
            raise Invalid(_("请选择公司"), field="company")
        if kind not in ChannelKind.values or kind == ChannelKind.INBOX:
            raise Invalid(_("未知的渠道类型"), field="kind")
        channel = Channel(company=company, kind=kind)
    access.require(actor, MANAGE_ORG, channel.company)
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise Invalid(_("请填写名称（不超过 60 字）"), field="name")
    if Channel.objects.filter(company=channel.company, name=name).exclude(pk=channel.pk).exists():
        raise Conflict(_("该公司已有名为“{n}”的渠道").format(n=name), field="name", code="duplicate")
    if not isinstance(config, dict):
        raise Invalid(_("配置须为对象"), field="config")
    channel.config = _clean(channel.kind, config, channel.config if channel.pk else {})
    channel.name, channel.is_active = name, bool(is_active)
    channel.save()
    return channel


def delete_channel(actor: Any, channel: Channel) -> None:
    access.require(actor, MANAGE_ORG, channel.company)
    if channel.deliveries.exists():
        raise Conflict(_("该渠道已有投递记录，只能停用，不能删除"), code="in_use")
    channel.delete()


def try_channel(actor: Any, channel: Channel, now: datetime | None = None) -> Delivery:
    """Send a test message through a channel now (also a disabled one: test before enabling) and
    keep it in the delivery log like any other. SMS goes to the tester's own phone, e-mail to the
    channel's first fixed address."""
    access.require(actor, MANAGE_ORG, channel.company)
    now = now or clock.now()
    person = getattr(actor, "person", None)
    address = ""
    if channel.kind in SMS_KINDS:
        address = getattr(person, "phone", "") or ""
        if not address:
            raise Invalid(_("你的人员档案没有手机号，无法接收测试短信"), field="phone")
    elif channel.kind == ChannelKind.EMAIL:
        addresses = fixed_addresses(channel)
        if not addresses:
            raise Invalid(_("请先填写收件地址"), field="to")
        address = addresses[0]
    message = Message.objects.create(
        company=channel.company, key=f"channel-test:{channel.pk}:{now.timestamp():.6f}", event="channel_test",
        title=_("测试消息：{c}").format(c=channel.name),
        body=_("这是安链发出的测试消息，收到即表示“{c}”配置正确。").format(c=channel.name),
        url=absolute(reverse("notify:channels")), created_at=now)
    row = Delivery.objects.create(
        message=message, channel=channel, kind=channel.kind, address=address,
        person=person if channel.kind in SMS_KINDS else None,
        idempotency_key=idempotency_key(message, channel.kind, channel, address), next_attempt_at=now, created_at=now)
    return send_one(row, now)
