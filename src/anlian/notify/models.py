"""Notifications: where a company's messages go (channels), who gets what (rules, preferences),
what each message says (templates), and every attempt to deliver one (deliveries).

A `Message` is one thing to tell (a hazard escalated, a permit waiting for approval), created once
per `key`. It fans out into `Delivery` rows, one per recipient and channel, each with its own
idempotency key; the worker sends them with retries and backoff, and every attempt's result stays
in the delivery log.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ChannelKind(models.TextChoices):
    INBOX = "inbox", _("站内消息")
    DINGTALK = "dingtalk", _("钉钉群机器人")
    WECOM = "wecom", _("企业微信群机器人")
    FEISHU = "feishu", _("飞书群机器人")
    EMAIL = "email", _("电子邮件")
    SMS_ALIYUN = "sms_aliyun", _("短信（阿里云）")
    SMS_HTTP = "sms_http", _("短信（HTTP 网关）")
    WEBHOOK = "webhook", _("Webhook")


class Channel(models.Model):
    """A configured way out of the system, per company: a group robot's webhook and secret, an SMTP
    server, an SMS account, an outbound webhook. `config` holds the transport's settings."""

    scope_path_lookup = "company__path"

    company = models.ForeignKey("orgs.OrgUnit", verbose_name=_("所属公司"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("类型"), max_length=16, choices=ChannelKind.choices)
    name = models.CharField(_("名称"), max_length=60)
    config = models.JSONField(_("配置"), default=dict)
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("通知渠道")
        verbose_name_plural = _("通知渠道")
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="channel_unique_name")]

    def __str__(self) -> str:
        return self.name


class Severity(models.TextChoices):
    INFO = "info", _("一般")
    WARNING = "warning", _("重要")
    CRITICAL = "critical", _("紧急")  # ignores quiet hours


class Message(models.Model):
    """One thing to tell, created once per `key` (a retried timer finds its message already there)."""

    scope_path_lookup = "company__path"

    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=200)
    event = models.CharField(_("事件"), max_length=60)
    severity = models.CharField(_("级别"), max_length=10, choices=Severity.choices, default=Severity.INFO)
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("正文"), blank=True)
    context = models.JSONField(default=dict)  # the values the text was made from (for templates)
    url = models.CharField(max_length=500, blank=True)  # absolute: it opens the item from any app
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("消息")
        verbose_name_plural = _("消息")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["company", "key"], name="message_unique_key")]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("待发送")
    SENDING = "sending", _("发送中")
    SENT = "sent", _("已送达")
    RETRY = "retry", _("等待重试")
    DEAD = "dead", _("发送失败")
    UNCERTAIN = "uncertain", _("结果未知")  # the worker stopped mid-send: not sent again blindly
    SKIPPED = "skipped", _("已跳过")


class Delivery(models.Model):
    """One message to one recipient over one channel, with every attempt's outcome."""

    scope_path_lookup = "message__company__path"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    person = models.ForeignKey("orgs.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries")
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    address = models.CharField(max_length=200, blank=True)  # phone, e-mail; empty for a group robot
    idempotency_key = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_since = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    response = models.TextField(blank=True)  # the service's answer, truncated
    language = models.CharField(max_length=10, default="zh-hans")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("投递记录")
        verbose_name_plural = _("投递记录")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]


class Route(models.Model):
    """Which event goes to whom, per company: people holding `roles` over the item's org unit
    (its subtree's managers), named people, and channels (robots, webhooks)."""

    scope_path_lookup = "company__path"

    company = models.ForeignKey("orgs.OrgUnit", verbose_name=_("所属公司"), on_delete=models.PROTECT, related_name="+")
    event = models.CharField(_("事件"), max_length=60)
    roles = models.JSONField(_("角色"), default=list, blank=True)
    people = models.ManyToManyField("orgs.Person", verbose_name=_("指定人员"), blank=True, related_name="+")
    channels = models.ManyToManyField(Channel, verbose_name=_("渠道"), blank=True, related_name="routes")
    min_severity = models.CharField(_("最低级别"), max_length=10, choices=Severity.choices, default=Severity.INFO)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("通知规则")
        verbose_name_plural = _("通知规则")
        ordering = ["company", "event", "pk"]


class Preference(models.Model):
    """A person's own choices: channels they do not want, quiet hours (critical messages ignore them)."""

    scope_path_lookup = "person__org_unit__path"

    person = models.OneToOneField("orgs.Person", on_delete=models.CASCADE, related_name="notify_preference")
    muted_kinds = models.JSONField(_("不接收的渠道"), default=list, blank=True)
    quiet_start = models.TimeField(_("免打扰开始"), null=True, blank=True)
    quiet_end = models.TimeField(_("免打扰结束"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知偏好")
        verbose_name_plural = _("通知偏好")


class MessageTemplate(models.Model):
    """The text of an event's message in one language; shipped ones have no company, a company's
    own replaces the shipped one. Placeholders are {name} fields of the message's context."""

    scope_path_lookup = "company__path"

    company = models.ForeignKey("orgs.OrgUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    event = models.CharField(_("事件"), max_length=60)
    language = models.CharField(_("语言"), max_length=10)
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("正文"), blank=True)

    class Meta:
        verbose_name = _("消息模板")
        verbose_name_plural = _("消息模板")
        constraints = [models.UniqueConstraint(fields=["company", "event", "language"], name="msgtemplate_unique")]


class EscalationPolicy(models.Model):
    """Tiers shared by permits and hazards: after N minutes overdue, tell the managers M levels up
    the org tree over these channel kinds (in-app → robot → SMS)."""

    scope_path_lookup = "company__path"

    company = models.ForeignKey("orgs.OrgUnit", verbose_name=_("所属公司"), on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("名称"), max_length=60)
    applies_to = models.CharField(_("适用于"), max_length=20)  # e.g. hazard, permit
    tiers = models.JSONField(_("层级"), default=list)  # [{"after_minutes": 0, "levels_up": 1, "kinds": ["inbox"]}, …]
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("升级策略")
        verbose_name_plural = _("升级策略")
        constraints = [models.UniqueConstraint(fields=["company", "applies_to"], name="escalationpolicy_unique")]
