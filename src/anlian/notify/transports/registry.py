"""Which class sends each channel kind (imported when first used)."""

from __future__ import annotations

from functools import cache

from django.utils.module_loading import import_string

CLASSES = {
    "inbox": "anlian.notify.transports.inbox.Inbox",
    "dingtalk": "anlian.notify.transports.dingtalk.DingTalkRobot",
    "wecom": "anlian.notify.transports.wecom.WeComRobot",
    "feishu": "anlian.notify.transports.feishu.FeishuBot",
    "email": "anlian.notify.transports.email.Smtp",
    "sms_aliyun": "anlian.notify.transports.sms.AliyunSms",
    "sms_http": "anlian.notify.transports.sms.HttpSms",
    "webhook": "anlian.notify.transports.webhook.SignedWebhook",
}


@cache
def transport(kind: str):
    return import_string(CLASSES[kind])()
