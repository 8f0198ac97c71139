"""Screenshots of the notification pages on the desktop: the delivery log 投递记录 (every status a
delivery can have, with the services' answers) and the channels 通知渠道 of a company.

Self-contained like scripts/screenshots_permits.py (whose set-up and helpers it reuses): a
throw-away database with the demo organisation, three alarms fanned out by the delivery engine,
outcomes written as the services answer them (DingTalk's and WeCom's documented error bodies, a
gateway's 503), then headless Chromium on loopback.

    python scripts/screenshots_notify.py [--out docs/screenshots]
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots_permits import DESKTOP, chromium, live_server, login, prepare, shoot  # noqa: E402


def build_data() -> dict[str, str]:
    from django.urls import reverse

    from anlian.core import clock
    from anlian.notify import delivery
    from anlian.notify.models import Channel, Delivery
    from anlian.orgs import demo
    from anlian.orgs.models import OrgUnit, Person

    demo.load()
    company = OrgUnit.objects.get(name="临海港务股份有限公司")
    people = list(Person.objects.filter(company=company).order_by("employee_no")[:6])
    people[-1].phone = ""
    people[-1].save()
    robot = Channel.objects.create(company=company, kind="dingtalk", name="安全生产群（钉钉）", config={
        "webhook": "https://oapi.dingtalk.com/robot/send?access_token=demo", "secret": "SECdemo", "message": "markdown"})
    wecom = Channel.objects.create(company=company, kind="wecom", name="调度中心群（企业微信）", config={
        "webhook": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=demo"})
    sms = Channel.objects.create(company=company, kind="sms_http", name="短信网关", config={
        "url": "https://sms.example.cn/send", "token": "demo"})
    hook = Channel.objects.create(company=company, kind="webhook", name="DCS 报警联动", config={
        "url": "https://dcs.example.cn/anlian", "secret": "demo"})
    now = clock.now().replace(second=0, microsecond=0)
    alarm = delivery.notify(company, key="gas-T3", event="gas_alarm", title="可燃气体报警：3号罐区 LEL 25%",
                            body="3号罐区东侧探头 LEL 25%，已超过二级报警值，请立即撤离并排查泄漏点。",
                            url="/hazards/", severity="critical", to=people[:4] + people[-1:],
                            channels=[robot, wecom, sms, hook], now=now - timedelta(minutes=12))
    delivery.notify(company, key="permit-DH-0412", event="permit_waiting", title="动火作业票 DH-0412 待你审批",
                    body="2号泊位管廊动火，申请人 钱伟。", url="/permits/", severity="warning", to=people[1:3],
                    channels=[robot], now=now - timedelta(hours=3))
    delivery.notify(company, key="hazard-overdue-77", event="hazard_overdue", title="隐患 YH-2026-0077 整改超期",
                    body="机修车间砂轮机托架间隙过大，整改期限已过 2 小时。", url="/hazards/", to=people[:2],
                    now=now - timedelta(days=1))
    rows = Delivery.objects.all()
    rows.filter(kind="inbox").update(status="sent", attempts=1, sent_at=now - timedelta(minutes=12), response="")
    outcomes = {
        ("gas-T3", "dingtalk"): dict(status="sent", attempts=1, response='{"errcode":0,"errmsg":"ok"}'),
        ("gas-T3", "wecom"): dict(status="dead", attempts=1, last_error="企业微信：93000 invalid webhook url",
                                  response='{"errcode":93000,"errmsg":"invalid webhook url, hint: [1700112233_5_demo]"}'),
        ("gas-T3", "webhook"): dict(status="retry", attempts=3, last_error="HTTP 503",
                                    next_attempt_at=now + timedelta(minutes=18),
                                    response='<html><body><h1>503 Service Unavailable</h1></body></html>'),
        ("permit-DH-0412", "dingtalk"): dict(status="uncertain", attempts=1,
                                             last_error="发送中断（工作进程停止），无法确认对方是否收到", response=""),
    }
    for (key, kind), values in outcomes.items():
        rows.filter(message__key=key, kind=kind).update(**values)
    rows.filter(message=alarm, kind="sms_http", status="pending").update(
        status="sent", attempts=1, response='{"code":0,"msg":"accepted","id":"SMS2611240001"}')
    return {"log": reverse("notify:deliveries"), "channels": reverse("notify:channels")}


def main() -> None:
    out = prepare(__doc__.splitlines()[0])
    urls = build_data()
    with live_server() as base, chromium() as browser:
        context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
        page = context.new_page()
        login(page, base, "safety")
        shoot(page, base, urls["log"], out, "delivery-log-desktop")
        shoot(page, base, urls["channels"], out, "notify-channels-desktop")
        context.close()


if __name__ == "__main__":
    main()
